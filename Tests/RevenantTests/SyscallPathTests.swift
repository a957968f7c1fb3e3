import Foundation
import Trace
import XCTest

/// The trapless syscall path (Docs/machine.md "Trapless syscalls"): rewritten sites behave as the
/// `syscall` instruction does, unsafe sites keep trapping, and a replay does not care which path a
/// call took.
final class SyscallPathTests: ScratchTestCase {
    /// Tests/Programs/syscall_sites.c, built without a red zone (the test owns what lies below rsp).
    func buildSites() throws -> String {
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/syscall_sites.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-mno-red-zone", "-o", "sites", source]).status, 0)
        return base.appendingPathComponent("sites").path
    }

    /// rcx, r11, the red zone and the result after a rewritten site are what `syscall` leaves, on
    /// every path; a site a branch jumps into and one after a rip-relative load keep trapping.
    func testRewrittenSitesRunAsNatively() throws {
        try requireKVM()
        let exe = try buildSites()
        let native = try run(exe, [])
        XCTAssertEqual(
            native.stdout,
            """
            plain site: pid right, rcx right, r11 right, red zone kept
            branch into a site: right
            after a rip-relative load: right

            """)
        for path in ["fast", "trap", "exit"] {
            let r = try revenant(["run", "-v", "--syscall-path", path, "--", exe])
            XCTAssertEqual(r.status, 0, "\(path): \(r.stderr)")
            XCTAssertEqual(r.stdout, native.stdout, path)
            // The rewriter's line is there exactly when the fast path is on.
            XCTAssertEqual(r.stderr.contains("syscall sites:"), path == "fast", "\(path): \(r.stderr)")
        }
        let v = try revenant(["run", "-v", "--", exe]).stderr
        let sites = String(try XCTUnwrap(v.split(separator: "\n").first { $0.contains("syscall sites:") }))
        func number(before word: String) -> Double {
            let words = sites.split(separator: " ")
            guard let i = words.firstIndex(where: { $0.hasPrefix(word) }), i > 0 else { return 0 }
            return Double(words[i - 1].trimmingCharacters(in: CharacterSet(charactersIn: "%"))) ?? 0
        }
        XCTAssertGreaterThan(number(before: "rewritten"), 3, sites)
        XCTAssertTrue(sites.contains("a branch lands inside"), sites)
        XCTAssertTrue(sites.contains("instructions before it cannot move"), sites)
        // 2000 calls at the plain site, all but its first without a trap.
        XCTAssertGreaterThan(number(before: "of"), 75, sites)
    }

    /// A fault in an instruction the rewriter moved into a trampoline is reported where the
    /// program has it: the same line as on the trapping path.
    func testAFaultInATrampolineNamesTheProgramsInstruction() throws {
        try requireKVM()
        let exe = try buildSites()
        let fast = try revenant(["run", "--", exe, "crash"])
        let trap = try revenant(["run", "--syscall-path", "trap", "--", exe, "crash"])
        XCTAssertEqual(fast.status, 139, fast.stderr)
        XCTAssertEqual(fast.stdout, "load then syscall: right\n")
        XCTAssertTrue(fast.stderr.contains("load_then_syscall"), fast.stderr)
        XCTAssertEqual(fast.stderr, trap.stderr)
    }

    /// A recording replays the same whichever path each call takes in the replay: the spinner
    /// made to fall asleep or answer late at random calls (REVENANT_FORCE_FALLBACK), or absent.
    func testReplayTakesEitherPathAlike() throws {
        try requireKVM()
        let exe = try buildSites()
        let script =
            "open my $f, '>', 'out.txt' or die; for my $i (1 .. 3000) { print $f getppid() == 0 ? 'x' : $i, "
            + "\"\\n\" } close $f; open $f, '<', 'out.txt' or die; my $n = () = <$f>; print \"$n lines\\n\"; "
            + "print -s 'out.txt', \"\\n\""
        for (name, command) in [("sites", [exe]), ("perl", ["/usr/bin/perl", "-e", script])] {
            let trace = "\(name).rvt"
            let rec = try revenant(["record", "-v", "-o", trace, "--"] + command)
            XCTAssertEqual(rec.status, 0, rec.stderr)
            XCTAssertTrue(rec.stderr.contains("syscall sites:"), rec.stderr)
            for env in [[:], ["REVENANT_FORCE_FALLBACK": "40"], ["REVENANT_FORCE_FALLBACK": "100"]] {
                let rep = try revenant(["replay", trace], env: env)
                XCTAssertEqual(rep.status, 0, "\(name) \(env): \(rep.stderr)")
                XCTAssertEqual(rep.stdout, rec.stdout, "\(name) \(env)")
            }
        }
        let info = try revenant(["info", "perl.rvt"])
        XCTAssertTrue(info.stdout.contains("syscall path:   fast (rewriter version 1)"), info.stdout)
        XCTAssertEqual(
            try revenant(["record", "-o", "trap.rvt", "--syscall-path", "trap", "--", exe]).status, 0)
        XCTAssertTrue(try revenant(["info", "trap.rvt"]).stdout.contains("syscall path:   trap"))
    }

    /// A trace from a rewriter of another version is refused in one line: its code and memory map
    /// would not be rebuilt the same.
    func testAnotherRewriterVersionIsRefused() throws {
        try requireKVM()
        XCTAssertEqual(try revenant(["record", "-o", "t.rvt", "--", "/bin/true"]).status, 0)
        let file = base.appendingPathComponent("t.rvt/header")
        var h = try TraceHeader.decode(Array(try Data(contentsOf: file)))
        XCTAssertEqual(h.syscallRewriter, 1)
        h.syscallRewriter = 99
        try Data(try h.encoded()).write(to: file)
        assertOneLine(
            try revenant(["replay", "t.rvt"]), 125,
            containing: ["recorded with syscall rewriter version 99", "version 1"])
    }
}
