import CHost
import Foundation
import XCTest

import Replicas

/// `run --replicas N` (Docs/replicas.md): the output a majority agreed on and nothing else, each
/// injected fault detected in one line naming the replica, the event and the kind; and
/// `replay --follow`, which the backups are made of.
final class ReplicaTests: ScratchTestCase {
    /// Prints a line per round, reads a file, writes to stderr: its writes are at events that
    /// `log syscalls` numbers, found below from a recording.
    static let script = """
        $| = 1;
        my $s = 0;
        for my $i (1..6) { $s += $i * $i; print "round $i: $s\\n"; }
        open my $f, '<', 'input.txt' or die; my @l = <$f>; close $f;
        print STDERR "read ", scalar(@l), " lines\\n";
        my %h = map { $_ => length $_ } @l; print join(",", map { $h{$_} } sort keys %h), "\\n";
        """

    override func setUpWithError() throws {
        try super.setUpWithError()
        try requireKVM()
        try Self.script.write(to: base.appendingPathComponent("s.pl"), atomically: true, encoding: .utf8)
        try "alpha\nbeta\ngamma delta\n".write(
            to: base.appendingPathComponent("input.txt"), atomically: true, encoding: .utf8)
    }

    private func native() throws -> Output { try run("/usr/bin/perl", ["s.pl"]) }

    /// The events of the script's writes to stdout, from a recording of it.
    private func writeEvents() throws -> [Int] {
        XCTAssertEqual(try revenant(["record", "--shims", "none", "-o", "w.rvt", "--", "perl", "s.pl"]).status, 0)
        let log = try revenant(["log", "w.rvt", "syscalls", "--where", "name=write"]).stdout
        return log.split(separator: "\n").compactMap { l in
            l.contains("write(1,") ? Int(l.dropFirst().prefix { $0.isNumber }) : nil
        }
    }

    /// The event of the recording's last call (exit_group), after writeEvents made it.
    private func lastEvent() throws -> Int {
        let log = try revenant(["log", "w.rvt", "syscalls"]).stdout
        return try XCTUnwrap(log.split(separator: "\n").last.flatMap { Int($0.dropFirst().prefix { $0.isNumber }) })
    }

    private func summary(_ r: Output) -> String? {
        r.stderr.split(separator: "\n").last { $0.hasPrefix("revenant: replicas: ") }.map(String.init)
    }

    func testReplicasGiveTheNativeOutput() throws {
        let n = try native()
        for count in ["2", "3"] {
            let r = try revenant(["run", "--replicas", count, "--compare-every", "25", "--", "perl", "s.pl"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, n.stdout)
            XCTAssertTrue(r.stderr.hasPrefix(n.stderr), r.stderr)
            XCTAssertEqual(
                summary(r), "revenant: replicas: \(count), faults detected: 0, recoveries: 0, replicas left: \(count)")
        }
        // record --replicas leaves the primary's trace, which replays alone, and its faults,
        // which info lists.
        let rec = try revenant([
            "record", "--replicas", "3", "-o", "r.rvt", "--inject", "kill replica=1 event=100", "--", "perl", "s.pl",
        ])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let replay = try revenant(["replay", "r.rvt"])
        XCTAssertEqual(replay.stdout, n.stdout)
        XCTAssertEqual(replay.status, 0)
        let info = try revenant(["info", "r.rvt"]).stdout
        XCTAssertTrue(info.contains("replicas:       3, 1 faults"), info)
        XCTAssertTrue(info.contains("  fault:        replica 1 at event:100: was killed by signal 9"), info)
        // A damaged record of them is refused in one line, as any damaged part of a trace.
        try "revenant-replicas 1\nreplicas 3\nfault x\n".write(
            to: base.appendingPathComponent("r.rvt/replicas"), atomically: true, encoding: .utf8)
        assertOneLine(try revenant(["info", "r.rvt"]), 125, containing: ["a line does not read"], "damaged")
    }

    /// With three replicas every fault in a backup is outvoted, reported and survived.
    func testAFaultyBackupIsOutvotedAndTheRunGoesOn() throws {
        let n = try native()
        let writes = try writeEvents()
        XCTAssertGreaterThanOrEqual(writes.count, 6)
        let second = writes[1]
        // A stall just before the end: the primary ends before the supervisor sees the backup
        // stop (the run used to wait for it forever).
        let late = try lastEvent() - 2
        let cases: [(inject: String, expected: String)] = [
            // The second write returns one byte less: perl writes the last byte again.
            ("flip replica=2 event=\(second) reg=RAX bit=0", "replica 2: fault: at event \(second + 1): its write"),
            ("kill replica=1 event=\(second)", "replica 1: fault: was killed by signal 9 at event \(second)"),
            ("stall replica=2 event=\(second)", "replica 2: fault: made no progress for 1.0 s at event \(second)"),
            ("stall replica=2 event=\(late)", "replica 2: fault: made no progress for 1.0 s at event \(late)"),
        ]
        for c in cases {
            let r = try revenant([
                "run", "--replicas", "3", "--stall-timeout", "1", "--inject", c.inject, "--", "perl", "s.pl",
            ])
            XCTAssertEqual(r.status, 0, "\(c.inject): \(r.stderr)")
            XCTAssertEqual(r.stdout, n.stdout, c.inject)
            XCTAssertTrue(r.stderr.contains(c.expected), "\(c.inject): \(r.stderr)")
            // A replacement is forked if a healthy backup makes another call before the end.
            let line = summary(r) ?? ""
            XCTAssertTrue(
                line == "revenant: replicas: 3, faults detected: 1, recoveries: 0, replicas left: 2"
                    || line == "revenant: replicas: 3, faults detected: 1, recoveries: 1, replicas left: 3", line)
        }
    }

    /// A discarded backup is replaced by a fork of a healthy one, which agrees to the end.
    func testADiscardedBackupIsReplacedByAForkOfAHealthyOne() throws {
        let loop =
            "$| = 1; my $s = 0;\nfor my $i (1..3000) { $s += $i; print \"$i $s\\n\" if $i % 500 == 0; "
            + "my @st = stat('loop.pl'); }\n"
        try loop.write(to: base.appendingPathComponent("loop.pl"), atomically: true, encoding: .utf8)
        let n = try run("/usr/bin/perl", ["loop.pl"])
        // Where perl's stat buffer is (a stat call's third argument): a flip there changes no
        // call, only the state, until the next stat writes it again (the digest at 450 is taken
        // before that call).
        XCTAssertEqual(try revenant(["record", "--shims", "none", "-o", "l.rvt", "--", "perl", "loop.pl"]).status, 0)
        let stats = try revenant(["log", "l.rvt", "syscalls", "--where", "path=loop.pl"]).stdout
        let call = try XCTUnwrap(stats.split(separator: "\n").last { $0.contains("newfstatat") })
        let buffer = try XCTUnwrap(call.split(separator: " ").first { $0.hasPrefix("0x") }).dropLast()
        for inject in ["kill replica=1 event=400", "flip replica=2 event=449 addr=\(buffer) bit=0"] {
            let r = try revenant([
                "run", "--replicas", "3", "--compare-every", "50", "--inject", inject, "--", "perl", "loop.pl",
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, n.stdout)
            XCTAssertTrue(r.stderr.contains("replica 3: recovered: forked from replica "), r.stderr)
            XCTAssertEqual(summary(r), "revenant: replicas: 3, faults detected: 1, recoveries: 1, replicas left: 3")
        }
    }

    /// Files in the writable mounts change only once a majority made the same change.
    func testFileChangesWaitForAMajority() throws {
        let files = """
            my @st = stat('files.pl');
            open my $f, '>', 'out.txt' or die; print $f "size $st[7]\\n"; close $f;
            rename 'out.txt', 'out2.txt'; mkdir 'd';
            """
        try files.write(to: base.appendingPathComponent("files.pl"), atomically: true, encoding: .utf8)
        let size = try XCTUnwrap(
            FileManager.default.attributesOfItem(atPath: base.appendingPathComponent("files.pl").path)[.size] as? Int)
        XCTAssertEqual(try revenant(["record", "--shims", "none", "-o", "f.rvt", "--", "perl", "files.pl"]).status, 0)
        let out2 = base.appendingPathComponent("out2.txt"), out = base.appendingPathComponent("out.txt")
        XCTAssertEqual(try String(contentsOf: out2, encoding: .utf8), "size \(size)\n")
        let log = try revenant(["log", "f.rvt", "syscalls", "--where", "path=files.pl"]).stdout
        let stat = try XCTUnwrap(log.split(separator: "\n").last { $0.contains("stat") })
        let event = try XCTUnwrap(Int(stat.dropFirst().prefix { $0.isNumber }))
        let buffer = try XCTUnwrap(
            UInt64(stat.split(separator: " ").first { $0.hasPrefix("0x") }!.dropFirst(2).dropLast(), radix: 16))
        for name in ["out2.txt", "d"] { try FileManager.default.removeItem(at: base.appendingPathComponent(name)) }
        // The primary's copy of the file's size (st_size, 48 bytes in) is flipped after its stat:
        // it writes another line than its backups, and that write never reaches the file.
        // With two replicas, neither can be told right: nothing goes out.
        let flip = "flip replica=0 event=\(event) addr=0x\(String(buffer + 48, radix: 16)) bit=0"
        // (Without state comparisons, and so without checkpoints to start again from.)
        let r = try revenant([
            "run", "--replicas", "2", "--compare-every", "0", "--inject", flip, "--", "perl", "files.pl",
        ])
        XCTAssertEqual(r.status, 125, r.stderr)
        XCTAssertTrue(r.stderr.contains("replicas differ with no majority"), r.stderr)
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out2.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("d").path))
        // With three, the primary is outvoted and a backup takes its place; with two and their
        // checkpoints, both start again from one: what reaches the files is what the program
        // writes without the fault.
        for (count, said) in [("3", "replica 0 (the primary): fault: at event"), ("2", "replicas 0 and 1 differ")] {
            let d = base.appendingPathComponent("d")
            for f in [out, out2, d] where FileManager.default.fileExists(atPath: f.path) {
                try FileManager.default.removeItem(at: f)
            }
            let r = try revenant(["run", "--replicas", count, "--inject", flip, "--", "perl", "files.pl"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains(said), r.stderr)
            XCTAssertTrue(r.stderr.contains("took the place of the primary"), r.stderr)
            XCTAssertEqual(try String(contentsOf: out2, encoding: .utf8), "size \(size)\n")
            XCTAssertTrue(FileManager.default.fileExists(atPath: d.path))
        }
    }

    /// With `--net`, what a socket call sends out (connect, sendto) waits for a majority like a
    /// write: a primary whose copy of the message, or of the port, was flipped is outvoted, and
    /// the server gets nothing from it; a backup's flip changes nothing the server gets.
    func testSocketCallsWaitForAMajority() throws {
        // A server on the host: accepts one connection (or none within 2 s), keeps what it read.
        try writeServer(wait: 2, serve: "if ($c) { while (sysread($c, my $b, 4096)) { $all .= $b } }")
        let client = """
            use Socket; open my $f, '<', 'msg.txt' or die; my $m = <$f>; close $f;
            open my $p, '<', 'port.txt' or die; my $port = <$p>; chomp $port; close $p;
            socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
            connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
            defined send($s, $m, 0) or die "send: $!"; close $s; print "sent\\n";
            """
        try client.write(to: base.appendingPathComponent("client.pl"), atomically: true, encoding: .utf8)
        try "hello over tcp\n".write(to: base.appendingPathComponent("msg.txt"), atomically: true, encoding: .utf8)
        let port = base.appendingPathComponent("port.txt")
        /// Runs revenant with `args` while the server waits; what the server got.
        func withServer(_ args: [String]) throws -> (Output, String) { try whileServing { try self.revenant(args) } }
        // Perl's hash seed, random in each run, moves what it allocates: fixed, the log's
        // addresses hold in the runs below.
        let seed = ["--env", "PERL_HASH_SEED=0"]
        let (rec, sent) = try withServer(
            ["record", "--net"] + seed + ["--shims", "none", "-o", "n.rvt", "--", "perl", "client.pl"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertEqual(sent, "hello over tcp\n")
        // The reads of the message (15 bytes) and of the port (its digits and a newline), and
        // where they were read to.
        let reads = try revenant(["log", "n.rvt", "syscalls", "--where", "name=read"]).stdout.split(separator: "\n")
        func read(returning n: Int) throws -> (event: Int, buffer: String) {
            let line = try XCTUnwrap(reads.first { $0.hasSuffix("= \(n)") }, reads.joined(separator: "\n"))
            let buffer = try XCTUnwrap(line.split(separator: " ").first { $0.hasPrefix("0x") })
            return (try XCTUnwrap(Int(line.dropFirst().prefix { $0.isNumber })), String(buffer.dropLast()))
        }
        let message = try read(returning: 15)
        // The port's last digit, one up or down.
        let digits = try String(contentsOf: port, encoding: .utf8).count - 1
        let portRead = try read(returning: digits + 1)
        // A flipped primary's place is taken: the supervisor holds its socket, which the new
        // primary connects, or sends on, itself.
        for (replica, what, byte, status, expected) in [
            (0, message, 0, Int32(0), "hello over tcp\n"), (0, portRead, digits - 1, 0, "hello over tcp\n"),
            (2, message, 0, 0, "hello over tcp\n"),
        ] {
            let address = String(try XCTUnwrap(UInt64(what.buffer.dropFirst(2), radix: 16)) + UInt64(byte), radix: 16)
            let flip = "flip replica=\(replica) event=\(what.event) addr=0x\(address) bit=0"
            let (r, received) = try withServer(
                ["run", "--net"] + seed + ["--replicas", "3", "--inject", flip, "--", "perl", "client.pl"])
            XCTAssertEqual(r.status, status, "\(flip): \(r.stderr)")
            let call = what.event == message.event ? "sendto" : "connect"
            XCTAssertTrue(
                r.stderr.contains("replica \(replica)\(replica == 0 ? " (the primary)" : ""): fault: "), r.stderr)
            XCTAssertTrue(r.stderr.contains("its \(call) "), r.stderr)
            XCTAssertEqual(received, expected, flip)
            if replica == 0 { XCTAssertTrue(r.stderr.contains("took the place of the primary"), r.stderr) }
        }
    }

    /// A terminal on stdin stays the program's (it sees a terminal and reads it a line at a
    /// time), the supervisor reads what it reads into the journal, and each read is logged before
    /// the guest goes on: a primary killed just after reading a line has logged it, and its
    /// successor reads the next one; a flip of what the primary got is found by the backups.
    func testATerminalReadOutlivesThePrimary() throws {
        // Runs a shell command on a new terminal that was typed three lines ahead; its stdout
        // and stderr go to files.
        let helper = """
            import os, pty, sys
            pid, fd = pty.fork()
            if pid == 0:
                os.execvp('sh', ['sh', '-c', sys.argv[1] + ' > out.txt 2> err.txt'])
            os.write(fd, b'l1\\nl2\\nl3\\n')
            while True:
                try:
                    if not os.read(fd, 1024):
                        break
                except OSError:
                    break
            sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
            """
        try helper.write(to: base.appendingPathComponent("on_terminal.py"), atomically: true, encoding: .utf8)
        try """
        my $a = <STDIN>; stat('term.pl') for 1..10; my $b = <STDIN>;
        print "got $a", "got $b", -t STDIN ? "a terminal\\n" : "no terminal\\n";
        """.write(to: base.appendingPathComponent("term.pl"), atomically: true, encoding: .utf8)
        func onTerminal(_ command: String) throws -> Output {
            let r = try run("/usr/bin/python3", ["on_terminal.py", command])
            let out = (try? String(contentsOf: base.appendingPathComponent("out.txt"), encoding: .utf8)) ?? ""
            let err = (try? String(contentsOf: base.appendingPathComponent("err.txt"), encoding: .utf8)) ?? ""
            return Output(status: r.status, stdout: out, stderr: err + r.stderr)
        }
        let n = try onTerminal("perl term.pl")
        XCTAssertEqual(n.stdout, "got l1\ngot l2\na terminal\n", n.stderr)
        let bin = try revenantBinary().path
        let seed = "--env PERL_HASH_SEED=0"
        let rec = try onTerminal("\(bin) record \(seed) --shims none -o term.rvt -- perl term.pl")
        XCTAssertEqual(rec.stdout, n.stdout, rec.stderr)
        let reads = try revenant(["log", "term.rvt", "syscalls", "--where", "name=read"]).stdout.split(separator: "\n")
        let line = try XCTUnwrap(reads.first { $0.contains(" read(0, ") }, reads.joined(separator: "\n"))
        let first = try XCTUnwrap(Int(line.dropFirst().prefix { $0.isNumber }))
        for count in ["3", "2"] {
            let r = try onTerminal(
                "\(bin) run \(seed) --replicas \(count) --inject 'kill replica=0 event=\(first + 3)' -- perl term.pl")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, n.stdout, "\(count) replicas: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("took the place of the primary (replica 0)"), r.stderr)
            // The supervisor reads the terminal: a flip of what the primary gets of it ("l1" made
            // "l0") is found by the backups against the journal, and the line read again from there.
            let f = try onTerminal(
                "\(bin) run \(seed) --replicas \(count) --inject 'flip replica=0 stdin=1 bit=0' -- perl term.pl")
            XCTAssertEqual(f.status, 0, f.stderr)
            XCTAssertEqual(f.stdout, n.stdout, "\(count) replicas, a flip: \(f.stderr)")
            // (Replica 0's place, or with two replicas now and then a first new primary's: its
            // copies may find a second difference on the way, Docs/replicas.md "Limits".)
            XCTAssertTrue(f.stderr.contains("took the place of the primary (replica "), f.stderr)
            if count == "2" {
                XCTAssertTrue(f.stderr.contains("bytes of the terminal on stdin the primary logged"), f.stderr)
            }
        }
    }

    /// What the guest reads from a regular file is checked by each backup: in a read-only mount,
    /// it reads the same bytes from the file again; in a writable mount (which the committed
    /// writes may change before a backup gets there), the supervisor read them into the journal.
    /// A byte flipped in the primary's input buffer (before its log) is found, and the run goes
    /// on with the file's own bytes.
    func testAFaultInAFileReadIsFound() throws {
        try FileManager.default.createDirectory(
            at: base.appendingPathComponent("data"), withIntermediateDirectories: true)
        try "alpha\nbravo\ncharlie\n".write(
            to: base.appendingPathComponent("data/in.txt"), atomically: true, encoding: .utf8)
        let script = """
            open my $f, '<', 'data/in.txt' or die "$!"; my @l = <$f>; close $f; $| = 1;
            print "read: $_" for @l; stat('s.pl') for 1..20; print "done\n";
            """
        try script.write(to: base.appendingPathComponent("s.pl"), atomically: true, encoding: .utf8)
        let n = try run("/usr/bin/perl", ["s.pl"])
        XCTAssertEqual(n.stdout, "read: alpha\nread: bravo\nread: charlie\ndone\n")
        for (mounts, checked) in [
            (["--ro", "data"], "differ from the file's"), ([], "differ from the 20 in the journal"),
        ] {
            let rec = try revenant(
                ["record"] + mounts + ["--shims", "none", "-o", "f.rvt", "--force", "--", "perl", "s.pl"])
            XCTAssertEqual(rec.status, 0, rec.stderr)
            // `file=N` counts the bytes read from the files the backups check (all but /dev's):
            // the 'b' of "bravo" is 6 bytes into data/in.txt.
            var opened: [String: String] = [:], before = 0, target: Int?
            for line in try revenant(["log", "f.rvt", "syscalls"]).stdout.split(separator: "\n") where target == nil {
                guard let open = line.range(of: " = ", options: .backwards) else { continue }
                let result = Int(line[open.upperBound...].prefix { $0 == "-" || $0.isNumber }) ?? -1
                let call = line.split(separator: " ", maxSplits: 1).last.map(String.init) ?? ""
                if call.hasPrefix("openat("), let path = call.split(separator: "\"").dropFirst().first {
                    opened[String(result)] = String(path)
                } else if call.hasPrefix("read(") || call.hasPrefix("pread64("), result > 0 {
                    let fd = call.dropFirst(call.hasPrefix("read(") ? 5 : 8).prefix { $0.isNumber }
                    let path = opened[String(fd)] ?? ""
                    if path == "data/in.txt" {
                        target = before + 6
                    } else if !path.hasPrefix("/dev/") {
                        before += result
                    }
                }
            }
            let byte = try XCTUnwrap(target, "no read of data/in.txt in the log")
            for count in ["3", "2"] {
                let r = try revenant(
                    ["run"] + mounts + ["--replicas", count, "--inject", "flip replica=0 file=\(byte) bit=0"]
                        + ["--", "perl", "s.pl"])
                let what = "\(mounts), \(count) replicas"
                XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
                XCTAssertEqual(r.stdout, n.stdout, "\(what): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("took the place of the primary (replica "), "\(what): \(r.stderr)")
                if count == "2" {
                    XCTAssertTrue(
                        r.stderr.contains("/data/in.txt the primary logged (from byte 0) \(checked)"),
                        "\(what): \(r.stderr)")
                }
            }
        }
    }

    /// A file in a writable mount that the guest writes again and again reads, in each backup,
    /// as the primary read it: the journal holds what it read, though the file on disk has moved
    /// on by the time a lagging backup gets there (no fault is found where there is none).
    func testAFileRewrittenAsItIsReadIsNoFault() throws {
        let script = """
            $| = 1;
            for my $i (1..40) {
                open my $o, '>', 'w.txt' or die "$!"; print $o "version $i\n"; close $o;
                open my $f, '<', 'w.txt' or die "$!"; my $l = <$f>; close $f; print "read: $l";
            }
            """
        try script.write(to: base.appendingPathComponent("w.pl"), atomically: true, encoding: .utf8)
        let expected = (1...40).map { "read: version \($0)\n" }.joined()
        for count in ["3", "2"] {
            let r = try revenant(["run", "--replicas", count, "--", "perl", "w.pl"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, expected, r.stderr)
            XCTAssertTrue(r.stderr.contains("faults detected: 0"), "\(count) replicas: \(r.stderr)")
        }
    }

    /// The guest's sockets are the supervisor's too: a backup that takes a killed primary's
    /// place is handed the connection, and goes on reading it where the log says the old
    /// primary stopped — a read of a socket is logged before the guest goes on, so none is lost
    /// with the primary. Once the guest closes its socket, the supervisor's copy is closed too,
    /// and the server sees the end while the run goes on. And what the guest reads from it the
    /// supervisor consumes itself, so a fault in the primary's copy of it is found and mended —
    /// by `sysread` (read) and by `recv` (recvfrom asking for an address, which TCP does not give).
    func testASocketOutlivesThePrimary() throws {
        try writeServer(
            wait: 5,
            serve: """
                if ($c) { syswrite($c, "a1\\na2\\n"); while (sysread($c, my $b, 4096)) { $all .= $b } }
                open my $e, '>', 'eof.txt' or die; close $e;
                """)
        let client = """
            use Socket;
            open my $p, '<', 'port.txt' or die; my $port = <$p>; chomp $port; close $p;
            socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
            connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
            sysread($s, my $first, 3) == 3 or die "first: $!";
            stat('client.pl') for 1..10;
            my $second; defined recv($s, $second, 3, 0) && length($second) == 3 or die "second: $!";
            print "got $first", "got $second";
            defined send($s, "thanks\n", 0) or die "send: $!"; close $s;
            my $waited = 0; until (-e 'eof.txt' or $waited++ > 100) { select(undef, undef, undef, 0.05) }
            print -e 'eof.txt' ? "the server saw the end\n" : "the server did not see the end\n";
            """
        try client.write(to: base.appendingPathComponent("client.pl"), atomically: true, encoding: .utf8)
        let (n, nativeGot) = try whileServing { try self.run("/usr/bin/perl", ["client.pl"]) }
        XCTAssertEqual(n.stdout, "got a1\ngot a2\nthe server saw the end\n")
        XCTAssertEqual(nativeGot, "thanks\n")
        let seed = ["--env", "PERL_HASH_SEED=0"]
        try recordClient("c.rvt")
        // The first read of the socket (3 bytes); the primary is killed among the stats after it.
        let reads = try revenant(["log", "c.rvt", "syscalls", "--where", "name=read"]).stdout.split(separator: "\n")
        let line = try XCTUnwrap(reads.first { $0.hasSuffix(", 3) = 3") }, reads.joined(separator: "\n"))
        let first = try XCTUnwrap(Int(line.dropFirst().prefix { $0.isNumber }))
        for count in ["3", "2"] {
            let (r, received) = try whileServing {
                try self.revenant(
                    ["run", "--net"] + seed
                        + [
                            "--replicas", count, "--inject", "kill replica=0 event=\(first + 3)", "--", "perl",
                            "client.pl",
                        ])
            }
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, n.stdout, "\(count) replicas: \(r.stderr)")
            XCTAssertEqual(received, "thanks\n", r.stderr)
            XCTAssertTrue(r.stderr.contains("took the place of the primary (replica 0)"), r.stderr)
            // A fault in the primary's input buffer: it gets "a3" where the connection says "a2".
            // The supervisor consumed the bytes itself, the backups do not believe the log there,
            // and the new primary reads them from the supervisor's journal (the connection has
            // nothing more to give).
            let (f, flippedGot) = try whileServing {
                try self.revenant(
                    ["run", "--net"] + seed
                        + ["--replicas", count, "--inject", "flip replica=0 socket=4 bit=0", "--", "perl", "client.pl"])
            }
            XCTAssertEqual(f.status, 0, f.stderr)
            XCTAssertEqual(f.stdout, n.stdout, "\(count) replicas, a flip: \(f.stderr)")
            XCTAssertEqual(flippedGot, "thanks\n", f.stderr)
            XCTAssertTrue(f.stderr.contains("took the place of the primary (replica "), f.stderr)
        }
    }

    /// A datagram socket's reads go through the supervisor too: it receives the datagram the
    /// primary peeked at, and who sent it, into the journal. A primary killed after a datagram
    /// has logged it, and its successor receives the next; a flip of a datagram's bytes or of
    /// its sender's address, in what the primary gets, is found by the backups.
    func testADatagramSocketOutlivesThePrimary() throws {
        try """
        use IO::Socket::INET;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp') or die;
        open my $p, '>', 'port.tmp' or die; print $p $s->sockport, "\n"; close $p; rename 'port.tmp', 'port.txt';
        my @got;
        while (1) {
            my $r = ''; vec($r, fileno($s), 1) = 1;
            last unless select($r, undef, undef, 10);
            my $from = $s->recv(my $d, 100); push @got, $d; last if $d eq 'bye'; $s->send("r$d", 0, $from);
        }
        open my $o, '>', 'got.txt' or die; print $o join(' ', @got); close $o;
        """.write(to: base.appendingPathComponent("server.pl"), atomically: true, encoding: .utf8)
        try """
        use Socket; open my $p, '<', 'port.txt' or die; my $port = <$p>; chomp $port; close $p; $| = 1;
        socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";
        my $to = sockaddr_in($port, inet_aton('127.0.0.1'));
        for my $m ('a1', 'a2', 'a3') {
            send($s, $m, 0, $to) or die "send: $!";
            my $from = recv($s, my $b, 100, 0); die "recv: $!" unless defined $from;
            my ($fp) = sockaddr_in($from); print "got $b from ", ($fp == $port ? "the server" : "elsewhere"), "\n";
        }
        send($s, 'bye', 0, $to); close $s; print "done\n";
        """.write(to: base.appendingPathComponent("client.pl"), atomically: true, encoding: .utf8)
        let (n, nativeGot) = try whileServing { try self.run("/usr/bin/perl", ["client.pl"]) }
        XCTAssertEqual(n.stdout, "got ra1 from the server\ngot ra2 from the server\ngot ra3 from the server\ndone\n")
        XCTAssertEqual(nativeGot, "a1 a2 a3 bye")
        let seed = ["--env", "PERL_HASH_SEED=0"]
        try recordClient("u.rvt")
        let calls = try revenant(["log", "u.rvt", "syscalls", "--where", "name=recvfrom"]).stdout.split(separator: "\n")
        let first = try XCTUnwrap(calls.first.flatMap { Int($0.dropFirst().prefix { $0.isNumber }) }, "\(calls)")
        // The primary killed at the send after its first datagram; the '2' of the second
        // datagram ("ra2", bytes 3 to 5 of all) made a '3'; the second datagram's sender's port
        // (bytes 2 and 3 of each 16-byte address) made another.
        for fault in [
            "kill replica=0 event=\(first + 2)", "flip replica=0 socket=5 bit=0", "flip replica=0 sender=18 bit=0",
        ] {
            for count in ["3", "2"] {
                let (r, received) = try whileServing {
                    try self.revenant(
                        ["run", "--net"] + seed + ["--replicas", count, "--inject", fault, "--", "perl", "client.pl"])
                }
                let what = "\(fault), \(count) replicas"
                XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
                XCTAssertEqual(r.stdout, n.stdout, "\(what): \(r.stderr)")
                XCTAssertEqual(received, nativeGot, "\(what): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("took the place of the primary (replica "), "\(what): \(r.stderr)")
            }
        }
    }

    /// Records `client.pl` to `trace` while `server.pl` serves (`--net`, Perl's hash seed fixed).
    private func recordClient(_ trace: String) throws {
        let (rec, _) = try whileServing {
            try self.revenant(
                [
                    "record", "--net", "--env", "PERL_HASH_SEED=0", "--shims", "none", "-o", trace, "--", "perl",
                    "client.pl",
                ])
        }
        XCTAssertEqual(rec.status, 0, rec.stderr)
    }

    /// Runs `body` while `server.pl` serves (it writes its port to port.txt when it listens, what
    /// it got to got.txt when it is done); what it got.
    /// The end of a connection is an output like a write: the supervisor closes its copy of the
    /// socket only once a majority of replicas made the guest's `close`. With both backups
    /// stalled before it, no majority forms, and the peer sees the connection reset, not ended.
    func testTheEndOfAConnectionWaitsForAMajority() throws {
        try writeServer(
            wait: 5,
            serve: """
                while ($c) {
                    my $n = sysread($c, my $b, 4096);
                    if (!defined $n) { $all .= "[reset]"; last } if ($n == 0) { $all .= "[end]"; last } $all .= $b;
                }
                """)
        let client = """
            use Socket; open my $p, '<', 'port.txt' or die; my $port = <$p>; chomp $port; close $p;
            socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
            connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
            defined send($s, "hello\n", 0) or die "send: $!"; close $s; $| = 1; print "closed\n";
            """
        try client.write(to: base.appendingPathComponent("client.pl"), atomically: true, encoding: .utf8)
        let seed = ["--env", "PERL_HASH_SEED=0"]
        let (rec, recorded) = try whileServing {
            try self.revenant(
                ["record", "--net"] + seed + ["--shims", "none", "-o", "e.rvt", "--", "perl", "client.pl"])
        }
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertEqual(recorded, "hello\n[end]")
        // The guest's close of its socket: the last close of the descriptor socket returned.
        let socket = try revenant(["log", "e.rvt", "syscalls", "--where", "name=socket"]).stdout
        let fd = try XCTUnwrap(
            socket.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        let closes = try revenant(["log", "e.rvt", "syscalls", "--where", "name=close"]).stdout.split(separator: "\n")
        let line = try XCTUnwrap(closes.last { $0.contains("close(\(fd))") }, closes.joined(separator: "\n"))
        let close = try XCTUnwrap(Int(line.dropFirst().prefix { $0.isNumber }))
        for (stalled, status, stdout, got) in [
            ([1, 2], Int32(125), "", "hello\n[reset]"), ([2], 0, "closed\n", "hello\n[end]"),
        ] {
            let (r, received) = try whileServing {
                try self.revenant(
                    ["run", "--net"] + seed + ["--replicas", "3", "--stall-timeout", "1"]
                        + stalled.flatMap { ["--inject", "stall replica=\($0) event=\(close)"] } + [
                            "--", "perl", "client.pl",
                        ])
            }
            XCTAssertEqual(r.status, status, r.stderr)
            XCTAssertEqual(r.stdout, stdout, r.stderr)
            XCTAssertEqual(received, got, "backups stalled at the close: \(stalled)")
            if status == 125 { XCTAssertTrue(r.stderr.contains("no majority can be formed"), r.stderr) }
        }
    }

    /// A supervisor killed from outside takes its replicas and checkpoints with it, also while
    /// it is not reaped yet: its parent (as a shell's `$(...)` would) waits for the end of its
    /// output first, which a checkpoint or a backup waiting for the supervisor's word held
    /// open for good (a checkpoint took a zombie for a live supervisor).
    func testAKilledSupervisorLeavesNoReplicaBehind() throws {
        var out: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&out), 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, out[1], 2)
        posix_spawn_file_actions_addclose(&actions, out[0])
        let loop = "$| = 1; for my $i (1..400000) { my @s = stat('.'); print \"$i\\n\" if $i % 20000 == 0 }"
        let args = [
            try revenantBinary().path, "run", "--replicas", "2", "--compare-every", "20", "--", "perl", "-e", loop,
        ]
        var argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        XCTAssertEqual(posix_spawn(&pid, args[0], &actions, nil, &argv, environ), 0)
        close(out[1])
        defer { close(out[0]) }
        /// What reaches the pipe within `seconds`, and whether it ended.
        func read(upTo seconds: Int, until done: (String) -> Bool) -> (String, ended: Bool) {
            var got = [UInt8](), buffer = [UInt8](repeating: 0, count: 4096)
            let deadline = Date().addingTimeInterval(TimeInterval(seconds))
            while Date() < deadline, !done(String(decoding: got, as: UTF8.self)) {
                var p = pollfd(fd: out[0], events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 200) > 0 else { continue }
                let n = Glibc.read(out[0], &buffer, buffer.count)
                if n <= 0 { return (String(decoding: got, as: UTF8.self), true) }
                got += buffer[..<n]
            }
            return (String(decoding: got, as: UTF8.self), false)
        }
        // Under way, a checkpoint or more taken: the supervisor is killed, and left unreaped.
        let (first, _) = read(upTo: 60) { $0.contains("40000\n") }
        XCTAssertTrue(first.contains("40000\n"), first)
        kill(pid, SIGKILL)
        let (rest, ended) = read(upTo: 30) { _ in false }
        XCTAssertTrue(ended, "the output did not end with the supervisor (a replica kept it open): \(rest)")
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
    }

    /// The host's end of the socket tests, run by `whileServing`: a server on a free port (in
    /// port.txt) that accepts one connection within `wait` seconds as `$c` (`$all` is '', or
    /// 'no connection'), runs `serve`, then writes `$all` to got.txt.
    private func writeServer(wait: Int, serve: String) throws {
        try """
        use IO::Socket::INET;
        my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
        open my $p, '>', 'port.tmp' or die; print $p $l->sockport, "\\n"; close $p; rename 'port.tmp', 'port.txt';
        $l->timeout(\(wait)); my $c = $l->accept; my $all = defined $c ? '' : 'no connection';
        \(serve)
        open my $o, '>', 'got.txt' or die; print $o $all; close $o;
        """.write(to: base.appendingPathComponent("server.pl"), atomically: true, encoding: .utf8)
    }

    private func whileServing(_ body: () throws -> Output) throws -> (Output, String) {
        let port = base.appendingPathComponent("port.txt"), got = base.appendingPathComponent("got.txt")
        for f in [port, got, base.appendingPathComponent("eof.txt")] { try? FileManager.default.removeItem(at: f) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/perl")
        p.arguments = ["server.pl"]
        p.currentDirectoryURL = base
        try p.run()
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: port.path) { usleep(10_000) }
        let r = try body()
        p.waitUntilExit()
        return (r, (try? String(contentsOf: got, encoding: .utf8)) ?? "")
    }

    /// Faults in a row. Each backup killed in turn is replaced by a fork of the one left, which
    /// by the second time is itself a replacement (numbered on from --replicas): the run goes on
    /// with the native output and no other fault. Both backups killed at one event — the second
    /// while the first one's replacement is due — leave either no majority (nothing unverified
    /// leaves) or, when the donor forked first, a replacement that carries on.
    func testFaultsInARow() throws {
        let long = "$| = 1; for my $i (1..6000) { my @st = stat('long.pl'); print \"$i\\n\" if $i % 1000 == 0; }\n"
        try long.write(to: base.appendingPathComponent("long.pl"), atomically: true, encoding: .utf8)
        let n = try run("/usr/bin/perl", ["long.pl"])
        func replicas(_ faults: [String]) throws -> Output {
            try revenant(
                ["run", "--replicas", "3", "--max-lag", "100"] + faults.flatMap { ["--inject", $0] }
                    + ["--", "perl", "long.pl"])
        }
        let chain = try replicas([
            "kill replica=1 event=1000", "kill replica=2 event=3000", "kill replica=3 event=5000",
        ])
        XCTAssertEqual(chain.status, 0, chain.stderr)
        XCTAssertEqual(chain.stdout, n.stdout)
        for line in [
            "replica 3: recovered: forked from replica 2", "replica 4: recovered: forked from replica 3",
            // Not revenant's child (its donor forked it): its end is its pipe's, at the event it reached.
            "replica 3: fault: ended at event 5000", "replica 5: recovered: forked from replica 4",
        ] {
            XCTAssertTrue(chain.stderr.contains(line), "\(line): \(chain.stderr)")
        }
        XCTAssertEqual(summary(chain), "revenant: replicas: 3, faults detected: 3, recoveries: 3, replicas left: 3")

        for _ in 0..<3 {
            let both = try replicas(["kill replica=1 event=1000", "kill replica=2 event=1000"])
            XCTAssertTrue(both.status == 0 || both.status == 125, both.stderr)
            if both.status == 0 {
                XCTAssertEqual(both.stdout, n.stdout)
            } else {
                XCTAssertTrue(n.stdout.hasPrefix(both.stdout), both.stdout)
                XCTAssertTrue(both.stderr.contains("no majority can be formed — nothing unverified"), both.stderr)
            }
            XCTAssertTrue(summary(both)?.contains("faults detected: 2,") ?? false, both.stderr)
        }

        // A fault for a replacement the run never made is said not to have been tested.
        let never = try replicas(["kill replica=7 event=100"])
        XCTAssertEqual(never.status, 125, never.stderr)
        XCTAssertTrue(never.stderr.contains("replica 7 took no part in the run at that event"), never.stderr)
    }

    /// `--ksm`: equal pages of the replicas are kept once (the guest's mappings, made as the
    /// program runs, are marked mergeable as they come), and KSM is put back as it was. Where
    /// the kernel has no KSM or does not let it be switched, the run says so and goes on.
    func testKSMKeepsTheReplicasEqualPagesOnce() throws {
        let hold =
            "my @a = map { 'x' x 100 } 1..200000; my $t = time; 1 while time - $t < 2; print scalar(@a), \"\\n\";\n"
        try hold.write(to: base.appendingPathComponent("hold.pl"), atomically: true, encoding: .utf8)
        let before = try? String(contentsOfFile: "/sys/kernel/mm/ksm/run", encoding: .utf8)
        let r = try revenant(["run", "-v", "--replicas", "3", "--ksm", "--", "perl", "hold.pl"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "200000\n")
        guard let before, r.stderr.contains("KSM: ") else {
            XCTAssertTrue(r.stderr.contains("--ksm: ") && r.stderr.contains("going on without it"), r.stderr)
            return
        }
        XCTAssertEqual(try String(contentsOfFile: "/sys/kernel/mm/ksm/run", encoding: .utf8), before)
        let line = try XCTUnwrap(summary(r))
        let shared = try XCTUnwrap(line.firstMatch(of: /KSM: (\d+) pages shared/), line)
        // 200,000 strings are ~6,000 pages in each replica; marked only once, before the program
        // ran, a few hundred were shared.
        XCTAssertGreaterThan(Int(shared.1) ?? 0, 2000, line)
    }

    /// A bit of the heap flipped in one replica is found by the state digests.
    func testAFlipInMemoryIsFoundByTheStateDigest() throws {
        _ = try writeEvents()
        // An address in the heap: where perl's stdout buffer was written from.
        let log = try revenant(["log", "w.rvt", "syscalls", "--where", "name=write"]).stdout
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.contains("write(1,") })
        let buffer = try XCTUnwrap(line.split(separator: " ").dropFirst().first { $0.hasPrefix("0x") })
        let address = String(buffer.dropLast())
        let n = try native()
        // A backup's is outvoted; so is the primary's, and a backup takes its place.
        for replica in [1, 0] {
            let r = try revenant([
                "run", "--replicas", "3", "--compare-every", "5",
                "--inject", "flip replica=\(replica) event=200 addr=\(address) bit=6", "--", "perl", "s.pl",
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, n.stdout, r.stderr)
            XCTAssertTrue(r.stderr.contains("at event 205: its state (writable memory and the call) differs"), r.stderr)
            XCTAssertEqual(r.stderr.contains("the place of the primary (replica 0)"), replica == 0, r.stderr)
        }
    }

    /// A faulty primary (killed, outvoted, or writing a log its backups cannot follow) is
    /// replaced by a backup: it replays the old primary's log as far as it goes, cuts it there,
    /// opens again what the guest has open and goes on live. The output is the native one, and
    /// the log — the old primary's, then the new one's — replays to it alone.
    func testABackupTakesThePrimarysPlace() throws {
        let n = try native()
        let writes = try writeEvents()
        let log = try revenant(["log", "w.rvt", "syscalls"]).stdout.split(separator: "\n")
        // The read of input.txt: its result made an error, the primary closes the file where
        // its backups read on, and they cannot follow its log past there (the cut is inside a
        // chunk of the log).
        let read = try XCTUnwrap(log.first { $0.contains(" read(3, ") && !$0.hasSuffix("= 0") })
        let readEvent = try XCTUnwrap(Int(read.dropFirst().prefix { $0.isNumber }))
        let faults = [
            ("kill replica=0 event=\(writes[0])", nil),
            ("kill replica=0 event=\(writes[4])", nil),
            ("flip replica=0 event=\(readEvent) reg=RAX bit=63", readEvent + 1),
        ]
        for (i, (fault, cut)) in faults.enumerated() {
            let r = try revenant([
                "record", "--replicas", "3", "--shims", "none", "-o", "t\(i).rvt", "--inject", fault, "--",
                "perl", "s.pl",
            ])
            XCTAssertEqual(r.status, 0, "\(fault): \(r.stderr)")
            XCTAssertEqual(r.stdout, n.stdout, fault)
            XCTAssertTrue(r.stderr.contains("took the place of the primary (replica 0) at event"), r.stderr)
            if let cut { XCTAssertTrue(r.stderr.contains("primary (replica 0) at event \(cut):"), r.stderr) }
            XCTAssertEqual(summary(r)?.hasPrefix("revenant: replicas: 3, faults detected: 1"), true, r.stderr)
            let replay = try revenant(["replay", "t\(i).rvt"])
            XCTAssertEqual(replay.status, 0, "\(fault): \(replay.stderr)")
            XCTAssertEqual(replay.stdout, n.stdout, fault)
            let info = try revenant(["info", "t\(i).rvt"]).stdout
            XCTAssertTrue(info.contains("  takeover:     replica "), info)
            XCTAssertTrue(
                info.contains("took the place of the primary (replica 0) at event:\(cut.map(String.init) ?? "")"), info)
        }
        // A descriptor that cannot be opened again by path keeps a backup from taking over.
        try "$| = 1; pipe(my $r, my $w) or die; print \"line $_\\n\" for 1..5;\n".write(
            to: base.appendingPathComponent("p.pl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try revenant(["record", "--shims", "none", "-o", "p.rvt", "--", "perl", "p.pl"]).status, 0)
        let pLog = try revenant(["log", "p.rvt", "syscalls", "--where", "name=write"]).stdout.split(separator: "\n")
        let pWrites = pLog.compactMap { Int($0.dropFirst().prefix { $0.isNumber }) }
        let pipe = try revenant([
            "run", "--replicas", "3", "--inject", "kill replica=0 event=\(pWrites[2])", "--", "perl", "p.pl",
        ])
        XCTAssertEqual(pipe.status, 125, pipe.stderr)
        XCTAssertTrue(pipe.stderr.contains("could not take its place at event"), pipe.stderr)
        XCTAssertTrue(
            pipe.stderr.contains("is a pipe, which cannot be opened again — nothing unverified"), pipe.stderr)
        XCTAssertEqual(pipe.stdout, "line 1\nline 2\n")
        // A stalled primary: it makes no call while its backups have replayed all it logged and
        // wait for more. A primary sleeping in a call, or blocked reading, is not stalled.
        let stalled = try revenant([
            "run", "--replicas", "3", "--stall-timeout", "1", "--inject", "stall replica=0 event=\(writes[2])", "--",
            "perl", "s.pl",
        ])
        XCTAssertEqual(stalled.status, 0, stalled.stderr)
        XCTAssertEqual(stalled.stdout, n.stdout)
        XCTAssertTrue(stalled.stderr.contains("while its backups waited for its log (stalled)"), stalled.stderr)
        XCTAssertTrue(stalled.stderr.contains("took the place of the primary (replica 0)"), stalled.stderr)
        let sleeper = try revenant([
            "run", "--replicas", "3", "--stall-timeout", "1", "--", "perl", "-e", "$| = 1; print 1; sleep 3; print 2",
        ])
        // (A backup that did not get on for 1 s may be judged stalled, and with both so, no
        // majority is left: the backup-stall rule is a heuristic, which `--stall-timeout 1` makes
        // aggressive — seen once in a clean-clone CI. What this asks is that the primary is not.)
        if sleeper.status != 0 {
            XCTAssertTrue(sleeper.stderr.contains("(stalled); discarded"), sleeper.stderr)
            XCTAssertEqual(sleeper.stdout, "1")
        } else {
            XCTAssertEqual(sleeper.stdout, "12")
        }
        XCTAssertFalse(sleeper.stderr.contains("the primary"), sleeper.stderr)
        // Two replicas without checkpoints (no state comparison) cannot recover a primary
        // (with them: testTwoReplicasStartAgainFromAVerifiedCheckpoint).
        let two = try revenant([
            "run", "--replicas", "2", "--compare-every", "0", "--inject", "kill replica=0 event=\(writes[2])", "--",
            "perl", "s.pl",
        ])
        XCTAssertEqual(two.status, 125, two.stderr)
        XCTAssertTrue(two.stderr.contains("with two replicas, no verified checkpoint was left"), two.stderr)
    }

    /// What the lost primary read from stdin but had not logged reaches the replica that takes
    /// its place: a pipe's bytes the supervisor read and handed on (it starts the new primary's
    /// pipe again at the first byte, and the new primary skips what the log says was consumed),
    /// a regular file sought to where the log left it. Killed between its reads of stdin (their
    /// entries still in its buffer), the primary's successor prints the native output.
    func testStdinTheLostPrimaryReadReachesItsSuccessor() throws {
        let lines = (1...2000).map { "line \($0)\n" }.joined()
        try lines.write(to: base.appendingPathComponent("in.txt"), atomically: true, encoding: .utf8)
        // Each print is a write, which waits for its commit: the log is flushed there.
        try "$| = 1; while (<STDIN>) { print \"got $_\" if $. % 100 == 0 }\n".write(
            to: base.appendingPathComponent("up.pl"), atomically: true, encoding: .utf8)
        let stdinPath = base.appendingPathComponent("in.txt").path
        let n = try run("/usr/bin/perl", ["up.pl"], stdin: stdinPath)
        XCTAssertEqual(n.stdout.split(separator: "\n").count, 20)
        XCTAssertEqual(
            try revenant(["record", "--shims", "none", "-o", "u.rvt", "--", "perl", "up.pl"], stdin: stdinPath).status,
            0)
        let log = try revenant(["log", "u.rvt", "syscalls", "--where", "name=read"]).stdout.split(separator: "\n")
        let reads = log.filter { $0.contains(" read(0, ") }.compactMap { Int($0.dropFirst().prefix { $0.isNumber }) }
        XCTAssertGreaterThanOrEqual(reads.count, 3, log.joined(separator: "\n"))
        let bin = try revenantBinary().path
        // Killed just after a read, or at one: the reads before were logged, the last was not.
        for (count, event) in [("3", reads[1] + 1), ("3", reads[2]), ("2", reads[1] + 1)] {
            let args = "run --replicas \(count) --inject 'kill replica=0 event=\(event)' -- perl up.pl"
            let piped = try run("/bin/sh", ["-c", "cat in.txt | \(bin) \(args)"])
            XCTAssertEqual(piped.status, 0, piped.stderr)
            XCTAssertEqual(piped.stdout, n.stdout, "a pipe, \(args): \(piped.stderr)")
            XCTAssertTrue(piped.stderr.contains("took the place of the primary (replica 0)"), piped.stderr)
            let file = try revenant(
                [
                    "run", "--replicas", count, "--inject", "kill replica=0 event=\(event)", "--",
                    "perl", "up.pl",
                ], stdin: stdinPath)
            XCTAssertEqual(file.status, 0, file.stderr)
            XCTAssertEqual(file.stdout, n.stdout, "a file, \(args): \(file.stderr)")
        }
        // A fault in the primary's input: it gets "line 3100" where stdin says "line 1100" (a
        // printed line). The backups check the bytes it logged against the supervisor's copy,
        // cannot believe its log there, and the primary's place is taken at that read.
        let at = try XCTUnwrap(lines.range(of: "line 1100\n")).lowerBound.utf16Offset(in: lines) + 5
        for count in ["3", "2"] {
            let args = "run --replicas \(count) --inject 'flip replica=0 stdin=\(at) bit=1' -- perl up.pl"
            let flipped = try run("/bin/sh", ["-c", "cat in.txt | \(bin) \(args)"])
            XCTAssertEqual(flipped.status, 0, flipped.stderr)
            XCTAssertEqual(flipped.stdout, n.stdout, "\(args): \(flipped.stderr)")
            XCTAssertTrue(flipped.stderr.contains("took the place of the primary (replica "), flipped.stderr)
            if count == "2" {
                XCTAssertTrue(
                    flipped.stderr.contains("bytes of stdin the primary logged (from byte"), flipped.stderr)
            }
        }
    }

    /// The supervisor's copy of a piped stdin lets go of what every backup and checkpoint has
    /// read: three replicas reading 30 MB keep a third of it at most, and a primary killed late
    /// is followed by one whose pipe starts again at the first byte still kept, with the native
    /// output; so with two replicas, whose checkpoint verified at a comparison bounds what is kept.
    func testAPipedStdinIsNotKeptWhole() throws {
        let lines = (1...600_000).map { "line \($0) \(String(repeating: "x", count: 40))\n" }.joined()
        try lines.write(to: base.appendingPathComponent("huge.txt"), atomically: true, encoding: .utf8)
        try """
        my ($n, $s) = (0, 0); while (<STDIN>) { $n++; $s += length; print "at $n\\n" if $n % 100000 == 0 }
        print "$n lines, $s bytes\\n";
        """.write(to: base.appendingPathComponent("count.pl"), atomically: true, encoding: .utf8)
        let n = try run("/usr/bin/perl", ["count.pl"], stdin: base.appendingPathComponent("huge.txt").path)
        XCTAssertEqual(n.stdout.split(separator: "\n").last, "600000 lines, \(lines.utf8.count) bytes")
        XCTAssertEqual(
            try revenant(
                ["record", "--shims", "none", "-o", "h.rvt", "--", "perl", "count.pl"],
                stdin: base.appendingPathComponent("huge.txt").path
            ).status, 0)
        let log = try revenant(["log", "h.rvt", "syscalls", "--where", "name=read"]).stdout.split(separator: "\n")
        let reads = log.filter { $0.contains(" read(0, ") }.compactMap { Int($0.dropFirst().prefix { $0.isNumber }) }
        // A read after five sixths of the input.
        let late = reads[reads.count * 5 / 6] + 1
        let bin = try revenantBinary().path
        for count in ["3", "2"] {
            let args =
                "run -v --replicas \(count) --compare-every 500 --max-lag 500 --inject 'kill replica=0 event=\(late)' "
                + "-- perl count.pl"
            let r = try run("/bin/sh", ["-c", "cat huge.txt | \(bin) \(args)"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, n.stdout, "\(args): \(r.stderr)")
            let kept = try XCTUnwrap(
                r.stderr.split(separator: "\n").first { $0.contains("piped stdin: ") }, r.stderr)
            // "piped stdin: 30 MiB read, K MiB kept at the peak"
            let said = kept.components(separatedBy: "piped stdin: ").last?.components(separatedBy: " kept").first ?? ""
            let mib = said.split(separator: " ").compactMap { Int($0) }
            XCTAssertEqual(mib.first, 30, String(kept))
            let start = try XCTUnwrap(
                r.stderr.split(separator: "\n").first { $0.contains("its stdin starts again at byte ") }, r.stderr)
            let from = try XCTUnwrap(Int(start.split(separator: "byte ").last?.prefix { $0.isNumber } ?? ""))
            if count == "3" {
                XCTAssertLessThanOrEqual(mib.last ?? .max, 15, String(kept))
                XCTAssertGreaterThan(from, 0, String(start))
            }
        }
    }

    /// Two replicas that differ cannot tell which one is right: both are stopped, and two copies
    /// of the last checkpoint verified equal to both replicas' state start again from there. The
    /// first replays the log to its end and takes the primary's place; the run's output is the
    /// native one and its log replays to it alone. A second fault during that recovery starts it
    /// again; a checkpoint hit before it is verified does not verify, and an older one serves.
    func testTwoReplicasStartAgainFromAVerifiedCheckpoint() throws {
        let n = try native()
        let writes = try writeEvents()
        let every = 20
        // The checkpoint before the third write, and an event between the two.
        let checkpoint = writes[2] / every * every
        XCTAssertLessThan(checkpoint + 2, writes[2])
        let during = (checkpoint + writes[2]) / 2
        let log = try revenant(["log", "w.rvt", "syscalls", "--where", "name=write"]).stdout
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.contains("write(1,") })
        let heap = String(try XCTUnwrap(line.split(separator: " ").dropFirst().first { $0.hasPrefix("0x") }).dropLast())
        let primaryFlip = "flip replica=0 event=\(writes[2]) reg=RAX bit=2"
        let unknown = "with two replicas the faulty one is unknown", tookOver = "took the place of the primary"
        let cases: [(faults: [String], expect: [String])] = [
            ([primaryFlip], ["start again from the checkpoint verified at event \(checkpoint);", unknown, tookOver]),
            (["flip replica=1 event=\(writes[2]) reg=RAX bit=2"], ["replicas 0 and 1 differ", unknown, tookOver]),
            // A lost replica is the faulty one: the other goes on, a copy takes the lost one's place.
            (
                ["kill replica=0 event=\(writes[2])"],
                ["replica 0 (the primary) was lost: replica 1 takes its place", "replica 2 starts from", tookOver]
            ),
            (["kill replica=1 event=\(writes[2])"], ["replica 1 was lost: replica 2 starts from the checkpoint"]),
            // A backup stalled where the primary waits for its commit.
            (["stall replica=1 event=\(writes[2])"], ["(stalled); discarded", "replica 1 was lost: replica 2 starts"]),
            // The copy following the first one is hit while both roll forward.
            (
                [primaryFlip, "flip replica=3 event=\(during) reg=RAX bit=2"],
                ["replicas 4 and 5 start again", unknown, tookOver]
            ),
            (
                ["flip replica=1 event=\(checkpoint) addr=\(heap) bit=6 in=checkpoint", primaryFlip],
                [
                    "its checkpoint at event \(checkpoint) differs from the state both replicas agreed on there",
                    "start again from the checkpoint verified at event \(checkpoint - every);", unknown, tookOver,
                ]
            ),
        ]
        for (i, c) in cases.enumerated() {
            let r = try revenant(
                [
                    "record", "--replicas", "2", "--compare-every", "\(every)", "--checkpoint-interval", "0",
                    "--shims", "none", "-o", "c\(i).rvt",
                ]
                    // (A short stall timeout only where a stall is the fault: a loaded host may
                    // starve a healthy backup for a second.)
                    + (c.faults.contains { $0.hasPrefix("stall") } ? ["--stall-timeout", "1"] : [])
                    + c.faults.flatMap { ["--inject", $0] } + ["--", "perl", "s.pl"])
            let what = c.faults.joined(separator: ", ")
            XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
            XCTAssertEqual(r.stdout, n.stdout, what)
            XCTAssertEqual(r.stderr.contains("read 3 lines"), true, r.stderr)
            for e in c.expect {
                XCTAssertTrue(r.stderr.contains(e), "\(e): \(r.stderr)")
            }
            XCTAssertEqual(summary(r)?.contains("replicas left: 2"), true, r.stderr)
            let replay = try revenant(["replay", "c\(i).rvt"])
            XCTAssertEqual(replay.status, 0, "\(what): \(replay.stderr)")
            XCTAssertEqual(replay.stdout, n.stdout, what)
            let info = try revenant(["info", "c\(i).rvt"]).stdout
            XCTAssertTrue(info.contains("recovery:     replica 2 forked from replica 1 at event:"), info)
        }
        // An injection into a checkpoint that is never taken was not tested: one line, 125.
        let missed = try revenant([
            "run", "--replicas", "2", "--compare-every", "\(every)", "--inject",
            "flip replica=1 event=\(checkpoint + 1) addr=\(heap) bit=6 in=checkpoint", "--", "perl", "s.pl",
        ])
        XCTAssertEqual(missed.status, 125, missed.stderr)
        XCTAssertTrue(missed.stderr.contains("no checkpoint was verified or found faulty at event"), missed.stderr)
    }

    /// No majority: nothing after the fault is released, one line, exit 125.
    func testWithoutAMajorityNothingUnverifiedLeaves() throws {
        let n = try native()
        let writes = try writeEvents()
        let third = writes[2]
        // Two replicas cannot tell which one is right (three outvote a faulty primary, and a
        // backup takes its place: testABackupTakesThePrimarysPlace).
        // (Two without checkpoints: testTwoReplicasStartAgainFromAVerifiedCheckpoint has them.)
        for (count, replica) in [("2", 1), ("2", 0)] {
            let r = try revenant([
                "run", "--replicas", count, "--compare-every", "0", "--inject",
                "flip replica=\(replica) event=\(third) reg=RAX bit=2",
                "--", "perl", "s.pl",
            ])
            XCTAssertEqual(r.status, 125, r.stderr)
            // The writes up to the faulty one went out; what the fault changed did not.
            let released = n.stdout.split(separator: "\n", omittingEmptySubsequences: false).prefix(3)
            XCTAssertEqual(r.stdout, released.joined(separator: "\n") + "\n", r.stderr)
            XCTAssertTrue(r.stderr.contains("nothing unverified was released"), r.stderr)
        }
    }

    /// Single bit flips at random events, in results and in the heap, in random replicas of
    /// three: each is masked (said so) or detected, and none changes the output — a faulty
    /// backup is replaced, a faulty primary's place is taken by a backup.
    func testRandomFlipsAreMaskedOrDetected() throws {
        // A copy in the working directory: a checkout under /tmp is hidden by the guest's own /tmp.
        let corpus = packageRootDirectory().appendingPathComponent("Tests/Corpus/perl/closures.pl")
        try FileManager.default.copyItem(at: corpus, to: base.appendingPathComponent("closures.pl"))
        let script = "closures.pl"
        let n = try run("/usr/bin/perl", [script])
        XCTAssertEqual(try revenant(["record", "--shims", "none", "-o", "c.rvt", "--", "perl", script]).status, 0)
        let log = try revenant(["log", "c.rvt", "syscalls"]).stdout.split(separator: "\n")
        let brks = log.filter { $0.contains(" brk(") }.compactMap { $0.split(separator: " ").last }
        let heapStart = try XCTUnwrap(UInt64(try XCTUnwrap(brks.first).dropFirst(2), radix: 16))
        let heapEnd = try XCTUnwrap(UInt64(try XCTUnwrap(brks.last).dropFirst(2), radix: 16))
        var seed: UInt64 = 0x5eed_f11b
        func random(_ bound: UInt64) -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (seed >> 33) % bound
        }
        var masked = 0, detected = 0, primaryDetected = 0
        for i in 0..<24 {
            let replica = UInt64(i % 3), event = 40 + random(UInt64(log.count) - 50)
            let flip =
                random(2) == 0
                ? "flip replica=\(replica) event=\(event) reg=RAX bit=\(random(64))"
                : "flip replica=\(replica) event=\(event) "
                    + "addr=0x\(String(heapStart + random(heapEnd - heapStart), radix: 16)) bit=\(random(8))"
            let r = try revenant([
                "run", "--replicas", "3", "--compare-every", "20", "--inject", flip, "--", "perl", script,
            ])
            let who = replica == 0 ? "replica 0 (the primary): fault:" : "replica \(replica): fault:"
            if r.stderr.contains("masked (no output or state of replica \(replica) differed)") {
                masked += 1
                XCTAssertFalse(r.stderr.contains(who), "\(flip): \(r.stderr)")
                XCTAssertEqual(r.status, 0, "\(flip): \(r.stderr)")
                XCTAssertEqual(r.stdout, n.stdout, flip)
                continue
            }
            detected += 1
            if replica == 0 { primaryDetected += 1 }
            XCTAssertTrue(r.stderr.contains(who), "\(flip): \(r.stderr)")
            // The primary's: a backup takes its place, and the output is the same.
            if replica == 0 { XCTAssertTrue(r.stderr.contains("the place of the primary"), "\(flip): \(r.stderr)") }
            XCTAssertEqual(r.status, 0, "\(flip): \(r.stderr)")
            XCTAssertEqual(r.stdout, n.stdout, flip)
        }
        XCTAssertGreaterThan(masked, 0)
        XCTAssertGreaterThan(primaryDetected, 0)
        XCTAssertGreaterThan(detected, primaryDetected)
    }

    /// A signal sent to revenant reaches the primary's guest, as under `run`; backups follow.
    func testASignalReachesTheProgram() throws {
        let script = "$| = 1; $SIG{INT} = sub { print \"caught\\n\"; exit 3 }; print \"start\\n\"; sleep 5;\n"
        try script.write(to: base.appendingPathComponent("sig.pl"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try revenantBinary().path)
        p.arguments = ["run", "--replicas", "3", "--", "perl", "sig.pl"]
        p.currentDirectoryURL = base
        let out = base.appendingPathComponent("sig.out"), err = base.appendingPathComponent("sig.err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        // Once the program has started (its first line is out), a SIGINT to revenant alone.
        for _ in 0..<100 where (try? String(contentsOf: out, encoding: .utf8)) != "start\n" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let stderr = try String(contentsOf: err, encoding: .utf8)
        XCTAssertEqual(p.terminationStatus, 3, stderr)
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "start\ncaught\n")
        XCTAssertTrue(stderr.contains("faults detected: 0"), stderr)
        // A primary waiting for a commit that does not come (its backup stalls, and is never
        // judged so) cannot take a signal: the run ends a grace after it, exit 128 + 15.
        let writes = try writeEvents()
        let bin = try revenantBinary().path
        let stuck = try run(
            "/bin/sh",
            [
                "-c",
                "\(bin) run --replicas 2 --stall-timeout 1000 --inject 'stall replica=1 event=\(writes[2])' -- "
                    + "perl s.pl > stuck.out & p=$!; "
                    // Once two lines are out, the primary is at the third write, waiting.
                    + "n=0; until [ \"$(wc -l < stuck.out)\" -ge 2 ] || [ $n -ge 300 ]; do "
                    + "n=$((n+1)); sleep 0.1; done; sleep 1; "
                    + "kill -TERM $p; wait $p; s=$?; cat stuck.out; exit $s",
            ])
        XCTAssertEqual(stuck.status, 143, stuck.stderr)
        XCTAssertTrue(
            stuck.stderr.contains("stopped by signal 15: the primary (replica 0) was still waiting"), stuck.stderr)
        XCTAssertTrue(stuck.stderr.contains("nothing unverified was released"), stuck.stderr)
        XCTAssertEqual(stuck.stdout, "round 1: 1\nround 2: 5\n", stuck.stderr)
    }

    func testBadReplicaOptionsGetOneLine() throws {
        for (args, message) in [
            (["--replicas", "1"], "--replicas 1: 2 to 16"),
            (["--inject", "kill replica=1 event=2"], "need --replicas"),
            (["--turns", "1"], "need --replicas"),
            (["--replicas", "2", "--turns", "9"], "--turns 9: 0 to 8"),
            (["--checkpoint-interval", "1"], "need --replicas"),
            (["--replicas", "2", "--checkpoint-interval", "99999"], "--checkpoint-interval: 0 to 86400 s"),
            (
                ["--replicas", "2", "--compare-every", "0", "--inject", "kill replica=2 event=2"],
                "replica 2 does not exist (replicas 0 to 1)"
            ),
            (
                ["--replicas", "2", "--inject", "flip replica=1 event=2 reg=RAX bit=1 in=checkpoint"],
                "a flip of memory"
            ),
            (["--replicas", "3", "--inject", "flip replica=1 event=2 addr=0x10 bit=1 in=checkpoint"], "two replicas"),
            (["--replicas", "3", "--inject", "kill replica=16 event=2"], "replicas are numbered from 0"),
            (["--replicas", "2", "--inject", "flip replica=1 event=2 reg=RBX bit=1"], "only RAX"),
            (["--replicas", "2", "--inject", "zap replica=1 event=2"], "'zap' is not flip, kill or stall"),
            (
                ["--replicas", "2", "--inject", "flip replica=1 stdin=2 bit=1"],
                "only the primary (replica 0) reads stdin"
            ),
            (
                ["--replicas", "3", "--inject", "flip replica=2 socket=2 bit=1"],
                "only the primary (replica 0) reads socket"
            ),
            (["--replicas", "3", "--inject", "flip replica=0 socket=2 bit=9"], "bit=9: a byte's, 0 to 7"),
            (
                ["--replicas", "3", "--inject", "flip replica=1 file=2 bit=1"],
                "only the primary (replica 0) reads files"
            ),
            (
                ["--replicas", "2", "--inject", "flip replica=0 stdin=2 bit=1"],
                "stdin is neither a pipe nor a terminal"
            ),
            (
                ["--replicas", "3", "--inject", "flip replica=1 sender=2 bit=1"],
                "only the primary (replica 0) reads senders"
            ),
        ] {
            let r = try revenant(["run"] + args + ["--", "perl", "s.pl"])
            XCTAssertEqual(r.status, 125, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
        }
        let late = try revenant([
            "run", "--replicas", "2", "--inject", "kill replica=1 event=99999", "--", "perl", "s.pl",
        ])
        XCTAssertEqual(late.status, 125)
        XCTAssertTrue(late.stderr.contains("the run ended at event"), late.stderr)
    }

    /// Replicas taking turns at the cores (Docs/replicas.md "Turns"): the output is the native one,
    /// turns were handed over, and a backup killed or stalled while it may hold the turn keeps
    /// nobody waiting. `--turns 0` runs them all at once.
    func testReplicasTakeTurnsAtTheCores() throws {
        let dense = """
            $| = 1; my $n = 0;
            for my $i (1..3000) { my @st = stat('s.pl'); $n++ if @st; print "$i\\n" if $i % 1000 == 0; }
            print "stats: $n\\n";
            """
        try dense.write(to: base.appendingPathComponent("dense.pl"), atomically: true, encoding: .utf8)
        let n = try run("/usr/bin/perl", ["dense.pl"])
        XCTAssertEqual(n.stdout, "1000\n2000\n3000\nstats: 3000\n")
        for extra in [
            ["--replicas", "2"], ["--replicas", "3"], ["--replicas", "3", "--inject", "kill replica=1 event=1500"],
            ["--replicas", "3", "--stall-timeout", "1", "--inject", "stall replica=2 event=1500"],
        ] {
            let r = try revenant(["run", "-v", "--turns", "1"] + extra + ["--", "perl", "dense.pl"])
            let what = extra.joined(separator: " ")
            XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
            XCTAssertEqual(r.stdout, n.stdout, what)
            let line = try XCTUnwrap(summary(r), r.stderr)
            let handed = try XCTUnwrap(
                line.firstMatch(of: /1 at a time at the host's cores \((\d+) hand-overs\)/), line)
            XCTAssertGreaterThan(Int(handed.1) ?? 0, 0, line)
        }
        let all = try revenant(["run", "-v", "--turns", "0", "--replicas", "2", "--", "perl", "dense.pl"])
        XCTAssertEqual(all.stdout, n.stdout)
        XCTAssertFalse(try XCTUnwrap(summary(all)).contains("at a time"), all.stderr)
    }

    /// `replay --follow` replays a recording as it is made, and gives up on one whose recorder died.
    func testReplayFollowsARecordingAsItIsMade() throws {
        let slow = "$| = 1; for my $i (1..4) { print \"tick $i\\n\"; select(undef, undef, undef, 0.4); }\n"
        try slow.write(to: base.appendingPathComponent("slow.pl"), atomically: true, encoding: .utf8)
        func startRecording(_ trace: String) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try revenantBinary().path)
            p.arguments = ["record", "-o", trace, "--", "perl", "slow.pl"]
            p.currentDirectoryURL = base
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        let recorder = try startRecording("f.rvt")
        // Started while the recording is under way (its header may not even be there yet).
        let followed = try revenant(["replay", "--follow", "--follow-timeout", "5", "f.rvt"])
        recorder.waitUntilExit()
        XCTAssertEqual(recorder.terminationStatus, 0)
        XCTAssertEqual(followed.status, 0, followed.stderr)
        XCTAssertEqual(followed.stdout, "tick 1\ntick 2\ntick 3\ntick 4\n")
        // A recorder killed: without --follow its trace is refused at once as cut short; with it,
        // after the timeout, the same.
        let killed = try startRecording("k.rvt")
        Thread.sleep(forTimeInterval: 0.6)
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        XCTAssertEqual(try revenant(["replay", "k.rvt"]).status, 125)
        let cut = try revenant(["replay", "--follow", "--follow-timeout", "0.5", "k.rvt"])
        XCTAssertEqual(cut.status, 125, cut.stderr)
        XCTAssertTrue(cut.stderr.contains("its recording was cut short"), cut.stderr)
    }

    /// The frames' layout (Docs/replicas.md "Frames"), pinned.
    func testFrameBytes() throws {
        let frame = ReplicaFrame(
            kind: .output, event: 0x0102, digest: [UInt8](repeating: 0xab, count: 32), commit: true, what: "w")
        let bytes = frame.encoded()
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(hex, "0101" + "0201000000000000" + String(repeating: "ab", count: 32) + "0100" + "77")
        let decoded = try XCTUnwrap(try ReplicaFrame.decode(bytes[...]))
        XCTAssertEqual(decoded.0, frame)
        XCTAssertEqual(decoded.1, bytes.count)
        XCTAssertNil(try ReplicaFrame.decode(bytes.dropLast()[...]))
        XCTAssertThrowsError(try ReplicaFrame.decode(([9] + bytes.dropFirst())[...]))
    }

    /// What the supervisor consumed from a socket is let go once every backup has read past it:
    /// 6 MB over a TCP connection through three replicas keep at most 4 MiB of it at once, and a
    /// primary killed late is followed by one that reads on with the native output.
    func testTheSocketJournalIsNotKeptWhole() throws {
        try writeServer(
            wait: 20, serve: #"$c or die; for my $i (1..100000) { print $c sprintf("%063d\n", $i) } close $c;"#)
        try """
        use Socket;
        open my $p, '<', 'port.txt' or die; my $port = <$p>; chomp $port; close $p;
        socket(my $s, PF_INET, SOCK_STREAM, 0) or die;
        connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die;
        my ($n, $sum) = (0, 0); while (<$s>) { $n++; $sum += $_ } print "$n lines, $sum\\n";
        """.write(to: base.appendingPathComponent("client.pl"), atomically: true, encoding: .utf8)
        let (n, _) = try whileServing { try self.run("/usr/bin/perl", ["client.pl"]) }
        XCTAssertEqual(n.stdout, "100000 lines, 5000050000\n")
        let (rec, _) = try whileServing {
            try self.revenant(["record", "--net", "--shims", "none", "-o", "j.rvt", "--", "perl", "client.pl"])
        }
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let log = try revenant(["log", "j.rvt", "syscalls", "--where", "name=read"]).stdout.split(separator: "\n")
        let reads = log.filter { $0.contains(" read(3, ") }.compactMap { Int($0.dropFirst().prefix { $0.isNumber }) }
        // Late, but inside any run: how many reads the 6.4 MB take depends on how much each finds
        // waiting (2,000 in a recording, 1,100 under three replicas on a slow host), and never
        // fewer than 782 (perl reads 8 KiB at a time). The calls before the first read are the
        // same in every run.
        XCTAssertGreaterThan(reads.count, 600)
        let late = try XCTUnwrap(reads.first) + 600
        let (r, _) = try whileServing {
            try self.revenant(
                [
                    "run", "-v", "--net", "--replicas", "3", "--max-lag", "200", "--inject",
                    "kill replica=0 event=\(late)",
                ]
                    + ["--", "perl", "client.pl"])
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, n.stdout, r.stderr)
        XCTAssertTrue(r.stderr.contains("took the place of the primary (replica 0)"), r.stderr)
        let said =
            r.stderr.components(separatedBy: "socket journal: ").last?.components(separatedBy: " kept").first ?? ""
        let mib = said.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(mib.first, 6, r.stderr)
        XCTAssertLessThanOrEqual(mib.last ?? .max, 4, r.stderr)
    }

    /// The socket journal (Docs/replicas.md "Inputs"): records of (the event that made the
    /// socket, length, bytes), read back per socket as one stream across its records; and the
    /// keys of a terminal's records and of a file read's, which are no socket's.
    func testSocketJournalBytes() throws {
        let fd = chost_memfd("journal-test")
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var end: UInt64 = 0
        for (made, text) in [(UInt64(7), "abc"), (9, "XYZ"), (7, "defg")] {
            end = try XCTUnwrap(SocketJournal.append(fd, at: end, made: made, bytes: Array(text.utf8)))
        }
        XCTAssertEqual(end, 3 * 16 + 10)
        var raw = [UInt8](repeating: 0, count: 19)
        XCTAssertEqual(pread(fd, &raw, 19, 0), 19)
        XCTAssertEqual(raw, [7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0] + Array("abc".utf8))
        var journal = SocketJournal(fd: fd)
        // Only what is written whole is read.
        journal.catchUp(to: 16 + 3 + 10)
        XCTAssertEqual(journal.total(of: 7), 3)
        journal.catchUp(to: end)
        XCTAssertEqual(journal.total(of: 7), 7)
        XCTAssertEqual(journal.bytes(of: 7, from: 1, count: 5).map { String(decoding: $0, as: UTF8.self) }, "bcdef")
        XCTAssertEqual(journal.bytes(of: 9, from: 0, count: 3).map { String(decoding: $0, as: UTF8.self) }, "XYZ")
        XCTAssertNil(journal.bytes(of: 7, from: 5, count: 3))
        XCTAssertNil(journal.bytes(of: 8, from: 0, count: 1))
        // A file read's record, by its call's event with bit 62 set (a later one for the same
        // event replaces it), and the terminal's, by all ones: neither is a socket's.
        for (key, text) in [(SocketJournal.fileRead(40), "old"), (SocketJournal.fileRead(40), "new!"), (.max, "tty")] {
            end = try XCTUnwrap(SocketJournal.append(fd, at: end, made: key, bytes: Array(text.utf8)))
        }
        XCTAssertEqual(SocketJournal.fileRead(40), 0x4000_0000_0000_0028)
        journal.catchUp(to: end)
        XCTAssertEqual(journal.fileRead(at: 40).map { String(decoding: $0, as: UTF8.self) }, "new!")
        XCTAssertNil(journal.fileRead(at: 41))
        XCTAssertEqual(journal.total(of: SocketJournal.terminal), 3)
        XCTAssertEqual(journal.total(of: SocketJournal.fileRead(40)), 0)
        // A reader at event 40 still needs that read's record; past it, only what it has not seen.
        let fileRecord = Int64(3 * 16 + 10 + 16 + 3)
        XCTAssertEqual(journal.needed([7: 7, 9: 3], at: 40), fileRecord)
        XCTAssertEqual(journal.needed([7: 7, 9: 3], at: 41), Int64(end))
        XCTAssertNil(journal.fileRead(at: 40), "let go of")
    }

    /// A message on a replica's socket (Docs/replicas.md "Frames"): a tag byte and a 64-bit word,
    /// with a descriptor or without.
    func testSocketMessageBytes() throws {
        var pair: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        defer { pair.forEach { close($0) } }
        XCTAssertEqual(chost_send_fd_word(pair[0], -1, 6, 0x0102_0304_0506_0708), 0)
        var raw = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(recv(pair[1], &raw, raw.count, 0), 9)
        XCTAssertEqual(Array(raw.prefix(9)), [6, 8, 7, 6, 5, 4, 3, 2, 1])
        // With a descriptor: it arrives as another number for the same file.
        XCTAssertEqual(chost_send_fd_word(pair[0], pair[0], 5, 42), 0)
        var tag: UInt8 = 0, word: UInt64 = 0, fd: Int32 = -1
        XCTAssertEqual(chost_receive_fd_word(pair[1], 1, &tag, &word, &fd), 0)
        XCTAssertEqual(tag, 5)
        XCTAssertEqual(word, 42)
        var a = stat(), b = stat()
        XCTAssertTrue(fd >= 0 && fstat(fd, &a) == 0 && fstat(pair[0], &b) == 0)
        XCTAssertEqual(a.st_ino, b.st_ino)
        close(fd)
        // Nothing waiting: -EAGAIN when not told to wait.
        XCTAssertEqual(chost_receive_fd_word(pair[1], 0, &tag, &word, &fd), -EAGAIN)
    }
}
