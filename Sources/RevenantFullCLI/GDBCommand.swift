import ArgumentParser
import RevenantCommands
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
        abstract: CommandAbstract.gdb,
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
              gdb -ex 'target remote | revenant gdb run.rvt --pid 4242'   (a child: the last program it ran)
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
    @Option(
        help: ArgumentHelp(
            "Debug this process of a run with several (a pid `revenant info` lists; the default is the first): "
                + "the last program it ran, from its start.",
            valueName: "PID"))
    var pid: Int32?
    @Flag(help: "Every packet in and out on stderr.") var logPackets = false

    /// A position as the server goes to it: the event its syscall return follows, then the parts
    /// inside that interval (the Perl and SQL forms resolved through the index).
    /// `program`: where the program gdb is shown starts (nil: the first instruction of the run).
    static func goto(_ position: RunPosition, trace: String, program: Int?) throws -> GDBServer.Goto {
        let inside = position.inside.map { part -> ReplayPosition.Segment in
            switch part {
            case .arrive(let a, let k): return .arrive(a, count: k)
            case .steps(let n): return .steps(n)
            }
        }
        switch try resolvePosition(position, trace: trace).eventsBefore {
        case nil: return .end
        case 0 where position.inside.isEmpty: return program.map { .afterEvent($0) } ?? .start
        case let n?:
            if let program, n - 1 < program {
                let start = program < 0 ? "the process's start" : "its execve, event \(program)"
                throw CLIError("\(position) is before the program gdb shows started (\(start))", code: 1)
            }
            return .afterEvent(n - 1, inside: inside)
        }
    }

    /// The process gdb follows: `--pid`, else the one `--at` names, else the first.
    var process: Int32? {
        pid ?? at.flatMap { try? RunPosition(parsing: $0).pid }
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

    static func lastProgram(_ trace: String, pid: Int32?) throws -> LastProgram {
        do {
            let (dir, header) = try TraceDirectory.open(trace)
            let stream = try pid.map {
                try ProcessTable(dir, firstPID: header.process?.pid ?? 0).stream(of: $0, in: trace)
            }
            return try LastProgram(dir, stream: stream ?? 0)
        } catch {
            throw CLIError("\(error)", code: error is ProcessLookupError ? 1 : 125)
        }
    }

    func validate() throws {
        try requirePath(trace, "TRACE")
        if let at, let p = try parsePosition(at, option: "--at").pid, let pid, p != pid {
            throw ValidationError("--at \(at) names process \(p), --pid \(pid)")
        }
    }

    func run() throws {
        let header: TraceHeader
        do { (_, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        // The Perl and SQL positions for `monitor where` come from the index (made first when
        // missing: regeneration replays, which cannot run beside a paused replay).
        let first = header.process?.pid ?? 1
        let child = process.flatMap { $0 == first ? nil : $0 }
        var index: TraceIndex?
        if let shim = header.shims?.first {
            index = try requireIndexes(trace, shim: shim, what: shim, pid: child).first?.index
        }
        // The program gdb shows: the process's last (a child without an execve: from its fork).
        let program = try Self.lastProgram(trace, pid: child)
        let programStart = program.execEvent ?? (child == nil ? nil : -1)
        // Where gdb starts: the syscall return the position follows (none: the first instruction).
        func goto(_ p: RunPosition) throws -> GDBServer.Goto {
            var p = p
            p.pid = child
            return try Self.goto(p, trace: trace, program: programStart)
        }
        let start = try at.map { try goto(try parsePosition($0, option: "--at")) }
        if let sysroot { try Self.writeSysroot(sysroot, trace: trace) }
        // One replay before gdb connects: a trace that cannot be replayed here is said at once.
        var pending: ReplaySession? = try questionReplay(trace, mailbox: false, process: child)
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
        let server = GDBServer(connection: connection, pid: child ?? first) {
            if let s = pending {
                pending = nil
                return s
            }
            return try questionReplay(trace, mailbox: false, process: child)
        }
        server.startEvent = programStart
        server.isChild = child != nil
        server.programOverride = program.path.map { Array($0.utf8) }
        if let start = start ?? programStart.map({ .afterEvent($0) }) { server.start(at: start) }
        if let index { server.describeEvent = { event in (try? index.position(atEvent: event))?.description } }
        server.resolvePosition = { text in
            let position: RunPosition
            do { position = try RunPosition(parsing: text) } catch { throw CLIError("\(error)") }
            if let p = position.pid, p != (child ?? first) { throw CLIError("gdb follows process \(child ?? first)") }
            return try goto(position)
        }
        try server.serve()
    }
}
