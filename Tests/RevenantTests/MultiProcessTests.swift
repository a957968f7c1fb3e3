import Foundation
import Replay
import Trace
import XCTest

/// Child processes (one VMM process per guest process): every script in Tests/MultiProcess runs
/// natively, in the VM, and recorded, and the three must be indistinguishable; its replay must be
/// the recording's, byte for byte.
final class MultiProcessTests: ScratchTestCase {
    var scripts: URL { packageRootDirectory().appendingPathComponent("Tests/MultiProcess") }

    func testScriptsRunRecordAndReplayAsNatively() throws {
        try requireKVM()
        let names = try FileManager.default.contentsOfDirectory(atPath: scripts.path).filter { $0.hasSuffix(".pl") }
            .sorted()
        XCTAssertGreaterThanOrEqual(names.count, 20)
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
            // Recorded, in the same directory (the script sees the same world), then replayed.
            let trace = base.appendingPathComponent("trace-\(name)").path
            let rec = try revenant(["record", "-o", trace, "--", "/usr/bin/perl", name], directory: vm)
            XCTAssertEqual(rec.stdout, n.stdout, "\(name): recorded stdout")
            XCTAssertEqual(rec.stderr, n.stderr, "\(name): recorded stderr")
            XCTAssertEqual(rec.status, n.status, "\(name): recorded exit status")
            let rep = try revenant(["replay", trace])
            XCTAssertEqual(rep.stdout, rec.stdout, "\(name): replayed stdout")
            XCTAssertEqual(rep.stderr, rec.stderr, "\(name): replayed stderr")
            XCTAssertEqual(rep.status, rec.status, "\(name): replayed exit status")
            // Regenerated: every process replayed with its shims' channel collected.
            let regen = try revenant(["regen", trace])
            XCTAssertEqual(regen.status, 0, "\(name): regen: \(regen.stderr)")
        }
    }

    /// Two processes writing to the console at once: the replay interleaves their writes as the
    /// recording did, every time (Replay/ProcessOrder.swift).
    func testConcurrentConsoleWritesReplayInTheRecordedOrder() throws {
        try requireKVM()
        let script = #"""
            $| = 1;
            my $pid = fork // die "fork: $!";
            print $pid ? "parent $_\n" : "child $_\n" for 1 .. 300;
            exit 0 unless $pid;
            waitpid $pid, 0;
            print "child ended with $?\n";
            """#
        let rec = try revenant(["record", "-o", "race.rvt", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertEqual(rec.stdout.split(separator: "\n").count, 601, rec.stdout)
        for round in 1...3 {
            let rep = try revenant(["replay", "race.rvt"])
            XCTAssertEqual(rep.status, 0, rep.stderr)
            XCTAssertEqual(rep.stdout, rec.stdout, "replay \(round)")
        }
        let quiet = try revenant(["replay", "--quiet", "race.rvt"])
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertEqual(quiet.stdout, "")
    }

    /// A forged trace cannot make the replay fork without bound: here the second of two children
    /// alive at once is renamed the first and its own stream removed (two processes would share
    /// one stream), and the replay refuses the fork past one process per stream, in one line,
    /// exit 125.
    func testAForgedTraceCannotMakeMoreProcessesThanStreams() throws {
        try requireKVM()
        let script = #"""
            my @k = map { my $p = fork // die; if (!$p) { select undef, undef, undef, 0.3; exit 0 } $p } 1 .. 2;
            waitpid $_, 0 for @k;
            print "two children\n";
            """#
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(rec.stdout, "two children\n", rec.stderr)
        let dir = base.appendingPathComponent("t.rvt")
        let events = dir.appendingPathComponent("events").path
        var reader = try EventReader(path: events)
        var all: [Event] = []
        var first: (pid: Int64, stream: Int)?, second: Int?
        while var e = try reader.next() {
            if e.kind == EventKind.syscall.rawValue, var s = try? SyscallEvent.decode(e.payload), case .fork = s.outcome
            {
                if let first {
                    second = s.childStream
                    (s.child, s.childStream) = first
                    e.payload = s.encoded()
                } else {
                    first = (s.child, s.childStream)
                }
            }
            all.append(e)
        }
        let removed = try XCTUnwrap(second)
        try FileManager.default.removeItem(atPath: events + ".\(removed)")
        try FileManager.default.removeItem(atPath: events)
        let writer = try EventWriter(path: events)
        for e in all { try writer.append(e) }
        try writer.close()
        let r = try revenant(["replay", "t.rvt"])
        XCTAssertEqual(r.status, 125, r.stderr)
        XCTAssertTrue(r.stderr.contains("more processes at once than the trace has streams"), r.stderr)
    }

    /// `info` lists every process (pid, parent, program, end); `log syscalls --pid` lists a child's
    /// calls, and names the pids there are when asked for another.
    func testInfoAndLogShowEveryProcess() throws {
        try requireKVM()
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", #"print `echo hi`"#])
        XCTAssertEqual(rec.stdout, "hi\n", rec.stderr)
        let info = try revenant(["info", "--json", "t.rvt"])
        XCTAssertEqual(info.status, 0, info.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
        let processes = try XCTUnwrap(json?["processes"] as? [[String: Any]], info.stdout)
        XCTAssertEqual(processes.count, 2, info.stdout)
        let first = try XCTUnwrap(processes.first?["pid"] as? Int)
        let child = try XCTUnwrap(processes.last?["pid"] as? Int)
        XCTAssertEqual(processes.last?["parent"] as? Int, first)
        XCTAssertTrue((processes.last?["program"] as? String ?? "").hasSuffix("/echo"), info.stdout)
        XCTAssertEqual(processes.last?["exit_status"] as? Int, 0)
        let text = try revenant(["info", "t.rvt"])
        XCTAssertTrue(text.stdout.contains("processes:      2: \(first) /usr/bin/perl, exit 0; \(child) "), text.stdout)

        let log = try revenant(["log", "t.rvt", "syscalls", "--pid", String(child), "--where", "name=execve"])
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertTrue(log.stdout.contains("execve(") && log.stdout.contains("echo"), log.stdout)
        let parent = try revenant(["log", "t.rvt", "syscalls", "--where", "name=clone"])
        XCTAssertTrue(parent.stdout.contains("= \(child)"), parent.stdout)
        let none = try revenant(["log", "t.rvt", "syscalls", "--pid", "1"])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("no such process") && none.stderr.contains(String(child)), none.stderr)
    }

    /// The programs a recorded process execs get the shims as the first one did (the VMM adds
    /// them at execve, whatever environment the parent passes): a child perl's statements and a
    /// child sqlite3's queries are in the regenerated logs, each under its pid; the children
    /// cannot tell (no shim folder in @INC, no LD_PRELOAD in %ENV, as natively).
    func testChildProgramsGetTheShims() throws {
        try requireKVM()
        let script = #"""
            $| = 1;
            delete $ENV{LD_PRELOAD};
            system $^X, '-e', 'my $x = 6;
            print "child: ", $x * 7, " ", (grep(/shims/, @INC) ? "shim" : "clean"), " ",
              (exists $ENV{LD_PRELOAD} ? "preload" : "none"), "\n"';
            system "sqlite3 :memory: 'create table t(a); insert into t values (5); select a * 2 from t;'";
            print "parent done\n";
            """#
        let native = try run("/usr/bin/perl", ["-e", script], in: base)
        XCTAssertEqual(native.stdout, "child: 42 clean none\n10\nparent done\n", native.stderr)
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(rec.stdout, native.stdout, rec.stderr)
        let info = try revenant(["info", "--json", "t.rvt"])
        let json = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
        let processes = try XCTUnwrap(json?["processes"] as? [[String: Any]], info.stdout)
        // perl, its child perl, sh and the sqlite3 sh starts.
        let pids = processes.compactMap { $0["pid"] as? Int }
        XCTAssertEqual(processes.compactMap { $0["program"] as? String }.last, "/usr/bin/sqlite3", info.stdout)
        let regen = try revenant(["regen", "t.rvt"])
        XCTAssertEqual(regen.status, 0, regen.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: base.appendingPathComponent("t.rvt/index.1.sqlite").path))

        let child = try revenant(["log", "t.rvt", "perl", "--pid", String(pids[1]), "--where", "file=-e"])
        XCTAssertEqual(child.status, 0, child.stderr)
        XCTAssertTrue(child.stdout.hasPrefix("[pid \(pids[1])] #0 -e:1 main"), child.stdout)
        XCTAssertTrue(child.stdout.contains("\n[pid \(pids[1])] #1 -e:3 main"), child.stdout)
        let all = try revenant(["log", "t.rvt", "perl", "--where", "line=1"])
        XCTAssertTrue(all.stdout.hasPrefix("[pid \(pids[0])] #0 -e:1"), all.stdout)
        XCTAssertTrue(all.stdout.contains("\n[pid \(pids[1])] #0 -e:1"), all.stdout)
        let sql = try revenant(["log", "t.rvt", "sql", "--jsonl"])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        let rows = sql.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 3, sql.stdout)
        XCTAssertTrue(rows.allSatisfy { $0.hasPrefix("{\"pid\":\(pids.last ?? 0),\"seq\":") }, sql.stdout)
        XCTAssertTrue(rows[2].contains("select a * 2 from t"), sql.stdout)
        let parentSQL = try revenant(["log", "t.rvt", "sql", "--pid", String(pids[0]), "--where", "table=t"])
        XCTAssertEqual(parentSQL.status, 1, "the parent ran no SQL: \(parentSQL.stdout)")
    }

    /// A child process at the Perl and SQL levels: `perl --pid` steps a child perl (its ancestors
    /// replayed silently), `when --perl/--sql --pid` search its statements, and `sql --pid`
    /// restores a database a child sqlite3 wrote, cross-checked at the machine level.
    func testChildProcessesAtThePerlAndSQLLevels() throws {
        try requireKVM()
        try "my $total = 0;\nfor my $i (1 .. 4) {\n    $total += $i;\n}\nprint \"total $total\\n\";\n".write(
            to: base.appendingPathComponent("child.pl"), atomically: true, encoding: .utf8)
        let script = #"""
            $| = 1;
            my $before = 10;
            system q{sqlite3 p.db "create table t (n); insert into t values (1); insert into t values (2);"};
            open my $touch, '>>', 'p.db' or die; close $touch;  # the parent's pre-image of it
            system $^X, 'child.pl';
            print `sqlite3 p.db "insert into t values (3); select group_concat(n) from t"`;
            """#
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(rec.stdout, "total 10\n1,2,3\n", rec.stderr)
        let info = try revenant(["info", "--json", "t.rvt"])
        let json = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
        let processes = try XCTUnwrap(json?["processes"] as? [[String: Any]], info.stdout)
        // The first child of each program (the sh that starts sqlite3 execs it).
        func pid(_ program: String) throws -> String {
            let p = processes.dropFirst().first { ($0["program"] as? String)?.hasSuffix(program) == true }?["pid"]
            return String(try XCTUnwrap(p as? Int, "no \(program) in \(info.stdout)"))
        }
        let perl = try pid("/perl"), sqlite = try pid("/sqlite3")

        let steps = try revenant(["perl", "t.rvt", "--pid", perl, "--break", "child.pl:3", "--print", "$total"])
        XCTAssertEqual(steps.status, 0, steps.stderr)
        let values = steps.stdout.split(separator: "\n").filter { $0.contains("$total = ") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        XCTAssertEqual(values, ["$total = 0", "$total = 1", "$total = 3", "$total = 6"], steps.stdout)
        XCTAssertFalse(steps.stdout.contains("$before"), "the parent's statements are not the child's")
        let fast = try revenant(["perl", "t.rvt", "--pid", perl, "--path", "fast"])
        XCTAssertEqual(fast.status, 125)
        XCTAssertTrue(fast.stderr.contains("first process only"), fast.stderr)
        let when = try revenant(["when", "t.rvt", "--pid", perl, "--perl", "$total >= 6"])
        XCTAssertEqual(when.status, 0, when.stderr)
        XCTAssertEqual(when.stdout.split(separator: "\n").count, 1, when.stdout)
        XCTAssertTrue(when.stdout.contains("child.pl:"), when.stdout)

        let restored = base.appendingPathComponent("out.db").path
        let sql = try revenant(["sql", "t.rvt", "--pid", sqlite, "--at", "1", "--restore", restored])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        XCTAssertTrue(sql.stdout.contains("byte-identical"), sql.stdout)
        let rows = try run("/usr/bin/sqlite3", [restored, "select group_concat(n) from t"], in: base)
        XCTAssertEqual(rows.stdout, "1\n", "after statement 1 (the first insert): \(rows.stderr)")
        // The last sqlite3 starts from the database as it found it (its own pre-image).
        let last = String(try XCTUnwrap(processes.last?["pid"] as? Int))
        let third = try revenant(["sql", "t.rvt", "--pid", last, "--at", "0", "--restore", restored, "--force"])
        XCTAssertEqual(third.status, 0, third.stderr)
        let all = try run("/usr/bin/sqlite3", [restored, "select group_concat(n) from t"], in: base)
        XCTAssertEqual(all.stdout, "1,2,3\n", all.stderr)
        let found = try revenant(["when", "t.rvt", "--pid", sqlite, "--sql", "SELECT count(*) = 2 FROM t"])
        XCTAssertEqual(found.status, 0, found.stderr)
        XCTAssertTrue(found.stdout.contains("insert into t values (2)"), found.stdout)
    }

    /// A forked child (no exec) logs its own Perl statements: its stream starts as its parent's up
    /// to the fork, so its records can name the parent's files and contexts, and its statements
    /// are numbered from 0 after the fork; `perl --pid` stops in it with its values; `log
    /// syscalls` lists both processes' calls in the order the run made them.
    func testAForkedChildHasItsOwnPerlStatements() throws {
        try requireKVM()
        let script = """
            $| = 1;
            my $x = 1;
            my $pid = fork // die;
            if (!$pid) {
                for my $i (1 .. 3) {
                    $x *= 2;
                }
                print "child $x\\n";
                exit 0;
            }
            waitpid $pid, 0;
            print "parent $x\\n";
            """
        try script.write(to: base.appendingPathComponent("f.pl"), atomically: true, encoding: .utf8)
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "f.pl"])
        XCTAssertEqual(rec.stdout, "child 8\nparent 1\n", rec.stderr)
        let info = try revenant(["info", "--json", "t.rvt"])
        let json = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
        let pids = try XCTUnwrap(json?["processes"] as? [[String: Any]]).compactMap { $0["pid"] as? Int }
        XCTAssertEqual(pids.count, 2, info.stdout)
        let log = try revenant(["log", "t.rvt", "perl", "--pid", String(pids[1])])
        XCTAssertEqual(log.status, 0, log.stderr)
        let lines = log.stdout.split(separator: "\n").compactMap {
            $0.split(separator: " ").first { $0.hasPrefix("f.pl:") }
        }
        XCTAssertEqual(lines, ["f.pl:4", "f.pl:5", "f.pl:6", "f.pl:6", "f.pl:6", "f.pl:8", "f.pl:9"], log.stdout)
        XCTAssertTrue(log.stdout.contains("fork = [0]"), "the child's side of the fork: \(log.stdout)")
        let steps = try revenant(["perl", "t.rvt", "--pid", String(pids[1]), "--break", "f.pl:6", "--print", "$x"])
        XCTAssertEqual(steps.status, 0, steps.stderr)
        let values = steps.stdout.split(separator: "\n").filter { $0.contains("$x = ") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        XCTAssertEqual(values, ["$x = 1", "$x = 2", "$x = 4"], steps.stdout)
        XCTAssertTrue(steps.stdout.hasPrefix("event #"), steps.stdout)
        // Both processes' statements in the order the run made them: the child's print first.
        let both = try revenant(["log", "t.rvt", "perl"]).stdout.split(separator: "\n")
        let childPrint = both.firstIndex { $0.hasPrefix("[pid \(pids[1])] #5 f.pl:8 ") }
        let parentPrint = both.firstIndex { $0.hasPrefix("[pid \(pids[0])] #5 f.pl:12 ") }
        XCTAssertLessThan(try XCTUnwrap(childPrint), try XCTUnwrap(parentPrint), both.joined(separator: "\n"))
        // Every process's calls in the order the run made them: the child printed first.
        let writes = try revenant(["log", "t.rvt", "syscalls", "--where", "name=write"])
        XCTAssertEqual(writes.status, 0, writes.stderr)
        let who = writes.stdout.split(separator: "\n").map { String($0.prefix { $0 != "]" }) }
        XCTAssertEqual(who, ["[pid \(pids[1])", "[pid \(pids[0])"], writes.stdout)
        let jsonl = try revenant(["log", "t.rvt", "syscalls", "--where", "name=write", "--jsonl"])
        let first = try JSONSerialization.jsonObject(with: Data(jsonl.stdout.split(separator: "\n")[0].utf8))
        XCTAssertEqual((first as? [String: Any])?["pid"] as? Int, pids[1], jsonl.stdout)
    }

    /// A database two processes write at the same time (each insert its own transaction: first
    /// taking turns, then as SQLite's locks let them), then a third: `sql --restore` merges the
    /// processes' statements by the stamps of their calls, so a restore at any process's
    /// statement has every row the run had written by then, in the run's order (the rowids tell
    /// it), and the machine level, merging the processes' writes the same way, agrees byte for
    /// byte.
    func testADatabaseSeveralProcessesWroteRestoresMerged() throws {
        try requireSQLiteShim()
        let script = #"""
            use DBI;
            $| = 1;
            unlink 'm.db';
            sub connect_db {
                my $d = DBI->connect('dbi:SQLite:dbname=m.db', '', '', { RaiseError => 1, AutoCommit => 1 });
                $d->sqlite_busy_timeout(60000);
                $d
            }
            my $db = connect_db();
            $db->do('create table t (who text, n integer)');
            $db->disconnect;
            # Parent and child take turns (a byte through a pipe each way), then write freely.
            pipe my $child_r, my $parent_w or die;
            pipe my $parent_r, my $child_w or die;
            my $pid = fork // die;
            my ($who, $in, $out) = $pid ? ('p', $parent_r, $parent_w) : ('c', $child_r, $child_w);
            $db = connect_db();
            for my $i (1 .. 25) {
                sysread $in, my $turn, 1 if $i <= 10 && ($who eq 'c' || $i > 1);
                $db->do('insert into t values (?, ?)', undef, $who, $i);
                syswrite $out, 't' if $i <= 10;
            }
            $db->disconnect;
            exit 0 if !$pid;
            waitpid $pid, 0;
            system 'sqlite3', 'm.db', "insert into t values ('s', 100)";
            $db = connect_db();
            $db->do("update t set n = n + 1000 where who = 'c'");
            print $db->selectrow_array(q{select group_concat(who, '') from t}), "\n";
            $db->disconnect;
            """#
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let order = rec.stdout.trimmingCharacters(in: .newlines)
        XCTAssertEqual(order.count, 51, rec.stdout)
        XCTAssertTrue(order.hasPrefix(String(repeating: "pc", count: 9)), "the turns: \(rec.stdout)")
        print("the run's order of rows: \(order)")
        let info = try revenant(["info", "--json", "t.rvt"])
        let json = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
        let processes = try XCTUnwrap(json?["processes"] as? [[String: Any]], info.stdout)
        let pids = processes.compactMap { $0["pid"] as? Int }.map(String.init)
        XCTAssertGreaterThanOrEqual(pids.count, 3, info.stdout)
        // A process's statements whose SQL has `text`: their numbers in its log.
        func statements(_ pid: String, _ text: String) throws -> [Int] {
            let log = try revenant(["log", "t.rvt", "sql", "--pid", pid, "--jsonl"])
            XCTAssertEqual(log.status, 0, log.stderr)
            return try log.stdout.split(separator: "\n").compactMap { line in
                let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return (o?["sql"] as? String)?.contains(text) == true ? o?["seq"] as? Int : nil
            }
        }
        let restored = base.appendingPathComponent("out.db").path
        func rows(_ args: [String]) throws -> String {
            let r = try revenant(["sql", "t.rvt", "--restore", restored, "--force"] + args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("byte-identical"), r.stdout)
            let q = try run("/usr/bin/sqlite3", [restored, "select group_concat(who, '') from t"])
            return q.stdout.trimmingCharacters(in: .newlines)
        }
        // After the child's 10th insert: every row written before it, whoever wrote it.
        let childInserts = try statements(pids[1], "insert")
        XCTAssertEqual(childInserts.count, 25)
        var seen = 0
        let cut = order.prefix { c in
            if seen == 10 { return false }
            if c == "c" { seen += 1 }
            return true
        }
        XCTAssertEqual(try rows(["--pid", pids[1], "--at", String(childInserts[9])]), String(cut))
        // After the parent's update, at its last statement: the live file, byte for byte.
        let update = try XCTUnwrap(try statements(pids[0], "update t set").first)
        XCTAssertEqual(try rows(["--at", String(update)]), order)
        let last = try XCTUnwrap(try statements(pids[0], "group_concat").last)
        _ = try rows(["--at", String(last)])
        XCTAssertEqual(
            FileManager.default.contents(atPath: restored),
            FileManager.default.contents(atPath: base.appendingPathComponent("m.db").path),
            "restored after the last statement: the file the run left")
        let values = try run("/usr/bin/sqlite3", [restored, "select sum(n) from t where who = 'c'"])
        XCTAssertEqual(values.stdout, "\(25 * 1000 + 325)\n", "the child's rows, updated by the parent")
    }

    /// `replay --pid N` replays one process: its ancestors silently up to the fork that made it,
    /// then it, with its own output and exit status.
    func testReplayOfOneProcess() throws {
        try requireKVM()
        let script = #"""
            $| = 1;
            print "parent\n";
            my $p = fork // die;
            if (!$p) {
                print "child\n";
                my $q = fork // die;
                if (!$q) { print "grandchild\n"; exit 5 }
                waitpid $q, 0;
                print "child saw ", $? >> 8, "\n";
                exit 3;
            }
            waitpid $p, 0;
            print "parent saw ", $? >> 8, "\n";
            """#
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(rec.stdout, "parent\nchild\ngrandchild\nchild saw 5\nparent saw 3\n", rec.stderr)
        let info = try revenant(["info", "--json", "t.rvt"])
        let json = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
        let pids = try XCTUnwrap(json?["processes"] as? [[String: Any]]).compactMap { $0["pid"] as? Int }
        XCTAssertEqual(pids.count, 3, info.stdout)
        for (pid, output, status) in [
            (pids[0], "parent\nparent saw 3\n", Int32(0)), (pids[1], "child\nchild saw 5\n", 3),
            (pids[2], "grandchild\n", 5),
        ] {
            let r = try revenant(["replay", "--pid", String(pid), "t.rvt"])
            XCTAssertEqual(r.stdout, output, "process \(pid): \(r.stderr)")
            XCTAssertEqual(r.status, status, "process \(pid)")
        }
        let none = try revenant(["replay", "--pid", "1", "t.rvt"])
        XCTAssertEqual(none.status, 125)
        XCTAssertTrue(none.stderr.contains("no such process"), none.stderr)
        // `when --pid` searches that process's calls only.
        let write = ["when", "t.rvt", "--syscall", "write data~grandchild"]
        XCTAssertEqual(try revenant(write).status, 1, "the first process wrote no such thing")
        XCTAssertEqual(try revenant(write + ["--pid", String(pids[1])]).status, 1, "nor did the child")
        let ancestors = ["when", "t.rvt", "--syscall", "write data~^parent", "--pid", String(pids[2])]
        XCTAssertEqual(try revenant(ancestors).status, 1, "the ancestors' calls are not the process's")
        let hit = try revenant(write + ["--pid", String(pids[2])])
        XCTAssertEqual(hit.status, 0, hit.stderr)
        XCTAssertEqual(hit.stdout.split(separator: "\n").count, 1, hit.stdout)
        // A forked child's Perl statements are its own (its stream starts as its parent's).
        XCTAssertTrue(
            hit.stdout.hasPrefix("[pid \(pids[2])] event #2, perl -e:7: write(1, 0x")
                && hit.stdout.contains(", 11) = 11"),
            hit.stdout)
        // Numbered as `log syscalls --pid` numbers that process's calls.
        let log = try revenant(["log", "t.rvt", "syscalls", "--pid", String(pids[2])])
        XCTAssertTrue(log.stdout.contains("\n[pid \(pids[2])] #2 write(1, 0x"), log.stdout)
    }

    /// Each child's stream is checked as the first process's is: one missing or damaged ends the
    /// replay with one line naming it and exit 125, never a quiet replay of less.
    func testADamagedChildStreamFailsTheReplay() throws {
        try requireKVM()
        let rec = try revenant(["record", "-o", "t.rvt", "--", "/usr/bin/perl", "-e", #"print `echo hi`"#])
        XCTAssertEqual(rec.stdout, "hi\n", rec.stderr)
        let dir = base.appendingPathComponent("t.rvt")
        let children = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("events.") }
        XCTAssertEqual(children.count, 1, "perl's child, which runs echo: \(children)")
        XCTAssertEqual(try revenant(["replay", "t.rvt"]).stdout, "hi\n")
        let stream = dir.appendingPathComponent(children.sorted().last!)
        var bytes = [UInt8](try Data(contentsOf: stream))
        bytes[bytes.count - 3] ^= 0x55
        try Data(bytes).write(to: stream)
        let damaged = try revenant(["replay", "t.rvt"])
        XCTAssertEqual(damaged.status, 125, damaged.stderr)
        XCTAssertTrue(damaged.stderr.contains(children.sorted().last!), damaged.stderr)
        try FileManager.default.removeItem(at: stream)
        let missing = try revenant(["replay", "t.rvt"])
        XCTAssertEqual(missing.status, 125, missing.stderr)
        XCTAssertTrue(missing.stderr.contains(children.sorted().last!), missing.stderr)
    }

    /// posix_spawn: glibc clones with CLONE_VM|CLONE_VFORK and a stack of its own (clone3 first);
    /// run as a fork whose parent waits for the child's exec or end and takes what it wrote (an
    /// exec failure's errno, which posix_spawn returns), with a pipe the child writes into
    /// (Tests/Programs/spawn.c); recorded and replayed the same.
    func testPosixSpawnRunsAsNatively() throws {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/spawn.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-O1", "-o", "spawn", source]).status, 0)
        let exe = base.appendingPathComponent("spawn").path
        let native = try run(exe, [])
        XCTAssertEqual(native.status, 0)
        XCTAssertTrue(native.stdout.contains("read 14 bytes: spawned child\n"), native.stdout)
        XCTAssertTrue(native.stdout.contains("missing program: No such file or directory\n"), native.stdout)
        let r = try revenant(["run", "--", exe])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, native.stdout)
        XCTAssertEqual(r.stderr, "")
        let rec = try revenant(["record", "-o", "t.rvt", "--", exe])
        XCTAssertEqual(rec.stdout, native.stdout, rec.stderr)
        let rep = try revenant(["replay", "t.rvt"])
        XCTAssertEqual(rep.status, 0, rep.stderr)
        XCTAssertEqual(rep.stdout, rec.stdout)
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

    /// `--max-processes` counts the whole tree, grandchildren too: a child that forks ten of its
    /// own under a limit of 5 gets 3 (the first process and the child hold two), the rest EAGAIN.
    func testMaxProcessesCountsTheWholeTree() throws {
        try requireKVM()
        let script = #"""
            my $p = fork // die "fork: $!";
            if (!$p) {
                my ($n, $again) = (0, 0);
                for (1 .. 10) {
                    my $q = fork;
                    if (!defined $q) { $again++ if $!{EAGAIN}; next }
                    if (!$q) { select undef, undef, undef, 0.3; exit 0 }
                    $n++;
                }
                1 while wait > 0;
                print "started $n, EAGAIN $again\n";
                exit 0;
            }
            waitpid $p, 0;
            """#
        let r = try revenant(["run", "--max-processes", "5", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "started 3, EAGAIN 7\n")
        let bad = try revenant(["run", "--max-processes", "0", "--", "/usr/bin/true"])
        XCTAssertEqual(bad.status, 125, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--max-processes"), bad.stderr)
    }

    /// Process groups stay inside the guest: a signal to a group the guest did not make (here the
    /// test runner's, which revenant is in) is EPERM, and another process's group is out of view.
    func testGroupsOutsideTheGuestAreOutOfReach() throws {
        try requireKVM()
        let script = #"""
            print kill('TERM', -getpgrp()) ? "sent\n" : "refused: $!\n";
            print "pgid of pid 1: ", getpgrp(1), "\n";
            print setpgrp(0, getppid()) ? "joined\n" : "setpgid: $!\n";
            """#
        let r = try revenant(["run", "--", "/usr/bin/perl", "-e", script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(
            r.stdout, "refused: Operation not permitted\npgid of pid 1: -1\nsetpgid: Operation not permitted\n")
    }

    /// Threads stay unsupported: ENOSYS and a line naming each call tried.
    func testThreadsAreRefusedInOneLine() throws {
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
    }
}
