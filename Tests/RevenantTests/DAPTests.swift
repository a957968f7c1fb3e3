import Foundation
import XCTest

/// `revenant dap` (Docs/dap.md) driven by a small DAP client (Tests/DAP/client.py) through a
/// recorded run of Tests/DAP/loop.pl: breakpoints with a condition and a hit count, continue,
/// variables, evaluate (the VMM's subset and a clone), two steps back, reverse continue, next,
/// step out; every value checked against what the native run printed.
final class DAPTests: ScratchTestCase {
    func testADebugSessionForwardsAndBackwards() throws {
        try requireKVM()
        let folder = packageRootDirectory().appendingPathComponent("Tests/DAP")
        try FileManager.default.copyItem(
            at: folder.appendingPathComponent("loop.pl"), to: base.appendingPathComponent("loop.pl"))
        // The native run: the list loop.pl builds, item by item.
        let native = try run("/usr/bin/perl", ["loop.pl"]).stdout
        XCTAssertEqual(native, "odd1,even1,odd2,even2,odd3,even3\ncaught: bad key\n")
        let items = native.split(separator: "\n")[0].split(separator: ",").map { "'\($0)'" }
        XCTAssertEqual(try revenant(["record", "-o", "t.rvt", "--", "perl", "loop.pl"]).status, 0)
        let r = try run(
            "/usr/bin/python3",
            [folder.appendingPathComponent("client.py").path, try revenantBinary().path, "t.rvt", "seen.json"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let seen = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: base.appendingPathComponent("seen.json")))
                as? [String: Any])
        func stop(_ k: String) -> [String: Any] { seen[k] as? [String: Any] ?? [:] }
        func locals(_ k: String) -> [String: Any] { stop(k)["locals"] as? [String: Any] ?? [:] }
        func frames(_ k: String) -> [String] {
            (stop(k)["frames"] as? [[Any]] ?? []).map { $0.map { "\($0)" }.joined(separator: " ") }
        }
        XCTAssertEqual(seen["stepBack"] as? Bool, true)
        let verified = (seen["breakpoints"] as? [[String: Any]] ?? []).map { $0["verified"] as? Bool }
        XCTAssertEqual(verified, [true, true, false, true, false])
        // line 6 with hit count 3: the third call of bump (i = 3), inside it.
        XCTAssertEqual(stop("first")["reason"] as? String, "breakpoint")
        XCTAssertEqual(frames("first"), ["main::bump loop.pl 6", "main loop.pl 11"])
        XCTAssertEqual(stop("first")["k"] as? String, "'odd'")
        XCTAssertEqual(locals("first")["@seen items"] as? [String], Array(items.prefix(2)))
        // line 12 where $i == 4: the locals then, and an expression beyond the subset (a clone).
        XCTAssertEqual(frames("second"), ["main loop.pl 12"])
        XCTAssertEqual(locals("second")["$i"] as? String, "4")
        XCTAssertEqual(locals("second")["$n"] as? String, "2")
        XCTAssertEqual(locals("second")["@seen items"] as? [String], Array(items.prefix(3)))
        XCTAssertEqual(
            stop("second")["clone"] as? String,
            "'"
                + items.prefix(3).map { $0.dropFirst().dropLast() }
                .joined(separator: "-") + "'")
        // Two steps back: into bump's return, then before its increment ran.
        XCTAssertEqual(frames("back1"), ["main::bump loop.pl 7", "main loop.pl 11"])
        XCTAssertEqual(stop("back1")["count"] as? String, "2")
        XCTAssertEqual(frames("back2"), ["main::bump loop.pl 6", "main loop.pl 11"])
        XCTAssertEqual(stop("back2")["count"] as? String, "1")
        // Reverse continue: the last breakpoint stop before, the third arrival at line 6 again.
        XCTAssertEqual(stop("reverse")["reason"] as? String, "breakpoint")
        XCTAssertEqual(locals("reverse")["%count"] as? String, locals("first")["%count"] as? String)
        XCTAssertEqual(frames("next"), ["main::bump loop.pl 7", "main loop.pl 11"])
        XCTAssertEqual(frames("out"), ["main loop.pl 12"])
        XCTAssertEqual(locals("out")["$i"] as? String, "3")
        XCTAssertEqual(locals("again")["$i"] as? String, "4")
        // A condition beyond the VMM's subset, evaluated by perl in a clone: true at i = 6 only.
        XCTAssertEqual(frames("clone"), ["main loop.pl 10"])
        XCTAssertEqual(locals("clone")["$i"] as? String, "6")
        // Each stop's other levels, as extra information in the debug console.
        let outputs = seen["outputs"] as? [String] ?? []
        XCTAssertTrue(
            outputs.contains { $0.hasPrefix("statement #") && $0.contains(", perl loop.pl:12") }, "\(outputs)")
        // An exception breakpoint: stopped before the statement that dies (in the eval), with its message.
        let died = seen["died"] as? [String: Any] ?? [:]
        XCTAssertEqual(died["reason"] as? String, "exception")
        XCTAssertEqual(died["text"] as? String, "bad key")
        XCTAssertEqual((died["frames"] as? [[Any]])?.first?.last as? Int, 15)
        XCTAssertEqual(died["odd"] as? String, "3")
        XCTAssertEqual(frames("late"), ["main loop.pl 16"], "a breakpoint set at a stop")
        XCTAssertEqual((seen["exited"] as? [String: Any])?["exitCode"] as? Int, 0)
        XCTAssertEqual(seen["status"] as? Int, 0)
    }

    /// A client that goes away at a stop: the adapter ends (status 0), nothing left running.
    func testAClientThatDisconnectsEndsTheAdapter() throws {
        try requireKVM()
        try FileManager.default.copyItem(
            at: packageRootDirectory().appendingPathComponent("Tests/DAP/loop.pl"),
            to: base.appendingPathComponent("loop.pl"))
        XCTAssertEqual(try revenant(["record", "-o", "t.rvt", "--", "perl", "loop.pl"]).status, 0)
        var input = ""
        for (k, (command, arguments)) in [
            ("initialize", "{}"), ("launch", #"{"stopOnEntry": true}"#), ("configurationDone", "{}"),
        ].enumerated() {
            let body = #"{"seq": \#(k + 1), "type": "request", "command": "\#(command)", "arguments": \#(arguments)}"#
            input += "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        }
        try input.write(to: base.appendingPathComponent("in"), atomically: true, encoding: .utf8)
        let started = Date()
        let r = try revenant(["dap", "t.rvt"], stdin: base.appendingPathComponent("in").path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains(#""event":"stopped""#) && r.stdout.contains(#""reason":"entry""#), r.stdout)
        XCTAssertFalse(r.stdout.contains(#""event":"terminated""#), "the replay did not go on without a client")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
    }
}
