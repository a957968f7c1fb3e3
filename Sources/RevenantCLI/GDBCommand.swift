import ArgumentParser
import Debugger
import FileHistory
import Glibc
import Regen
import Replay
import SQLReplay
import Trace
import RevenantKit

struct GDBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdb",
        abstract: "Debug a recorded run with gdb, forwards and backwards (a GDB remote-protocol server).",
        discussion: """
            gdb sees the recorded program as a live one, stopped at its first instruction: registers, \
            memory, the program and its libraries (read from the trace, as they were when recorded), \
            breakpoints, stepping, continue — and reverse-continue, reverse-stepi, and what gdb builds on \
            them (reverse-next, reverse-step, reverse-finish). Going backwards replays the trace again \
            from its start; nothing gdb does changes the replay (writes to memory or registers, and calls, \
            are refused). At the end of the recording gdb says "No more reverse-execution history"; \
            continue once more to see the program exit. Docs/gdb.md says what works and what it costs.

            Examples:
              gdb -ex 'target remote | revenant gdb run.rvt'
              gdb -ex 'target remote | revenant gdb run.rvt --at event:41'   (a hit `revenant when` printed)
              revenant gdb run.rvt --listen 127.0.0.1:2345   (then in gdb: target remote :2345)
              (gdb) monitor where          the position at every level, and as --at takes it
              (gdb) monitor goto POS       go there (then: maintenance flush register-cache)
            """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Option(
        help: ArgumentHelp(
            "Serve on a loopback TCP address instead of stdin/stdout (port 0: any free one, printed).",
            valueName: "HOST:PORT"))
    var listen: String?
    @Option(
        help: ArgumentHelp(
            "Where gdb finds the program: start (its first instruction), end, event:E (right after event E's "
                + "call returned) with @ADDR:K and +N parts inside its interval, perl:FILE:LINE[:K] or sql:N (the "
                + "return before it): Docs/positions.md.",
            valueName: "POS"))
    var at: String?
    @Option(
        help: ArgumentHelp(
            "Also write the program and every file it mapped, as recorded, under DIR at their paths (DIR new or "
                + "empty), for tools that read files themselves (in gdb: set sysroot DIR).",
            valueName: "DIR"))
    var sysroot: String?
    @Flag(help: "Every packet in and out on stderr.") var logPackets = false

    /// A position as the server goes to it: the event its syscall return follows, then the parts
    /// inside that interval (the Perl and SQL forms resolved through the index).
    static func goto(_ position: RunPosition, trace: String) throws -> GDBServer.Goto {
        let inside = position.inside.map { part -> ReplayPosition.Segment in
            switch part {
            case .arrive(let a, let k): return .arrive(a, count: k)
            case .steps(let n): return .steps(n)
            }
        }
        switch try resolvePosition(position, trace: trace).eventsBefore {
        case nil: return .end
        case 0: return .start
        case let n?: return .afterEvent(n - 1, inside: inside)
        }
    }

    /// `--sysroot DIR`: one replay names every file the run mapped (the blobs the events give);
    /// they are written under DIR with the program and its interpreter.
    static func writeSysroot(_ dir: String, trace: String) throws {
        do { try RestoredTree.checkEmpty(dir, option: "--sysroot") } catch { throw CLIError(error.description) }
        let session = try questionReplay(trace, mailbox: true)
        try replayToEnd(session)
        let files = session.machine.displayNames.map { (guest: $0.value, host: $0.key) }
        let bytes: Int
        do { bytes = try RestoredTree.place(files, under: dir) } catch { throw CLIError(error.description) }
        FileHandleStderr.write(
            "revenant gdb: wrote the \(files.count) files the run mapped under \(dir) (\(bytes) bytes); "
                + "in gdb: set sysroot \(dir)\n")
    }

    func validate() throws {
        try requirePath(trace, "TRACE")
        if let at, try parsePosition(at, option: "--at").pid != nil {
            throw ValidationError("--at \(at): gdb follows the first process (PID/ names a child)")
        }
    }

    func run() throws {
        let header: TraceHeader
        do { (_, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        // The Perl and SQL positions for `monitor where` come from the index (made first when
        // missing: regeneration replays, which cannot run beside a paused replay).
        var index: TraceIndex?
        if let shim = header.shims?.first {
            index = try requireIndexes(trace, shim: shim, what: shim, pid: nil).first?.index
        }
        // Where gdb starts: the syscall return the position follows (none: the first instruction).
        let goto = try at.map { try Self.goto(try parsePosition($0, option: "--at"), trace: trace) }
        if let sysroot { try Self.writeSysroot(sysroot, trace: trace) }
        // One replay before gdb connects: a trace that cannot be replayed here is said at once.
        var pending: ReplaySession? = try questionReplay(trace, mailbox: false)
        let connection: RemoteConnection
        if let listen {
            do {
                connection = try RemoteConnection.accept(listen: listen) { port in
                    let line = "revenant gdb: listening on \(listen.split(separator: ":")[0]):\(port)\n"
                    _ = line.withCString { write(2, $0, strlen($0)) }
                }
            } catch { throw CLIError(error.description) }
        } else {
            connection = RemoteConnection(input: 0, output: 1)
        }
        if logPackets { connection.log = { line in _ = (line + "\n").withCString { write(2, $0, strlen($0)) } } }
        let server = GDBServer(connection: connection, pid: header.process?.pid ?? 1) {
            if let s = pending {
                pending = nil
                return s
            }
            return try questionReplay(trace, mailbox: false)
        }
        if let goto { server.start(at: goto) }
        if let index { server.describeEvent = { event in (try? index.position(atEvent: event))?.description } }
        server.resolvePosition = { text in
            let position: RunPosition
            do { position = try RunPosition(parsing: text) } catch { throw CLIError("\(error)") }
            guard position.pid == nil else { throw CLIError("gdb follows the first process (PID/ names a child)") }
            return try Self.goto(position, trace: trace)
        }
        try server.serve()
    }
}
