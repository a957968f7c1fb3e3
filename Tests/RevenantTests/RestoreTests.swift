import Foundation
import XCTest

/// `revenant restore` and `revenant diff` (Docs/restore.md), on Tests/Programs/restore_steps.pl.
final class RestoreTests: ScratchTestCase {
    /// Records the script in `base` with out/ holding three files from before the run; returns
    /// the `at LINE:K DIGEST` lines it printed.
    func recordSteps() throws -> [(line: Int, k: Int, digest: String)] {
        let fm = FileManager.default
        let script = packageRootDirectory().appendingPathComponent("Tests/Programs/restore_steps.pl")
        try fm.copyItem(at: script, to: base.appendingPathComponent("restore_steps.pl"))
        let out = base.appendingPathComponent("out")
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        try "before the run\n".write(to: out.appendingPathComponent("old.txt"), atomically: false, encoding: .utf8)
        try "0123456789\n".write(to: out.appendingPathComponent("cut.txt"), atomically: false, encoding: .utf8)
        try "will be replaced\n".write(to: out.appendingPathComponent("target.txt"), atomically: false, encoding: .utf8)
        chmod(out.appendingPathComponent("target.txt").path, 0o640)
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "restore_steps.pl"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        return rec.stdout.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            let lk = f.count == 3 ? f[1].split(separator: ":") : []
            guard f.first == "at", lk.count == 2, let l = Int(lk[0]), let k = Int(lk[1]) else { return nil }
            return (l, k, String(f[2]))
        }
    }

    /// The digest the script computes, of a restored tree (the run's folder under it).
    func digest(of restored: URL) throws -> String {
        let r = try run("/usr/bin/perl", ["restore_steps.pl", restored.path + base.resolvingSymlinksInPath().path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// At every step — a file written, appended to in a loop (K), renamed, overwritten in place,
    /// truncated by path, chmod'ed, a file from before the run removed, a symlink and a folder
    /// made, a rename over a file from before the run, a child process's append, the file
    /// removed — the restored folder has the digest the run printed there.
    func testRestoreGivesEachStepsFiles() throws {
        try requireKVM()
        let steps = try recordSteps()
        XCTAssertEqual(steps.count, 12, "the script's steps")
        XCTAssertEqual(Set(steps.map(\.digest)).count, steps.count, "each step changes out/")
        for s in steps {
            let dir = base.appendingPathComponent("r-\(s.line)-\(s.k)")
            let r = try revenant([
                "restore", "t.rvt", "--at", "perl:restore_steps.pl:\(s.line):\(s.k)", "--dir", dir.path,
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try digest(of: dir), s.digest, "at perl:restore_steps.pl:\(s.line):\(s.k)")
        }
        // One file: written, appended to, renamed, renamed over another, removed.
        let renamed = steps[5].line
        let moved = try revenant([
            "restore", "t.rvt", "--at", "perl:restore_steps.pl:\(renamed)", "--path", "out/moved.txt", "-o", "m",
        ])
        XCTAssertEqual(moved.status, 0, moved.stderr)
        XCTAssertEqual(
            try String(contentsOf: base.appendingPathComponent("m"), encoding: .utf8), "first\nline 1\nline 2\nline 3\n"
        )
        let gone = try revenant([
            "restore", "t.rvt", "--at", "perl:restore_steps.pl:\(renamed)", "--path", "out/new.txt", "-o", "n",
        ])
        XCTAssertEqual(gone.status, 1)
        XCTAssertTrue(
            gone.stderr.contains("out/new.txt did not exist at perl:restore_steps.pl:\(renamed)"), gone.stderr)
        let before = try revenant(["restore", "t.rvt", "--at", "start", "--path", "out/target.txt", "-o", "t0"])
        XCTAssertEqual(before.status, 0, before.stderr)
        XCTAssertEqual(try String(contentsOf: base.appendingPathComponent("t0"), encoding: .utf8), "will be replaced\n")
        var st = stat()
        XCTAssertEqual(lstat(base.appendingPathComponent("t0").path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o640, "the pre-image's mode")
    }

    /// diff: a unified diff between two points (exit 1), the same file (exit 0); bad positions
    /// and paths the run never wrote are one line each.
    func testDiffAndBadQuestions() throws {
        try requireKVM()
        let steps = try recordSteps()
        // The marks right after the rename, the overwrite in place; the loop's.
        let (renamed, overwritten, loop) = (steps[5].line, steps[6].line, steps[2].line)
        let d = try revenant([
            "diff", "t.rvt", "--path", "out/moved.txt", "--from", "perl:restore_steps.pl:\(renamed)",
            "--to", "perl:restore_steps.pl:\(overwritten)",
        ])
        XCTAssertEqual(d.status, 1, d.stderr)
        XCTAssertTrue(d.stdout.contains("-first\n+fiXYt\n"), d.stdout)
        // A file the run makes is compared with nothing before it exists (not "never changed").
        let made = try revenant([
            "diff", "t.rvt", "--path", "out/new.txt", "--to", "perl:restore_steps.pl:\(steps[1].line)",
        ])
        XCTAssertEqual(made.status, 1, made.stderr)
        XCTAssertTrue(made.stdout.contains("(absent)") && made.stdout.contains("+first\n"), made.stdout)
        let same = try revenant([
            "diff", "t.rvt", "--path", "out/cut.txt", "--from", "start", "--to", "perl:restore_steps.pl:\(renamed)",
        ])
        XCTAssertEqual(same.status, 0, same.stderr)
        let cases: [([String], Int32, String)] = [
            (["--at", "perl:restore_steps.pl"], 125, "perl: takes FILE:LINE[:K]"),
            (["--at", "nowhere"], 125, "not a position"),
            (["--at", "perl:restore_steps.pl:\(loop):4"], 1, "ran 3 times"),
            (["--at", "perl:restore_steps.pl:2"], 1, "no statement at restore_steps.pl:2 ran"),
            (["--at", "event:999999"], 1, "past the end of the recording"),
            (["--at", "sql:0"], 1, "the run has no SQL statement #0"),
        ]
        for (args, code, message) in cases {
            let r = try revenant(["restore", "t.rvt"] + args + ["--dir", "x"])
            XCTAssertEqual(r.status, code, "\(args): \(r.stderr)")
            XCTAssertTrue(
                r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        // A hit of `when` pasted into --at: right after the unlink, the file is gone; right
        // before, at the return its Perl statement follows, it is there.
        let hit = try revenant(["when", "t.rvt", "--syscall", "unlink path=*old.txt"])
        XCTAssertEqual(hit.status, 0, hit.stderr)
        let pasted = try XCTUnwrap(
            hit.stdout.components(separatedBy: "  at ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertTrue(pasted.hasPrefix("event:"), hit.stdout)
        let after = try revenant(["restore", "t.rvt", "--at", pasted, "--path", "out/old.txt", "-o", "y"])
        XCTAssertEqual(after.status, 1, after.stderr)
        XCTAssertTrue(after.stderr.contains("did not exist at \(pasted)"), after.stderr)
        let line = try XCTUnwrap(hit.stdout.range(of: #"restore_steps\.pl:\d+"#, options: .regularExpression))
        let statement = try revenant(["when", "t.rvt", "--perl", "1", "--first"])
        XCTAssertTrue(statement.stdout.contains("  at perl:"), statement.stdout)
        let beforeIt = try revenant([
            "restore", "t.rvt", "--at", "perl:" + hit.stdout[line], "--path", "out/old.txt", "-o", "y",
        ])
        XCTAssertEqual(beforeIt.status, 0, beforeIt.stderr)
        let never = try revenant(["restore", "t.rvt", "--path", "restore_steps.pl", "-o", "x"])
        XCTAssertEqual(never.status, 1)
        XCTAssertTrue(never.stderr.contains("the run never changed it"), never.stderr)
        try FileManager.default.createDirectory(
            at: base.appendingPathComponent("full"), withIntermediateDirectories: true)
        try "x".write(to: base.appendingPathComponent("full/f"), atomically: false, encoding: .utf8)
        let full = try revenant(["restore", "t.rvt", "--dir", "full"])
        XCTAssertEqual(full.status, 125)
        XCTAssertTrue(full.stderr.contains("is not empty"), full.stderr)
    }

    /// A file written through a shared writable mapping: restore names it, never gives other bytes.
    func testMappedWritesAreNamed() throws {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/mapped_write.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "mapped_write", source]).status, 0)
        let rec = try revenant(["record", "-o", "m.rvt", "--shims", "none", "--", "./mapped_write"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let one = try revenant(["restore", "m.rvt", "--path", "mapped.bin", "-o", "x"])
        XCTAssertEqual(one.status, 1)
        XCTAssertTrue(
            one.stderr.contains("mapped.bin: the trace cannot give it at end: a shared writable mmap"), one.stderr)
        let all = try revenant(["restore", "m.rvt", "--dir", "all"])
        XCTAssertEqual(all.status, 0, all.stderr)
        XCTAssertTrue(all.stderr.contains("revenant: not restored: "), all.stderr)
        XCTAssertTrue(all.stderr.contains("mapped.bin: a shared writable mmap at event "), all.stderr)
        let plain = base.resolvingSymlinksInPath().path + "/plain.txt"
        XCTAssertEqual(try String(contentsOfFile: base.path + "/all" + plain, encoding: .utf8), "written\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.path + "/all" + plain.dropLast(9) + "mapped.bin"))
    }
}
