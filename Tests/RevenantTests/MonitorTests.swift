import Foundation
import XCTest

import Monitor

/// `revenant monitor` (Docs/monitor-protocol.md): a monitor program subscribes at every level,
/// is notified with positions, asks questions whose answers are checked against a native run,
/// every message is valid by the protocol's JSON Schema, and each way a monitor can fail ends the
/// session in one line.
final class MonitorTests: ScratchTestCase {
    static let folder = packageRootDirectory().appendingPathComponent("Tests/Monitor")
    static let schema = packageRootDirectory().appendingPathComponent("Docs/monitor-protocol.schema.json").path

    override func setUpWithError() throws {
        try super.setUpWithError()
        try requireSQLiteShim()
        try FileManager.default.copyItem(
            at: Self.folder.appendingPathComponent("bank.pl"), to: base.appendingPathComponent("bank.pl"))
    }

    /// The native run's ledger, then a recording of the script (the ledger and database
    /// removed again: the recording starts as the native run did).
    private func record() throws -> [String] {
        XCTAssertEqual(try run("/usr/bin/perl", ["bank.pl"]).stdout, "alice=-6 bob=21\n")
        let ledger = try String(contentsOf: base.appendingPathComponent("ledger.txt"), encoding: .utf8)
        for f in ["ledger.txt", "bank.db"] { try FileManager.default.removeItem(at: base.appendingPathComponent(f)) }
        let r = try revenant(["record", "-o", "t.rvt", "--", "perl", "bank.pl"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return ledger.split(separator: "\n").map { $0 + "\n" }
    }

    func testASessionAtEveryLevel() throws {
        let ledger = try record()
        let r = try revenant([
            "monitor", "t.rvt", "--transcript", "t.jsonl", "--", "/usr/bin/python3",
            Self.folder.appendingPathComponent("session.py").path, "seen.json",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let seen = try JSONSerialization.jsonObject(with: Data(contentsOf: base.appendingPathComponent("seen.json")))
        let s = try XCTUnwrap(seen as? [String: Any])
        func hits(_ k: String) -> [[String: Any]] { s[k] as? [[String: Any]] ?? [] }
        func details(_ h: [String: Any]) -> [String: Any] { h["details"] as? [String: Any] ?? [:] }
        func position(_ h: [String: Any]) -> [String: Any] { h["position"] as? [String: Any] ?? [:] }

        // Perl: where the predicate became true, the values then (read by the VMM, and in a clone).
        let perl = hits("perl")
        XCTAssertEqual(perl.count, 1, "\(perl)")
        XCTAssertEqual(position(perl[0])["at"] as? String, "perl:bank.pl:9:3")
        XCTAssertEqual(perl[0]["value"] as? String, "-2, 13")
        XCTAssertEqual(perl[0]["clone"] as? String, "'alice,bob'")
        XCTAssertEqual(perl[0]["unknown"] as? String, "unknown request \"frobnicate\"")
        // SQL: every statement on the table, and the one after which the query became true.
        let table = hits("sql_table").map { details($0)["statement"] as? Int ?? -1 }
        XCTAssertEqual(table, Array(1...10))
        XCTAssertEqual(hits("sql_when").map { details($0)["statement"] as? Int ?? -1 }, [7])
        XCTAssertEqual(position(hits("sql_when").first ?? [:])["at"] as? String, "sql:7")
        // The database as it was then, restored beside: alice's balance has just gone below zero.
        let then = try run("/usr/bin/sqlite3", ["then.db", "SELECT name, bal FROM acct ORDER BY name"])
        XCTAssertEqual(then.stdout, "alice|-2\nbob|13\n")
        XCTAssertTrue(
            ((hits("sql_when").first?["database"] as? [String: Any])?["summary"] as? String ?? "")
                .hasPrefix("restored "))
        XCTAssertEqual(
            hits("sql_when").first?["again"] as? String, "database: --restore then.db exists (--force to replace it)")
        // Syscalls, with the file as it was at each: the native run's ledger, line by line.
        let opens = hits("opens")
        XCTAssertEqual(opens.count, ledger.count)
        for (k, h) in opens.enumerated() {
            XCTAssertEqual((h["file"] as? [String: Any])?["text"] as? String, ledger.prefix(k).joined())
            XCTAssertTrue((details(h)["call"] as? String ?? "").hasPrefix("openat(AT_FDCWD, \"ledger.txt\""))
            // Perl values at a syscall, between statements: those of the statement running (line 12).
            XCTAssertEqual(h["values"] as? String, "\(10 - 4 * (k + 1)), \(k + 1)")
        }
        // Code: the registers at the breakpoint, the function's own bytes, and its name.
        let code = try XCTUnwrap(hits("code").first)
        XCTAssertEqual(hits("code").count, 1, "unsubscribed after the first")
        let address = try XCTUnwrap(details(code)["address"] as? Int)
        XCTAssertEqual(code["rip"] as? Int, address)
        XCTAssertTrue((code["lookup"] as? [Int] ?? []).contains(address))
        let bytes = try XCTUnwrap(code["bytes"] as? String)
        XCTAssertEqual(bytes.count, 8)
        XCTAssertFalse(bytes.hasPrefix("cc"), "the breakpoint's int3 shows the program's byte")
        XCTAssertTrue((code["symbolize"] as? String ?? "").contains("sqlite3_prepare_v2+0x0"))
        // Memory: one change of the watched word, then no more (unsubscribed).
        let watch = hits("watch")
        XCTAssertEqual(watch.count, 1)
        XCTAssertNotEqual(details(watch[0])["old"] as? String, details(watch[0])["new"] as? String)
        XCTAssertEqual(watch[0]["again"] as? String, "unsubscribe: no subscription 6")
        // Refusals are answers, and the session goes on.
        XCTAssertEqual(s["early"] as? String, "registers: the replay is not paused yet (ask at a notification)")
        XCTAssertTrue(
            (s["bad_kind"] as? String ?? "").contains(
                "unknown kind \"nonsense\" (syscall, perl, sql, code, watch or process)"))
        XCTAssertTrue((s["bad_filter"] as? String ?? "").hasPrefix("perl when $x +* 2:"))
        XCTAssertEqual((s["end"] as? [String: Any])?["reason"] as? String, "finished")
        // `print` writes to revenant's stdout, one line per request.
        XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0 == "seen opens" }.count, ledger.count)
        // Every message is valid by the schema.
        let v = try run(
            "/usr/bin/python3", [Self.folder.appendingPathComponent("validate.py").path, Self.schema, "t.jsonl"])
        XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        XCTAssertTrue(v.stdout.hasSuffix(" messages, 0 invalid\n"), v.stdout)
    }

    /// Each way a monitor can fail: one line, exit 125, no hang; a monitor's own status passes.
    func testMonitorsThatFail() throws {
        _ = try record()
        func monitor(_ shell: String, timeout: String = "30") throws -> Output {
            try revenant(["monitor", "t.rvt", "--monitor-timeout", timeout, "--", "/bin/sh", "-c", shell])
        }
        assertOneLine(
            try revenant(["monitor", "t.rvt", "--", "/no/such/monitor"]), 125,
            containing: ["cannot start the monitor /no/such/monitor: No such file or directory"], "missing")
        assertOneLine(try revenant(["monitor", "t.rvt"]), 125, containing: ["after --"], "no command")
        assertOneLine(
            try monitor("read hello; exit 3"), 125,
            containing: ["the monitor /bin/sh exited with status 3 before the session ended"], "exits")
        let started = Date()
        assertOneLine(
            try monitor("read hello; sleep 20", timeout: "1"), 125,
            containing: ["the monitor /bin/sh said nothing for 1 s (--monitor-timeout)"], "silent")
        XCTAssertLessThan(Date().timeIntervalSince(started), 15, "the silent monitor was not waited for")
        assertOneLine(
            try monitor("read hello; echo 'continue please'; cat >/dev/null"), 125,
            containing: ["sent a line that is not JSON (not a value at byte 0): continue please"], "not JSON")
        assertOneLine(try monitor("kill -9 $$"), 125, containing: ["was killed by signal 9"], "killed")
        assertOneLine(
            try monitor(#"read hello; echo '{"request":"continue"}'; sleep 20"#, timeout: "1"), 125,
            containing: ["did not exit within 1 s of the session's end"], "lingers")
        // A whole session: the monitor's own status is revenant's.
        let r = try monitor(#"read hello; echo '{"request":"continue","id":"go"}'; cat >/dev/null; exit 7"#)
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertEqual(r.stderr, "")
    }

    /// Process events: the first process's forks (the children `info` lists), its exec and exit;
    /// a child followed with --pid, its own exec and exit status.
    func testProcessEvents() throws {
        let script = packageRootDirectory().appendingPathComponent("Tests/MultiProcess/exec.pl")
        try FileManager.default.copyItem(at: script, to: base.appendingPathComponent("exec.pl"))
        XCTAssertEqual(try revenant(["record", "-o", "m.rvt", "--", "perl", "exec.pl"]).status, 0)
        let info = try revenant(["info", "m.rvt"]).stdout
        let line = try XCTUnwrap(info.split(separator: "\n").first { $0.hasPrefix("processes:") })
        // "5546 /usr/bin/sh, exit 0; 5549 /bin/echo, child of 5546, exit 0; …"
        let pids = line.split(separator: ";").compactMap { entry in
            entry.split(separator: " ").first { Int32($0) != nil }.flatMap { Int32($0) }
        }
        XCTAssertEqual(pids.count, 5, String(line))
        let report = Self.folder.appendingPathComponent("report.py").path
        let first = try revenant(["monitor", "m.rvt", "--", "/usr/bin/python3", report, #"{"kind":"process"}"#])
        XCTAssertEqual(first.status, 0, first.stderr)
        let events = first.stdout.split(separator: "\n").map {
            $0.split(separator: " ").dropFirst(2).joined(separator: " ")
        }
        XCTAssertEqual(
            events,
            [
                "pid=\(pids[1]) what=fork", "pid=\(pids[2]) what=fork", "pid=\(pids[3]) what=fork",
                "program=/usr/bin/sh what=exec", "pid=\(pids[4]) what=fork", "status=0 what=exit",
            ])
        let child = try revenant([
            "monitor", "m.rvt", "--pid", String(pids[2]), "--", "/usr/bin/python3", report, #"{"kind":"process"}"#,
        ])
        XCTAssertEqual(child.status, 0, child.stderr)
        // Positions in the child's own stream, pasted with its pid.
        let lines = child.stdout.split(separator: "\n").map { $0.split(separator: " ") }
        XCTAssertEqual(
            lines.map { $0.dropFirst(2).joined(separator: " ") },
            ["program=./hello.sh what=exec", "status=7 what=exit"])
        XCTAssertTrue(lines.allSatisfy { $0.count > 1 && $0[1].hasPrefix("\(pids[2])/event:") }, child.stdout)
    }

    /// The example monitors in Docs/examples, each checked against the native run or the log.
    func testTheExamples() throws {
        let ledger = try record()
        let examples = packageRootDirectory().appendingPathComponent("Docs/examples")
        func example(_ name: String, _ args: [String]) throws -> Output {
            let interpreter = name.hasSuffix(".pl") ? "/usr/bin/perl" : "/usr/bin/python3"
            return try revenant(
                ["monitor", "t.rvt", "--", interpreter, examples.appendingPathComponent(name).path] + args)
        }
        // An extra index of every open, with the lines around it: the ledger's four, at line 12.
        var r = try example("files_opened.py", ["opened.sqlite"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try run(
            "/usr/bin/sqlite3", ["opened.sqlite", "SELECT perl, result FROM opened WHERE path = 'ledger.txt'"])
        XCTAssertEqual(rows.stdout, String(repeating: "bank.pl:12|4\n", count: ledger.count))
        let opens = try revenant(["log", "t.rvt", "syscalls", "--where", "name=open*"]).stdout
        let all = try run("/usr/bin/sqlite3", ["opened.sqlite", "SELECT count(*) FROM opened"]).stdout
        XCTAssertEqual(all, "\(opens.split(separator: "\n").count)\n")
        // The statement after which a hash key first held a value (the third time round the loop).
        r = try example("first_value.py", ["bal", "alice", "-2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("$bal{alice} first held -2 before statement #"), r.stdout)
        XCTAssertTrue(r.stdout.contains(" at bank.pl:9 (event "), r.stdout)
        XCTAssertTrue(r.stdout.hasSuffix("; paste: --at perl:bank.pl:9:3)\n"), r.stdout)
        XCTAssertEqual(try example("first_value.py", ["bal", "alice", "99"]).status, 1)
        // A snapshot of the ledger after each write: the native run's, line by line.
        r = try example("snapshots.py", ["ledger.txt", "snaps"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for k in 1...ledger.count {
            let snap = try String(
                contentsOf: base.appendingPathComponent(String(format: "snaps/%04d", k)), encoding: .utf8)
            XCTAssertEqual(snap, ledger.prefix(k).joined())
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("snaps/0005").path))
        // The calls counted in Perl: as many openat as the log has.
        r = try example("count_calls.pl", [])
        XCTAssertEqual(r.status, 0, r.stderr)
        let openat = try revenant(["log", "t.rvt", "syscalls", "--where", "name=openat"]).stdout.split(separator: "\n")
        XCTAssertTrue(r.stdout.contains(String(format: "%8d openat\n", openat.count)), r.stdout)
    }

    /// The interface in Swift: the same subscriptions and questions, in the test's own process.
    func testTheSwiftInterface() throws {
        _ = try record()
        // A personality ignores SIGPIPE in its process: this one's children (the native runs
        // of later tests) must not inherit that.
        defer { signal(SIGPIPE, SIG_DFL) }
        try swiftInterface()
        // The monitor is gone, and the guest's address range with it: another can replay.
        let again = try ReplayMonitor(trace: base.appendingPathComponent("t.rvt").path, pid: nil)
        XCTAssertTrue(try again.run { _, _ in .proceed })
    }

    private func swiftInterface() throws {
        let monitor = try ReplayMonitor(trace: base.appendingPathComponent("t.rvt").path, pid: nil)
        _ = try monitor.subscribe(.syscall(filter: "openat path=*ledger.txt"))
        let line = try monitor.subscribe(.perlLine("bank.pl:13"))
        var values: [String] = [], opened = 0
        let finished = try monitor.run { n, pause in
            if n.subscription == line {
                values.append((try? pause.perl("$bal{alice}")) ?? "?")
            } else {
                opened += 1
            }
            return values.count == 3 ? .stop : .proceed
        }
        XCTAssertFalse(finished, "stopped at the third")
        XCTAssertEqual(values, ["6", "2", "-2"])
        XCTAssertEqual(opened, 3)
    }
}

/// The protocol's JSON, written and read by Sources/Monitor/JSONValue.swift.
final class MonitorJSONTests: XCTestCase {
    func testWrittenAsPinned() {
        let v = JSONValue.sorted([
            "type": .string("x\"y\\z\n\u{1}é"), "n": .int(-42), "list": .array([.null, .bool(true), .double(0.5)]),
            "o": .object([("b", .int(1)), ("a", .int(2))]),
        ])
        XCTAssertEqual(v.text, #"{"list":[null,true,0.5],"n":-42,"o":{"b":1,"a":2},"type":"x\"y\\z\n\u0001é"}"#)
        XCTAssertEqual(try JSONValue(parsing: v.text), v)
    }

    func testReadAsJSON() throws {
        let v = try JSONValue(parsing: #" {"id": 1e3, "a": [1, -2.5, "\u00e9\ud83d\ude00\/"], "t": false} "#)
        XCTAssertEqual(v["id"]?.integer, 1000)
        XCTAssertEqual(v["a"], .array([.int(1), .double(-2.5), .string("é😀/")]))
        XCTAssertEqual(v["t"], .bool(false))
        for bad in [
            "", "{", "{\"a\" 1}", "[1,]", "tru", "\"abc", "{} x", "\"\\q\"", "\"\u{1}\"", "-", "1.",
            "\"\\ud800\"", String(repeating: "[", count: 100),
        ] {
            XCTAssertThrowsError(try JSONValue(parsing: bad), bad)
        }
    }
}
