import Foundation
import RevenantCommands
import Sessions
import XCTest

/// `revenant` is a launcher that runs `run`, `record` and `replay` and hands every other command
/// line to `revenant-full` (Docs/architecture.md "Two binaries").
final class LauncherTests: ScratchTestCase {
    var fullBinary: String {
        get throws { try revenantBinary().deletingLastPathComponent().appendingPathComponent("revenant-full").path }
    }

    func testTheLauncherParsesItsOwnCommandsAndTheTopLevelHelp() {
        for own in [
            [], ["run", "--", "perl"], ["record", "-o", "t"], ["replay", "t"], ["--help"], ["-h"], ["help"],
            ["--version"],
        ] {
            XCTAssertTrue(Launcher.handles(own), "\(own)")
        }
        for other in [
            ["info"], ["help", "sql"], ["--help", "info"], ["sql", "t"], ["bogus"], ["--bogus"], ["regen"],
        ] {
            XCTAssertFalse(Launcher.handles(other), "\(other)")
        }
    }

    /// `run -- PROGRAM` skips ArgumentParser (Run.runWithoutOptions): what it runs with must be
    /// what the options say when none is given.
    func testRunWithoutOptionsHasTheOptionsDefaults() throws {
        XCTAssertEqual(try SandboxOptions.parse([]).session, SessionOptions())
        XCTAssertEqual(try SandboxOptions.parse(["-v"]).session == SessionOptions(), false)
    }

    /// `record -o TRACE -- PROGRAM` and `replay TRACE` skip ArgumentParser too
    /// (Record.recordWithoutOptions, ReplayCommand.replayWithoutOptions): the same.
    func testRecordAndReplayWithoutOptionsHaveTheOptionsDefaults() throws {
        let record = try Record.parse(["-o", "t.rvt", "--", "perl"])
        XCTAssertEqual(record.settings, Record.Settings(output: "t.rvt"))
        XCTAssertFalse(record.replicated)
        XCTAssertEqual(
            try Record.parse(["--output", "t.rvt", "--", "perl"]).settings, Record.Settings(output: "t.rvt"))
        XCTAssertNotEqual(try Record.parse(["-o", "t.rvt", "--force", "--", "perl"]).settings, record.settings)
        XCTAssertTrue(try Record.parse(["-o", "t.rvt", "--replicas", "2", "--", "perl"]).replicated)
        XCTAssertEqual(try ReplayCommand.parse(["t.rvt"]).settings, ReplayCommand.Settings(trace: "t.rvt"))
        XCTAssertNotEqual(
            try ReplayCommand.parse(["t.rvt", "--quiet"]).settings, ReplayCommand.Settings(trace: "t.rvt"))
    }

    /// The launcher lists the commands it does not link from their entries: the list must be the
    /// full binary's, names, order and abstracts.
    func testTheTopLevelHelpIsTheFullBinarysWordForWord() throws {
        for help in [["--help"], ["help"], []] {
            let launcher = try revenant(help)
            let full = try run(try fullBinary, help)
            XCTAssertEqual(launcher.status, 0, "\(help)")
            XCTAssertEqual(launcher.stdout, full.stdout, "\(help)")
            XCTAssertTrue(launcher.stdout.contains("restore "), launcher.stdout)
        }
    }

    /// `--version` prints the version the trace header records, from both binaries.
    func testBothBinariesSayTheirVersion() throws {
        for r in [try revenant(["--version"]), try run(try fullBinary, ["--version"])] {
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, RootHelp.version + "\n")
            XCTAssertTrue(RootHelp.version.split(separator: ".").count == 3, RootHelp.version)
        }
    }

    func testOtherCommandsAndTheirErrorsComeFromTheFullBinary() throws {
        let listed = try revenant(["syscalls"])
        XCTAssertEqual(listed.status, 0)
        XCTAssertEqual(listed.stdout, try run(try fullBinary, ["syscalls"]).stdout)
        XCTAssertTrue(listed.stdout.contains("openat"), listed.stdout)
        let sqlHelp = try revenant(["help", "sql"])
        XCTAssertTrue(sqlHelp.stdout.contains("--at"), sqlHelp.stdout)
        assertOneLine(try revenant(["bogus"]), 125, containing: ["bogus"], "an unknown command")
        assertOneLine(try revenant(["info", "missing.rvt"]), 125, containing: ["missing.rvt"], "a missing trace")
    }

    /// Without revenant-full next to it, the launcher still runs its own commands and says in one
    /// line why it cannot run the others.
    func testALauncherWithoutTheFullBinarySaysSoInOneLine() throws {
        let alone = base.appendingPathComponent("alone")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        let copy = alone.appendingPathComponent("revenant")
        try FileManager.default.copyItem(at: try revenantBinary(), to: copy)
        let help = try run(copy.path, ["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("SUBCOMMANDS"), help.stdout)
        assertOneLine(try run(copy.path, ["info"]), 125, containing: ["revenant-full"], "no full binary")
    }

    /// What makes the launcher start fast (Docs/machine.md "Start-up"): no index (GRDB, SQLite,
    /// Foundation's ICU) in it, and, linked as the Makefile links it, no loader at all.
    func testTheLauncherLinksNeitherTheIndexNorTheLoader() throws {
        let bytes = try Data(contentsOf: try revenantBinary())
        for absent in ["sqlite3_prepare_v2", "GRDB", "ucol_open", "M68K_getInstruction"] {
            XCTAssertNil(bytes.range(of: Data(absent.utf8)), "the launcher holds \(absent)")
        }
        XCTAssertNotNil(bytes.range(of: Data("cs_disasm".utf8)), "the search finds what is there")
        guard ProcessInfo.processInfo.environment["REVENANT_LINK"] == "static-pie" else {
            throw XCTSkip("built without REVENANT_LINK=static-pie (make builds with it)")
        }
        XCTAssertFalse(try programHeaderTypes(bytes).contains(3), "PT_INTERP: the launcher needs the loader")
        XCTAssertTrue(try programHeaderTypes(bytes).contains(2), "no PT_DYNAMIC: not a PIE")
    }

    /// The p_type of each program header of a 64-bit ELF file.
    private func programHeaderTypes(_ elf: Data) throws -> [UInt32] {
        func read<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            elf.subdata(in: at..<at + MemoryLayout<T>.size).withUnsafeBytes { $0.loadUnaligned(as: T.self) }
        }
        let phoff = Int(read(0x20, UInt64.self))
        let size = Int(read(0x36, UInt16.self))
        let count = Int(read(0x38, UInt16.self))
        return (0..<count).map { read(phoff + $0 * size, UInt32.self) }
    }
}
