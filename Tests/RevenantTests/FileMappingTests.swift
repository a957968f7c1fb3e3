import XCTest

/// File mappings (Docs/machine.md "Start-up"): only a file that may change while mapped is copied
/// when mapped; the others are mapped without a copy, as Linux maps them.
final class FileMappingTests: ScratchTestCase {
    /// A private mapping of a file the program changes afterwards reads the file as it was when
    /// mapped, in the recording and in its replay alike (natively, the page not touched yet would
    /// show the change: the replay, which maps the recorded copy, could not).
    func testAPrivateMappingOfAFileTheProgramChangesIsASnapshotInRecordAndReplay() throws {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/private_map_change.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "private_map_change", source]).status, 0)
        let run = try revenant(["run", "--", "./private_map_change"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "A A\n")
        let rec = try revenant(["record", "-o", "m.rvt", "--shims", "none", "--", "./private_map_change"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let replay = try revenant(["replay", "m.rvt"])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        XCTAssertEqual(rec.stdout, "A A\n")
        XCTAssertEqual(replay.stdout, rec.stdout)
    }
}
