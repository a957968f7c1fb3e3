import ArgumentParser
import Debugger
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
                + "call returned), perl:FILE:LINE[:K] or sql:N (the return before it): Docs/positions.md.",
            valueName: "POS"))
    var at: String?
    @Flag(help: "Every packet in and out on stderr.") var logPackets = false

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
        let goto = try at.map { text -> GDBServer.Goto in
            switch try resolvePosition(try parsePosition(text, option: "--at"), trace: trace).eventsBefore {
            case nil: return .end
            case 0: return .start
            case let n?: return .afterEvent(n - 1)
            }
        }
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
        try server.serve()
    }
}
