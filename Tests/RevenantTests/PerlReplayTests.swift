import Foundation
import XCTest

/// `revenant perl`: the stepping replay leaves the host alone, the debugger steps both ways, and
/// bad input gets one line and its exit code (Docs/architecture.md "Exit codes").
final class PerlReplayTests: ScratchTestCase {
    let script = """
        use strict;
        my $n = 0;
        open(my $out, '>', 'out.txt') or die;
        for my $i (1 .. 5) {
            $n += $i;
            print $out "n=$n\\n";
        }
        close $out;
        unlink 'victim.txt' or die "unlink: $!";
        mkdir 'made';
        rename 'out.txt', 'made/out.txt' or die;
        print "sum $n\\n";

        """

    /// Names, sizes, contents and modification times of everything under `base`, but traces.
    func snapshot() throws -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for case let p as String in fm.enumerator(atPath: base.path)!
        where !p.contains(".rvt") && !p.hasPrefix("out-") && !p.hasPrefix("err-") {
            let a = try fm.attributesOfItem(atPath: base.appendingPathComponent(p).path)
            let data = (try? Data(contentsOf: base.appendingPathComponent(p))) ?? Data()
            out.append(
                "\(p) \(a[.size] ?? 0) \((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) \(data.hashValue)"
            )
        }
        return out.sorted()
    }

    func testReplayWritesAndUnlinksNothingOnTheHost() throws {
        try requireKVM()
        try script.write(to: base.appendingPathComponent("t.pl"), atomically: true, encoding: .utf8)
        try "precious\n".write(to: base.appendingPathComponent("victim.txt"), atomically: true, encoding: .utf8)
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "t.pl"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertEqual(rec.stdout, "sum 15\n")
        // Back to the state before the run; the replays must leave it exactly so.
        try FileManager.default.removeItem(at: base.appendingPathComponent("made"))
        try "precious\n".write(to: base.appendingPathComponent("victim.txt"), atomically: true, encoding: .utf8)
        let before = try snapshot()
        // Both forms: the VM's, and the fast one (perl runs t.pl again in a sandbox whose working
        // directory is a scratch folder, every op that touches files replaced by its logged result).
        for path in ["vm", "fast"] {
            let all = try revenant(["perl", "t.rvt", "--path", path])
            XCTAssertEqual(all.status, 0, "\(path): \(all.stderr)")
            XCTAssertTrue(
                all.stdout.contains("perl t.pl:9: statement #") && all.stdout.contains("perl t.pl:11: "), all.stdout)
            let w = try revenant(["perl", "t.rvt", "--path", path, "--when", "$n > 5", "--print", "$n, $i"])
            XCTAssertEqual(w.status, 0, "\(path): \(w.stderr)")
            XCTAssertTrue(
                w.stdout.contains("perl t.pl:6: ") && w.stdout.contains("$n = 6\n    $i = 3\n"), "\(path): \(w.stdout)")
            // A line with no statement: no stop, exit 1.
            let never = try revenant(["perl", "t.rvt", "--path", path, "--break", "t.pl:99"])
            XCTAssertEqual(never.status, 1, "\(path): \(never.stderr)")
            XCTAssertEqual(never.stdout, "", path)
            XCTAssertEqual(try snapshot(), before, "a replay (\(path)) touched the host's files")
        }
    }

    /// perl's own debugger on the fast form (`--debug --path fast`): the user's commands as on the
    /// original run, the logged inputs fed, the host untouched; quitting early is no divergence.
    func testPerlsOwnDebuggerRunsOnTheFastForm() throws {
        try requireKVM()
        try script.write(to: base.appendingPathComponent("t.pl"), atomically: true, encoding: .utf8)
        try "x\n".write(to: base.appendingPathComponent("victim.txt"), atomically: true, encoding: .utf8)
        // A terminal type in the recorded environment: perl5db asks infocmp about it (a child process).
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "t.pl"], env: ["TERM": "xterm"])
        XCTAssertEqual(rec.status, 0)
        try FileManager.default.removeItem(at: base.appendingPathComponent("made"))
        try "x\n".write(to: base.appendingPathComponent("victim.txt"), atomically: true, encoding: .utf8)
        let commands = base.appendingPathComponent("commands")
        try "b 6\nc\np \"n=$n i=$i\"\nc\np \"n=$n i=$i\"\nq\n".write(to: commands, atomically: true, encoding: .utf8)
        let before = try snapshot()
        let r = try revenant(["perl", "t.rvt", "--debug", "--path", "fast"], stdin: commands.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        // Without a terminal perl5db talks on stderr.
        let out = (r.stdout + r.stderr).replacingOccurrences(
            of: "\u{1b}\\[[0-9;]*m", with: "", options: .regularExpression)
        XCTAssertTrue(out.contains("main::(t.pl:6):"), out)
        XCTAssertTrue(out.contains("n=1 i=1\n") && out.contains("n=3 i=2\n"), out)
        XCTAssertFalse(r.stderr.contains("diverged"), r.stderr)
        // perl5db starts a child (Term::Cap runs `infocmp`): it runs, without a diagnostic.
        XCTAssertFalse(r.stderr.contains("revenant: unsupported syscall"), r.stderr)
        XCTAssertEqual(try snapshot(), before, "perl -d on the fast form touched the host's files")
    }

    /// The fast form never answers for code that is not the recorded code: a script edited since
    /// the recording, or a module outside the working directory (the shim checks its digest), makes
    /// it step aside (the VM answers, from the trace) or, with --path fast, fail with 124.
    func testFastReplayStepsAsideForChangedCode() throws {
        try requireKVM()
        let lib = base.appendingPathComponent("lib"), work = base.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try "package M; sub twice { 2 * $_[0] } 1;\n".write(
            to: lib.appendingPathComponent("M.pm"), atomically: true, encoding: .utf8)
        try "use lib '../lib';\nuse M;\nmy $x = M::twice(21);\nprint \"$x\\n\";\n".write(
            to: work.appendingPathComponent("s.pl"), atomically: true, encoding: .utf8)
        // The module's folder is a read-only mount (the guest's /tmp is private); the fast form
        // mounts the recording's mounts again.
        let rec = try revenant(
            ["record", "--ro", lib.path, "-o", "../s.rvt", "--", "/usr/bin/perl", "s.pl"], directory: work)
        XCTAssertEqual(rec.stdout, "42\n", rec.stderr)
        func ask(_ path: String) throws -> Output {
            try revenant(["perl", "s.rvt", "--path", path, "--break", "s.pl:4", "--print", "$x"])
        }
        let good = try ask("fast")
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertTrue(
            good.stdout.contains("perl s.pl:4: statement #") && good.stdout.contains("    $x = 42\n"), good.stdout)
        for (file, text, why) in [
            (
                lib.appendingPathComponent("M.pm"), "package M; sub twice { 3 * $_[0] } 1;\n",
                "the source file changed since the recording"
            ),
            (work.appendingPathComponent("s.pl"), "print 1;\n", "s.pl changed since the recording"),
        ] {
            let original = try String(contentsOf: file, encoding: .utf8)
            try text.write(to: file, atomically: true, encoding: .utf8)
            let strict = try ask("fast")
            XCTAssertEqual(strict.status, 124, strict.stdout)
            XCTAssertTrue(strict.stderr.contains(why) && strict.stdout.isEmpty, strict.stderr)
            let auto = try ask("auto")
            XCTAssertEqual(auto.status, 0, auto.stderr)
            XCTAssertEqual(auto.stdout, good.stdout, "the VM answers as the fast form did with the recorded code")
            XCTAssertTrue(
                auto.stderr.contains(why) && auto.stderr.contains("stepping the replay in the VM"), auto.stderr)
            try original.write(to: file, atomically: true, encoding: .utf8)
        }
    }

    /// Record `script`, run a debug session on these commands: its output and what `p` printed.
    func debugSession(_ commands: String) throws -> (Output, [String]) {
        try requireKVM()
        try script.write(to: base.appendingPathComponent("t.pl"), atomically: true, encoding: .utf8)
        try "x\n".write(to: base.appendingPathComponent("victim.txt"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "t.pl"]).status, 0)
        let file = base.appendingPathComponent("commands")
        try commands.write(to: file, atomically: true, encoding: .utf8)
        let r = try revenant(["perl", "t.rvt", "--debug"], stdin: file.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        return (r, r.stdout.components(separatedBy: "(revenant) ").filter { $0.hasPrefix("$") })
    }

    func testDebuggerStepsContinuesAndReverseSteps() throws {
        let (r, printed) = try debugSession("b t.pl:6\nc\np $n, $i\nc\np $n\nrs\np $n, $i\nw\nn\np $n\nq\n")
        // line 6 after $n += 1, then after $n += 2; back one statement (line 5, $n still 1);
        // next (line 6 again, $n now 3).
        XCTAssertEqual(printed, ["$n = 1\n$i = 1\n", "$n = 3\n", "$n = 1\n$i = 2\n", "$n = 3\n"], r.stdout)
        XCTAssertTrue(
            r.stdout.contains("[#") && r.stdout.contains("t.pl:5") && r.stdout.contains("$n += $i;"), r.stdout)
        XCTAssertTrue(
            r.stdout.contains("event #") && r.stdout.contains("perl t.pl:5: statement #"), "where: \(r.stdout)")
    }

    /// Reverse-steps resume a forked checkpoint (a paused copy of the VMM with its own new VM);
    /// the resumed copy replays on to the end exactly (the replay checks every remaining event).
    func testReverseStepsResumeCheckpointsAndReplayOnExactly() throws {
        let (r, printed) = try debugSession("b t.pl:6\nc\nc\nc\nrs\nrs\np $n, $i\ns\np $n\nc\nc\nc\nc\n")
        // At the third stop on line 6 ($n = 6, $i = 3), two statements back is line 6 of the
        // second iteration ($n = 3, $i = 2); one step on, line 5 with $n still 3.
        XCTAssertEqual(printed, ["$n = 3\n$i = 2\n", "$n = 3\n"], r.stdout)
        // #0, three stops on line 6, back twice, a step, three more stops on line 6, then the end.
        let stops = r.stdout.components(separatedBy: "[#").dropFirst().map { $0.prefix { $0 != "]" } }
        XCTAssertEqual(stops, ["0", "22", "24", "26", "25", "24", "25", "26", "28", "30"], r.stdout)
        XCTAssertTrue(r.stdout.contains("the program ended ("), r.stdout)
    }

    /// Expressions beyond the VMM's subset run in a throw-away clone of the paused VM: the real
    /// interpreter answers (even a sub with side effects), and the replay goes on untouched.
    func testAnyExpressionRunsInAThrowAwayClone() throws {
        try requireKVM()
        try """
        my $balance = 100;
        my @history;
        sub pay { my ($n) = @_; $balance -= $n; push @history, $n; return $balance }
        for my $n (30, 50) {
            pay($n);
            print "balance $balance\\n";
        }
        print "end $balance\\n";

        """.write(to: base.appendingPathComponent("c.pl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(
            try revenant(["record", "-o", "c.rvt", "--", "/usr/bin/perl", "c.pl"]).stdout,
            "balance 70\nbalance 20\nend 20\n")
        // In the VM path a clone evaluates it; in the fast form perl itself, in the program's scope.
        for path in ["vm", "fast"] {
            let p = try revenant([
                "perl", "c.rvt", "--path", path, "--break", "c.pl:6", "--print",
                "join('/', @history) . sprintf(' %03d', $balance)",
            ])
            XCTAssertEqual(p.status, 0, p.stderr)
            XCTAssertTrue(
                p.stdout.contains(" = '30 070'\n") && p.stdout.contains(" = '30/50 020'\n"), "\(path): \(p.stdout)")
        }
        let commands = base.appendingPathComponent("commands")
        try "b c.pl:8\nc\np pay(5)\np $balance, @history\np die('no')\nc\n".write(
            to: commands, atomically: true, encoding: .utf8)
        let d = try revenant(["perl", "c.rvt", "--debug"], stdin: commands.path)
        XCTAssertEqual(d.status, 0, d.stderr)
        // The clone paid 5 (15 there); the replay still has 20, and replays to the end.
        XCTAssertTrue(d.stdout.contains("pay(5) = 15\n"), d.stdout)
        XCTAssertTrue(d.stdout.contains("$balance = 20\n@history = (30, 50)\n"), d.stdout)
        XCTAssertTrue(d.stdout.contains("die('no'): no at (eval"), d.stdout)
        XCTAssertTrue(d.stdout.contains("the program ended ("), d.stdout)
    }

    func testErrorsAreOneLine() throws {
        try requireKVM()
        try "print 1;\n".write(to: base.appendingPathComponent("t.pl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "t.pl"]).status, 0)
        XCTAssertEqual(
            try revenant(["record", "-o", "none.rvt", "--shims", "none", "--", "/usr/bin/perl", "t.pl"]).status, 0)
        for (args, code) in [
            (["perl", "none.rvt"], Int32(1)), (["perl", "t.rvt", "--when", "$x +"], 125),
            (["perl", "t.rvt", "--when", "print($x)"], 125), (["perl", "t.rvt", "--break", "t.pl"], 125),

            (["perl", "missing.rvt"], 125), (["perl", "t.rvt", "--when", "$nothing > 1"], 1),
        ] {
            let r = try revenant(args)
            XCTAssertEqual(r.status, code, "\(args): \(r.stderr)")
            XCTAssertEqual(
                r.stderr.split(separator: "\n").count, code == 1 && args.count > 2 ? 0 : 1, "\(args): \(r.stderr)")
        }
    }
}
