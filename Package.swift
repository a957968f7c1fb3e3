// swift-tools-version: 6.0
import PackageDescription

// Layers (arrows point down only), see Docs/architecture.md "Layers":
//   RevenantCLI → Machine → KVM → CKVM   (the CLI joins Machine and Personality)
//                         → CSyscallSites (Capstone: where syscalls can be rewritten)
//                         → GuestMemory
//               Personality → LinuxABI, GuestMemory
//               Trace → CLZ4, CCrypto, CHost (the trace format)
//               Replay → Machine, Personality, Trace (recorder and replayer)
//               Regen → Replay, Trace, GRDB (the channel's records decoded into index.sqlite)
//               SQLReplay → Regen, CSQLReplay (the query log re-executed: time travel, SQL predicates)
//               Replicas → RevenantKit, Replay (run --replicas: supervisor, primary, live backups)
let package = Package(
    name: "Revenant",
    products: [
        .executable(name: "revenant", targets: ["RevenantCLI"]),
        .library(name: "RevenantKit", targets: ["RevenantKit", "Monitor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        .target(name: "LinuxABI"),
        .target(name: "CKVM"),
        .target(name: "CHost"),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "Trace", dependencies: ["CLZ4", "CCrypto", "CHost", "LinuxABI"]),
        // The guest stub, and the guest/VMM contract as C headers (GuestAgents/include): the stub,
        // the shims and the Swift layers all read the same constants and structs from them.
        .target(name: "CGuestStub", path: "GuestAgents", sources: ["stub"], publicHeadersPath: "include"),
        .target(name: "KVM", dependencies: ["CKVM", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "GuestMemory", dependencies: ["LinuxABI", "CHost"]),
        .target(name: "Personality", dependencies: ["LinuxABI", "GuestMemory", "CHost", "CGuestStub"]),
        // Capstone decodes the functions whose syscalls the VMM rewrites (linked statically: the
        // loader maps no extra library at start-up).
        .target(
            name: "CSyscallSites",
            linkerSettings: [.unsafeFlags(["-Xlinker", "/usr/lib/x86_64-linux-gnu/libcapstone.a"])]),
        .target(
            name: "Machine",
            dependencies: ["KVM", "GuestMemory", "LinuxABI", "CGuestStub", "CHost", "CSyscallSites"]),
        .target(name: "Replay", dependencies: ["Machine", "Personality", "Trace", "LinuxABI", "GuestMemory", "CHost"]),
        .target(
            name: "Regen",
            dependencies: [
                "Replay", "Trace", "Personality", "Machine", "LinuxABI", "CGuestStub",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]),
        // SQL-level replay: the regenerated query log re-executed on a database's pre-image.
        .target(
            name: "CSQLReplay", dependencies: ["CGuestStub"],
            linkerSettings: [.linkedLibrary("sqlite3"), .linkedLibrary("crypto")]),
        .target(
            name: "SQLReplay",
            dependencies: [
                "Regen", "Replay", "Trace", "CSQLReplay", "CHost", "GuestMemory", "LinuxABI", "FileHistory",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        // `restore` and `diff`: the files a run wrote, at any point of it.
        .target(name: "FileHistory", dependencies: ["Replay", "Trace", "LinuxABI", "GuestMemory", "Personality"]),
        .target(name: "PerlReplay", dependencies: ["Regen", "Replay", "Personality", "GuestMemory", "CGuestStub"]),
        // `revenant gdb`: a GDB remote-protocol server over a replay, forwards and backwards.
        .target(name: "Debugger", dependencies: ["Machine", "Replay", "LinuxABI", "CKVM", "CHost"]),
        // What the commands do, as a library (the CLI parses arguments and prints): sessions, the
        // Perl-level replay in both forms, checkpoints and clone evaluation.
        .target(
            name: "RevenantKit",
            dependencies: [
                "Machine", "Personality", "LinuxABI", "CHost", "Replay", "Trace",
                "Regen", "SQLReplay", "PerlReplay", "GuestMemory", "Debugger",
            ]),
        .target(
            name: "Monitor",
            dependencies: [
                "RevenantKit", "Replay", "Machine", "Personality", "Trace", "LinuxABI", "GuestMemory", "PerlReplay",
                "Regen", "SQLReplay", "CHost",
            ]),
        // `run --replicas`: a supervisor, a primary that records, backups that replay its log live.
        .target(
            name: "Replicas",
            dependencies: [
                "RevenantKit", "Replay", "Machine", "Personality", "Trace", "LinuxABI", "GuestMemory", "CHost",
            ]),
        .target(
            name: "DebugAdapter",
            dependencies: ["Monitor", "RevenantKit", "PerlReplay", "Regen", "Replay", "SQLReplay", "LinuxABI"]),
        .executableTarget(
            name: "RevenantCLI",
            dependencies: [
                "RevenantKit", "Replicas", "Monitor", "DebugAdapter",
                "Machine", "Personality", "LinuxABI", "CHost", "Replay", "Trace", "Regen", "SQLReplay", "PerlReplay",
                "FileHistory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The Swift runtime and Foundation (with ICU) linked in statically, the libraries
            // SwiftPM's --static-swift-stdlib would add, named here so that the test bundle stays
            // dynamic in the same build: the loader maps 9 libraries instead of 23
            // (`revenant --help` 10.7 → 6.4 ms; Docs/machine.md "Start-up").
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib", "-lFoundation", "-lFoundationInternationalization", "-lFoundationEssentials",
                    "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections",
                    "-lswiftSynchronization", "-lswift_StringProcessing", "-lswift_RegexParser", "-lswiftDispatch",
                    "-lswift_Concurrency", "-lswift_Builtin_float", "-lswiftGlibc", "-lstdc++",
                ])
            ]),
        .testTarget(
            name: "RevenantTests",
            dependencies: [
                "LinuxABI", "GuestMemory", "Personality", "Machine",
                "Trace", "Replay", "Regen", "SQLReplay", "PerlReplay",
                "CHost", "CGuestStub", "RevenantKit", "Debugger", "FileHistory", "Replicas", "Monitor",
            ]),
    ]
)
