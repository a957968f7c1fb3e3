import Foundation
import XCTest

/// Child processes under `revenant run` (one VMM process per guest process): every script in
/// Tests/MultiProcess runs natively and in the VM, and the two must be indistinguishable.
final class MultiProcessTests: ScratchTestCase {
    var scripts: URL { packageRootDirectory().appendingPathComponent("Tests/MultiProcess") }

    func testScriptsRunAsNatively() throws {
        try requireKVM()
        let names = try FileManager.default.contentsOfDirectory(atPath: scripts.path).filter { $0.hasSuffix(".pl") }
            .sorted()
        XCTAssertGreaterThanOrEqual(names.count, 5)
        for name in names {
            // Working directories of equal length, so that paths in messages match.
            let native = base.appendingPathComponent("native-\(name)")
            let vm = base.appendingPathComponent("vmvmvm-\(name)")
            for dir in [native, vm] {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try FileManager.default.copyItem(
                    at: scripts.appendingPathComponent(name), to: dir.appendingPathComponent(name))
            }
            let n = try run("/usr/bin/perl", [name], in: native)
            let r = try revenant(["run", "--", "/usr/bin/perl", name], directory: vm)
            XCTAssertEqual(r.stdout, n.stdout, "\(name): stdout")
            XCTAssertEqual(r.stderr, n.stderr, "\(name): stderr")
            XCTAssertEqual(r.status, n.status, "\(name): exit status")
            XCTAssertFalse(n.stdout.isEmpty, name)
        }
    }

    /// posix_spawn: glibc clones with CLONE_VM|CLONE_VFORK and a stack of its own (clone3 first);
    /// run as a fork, with a pipe the child writes into (Tests/Programs/spawn.c).
    func testPosixSpawnRunsAsNatively() throws {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/spawn.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "spawn", source]).status, 0)
        let exe = base.appendingPathComponent("spawn").path
        let native = try run(exe, [])
        XCTAssertEqual(native.status, 0)
        XCTAssertTrue(native.stdout.contains("read 14 bytes: spawned child\n"), native.stdout)
        let r = try revenant(["run", "--", exe])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, native.stdout)
        XCTAssertEqual(r.stderr, "")
    }

    /// A child left running in the background holds the run open until it ends (its output is
    /// part of the run), as rr does.
    func testBackgroundChildHoldsTheRunOpen() throws {
        try requireKVM()
        // Read the output as soon as revenant has ended (a test runner may wait for more than
        // the process it started).
        let script = #"$| = 1; system("(sleep 0.5; echo late) &"); print "parent done\n""#
        let r = try run(
            "/bin/sh",
            ["-c", #""$0" run -- /usr/bin/perl -e "$1" > o.txt; cat o.txt"#, try revenantBinary().path, script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "parent done\nlate\n")
    }

    /// Threads stay unsupported: ENOSYS and a line naming each call tried; recording a fork is not done
    /// yet: ENOSYS and one line, and the trace replays what happened.
    func testThreadsAndRecordedForksAreRefusedInOneLine() throws {
        try requireKVM()
        let threads = try revenant(
            ["run", "--", "/usr/bin/perl", "-Mthreads", "-e", "threads->create(sub { 1 })->join; print qq(joined\\n)"])
        XCTAssertFalse(threads.stdout.contains("joined"), threads.stdout)
        // glibc tries clone3, then clone: one line each, naming the call.
        let lines = threads.stderr.split(separator: "\n").filter { $0.hasPrefix("revenant: ") }
        XCTAssertFalse(lines.isEmpty, threads.stderr)
        for line in lines {
            XCTAssertTrue(
                line.contains("clone") && line.contains("ENOSYS") && line.contains("not supported"), String(line))
        }

        let script = #"my $r = system("/bin/true"); print "system: $r\n""#
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(rec.stdout, "system: -1\n")
        XCTAssertTrue(rec.stderr.contains("not recorded yet"), rec.stderr)
        let replay = try revenant(["replay", "t.rvt"])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        XCTAssertEqual(replay.stdout, rec.stdout)
    }
}
