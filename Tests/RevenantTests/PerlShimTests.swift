import Foundation
import Personality
import Regen
import Trace
import LinuxABI
import XCTest

/// The Perl shim in the VM: what `regen` brings back, what the trace does not hold, and the
/// fast-replay verdict.
final class PerlShimTests: ScratchTestCase {
    func script(_ name: String, _ text: String) throws -> String {
        try text.write(to: base.appendingPathComponent(name), atomically: true, encoding: .utf8)
        return name
    }

    /// `log perl --jsonl` as objects.
    func perlLog(_ trace: String, _ extra: [String] = []) throws -> [[String: Any]] {
        let r = try revenant(["log", trace, "perl", "--jsonl"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Values the live run printed are the values regeneration brings back.
    func testRegeneratedValuesEqualWhatTheRunPrinted() throws {
        try requireKVM()
        try "first line\nsecond\n".write(
            to: base.appendingPathComponent("input.txt"), atomically: true, encoding: .utf8)
        let s = try script(
            "values.pl",
            """
            my $t = time;
            my $r = rand();
            open my $fh, "<", "input.txt" or die;
            my $line = <$fh>;
            chomp $line;
            my $size = -s "input.txt";
            my $ok = open my $nope, "<", "missing.txt";
            my $err = $! + 0;
            print "$t|$r|$line|$size|$err\\n";
            """)
        let rec = try revenant(["record", "-o", "v.rvt", "--", "/usr/bin/perl", s])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let printed = rec.stdout.trimmingCharacters(in: .newlines).split(separator: "|").map(String.init)
        guard printed.count == 5 else { return XCTFail("the script printed \(rec.stdout); stderr \(rec.stderr)") }
        let log = try perlLog("v.rvt")
        let results = log.filter { $0["op"] != nil }
        func values(_ op: String) -> [[Any]] {
            results.filter { ($0["op"] as? String) == op }.compactMap { $0["value"] as? [Any] }
        }
        XCTAssertEqual(values("time").first?.first as? Int, Int(printed[0]), "time")
        XCTAssertFalse(values("rand seed").isEmpty, "rand's implicit seed is logged")
        XCTAssertEqual(values("readline").first?.first as? String, printed[2] + "\n", "readline's data")
        XCTAssertEqual(values("ftsize").first?.first as? Int, Int(printed[3]), "-s")
        let failedOpen = results.filter { ($0["op"] as? String) == "open" }.last
        XCTAssertEqual(failedOpen?["errno"] as? Int, Int(printed[4]), "open's $!")
        // Statements: the script's lines in order, with their events increasing.
        let lines = log.filter { ($0["file"] as? String) == s }.compactMap { $0["line"] as? Int }
        XCTAssertEqual(lines, Array(1...9))
        let events = log.compactMap { $0["event"] as? Int }
        XCTAssertEqual(events, events.sorted(), "positions never go back")
        XCTAssertGreaterThan(events.last ?? 0, events.first ?? 0, "statements have distinct machine positions")
        // A second recording differs (time, rand): the test can fail.
        let again = try revenant(["record", "-o", "v2.rvt", "--", "/usr/bin/perl", s])
        XCTAssertNotEqual(again.stdout, rec.stdout)
    }

    /// Live, the VMM discards the channel: the trace holds no channel call and no copy, and its
    /// events are those of a run that kept the channel (the shim left its statements out of the
    /// first, and the program cannot tell: the same calls with the same arguments).
    func testTraceHoldsNoChannel() throws {
        try requireKVM()
        let s = try script(
            "det.pl",
            "my %h;\nfor my $i (1..200) {\n  $h{$i} = $i * 2;\n}\n"
                + "my $t = 0; $t += $h{$_} for sort keys %h; print \"$t\\n\";\n"
        )
        XCTAssertEqual(try revenant(["record", "-o", "a.rvt", "--", "/usr/bin/perl", s]).status, 0)
        XCTAssertEqual(try revenant(["record", "-o", "b.rvt", "--keep-channel", "--", "/usr/bin/perl", s]).status, 0)
        let a = base.appendingPathComponent("a.rvt"), b = base.appendingPathComponent("b.rvt")
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.appendingPathComponent("channel.live").path))
        let live = try Data(contentsOf: b.appendingPathComponent("channel.live"))
        XCTAssertGreaterThan(try ShimChecks.decode(Array(live)).statements.count, 200)
        let na = try ShimChecks.syscallNumbers(a), nb = try ShimChecks.syscallNumbers(b)
        XCTAssertFalse(na.contains(ChannelPort.number))
        XCTAssertEqual(na, nb, "keeping the channel changes no event")
        // The 256 KiB buffer was flushed at least once: no flush is an event either.
        let big = try script("big.pl", "my $x = 0; for my $i (1..300000) { $x += $i } print \"$x\\n\";\n")
        XCTAssertEqual(try revenant(["record", "-o", "c.rvt", "--keep-channel", "--", "/usr/bin/perl", big]).status, 0)
        let c = base.appendingPathComponent("c.rvt")
        XCTAssertGreaterThan(try Data(contentsOf: c.appendingPathComponent("channel.live")).count, 256 << 10)
        XCTAssertFalse(try ShimChecks.syscallNumbers(c).contains(ChannelPort.number))
        let out = base.appendingPathComponent("c.channel")
        XCTAssertEqual(try revenant(["regen", "-q", "c.rvt", "--channel-out", out.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: out), try Data(contentsOf: c.appendingPathComponent("channel.live")))
    }

    /// A recording's shim writes no statement record (the channel is quiet, as `-v` says), and
    /// regeneration brings every one back: its channel is, byte for byte, the one a recording
    /// that kept every record handed over live. Statements first seen in a module, a string eval
    /// and under a `#line` directive included (their first sight digests files: syscalls).
    func testAQuietRecordingRegeneratesEveryStatement() throws {
        try requireKVM()
        _ = try script("Mod.pm", "package Mod;\nsub twice { my $x = shift;\n  return 2 * $x }\n1;\n")
        let s = try script(
            "quiet.pl",
            "use lib '.';\nuse Mod;\nmy $t = 0;\nfor my $i (1..3000) {\n  $t += Mod::twice($i);\n}\n"
                + "my $e = eval \"1 +\\n 2\";\n#line 7 \"renamed.pl\"\nprint \"$t $e\\n\";\n")
        // One hash order for both recordings (perl seeds it from AT_RANDOM otherwise).
        let env = ["PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"]
        let quiet = try revenant(["record", "-v", "-o", "q.rvt", "--", "/usr/bin/perl", s], env: env)
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertEqual(quiet.stdout, "9003000 3\n")
        let full = try revenant(["record", "-v", "-o", "f.rvt", "--keep-channel", "--", "/usr/bin/perl", s], env: env)
        XCTAssertEqual(full.stdout, quiet.stdout, full.stderr)
        XCTAssertTrue(quiet.stderr.contains("shim channel: quiet (no statement records)"), quiet.stderr)
        XCTAssertTrue(full.stderr.contains("shim channel: every record"), full.stderr)
        let live = try Data(contentsOf: base.appendingPathComponent("f.rvt/channel.live"))
        XCTAssertGreaterThan(try ShimChecks.decode(Array(live)).statements.count, 9000)
        let out = base.appendingPathComponent("q.channel")
        let regen = try revenant(["regen", "-q", "q.rvt", "--channel-out", out.path])
        XCTAssertEqual(regen.status, 0, regen.stderr)
        XCTAssertEqual(try Data(contentsOf: out), live, "the quiet recording regenerates the full channel")
        let replay = try revenant(["replay", "q.rvt"])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        XCTAssertEqual(replay.stdout, quiet.stdout)
    }

    /// Inputs that bypass hooked ops (XS doing its own I/O, Time::HiRes) rule the fast replay out,
    /// naming the event; a script whose inputs all went through hooked ops allows it.
    func testFastReplayVerdict() throws {
        try requireKVM()
        try "data\n".write(to: base.appendingPathComponent("in.txt"), atomically: true, encoding: .utf8)
        let cases: [(String, String, String?)] = [
            (
                "plain.pl",
                "open my $f, '<', 'in.txt' or die; my @l = <$f>; mkdir 'd'; unlink 'nope'; rename 'd', 'e'; "
                    + "print scalar(@l), time > 0 ? 1 : 0, rand() < 1 ? 1 : 0, \"\\n\";\n",
                nil
            ),
            (
                "md5.pl",
                "use Digest::MD5; open my $f, '<', 'in.txt' or die; "
                    + "print Digest::MD5->new->addfile($f)->hexdigest, \"\\n\";\n",
                " read(fd 3) reads data"
            ),
            ("hires.pl", "use Time::HiRes; print Time::HiRes::time() > 0 ? 1 : 0, \"\\n\";\n", "reads host state"),
            // Perl code inside an op the fast form feeds from the log (a tied handle's READLINE)
            // rules it out; inside one it runs for real (require: REVENANT_PERL_RUN_FOR_REAL) not.
            (
                "tied.pl",
                "package T; sub TIEHANDLE { bless {} } sub READLINE { my $x = 1 + 1; \"line $x\\n\" }\n"
                    + "package main; tie *FH, 'T'; my $l = <FH>; print $l;\n",
                "op readline ran Perl code inside it"
            ),
            ("require.pl", "eval 'require File::Temp; 1' or die; print \"ok\\n\";\n", nil),
        ]
        for (name, text, blocker) in cases {
            let s = try script(name, text)
            let trace = name + ".rvt"
            XCTAssertEqual(try revenant(["record", "-o", trace, "--", "/usr/bin/perl", s]).status, 0)
            let r = try revenant(["regen", trace])
            XCTAssertEqual(r.status, 0, r.stderr)
            if let blocker {
                XCTAssertTrue(
                    r.stdout.contains("fast Perl replay: not possible: event #") && r.stdout.contains(blocker),
                    "\(name): \(r.stdout)")
                XCTAssertTrue(r.stdout.contains(name + ":"), "\(name): the blocker names the statement: \(r.stdout)")
            } else {
                XCTAssertTrue(r.stdout.contains("fast Perl replay: possible"), "\(name): \(r.stdout)")
            }
        }
    }

    /// regen twice gives the same index; log regenerates a missing index by itself.
    func testRegenIsIdempotentAndLogRegenerates() throws {
        try requireKVM()
        let s = try script("idem.pl", "my @a = map { $_ * 3 } 1..50; print time - time, scalar(@a), \"\\n\";\n")
        XCTAssertEqual(try revenant(["record", "-o", "i.rvt", "--", "/usr/bin/perl", s]).status, 0)
        let index = base.appendingPathComponent("i.rvt/index.sqlite")
        XCTAssertFalse(FileManager.default.fileExists(atPath: index.path), "record never writes the index")
        let first = try perlLog("i.rvt")
        XCTAssertTrue(FileManager.default.fileExists(atPath: index.path), "log perl regenerated the index")
        let bytes1 = try Data(contentsOf: index)
        XCTAssertEqual(try revenant(["regen", "-q", "i.rvt"]).status, 0)
        XCTAssertEqual(try Data(contentsOf: index), bytes1, "regen is idempotent")
        XCTAssertEqual(try perlLog("i.rvt").count, first.count)
        let limited = try revenant(["log", "i.rvt", "perl", "--limit", "3"])
        XCTAssertEqual(limited.stdout.split(separator: "\n").count, 3)
        let line = try revenant(["log", "i.rvt", "perl", "--where", "line=1", "--where", "file=idem.pl"])
        XCTAssertEqual(line.status, 0)
        XCTAssertTrue(line.stdout.hasPrefix("#") && line.stdout.contains("idem.pl:1 main"), line.stdout)
        XCTAssertEqual(try revenant(["log", "i.rvt", "perl", "--where", "line=999"]).status, 1, "no hit: exit 1")
    }

    /// Shims built under /tmp (a CI clone there) are visible to the guest, whose /tmp is private.
    func testShimsUnderTmpAreMountedForTheGuest() throws {
        try requireKVM()
        // Outside the working directory (which the guest sees): a sibling under /tmp.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("shims-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: packageRootDirectory().appendingPathComponent(".build/shims"), to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let s = try script("tmp.pl", "print 6 * 7, \"\\n\";\n")
        let r = try revenant(["record", "-o", "tmp.rvt", "--", "/usr/bin/perl", s], env: ["REVENANT_SHIMS": copy.path])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "42\n")
        XCTAssertEqual(r.stderr, "", "no ld.so complaint about the preload")
        // The recorded command loads the copy (`info` shows the user's command, without it).
        let argv = try TraceDirectory.open(base.appendingPathComponent("tmp.rvt").path).1.argv
        XCTAssertTrue(argv.contains(ByteString("-I" + copy.path + "/perl/lib")), "the copy was used: \(argv)")
        XCTAssertTrue(try perlLog("tmp.rvt").contains { ($0["file"] as? String) == s })
    }

    /// What the script sees is the same with and without the shim; bad --shims values and
    /// traces without the shim get one clear line.
    func testShimIsInvisibleAndErrorsAreClear() throws {
        try requireKVM()
        let s = try script(
            "see.pl",
            "print join(',', sort keys %INC), \"\\n\", join(',', @INC), \"\\n\", "
                + "join(',', sort keys %ENV), \"\\n\", scalar(keys %Revenant::), \"\\n\";\n"
        )
        let with = try revenant(["record", "-o", "w.rvt", "--", "/usr/bin/perl", s])
        let without = try revenant(["record", "-o", "n.rvt", "--shims", "none", "--", "/usr/bin/perl", s])
        XCTAssertEqual(with.status, 0, with.stderr)
        XCTAssertEqual(with.stdout, without.stdout)
        XCTAssertTrue(with.stdout.contains("/usr/share/perl"), with.stdout)
        let noShim = try revenant(["log", "n.rvt", "perl"])
        XCTAssertEqual(noShim.status, 1)
        XCTAssertTrue(noShim.stderr.contains("without the Perl shim"), noShim.stderr)
        let bad = try revenant(["record", "-o", "x.rvt", "--shims", "bogus", "--", "/usr/bin/perl", "-e", "1"])
        XCTAssertEqual(bad.status, 125)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
    }
}
