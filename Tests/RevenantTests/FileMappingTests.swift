import XCTest

/// File mappings (Docs/machine.md "Start-up"): a private mapping up to 64 MiB is a copy made when
/// mapped; a larger one is copied when it may change while mapped, else mapped as Linux maps it.
final class FileMappingTests: ScratchTestCase {
    /// Private mappings layered as ld.so layers them (a span, then segments over it from other
    /// offsets, then mapped again over the program's writes) read as natively: the file's bytes,
    /// zeros after its end in its last page, and SIGBUS past its end; /dev/zero's as anonymous
    /// memory. In `run`, in a recording and in its replay (which maps /dev/zero again: the trace
    /// marks the mapping, a device has no copy to keep).
    func testLayeredPrivateMappingsReadAsNativelyAndFaultPastTheFilesEnd() throws {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/private_map_layers.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "private_map_layers", source]).status, 0)
        let native = try run(base.appendingPathComponent("private_map_layers").path, ["zero"])
        XCTAssertEqual(native.stdout, "span 1\nsegment 1 rest 1\nagain 1\nlast 1\nzero 0 42\n")
        XCTAssertEqual(native.status, 128 + SIGBUS)
        let run = try revenant(["run", "--", "./private_map_layers", "zero"])
        XCTAssertEqual(run.stdout, native.stdout)
        XCTAssertEqual(run.status, native.status, run.stderr)
        XCTAssertTrue(run.stderr.contains("SIGBUS"), run.stderr)
        let withoutZero = "span 1\nsegment 1 rest 1\nagain 1\nlast 1\n"
        let rec = try revenant(["record", "-o", "l.rvt", "--shims", "none", "--", "./private_map_layers"])
        XCTAssertEqual(rec.stdout, withoutZero)
        XCTAssertEqual(rec.status, native.status, rec.stderr)
        let replay = try revenant(["replay", "l.rvt"])
        XCTAssertEqual(replay.stdout, rec.stdout)
        XCTAssertEqual(replay.status, rec.status, replay.stderr)
        let recZero = try revenant(["record", "-o", "z.rvt", "--shims", "none", "--", "./private_map_layers", "zero"])
        XCTAssertEqual(recZero.stdout, native.stdout)
        XCTAssertEqual(recZero.status, native.status, recZero.stderr)
        let replayZero = try revenant(["replay", "z.rvt"])
        XCTAssertEqual(replayZero.stdout, recZero.stdout)
        XCTAssertEqual(replayZero.status, recZero.status, replayZero.stderr)
    }

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
