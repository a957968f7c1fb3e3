import Debugger
import Foundation
import XCTest

/// `revenant gdb` driven by Debian's gdb in batch mode (Docs/gdb.md): Tests/Programs/debuggee.c
/// built with -g, recorded, and debugged forwards and backwards through the trace.
final class GDBTests: ScratchTestCase {
    /// The debuggee built and recorded (with `args`) into d.rvt; its native output.
    func recordDebuggee(_ args: [String] = []) throws -> String {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Tests/Programs/debuggee.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-g", "-O0", "-o", "debuggee", source]).status, 0)
        let rec = try revenant(["record", "-o", "d.rvt", "--shims", "none", "--", "./debuggee"] + args)
        XCTAssertEqual(rec.status, args.isEmpty ? 0 : 139, rec.stderr)
        return rec.stdout
    }

    /// The debuggee recorded, the trace moved to moved/copy.rvt and the program removed: what
    /// ran is only in the trace.
    func recordDebuggeeThenMoveIt() throws {
        _ = try recordDebuggee()
        try FileManager.default.createDirectory(
            at: base.appendingPathComponent("moved"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(
            at: base.appendingPathComponent("d.rvt"), to: base.appendingPathComponent("moved/copy.rvt"))
        try FileManager.default.removeItem(at: base.appendingPathComponent("debuggee"))
    }

    /// gdb -batch on the trace with these commands (`setup` before it connects); what it printed
    /// (stdout and stderr, the lines about reading files from the target left out).
    func gdb(_ commands: [String], trace: String = "d.rvt", setup: [String] = []) throws -> String {
        let gdb = "/usr/bin/gdb"
        guard FileManager.default.isExecutableFile(atPath: gdb) else {
            throw TestSetupError("gdb is not installed (make deps installs it)")
        }
        let target = "target remote | \(try revenantBinary().path) gdb \(trace)"
        let args =
            ["60", gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off"]
            + (setup + [target] + commands).flatMap { ["-ex", $0] }
        // A server that hangs is a failure within a minute, not the harness's three.
        let r = try run("/usr/bin/timeout", args)
        return (r.stdout + r.stderr).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("Reading ") && !$0.contains("File transfers from remote targets can be slow") }
            .joined(separator: "\n")
    }

    /// Bench/ticks.c built with -g -O1 and recorded into `trace`: `rounds` rounds of `work`
    /// additions, each followed by a call of tick() between two getppid calls.
    func recordTicks(_ trace: String, rounds: Int, work: Int) throws {
        try requireKVM()
        let source = packageRootDirectory().appendingPathComponent("Bench/ticks.c").path
        XCTAssertEqual(try run("/usr/bin/gcc", ["-g", "-O1", "-o", "ticks", source]).status, 0)
        try recordWithoutShims(trace, ["./ticks", "\(rounds)", "\(work)"])
    }

    /// `command` recorded into `trace` without shims (`options` before it); it must exit 0.
    func recordWithoutShims(_ trace: String, _ command: [String], options: [String] = []) throws {
        let rec = try revenant(["record", "-o", trace, "--shims", "none"] + options + ["--"] + command)
        XCTAssertEqual(rec.status, 0, rec.stderr)
    }

    /// The values `print` showed, in order ("$N = value" lines).
    func printed(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("$"), let eq = line.range(of: " = ") else { return nil }
            return String(line[eq.upperBound...])
        }
    }

    func testBreakpointBacktraceAndVariables() throws {
        _ = try recordDebuggee()
        let out = try gdb([
            "break square", "continue", "continue", "continue", "bt", "print i", "print total", "print counter",
            "info registers rip", "finish",
        ])
        XCTAssertTrue(out.contains("_start () from target:/lib64/ld-linux-x86-64.so.2"), out)
        XCTAssertTrue(out.contains("#0  square (i=2) at "), out)
        XCTAssertTrue(out.contains("#1  0x") && out.contains(" in main (argc=1, argv="), out)
        // square(0) and square(1) ran: total 0 + 1; the loop's counter is 2.
        XCTAssertEqual(Array(printed(out).prefix(3)), ["2", "1", "2"], out)
        XCTAssertTrue(out.contains("Value returned is $4 = 4"), out)
    }

    /// What native gdb prints for the same program: the values to compare the replay's with.
    func nativeGDB(_ commands: [String]) throws -> [String] {
        let r = try run("/usr/bin/gdb", ["-batch", "-nx"] + commands.flatMap { ["-ex", $0] } + ["./debuggee"])
        return printed(r.stdout)
    }

    /// The rip `info registers rip` showed, in order.
    func rips(_ output: String) -> [String] {
        output.split(separator: "\n").filter { $0.hasPrefix("rip ") }.map {
            String($0.split(separator: " ", omittingEmptySubsequences: true)[1])
        }
    }

    func testReverseContinueNextStepiAndFinish() throws {
        _ = try recordDebuggee()
        let out = try gdb([
            "info registers rip", "break square", "continue", "continue", "continue", "reverse-continue", "print i",
            "reverse-continue", "print i", "continue", "continue", "next", "print sq", "reverse-next", "print sq",
            "stepi", "info registers rip", "stepi", "info registers rip", "reverse-stepi", "info registers rip",
            "delete", "reverse-finish", "print counter", "break square", "reverse-continue", "reverse-continue",
            "reverse-continue", "info registers rip",
        ])
        // Back to the 2nd and the 1st calls, forward to the 3rd again.
        let values = printed(out)
        XCTAssertEqual(Array(values.prefix(2)), ["1", "0"], out)
        // `next` over `sq = i * i` (i = 2), and back over it: sq as native gdb shows it after and
        // before that line.
        XCTAssertEqual(
            try nativeGDB(["break square", "run", "continue", "continue", "print sq", "next", "print sq"]),
            Array(values.dropFirst(2).prefix(2).reversed()), out)
        XCTAssertTrue(out.contains("12\t    int sq = i * i;"), out)
        // stepi twice, reverse-stepi once: where the first stepi went.
        let r = rips(out)
        XCTAssertEqual(r.count, 5, out)
        if r.count == 5 {
            XCTAssertNotEqual(r[1], r[2], out)
            XCTAssertEqual(r[1], r[3], out)
            // Before the first call is the start only: the end of history, at the first instruction.
            XCTAssertEqual(r[4], r[0], out)
        }
        // reverse-finish: back to the call in main, where counter is 2.
        XCTAssertTrue(out.contains("in main (argc=1, argv=") && out.contains("square(i);"), out)
        XCTAssertEqual(values.count >= 5 ? values[4] : nil, "2", out)
        XCTAssertTrue(out.contains("No more reverse-execution history."), out)
    }

    /// watch stops after the instruction that changed the value, forwards, and at it, backwards;
    /// a write of the same value is no change (as gdb shows it).
    func testWatchForwardsAndBackwards() throws {
        _ = try recordDebuggee()
        let out = try gdb([
            "break square", "continue", "watch total", "delete 1", "continue", "continue", "print i",
            "reverse-continue", "x/i $pc", "print i", "reverse-continue", "print i", "rwatch counter", "continue",
        ])
        let changes = out.split(separator: "\n").filter { $0.hasPrefix("Old value") || $0.hasPrefix("New value") }
        // square(0) adds 0: the first change is square(1)'s, 0 -> 1, then 1 -> 5; backwards, 5 -> 1
        // at square(2)'s store and 1 -> 0 at square(1)'s.
        XCTAssertEqual(
            changes,
            [
                "Old value = 0", "New value = 1", "Old value = 1", "New value = 5", "Old value = 5", "New value = 1",
                "Old value = 1", "New value = 0",
            ], out)
        XCTAssertEqual(printed(out).prefix(3), ["2", "2", "1"], out)
        // Backwards, the stop is at the store itself (line 13), not after it.
        XCTAssertTrue(out.contains("<square+") && out.contains(",0x") && out.contains("<total>"), out)
        XCTAssertTrue(out.contains("13\t    total += sq;"), out)
        XCTAssertTrue(out.contains("revenant gdb: read and access watchpoints (rwatch, awatch) are not offered"), out)
    }

    /// A recorded crash opened at the fault; reverse-stepi goes to the instruction before it; a
    /// watch on the bad pointer, backwards, finds the store that set it; reverse-continue from
    /// there to the last call of square.
    func testCrashReverseStepiAndContinue() throws {
        _ = try recordDebuggee(["16"])
        let out = try gdb([
            "continue", "x/i $pc", "print slot", "reverse-stepi", "x/i $pc", "watch slot", "reverse-continue", "delete",
            "break square", "reverse-continue", "print i", "continue", "continue",
        ])
        XCTAssertTrue(out.contains("Program received signal SIGSEGV, Segmentation fault."), out)
        XCTAssertTrue(out.contains("*slot = 42;"), out)
        let instructions = out.split(separator: "\n").filter { $0.hasPrefix("=> 0x") }
        XCTAssertEqual(instructions.count, 2, out)
        if instructions.count == 2 {
            XCTAssertTrue(instructions[0].contains("movl   $0x2a,(%rax)"), out)
            XCTAssertTrue(instructions[1].contains("mov ") && instructions[1].contains("<slot>"), out)
        }
        XCTAssertEqual(printed(out).first, "(int *) 0x10", out)
        XCTAssertTrue(out.contains("Old value = (int *) 0x10\nNew value = (int *) 0x0"), out)
        XCTAssertTrue(out.contains("24\t        slot = (int *)(long)atoi(argv[1]);"), out)
        XCTAssertEqual(printed(out).last, "4", out)
        XCTAssertTrue(out.contains("Program terminated with signal SIGSEGV"), out)
    }

    /// The end of the recording, and what gdb may not do: change memory or call a function.
    func testEndOfRecordingAndRefusals() throws {
        _ = try recordDebuggee()
        let out = try gdb([
            "break square", "continue", "set var counter = 7", "print square(3)", "print counter",
            "delete", "continue", "info registers rip", "continue",
        ])
        XCTAssertTrue(out.contains("revenant gdb: a replay's memory cannot be changed"), out)
        XCTAssertEqual(printed(out), ["0"], out)
        XCTAssertTrue(out.contains("No more reverse-execution history."), out)
        XCTAssertTrue(out.contains("_exit"), out)
        XCTAssertTrue(out.contains("[Inferior 1 (Remote target) exited normally]"), out)
    }

    /// gdb reads the program and its libraries from the trace: the recorded binary gone, and the
    /// trace moved elsewhere, the symbols and source lines are still there.
    func testTheTraceServesTheBinaries() throws {
        try recordDebuggeeThenMoveIt()
        let out = try gdb(["break square", "continue", "bt", "info sharedlibrary"], trace: "moved/copy.rvt")
        XCTAssertTrue(out.contains("#0  square (i=0) at "), out)
        XCTAssertTrue(out.contains("target:/lib/x86_64-linux-gnu/libc.so.6"), out)
    }
}

extension GDBTests {
    /// perl and sqlite3 (Debian's, stripped) at the level of their symbols, and `monitor where`
    /// naming the Perl statement and the SQL statement at a stop.
    func testPerlAndSQLiteAtTheirSymbols() throws {
        try requireSQLiteShim()
        let perl = try revenant([
            "record", "-o", "p.rvt", "--", "/usr/bin/perl", "-e",
            #"my $x = 0; for (1..3) { $x += $_; print "x=$x\n" }"#,
        ])
        XCTAssertEqual(perl.stdout, "x=1\nx=3\nx=6\n", perl.stderr)
        let p = try gdb(["break Perl_pp_print", "continue", "continue", "bt 2", "monitor where"], trace: "p.rvt")
        XCTAssertTrue(p.contains("in Perl_pp_print ()"), p)
        XCTAssertTrue(p.contains("#1  0x") && p.contains("in Perl_runops_standard ()"), p)
        XCTAssertTrue(p.contains(", perl -e:1\n"), p)
        XCTAssertTrue(p.contains("machine: return "), p)
        let sql = try revenant([
            "record", "-o", "s.rvt", "--", "/usr/bin/sqlite3", ":memory:",
            "create table t(x); insert into t values (1), (2); select sum(x) from t;",
        ])
        XCTAssertEqual(sql.stdout, "3\n", sql.stderr)
        let s = try gdb(["break sqlite3_step", "continue", "continue", "bt 1", "monitor where"], trace: "s.rvt")
        XCTAssertTrue(s.contains("in sqlite3_step () from target:"), s)
        XCTAssertTrue(s.contains(", SQL #"), s)
    }

    /// `monitor where` without an index: the event and the machine position.
    func testMonitorWhere() throws {
        _ = try recordDebuggee()
        let out = try gdb(["break square", "continue", "continue", "monitor where", "stepi", "monitor where"])
        let lines = out.split(separator: "\n").filter { $0.hasPrefix("machine: ") }
        XCTAssertEqual(lines.count, 2, out)
        if lines.count == 2 {
            XCTAssertTrue(lines[0].contains("#1 (syscall returns"), out)
            XCTAssertTrue(lines[1].contains("#1 > 1 step (syscall returns"), out)
        }
        XCTAssertTrue(out.contains("\nevent #"), out)
    }
}

extension GDBTests {
    /// Going backwards after many stops: more checkpoints than are kept (some ended), each
    /// reverse request resumed from one, which hands gdb over; every copy gone once gdb is.
    func testManyStopsThenBackwards() throws {
        try recordTicks("d.rvt", rounds: 60, work: 20000)
        let out = try gdb([
            "break tick", "ignore 1 40", "continue", "print k", "reverse-continue", "print k", "reverse-continue",
            "print k", "reverse-stepi", "continue", "print k", "continue", "print k",
        ])
        XCTAssertEqual(printed(out), ["40", "39", "38", "38", "39"], out)
        // The first process waits for the copies; none is left once gdb has gone.
        let left = try run("/usr/bin/pgrep", ["-f", "revenant gdb d.rvt"], in: base)
        XCTAssertEqual(left.stdout, "", "checkpoints left behind")
    }
}

extension GDBTests {
    /// Ctrl-C in gdb (a lone 0x03 while the program runs) stops it at the next syscall return,
    /// with SIGINT, as a live target would; then the session goes on. Driven packet by packet.
    func testInterruptStopsARunningReplay() throws {
        // ~50 ms between syscalls, ~3 s in all.
        try recordTicks("t.rvt", rounds: 60, work: 220_000_000)
        let server = Process()
        server.executableURL = try revenantBinary()
        server.arguments = ["gdb", base.appendingPathComponent("t.rvt").path]
        let toServer = Pipe(), fromServer = Pipe()
        server.standardInput = toServer
        server.standardOutput = fromServer
        try server.run()
        func send(_ bytes: [UInt8]) { toServer.fileHandleForWriting.write(Data(bytes)) }
        func packet(_ s: String) -> [UInt8] {
            Array("$\(s)#".utf8) + Array(String(format: "%02x", s.utf8.reduce(UInt8(0)) { $0 &+ $1 }).utf8)
        }
        func reply() -> String? {
            var out: [UInt8] = []
            var inside = false
            while true {
                let b = fromServer.fileHandleForReading.readData(ofLength: 1)
                guard let c = b.first else { return nil }
                if !inside {
                    inside = c == UInt8(ascii: "$")
                    continue
                }
                if c == UInt8(ascii: "#") {
                    _ = fromServer.fileHandleForReading.readData(ofLength: 2)
                    return String(decoding: out, as: UTF8.self)
                }
                out.append(c)
            }
        }
        send(packet("QStartNoAckMode"))
        XCTAssertEqual(reply(), "OK")
        send(Array("+".utf8))
        send(packet("c"))
        Thread.sleep(forTimeInterval: 0.5)
        send([0x03])
        let stop = reply()
        XCTAssertTrue(stop?.hasPrefix("T02thread:") == true, stop ?? "no reply")
        // Stopped at a syscall return, part-way through the run.
        send(packet("qRcmd," + "where".utf8.map { String(format: "%02x", $0) }.joined()))
        let where_ = reply().flatMap { RemoteConnection.bytes(fromHex: $0.dropFirst()) }.map {
            String(decoding: $0, as: UTF8.self)
        }
        XCTAssertTrue(where_?.contains("machine: return ") == true, where_ ?? "no reply")
        XCTAssertEqual(reply(), "OK")
        send(packet("k"))
        server.waitUntilExit()
        XCTAssertEqual(server.terminationStatus, 0)
    }
}

extension GDBTests {
    /// --at: the position a `when` hit names (event:E, right after that call), or the end; gdb
    /// finds the program there with its libraries, and goes backwards from it. A bad one is a
    /// usage error.
    func testStartAtAnEventOrTheEnd() throws {
        _ = try recordDebuggee()
        let hit = try revenant(["when", "d.rvt", "--syscall", "write fd=1"])
        let event = hit.stdout.split(separator: ":").first.map { $0.replacingOccurrences(of: "event #", with: "") }
        XCTAssertNotNil(event.flatMap { Int($0) }, hit.stdout)
        let at = try gdb(["bt 2", "print total", "monitor where"], trace: "d.rvt --at event:\(event ?? "")")
        XCTAssertTrue(at.contains("__GI___libc_write (fd=1, "), at)
        XCTAssertEqual(printed(at), ["30"], at)
        XCTAssertTrue(at.contains("event #\(Int(event ?? "") .map { $0 + 1 } ?? -1)\n"), at)
        let end = try gdb(["break square", "reverse-continue", "print i"], trace: "d.rvt --at end")
        XCTAssertTrue(end.contains("No more reverse-execution history."), end)
        XCTAssertEqual(printed(end), ["4"], end)
        assertOneLine(
            try revenant(["gdb", "d.rvt", "--at", "event:x"]), 125,
            containing: ["--at event:x: the event must be a number"])
    }

    /// catch syscall: a stop as each caught call returns, forwards, and reverse-continue back to
    /// the one before (Bench/ticks.c: getppid, tick(k) sets last = k, getppid, each round).
    func testCatchSyscall() throws {
        try recordTicks("t.rvt", rounds: 3, work: 1000)
        let out = try gdb(
            ["catch syscall getppid"] + Array(repeating: "continue", count: 6) + [
                "print last", "reverse-continue", "reverse-continue", "print last", "reverse-continue", "print last",
                "delete", "catch syscall write", "continue", "continue",
            ], trace: "t.rvt")
        XCTAssertEqual(printed(out), ["2", "1", "0"], out)
        XCTAssertTrue(out.contains("(returned from syscall getppid)"), out)
        XCTAssertTrue(out.contains("(returned from syscall write)"), out)
        // The write's return, then the end of the recording (gdb's "No more reverse-execution history").
        let write = try XCTUnwrap(out.range(of: "(returned from syscall write)"))
        XCTAssertTrue(out[write.upperBound...].contains("No more reverse-execution history."), out)
    }
}

extension GDBTests {
    /// `monitor where` prints a position in the shared syntax that `monitor goto` and `--at` take
    /// back; goto goes backwards (from a checkpoint) and forwards (on from here), to the start
    /// and the end; a position never reached and a bad one get a line each.
    func testMonitorGotoAndPastedPositions() throws {
        _ = try recordDebuggee()
        let flush = "maintenance flush register-cache"
        let out = try gdb([
            "break square", "continue", "continue", "stepi", "monitor where", "monitor goto start", flush, "bt 1",
            "monitor goto end", flush, "bt 1", "monitor goto event:2", flush, "monitor where",
            "monitor goto event:2@0x1:1", "monitor goto later",
        ])
        let pasted = out.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("at: "), let cut = line.range(of: " (") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 4)..<cut.lowerBound])
        }
        XCTAssertEqual(pasted.count, 6, out)
        guard pasted.count == 6 else { return }
        XCTAssertTrue(pasted[0].hasPrefix("event:") && pasted[0].contains("@0x") && pasted[0].hasSuffix(":1+1"), out)
        XCTAssertEqual(Array(pasted[1...3]), ["start", "end", "event:2"], out)
        XCTAssertTrue(out.contains("_start () from target:"), out)
        XCTAssertTrue(out.contains("__GI__exit (status="), out)
        XCTAssertTrue(out.contains("the program never gets there (a syscall came first)"), out)
        XCTAssertTrue(out.contains("monitor goto: later: not a position"), out)
        // The pasted position, from a fresh server and by goto from the end: i is 1 there, one
        // instruction into the second call of square.
        for session in [
            try gdb(["print i", "monitor where"], trace: "d.rvt --at \(pasted[0])"),
            try gdb(["monitor goto end", "monitor goto \(pasted[0])", flush, "print i", "monitor where"]),
        ] {
            XCTAssertEqual(printed(session), ["1"], session)
            XCTAssertTrue(session.contains("at: \(pasted[0]) (as"), session)
        }
    }

    /// --sysroot DIR: the files the run mapped written under DIR (a new or empty one), which gdb
    /// reads with `set sysroot` from a copy of the trace elsewhere, the program gone.
    func testSysroot() throws {
        try recordDebuggeeThenMoveIt()
        let root = base.appendingPathComponent("root").path
        let out = try gdb(
            ["break square", "continue", "bt", "info sharedlibrary"], trace: "moved/copy.rvt --sysroot \(root)",
            setup: ["set sysroot \(root)"])
        XCTAssertTrue(out.contains("#0  square (i=0) at "), out)
        XCTAssertTrue(out.contains("Yes         \(root)/lib/x86_64-linux-gnu/libc.so.6"), out)
        XCTAssertFalse(out.contains("target:"), out)
        XCTAssertTrue(out.contains("wrote the 4 files the run mapped under \(root)"), out)
        assertOneLine(
            try revenant(["gdb", "moved/copy.rvt", "--sysroot", root]), 125,
            containing: ["--sysroot \(root) is not empty"])
    }
}

extension GDBTests {
    /// --pid: a child of `sh -c` that execs the debuggee, shown from the debuggee's start (the
    /// shell's part and the child's before its execve run unseen); a position in its own events
    /// with `PID/` in front; and a first process that execs (`sh -c 'exec ...'`) shown the same way.
    func testAChildProcessAndAnExecedProgram() throws {
        _ = try recordDebuggee()
        try recordWithoutShims("m.rvt", ["/bin/sh", "-c", "./debuggee; echo done"])
        let info = try revenant(["info", "m.rvt"]).stdout
        guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix("processes:") }),
            let child = line.split(separator: ";").last?.split(separator: " ").first.map(String.init)
        else { return XCTFail(info) }
        let out = try gdb(
            [
                "monitor where", "break square", "continue", "bt", "print total", "reverse-continue", "bt 1",
                "catch syscall", "reverse-continue",
            ],
            trace: "m.rvt --pid \(child)")
        XCTAssertTrue(out.contains("at: \(child)/event:"), out)
        XCTAssertTrue(out.contains("#1  0x") && out.contains(" in main (argc=1, "), out)
        XCTAssertEqual(printed(out), ["0"], out)
        // Before the program's start nothing is seen: no breakpoint hit, no caught call.
        XCTAssertEqual(out.components(separatedBy: "No more reverse-execution history.\n0x").count, 3, out)
        XCTAssertTrue(out.contains("in _start () from target:/lib64/ld-linux-x86-64.so.2"), out)
        let hit = try revenant(["when", "m.rvt", "--pid", child, "--syscall", "write fd=1"]).stdout
        guard let at = hit.split(separator: "\n").first?.components(separatedBy: "  at ").last else {
            return XCTFail(hit)
        }
        XCTAssertTrue(at.hasPrefix("\(child)/event:"), hit)
        let there = try gdb(["bt 2", "print total"], trace: "m.rvt --at \(at)")
        XCTAssertTrue(there.contains("__GI___libc_write (fd=1, "), there)
        XCTAssertEqual(printed(there), ["30"], there)
        try recordWithoutShims("e.rvt", ["/bin/sh", "-c", "exec ./debuggee"])
        let e = try gdb(["break square", "continue", "bt"], trace: "e.rvt")
        XCTAssertTrue(e.contains(" in main (argc=1, "), e)
        assertOneLine(try revenant(["gdb", "m.rvt", "--pid", "4"]), 1, containing: ["--pid 4: no such process"])
    }
}

extension GDBTests {
    /// reverse-stepi at a syscall return lands on the instruction that made the call, reached as
    /// the arrival there after the return before (no single steps through the stretch before
    /// it), and stepi goes forward to the same return again.
    func testReverseStepiAtAReturnLandsOnTheCall() throws {
        _ = try recordDebuggee()
        // With the call's site rewritten (the default), and with every syscall in place.
        try recordWithoutShims("trap.rvt", ["./debuggee"], options: ["--syscall-path", "trap"])
        for trace in ["d.rvt", "trap.rvt"] { try reverseStepiAtAReturn(trace) }
    }

    func reverseStepiAtAReturn(_ trace: String) throws {
        let out = try gdb(
            [
                "catch syscall write", "continue", "monitor where", "reverse-stepi", "monitor where", "x/i $pc",
                "stepi",
                "monitor where",
            ], trace: trace)
        let machine = out.split(separator: "\n").filter { $0.hasPrefix("machine: ") }.map {
            String($0.dropFirst(9).prefix { $0 != "(" })
        }
        XCTAssertEqual(machine.count, 3, out)
        guard machine.count == 3, let r = Int(machine[0].split(separator: " ")[1]) else { return }
        XCTAssertEqual(machine[0], "return \(r) ", out)
        // The arrival at the `syscall` after the return before, or at a rewritten site's start
        // and a step or two from there (the trampoline's instructions are shown as the site's).
        XCTAssertTrue(machine[1].hasPrefix("return \(r - 1) > 0x"), out)
        XCTAssertTrue(machine[1].hasSuffix("#1 ") || machine[1].hasSuffix("#1 > 1 step "), out)
        XCTAssertEqual(machine[2], machine[0], out)
        XCTAssertTrue(out.contains(">:\tsyscall"), out)
    }
}

extension GDBTests {
    /// gdb killed while the server runs a long single-step search (a reverse watch through a
    /// stretch of ~100k instructions, several seconds): the server and its checkpoints end
    /// within a second or so, not when the search would have ended.
    func testTheServerEndsWhenGdbIsGone() throws {
        try recordTicks("gone.rvt", rounds: 2, work: 2_000_000)
        let gdb = "/usr/bin/gdb"
        guard FileManager.default.isExecutableFile(atPath: gdb) else {
            throw TestSetupError("gdb is not installed (make deps installs it)")
        }
        let target = "target remote | \(try revenantBinary().path) gdb gone.rvt --at end"
        // gdb alone killed (SIGKILL: it waits out SIGTERM while the target runs), two seconds in.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: gdb)
        client.arguments = ["-batch", "-nx", "-ex", target, "-ex", "watch sink", "-ex", "reverse-continue"]
        client.currentDirectoryURL = base
        client.standardInput = FileHandle.nullDevice
        client.standardOutput = FileHandle.nullDevice
        client.standardError = FileHandle.nullDevice
        try client.run()
        Thread.sleep(forTimeInterval: 2)
        kill(client.processIdentifier, SIGKILL)
        // Not waited for here: Foundation's wait ends only with the last holder of its own pipe,
        // which the server inherited.
        // The server looks for gdb twice a second; the search would run for ~5 s more.
        var left = -1
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            left =
                Int(
                    try run("/usr/bin/pgrep", ["-fc", "gdb gone.rvt --at end"]).stdout.trimmingCharacters(
                        in: .whitespacesAndNewlines)) ?? -1
            if left == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(left, 0, "revenant gdb processes still running 2 s after gdb ended")
        client.waitUntilExit()
    }
}
