// swift-tools-version: 6.0
import PackageDescription

// Layers (arrows point down only), see Docs/architecture.md "Layers":
//   RevenantCLI → Machine → KVM → CKVM   (the CLI joins Machine and Personality)
//                         → CSyscallSites (Capstone: where syscalls can be rewritten)
//                         → GuestMemory
//               Personality → LinuxABI, GuestMemory
//               Trace → CLZ4, CGuestStub (SHA-256), CHost (the trace format)
//               Replay → Machine, Personality, Trace (recorder and replayer)
//               Regen → Replay, Trace, GRDB (the channel's records decoded into index.sqlite)
//               SQLReplay → Regen, CSQLReplay (the query log re-executed: time travel, SQL predicates)
//               Sessions → Machine, Personality, Replay, Trace (a program run in the VM, recorded or not)
//               Replicas → Sessions, Replay (run --replicas: supervisor, primary, live backups)
//               RevenantCommands → Sessions, Replicas (run, record, replay as commands)
//   Executables: RevenantCLI (`revenant`, the launcher: run, record, replay) → RevenantCommands;
//                RevenantFullCLI (`revenant-full`: every command) → RevenantCommands, RevenantKit, …
// How both executables link (Docs/machine.md "Start-up"). The Swift runtime and Foundation
// (with ICU) go in statically: the libraries SwiftPM's --static-swift-stdlib would add, named here
// so that the test bundle stays dynamic in the same build. With REVENANT_LINK=static-pie (the
// Makefile sets it, and builds with --disable-local-rpath: glibc's static-pie start refuses an
// executable with a RUNPATH) glibc, liblz4 and libsqlite3 go in too, as a static PIE
// (ASLR kept): the loader maps nothing, and `revenant --help` takes 2 ms instead of 8.
let staticPIE = Context.environment["REVENANT_LINK"] == "static-pie"
let executableLinking: [LinkerSetting] = [
    .unsafeFlags(
        [
            "-static-stdlib", "-lFoundation", "-lFoundationInternationalization", "-lFoundationEssentials",
            "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections",
            "-lswiftSynchronization", "-lswift_StringProcessing", "-lswift_RegexParser", "-lswiftDispatch",
            "-lswift_Concurrency", "-lswift_Builtin_float", "-lswiftGlibc", "-lstdc++",
        ]
            + (staticPIE
                ? [
                    "-Xclang-linker", "-static-pie", "-use-ld=lld", "-Xlinker", "-z", "-Xlinker",
                    "pack-relative-relocs",
                ]
                : []))
]

let package = Package(
    name: "Revenant",
    products: [
        .executable(name: "revenant", targets: ["RevenantCLI"]),
        .executable(name: "revenant-full", targets: ["RevenantFullCLI"]),
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
        .target(name: "Trace", dependencies: ["CLZ4", "CGuestStub", "CHost", "LinuxABI"]),
        // The guest stub, and the guest/VMM contract as C headers (GuestAgents/include): the stub,
        // the shims and the Swift layers all read the same constants and structs from them. With
        // them the one SHA-256 (channel/sha256.c): the shims', and the VMM's for blobs and digests.
        .target(
            name: "CGuestStub", path: "GuestAgents", sources: ["stub", "channel/sha256.c"], publicHeadersPath: "include"
        ),
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
            linkerSettings: [.linkedLibrary("sqlite3")]),
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
        // Running a program in the VM, recorded or not (GuestSession): what `run` and `record` need,
        // without the index.
        .target(
            name: "Sessions",
            dependencies: ["Machine", "Personality", "LinuxABI", "CHost", "Replay", "Trace", "GuestMemory"]),
        // What the commands do, as a library (the CLI parses arguments and prints): sessions, the
        // Perl-level replay in both forms, checkpoints and clone evaluation.
        .target(
            name: "RevenantKit",
            dependencies: [
                "Sessions", "Machine", "Personality", "LinuxABI", "CHost", "Replay", "Trace",
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
                "Sessions", "Replay", "Machine", "Personality", "Trace", "LinuxABI", "GuestMemory", "CHost",
            ]),
        .target(
            name: "DebugAdapter",
            dependencies: ["Monitor", "RevenantKit", "PerlReplay", "Regen", "Replay", "SQLReplay", "LinuxABI"]),
        // What runs, records and replays a program, as commands: the launcher's and revenant-full's.
        .target(
            name: "RevenantCommands",
            dependencies: [
                "Sessions", "Replicas", "Machine", "Personality", "LinuxABI", "CHost", "Replay", "Trace",
                "GuestMemory", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // `revenant`, the launcher: run, record and replay, without the index (GRDB, SQLite,
        // Foundation); every other command line goes to revenant-full (Docs/architecture.md
        // "Two binaries").
        .executableTarget(
            name: "RevenantCLI",
            dependencies: ["RevenantCommands", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            linkerSettings: executableLinking),
        .executableTarget(
            name: "RevenantFullCLI",
            dependencies: [
                "RevenantCommands", "RevenantKit", "Replicas", "Monitor", "DebugAdapter",
                "Machine", "Personality", "LinuxABI", "CHost", "Replay", "Trace", "Regen", "SQLReplay", "PerlReplay",
                "FileHistory", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: executableLinking),
        .testTarget(
            name: "RevenantTests",
            dependencies: [
                "LinuxABI", "GuestMemory", "Personality", "Machine",
                "Trace", "Replay", "Regen", "SQLReplay", "PerlReplay",
                "CHost", "CGuestStub", "CSyscallSites", "RevenantKit", "Sessions", "RevenantCommands", "Debugger",
                "FileHistory", "Replicas", "Monitor",
            ]),
    ]
)
