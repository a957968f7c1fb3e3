import ArgumentParser
import Glibc
import GuestMemory
import LinuxABI
import Machine
import PerlReplay
import Regen
import Replay
import SQLReplay
import Trace
import RevenantKit

struct When: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find every position in a recorded run where a predicate becomes true, at every level.",
        discussion: """
            Each hit is printed with its position at the three levels: the syscall event, the Perl \
            statement running then (file:line) and the SQL statement last started (N of `sql --at N`).

            --syscall 'NAME[ KEY=GLOB|KEY~REGEX]...' is evaluated in the VMM during a replay, where \
            guest memory can be read. NAME is a glob; keys: path, fd, result, errno (e.g. ENOENT), \
            data (the bytes a write wrote or a read brought in). Every matching call is a hit. \
            --perl 'EXPR' steps the replay in the VM statement by statement and evaluates the Perl \
            expression by reading the paused interpreter's memory (see `revenant perl`): a hit is a \
            statement where it becomes true. \
            --symbol SYM (any number of them) puts a software breakpoint (int3) on every function of \
            that name in the program and its libraries, armed as they are mapped; each time one is \
            reached is a hit, placed before the next event. The shims' own functions (the SQLite \
            shim's wrapper of sqlite3_prepare_v2, say) are not the program's: their hits are left \
            out unless --include-shims. \
            --watch ADDR[:LEN] (any number of them) reads guest memory at every event of the replay; \
            each change is a hit, placed at the first event after it (old -> new bytes in hex). \
            --sql 'QUERY' re-executes the query log (see `revenant sql`) and evaluates the query after \
            every statement: a hit is a statement after which its first column becomes true. It must \
            be one SELECT that only reads; one evaluation may run --timeout seconds.

            A run with child processes: the searches look at the first process; --pid N at process N \
            (`revenant info` lists the pids), its events, Perl and SQL statements numbered in its own \
            stream and log (--perl replays it in the VM: the fast form replays the first process only).

            Examples:
              revenant when run.rvt --syscall 'openat path=*.db'
              revenant when run.rvt --syscall 'write fd=1 data~ERROR' --first
              revenant when run.rvt --sql 'SELECT balance < 0 FROM accounts WHERE id = 7'
              revenant when run.rvt --watch 0x10000a0b40:8
              revenant when run.rvt --symbol sqlite3_prepare_v2
            """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Option(help: ArgumentHelp("A syscall filter: NAME then KEY=GLOB / KEY~REGEX conditions.", valueName: "SPEC"))
    var syscall: String?
    @Option(help: ArgumentHelp("A SQL query evaluated after every SQL statement.", valueName: "QUERY")) var sql: String?
    @Option(help: ArgumentHelp("A Perl expression evaluated at every statement.", valueName: "EXPR")) var perl: String?
    @Option(
        help: ArgumentHelp("A breakpoint at a function of the program or a library (any number).", valueName: "SYM"))
    var symbol: [String] = []
    @Option(
        help: ArgumentHelp("A memory watch in the guest (any number): a hit at every change.", valueName: "ADDR[:LEN]"))
    var watch: [String] = []
    @Flag(help: "Stop at the first hit.") var first = false
    @Option(
        help: ArgumentHelp(
            "For --perl: auto (the fast form where regen found it exact, else the VM), fast, or vm.",
            valueName: "auto|fast|vm"))
    var path: ReplayPath = .auto
    @Flag(help: "With --symbol: also the hits in the shims' own libraries (their wrappers of the program's calls).")
    var includeShims = false
    @Option(help: ArgumentHelp("Search process PID (a pid `revenant info` lists).", valueName: "PID"))
    var pid: Int32?
    @OptionGroup var evaluation: EvaluationOptions

    func validate() throws {
        try requirePath(trace, "TRACE")
        let chosen = [syscall, sql, perl, symbol.isEmpty ? nil : "", watch.isEmpty ? nil : ""].compactMap { $0 }
        guard chosen.count == 1 else {
            throw ValidationError("give exactly one of --syscall, --sql, --perl, --symbol, --watch")
        }
        if symbol.contains("") { throw ValidationError("--symbol: an empty name") }
        if includeShims && symbol.isEmpty { throw ValidationError("--include-shims goes with --symbol") }
    }

    func run() throws {
        let tag = try hitTag()
        if let perl {
            var run = try PerlReplayRun(trace: trace, pid: pid)
            run.evaluation = evaluation.limit
            run.when = (perl, try parseExpression(perl, option: "--perl"))
            run.first = first
            run.path = path
            let hits = try run.run { stop, position, _ in
                let at = (try? RunPosition.perl(statement: stop.seq, index: run.index, pid: pastedPID(tag))) ?? nil
                print(
                    "\(tag)\(position): statement #\(stop.seq)" + (stop.sub.map { " in \($0)" } ?? "")
                        + (at.map(pasted) ?? ""))
            }
            if hits == 0 { Glibc.exit(1) }
            return
        }
        // What can be refused before any replay (the index's regeneration is one) is refused first.
        if let sql { try reportingTravelFailures { try TimeTravel.checkPredicate(sql, label: "the --sql query") } }
        let watches = try watch.map(parseWatch)
        let predicate: SyscallPredicate?
        do { predicate = try syscall.map(SyscallPredicate.init) } catch { throw CLIError("\(error)") }
        let dir: TraceDirectory, header: TraceHeader
        do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        for w in watches { try w.check(in: GuestLayout(memory: header.memory)) }
        // Perl and SQL positions come from the process's index (made when missing or stale).
        var process: ProcessIndex?
        if let shim = header.shims?.first {
            process = try requireIndexes(trace, shim: shim, what: shim, pid: pid)[0]
        }
        let index = process?.index
        let hits = try readingIndex(trace) { () throws -> Int in
            let shims = !(header.shims ?? []).isEmpty
            if !symbol.isEmpty { return try breakAtSymbols(shims: shims, tag: tag) }
            if !watches.isEmpty { return try watchMemory(watches, shims: shims, tag: tag) }
            if let predicate { return try matchSyscalls(predicate, index: index, tag: tag) }
            guard let sql, header.shims?.contains("sqlite") == true, index != nil else {
                throw CLIError("\(trace) was recorded without the SQLite shim: it has no query log", code: 1)
            }
            let travel = try sqlTimeTravel(trace, dir, pid: pid)
            let (label, timeout) = ("the --sql query", evaluation.timeout)
            do {
                return try reportingTravelFailures {
                    try travel.whenTrue(sql, label: label, timeout: timeout, db: nil, first: first) { s in
                        // The Perl statement that ran it (the program's own line when DBI ran it).
                        let at = Position(event: s.endEvent, perl: s.perlCaller ?? s.perl, sql: s.seq)
                        let paste = RunPosition(pid: s.pid ?? pastedPID(tag), .afterSQL(s.seq))
                        print(
                            "\(s.pid == nil ? tag : pidTag(s.pid))\(at): \(s.sql.replacingNewlines())" + pasted(paste))
                    }
                }
            } catch let t as TimeTravel.TimedOut {
                throw evaluation.timedOut(label, at: "statement #\(t.statement)")
            }
        }
        if hits == 0 { Glibc.exit(1) }
    }
}

extension When {
    /// How a hit names its process when the run had several: `[pid N] ` first (N the searched
    /// process; a SQL hit merged in from another names that one).
    func hitTag() throws -> String {
        let dir: TraceDirectory, header: TraceHeader
        do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        let table: ProcessTable
        do { table = try ProcessTable(dir, firstPID: header.process?.pid ?? 0) } catch {
            throw CLIError("\(trace): \(error)")
        }
        return pidTag(table.processes.count > 1 ? pid ?? header.process?.pid ?? 0 : nil)
    }

    /// --syscall: the filter evaluated in the VMM at every served call (guest memory readable);
    /// each hit printed as `log syscalls` prints that event.
    func matchSyscalls(_ predicate: SyscallPredicate, index: TraceIndex?, tag: String) throws -> Int {
        let session = try questionReplay(trace, process: pid)
        var found: [(Int, String)] = []
        let memory = session.personality.memory
        session.replayer.onServed = { [weak replayer = session.replayer] i, req, e in
            guard replayer?.isTarget == true else { return }
            guard !(first && !found.isEmpty), predicate.matches(req, e, memory: memory) else { return }
            found.append((Int(i), SyscallText.call(e)))
            // --first: the rest of the run need not be replayed.
            if first { replayer?.stopRequested = true }
        }
        try replayToEnd(session)
        for (i, call) in found {
            let at = try index?.position(atEvent: i) ?? Position(event: i)
            print("\(tag)\(at): \(call)" + pasted(RunPosition(pid: pastedPID(tag), .afterEvent(i))))
        }
        return found.count
    }
}

extension When {
    /// --symbol: an int3 at every function of that name in every executable mapping, armed as
    /// the mappings appear (libraries are mapped during the run); a hit each time one is reached.
    func breakAtSymbols(shims: Bool, tag: String) throws -> Int {
        let (session, live) = try liveSession(shims: shims)
        let machine = session.machine
        let symbols = SymbolBreakpoints(machine: machine)
        var found: [(Position, String)] = []
        let arm = { symbols.add(Set(symbol)) }
        if let live { live.onEvent = { _ in arm() } } else { session.replayer.onEvent = { _ in arm() } }
        machine.onBreakpoint = { [weak replayer = session.replayer] address in
            guard let replayer, replayer.isTarget, !(first && !found.isEmpty),
                includeShims || !symbols.inShims.contains(address)
            else { return }
            found.append(
                (
                    position(Int(replayer.index), live),
                    "\(symbols.names[address] ?? "?") at \(machine.describe(rip: address))"
                ))
            if first {
                replayer.stopRequested = true
                machine.removeAllBreakpoints()
            }
        }
        try replayToEnd(session)
        if symbols.names.isEmpty {
            throw CLIError(
                "when --symbol: no function called \(symbol.joined(separator: ", ")) in the program or its libraries",
                code: 1)
        }
        for (at, what) in found { print("\(tag)\(at): \(what)" + pasted(returnBefore(at.event, tag))) }
        return found.count
    }

    /// --watch: the watched bytes are read at every event of the replay (the VMM sees the guest
    /// only there, so a change is placed between two events: the hit is the first event after
    /// it, with the Perl statement last started before that event).
    func watchMemory(_ watches: [Watch], shims: Bool, tag: String) throws -> Int {
        let (session, live) = try liveSession(shims: shims)
        let memory = session.personality.memory
        var last: [[UInt8]?] = watches.map { _ in nil }
        var found: [(Position, String)] = []
        let check: (Int) -> Void = { [weak replayer = session.replayer] i in
            guard replayer?.isTarget == true else { return }
            for (k, w) in watches.enumerated() {
                let now = try? memory.bytes(at: w.address, count: w.length)
                defer { last[k] = now }
                guard i > 0, now != last[k] else { continue }
                func hex(_ b: [UInt8]?) -> String {
                    b.map { $0.map { String(format: "%02x", $0) }.joined() } ?? "unmapped"
                }
                found.append((position(i, live), "\(w.spec) \(hex(last[k])) -> \(hex(now))"))
                if first { replayer?.stopRequested = true }
            }
        }
        if let live { live.onEvent = check } else { session.replayer.onEvent = { check(Int($0)) } }
        try replayToEnd(session)
        for (at, what) in found.prefix(first ? 1 : found.count) {
            print("\(tag)\(at): \(what)" + pasted(returnBefore(at.event, tag)))
        }
        return found.count
    }

    /// A replay for a machine-level predicate; with shims, a non-stepping PerlStepper collects
    /// the channel so that a hit between events gets the exact Perl and SQL statement running.
    func liveSession(shims: Bool) throws -> (ReplaySession, PerlStepper?) {
        let session = try questionReplay(trace, process: pid)
        return (session, shims ? PerlStepper(session: session) : nil)
    }

    func position(_ event: Int, _ live: PerlStepper?) -> Position {
        guard let now = live?.current() else { return Position(event: event) }
        return Position(event: event, perl: now.statement?.location, perlCaller: now.caller, sql: now.sql)
    }
}

extension Position {
    init(event: Int) { self.init(event: event, perl: nil, sql: nil) }
}

extension When {
    /// A hit's position as --at takes it (Docs/positions.md), at the end of its line.
    func pasted(_ p: RunPosition) -> String { "  at \(p)" }

    /// `PID/` for a hit in a child process (the tag names one only when the run had several).
    func pastedPID(_ tag: String) -> Int32? { tag.isEmpty ? nil : pid }

    /// A hit between two calls (a breakpoint, a memory change): the return it follows.
    func returnBefore(_ event: Int, _ tag: String) -> RunPosition {
        RunPosition(pid: pastedPID(tag), event > 0 ? .afterEvent(event - 1) : .start)
    }
}

/// `--watch ADDR[:LEN]`: LEN bytes (default 8) of guest memory at ADDR.
struct Watch {
    var spec: String, address: UInt64, length: Int

    /// Where the program's memory can be (the trace's guest size): else no change can ever show.
    func check(in layout: GuestLayout) throws {
        let (end, overflow) = address.addingReportingOverflow(UInt64(length))
        guard address >= layout.programStart, !overflow, end <= layout.end else {
            let range = "0x\(String(layout.programStart, radix: 16))–0x\(String(layout.end, radix: 16))"
            throw CLIError("--watch \(spec): not a guest address (the program's memory is \(range))")
        }
    }
}

func parseWatch(_ w: String) throws -> Watch {
    let parts = w.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    let a = parts[0].hasPrefix("0x") ? UInt64(parts[0].dropFirst(2), radix: 16) : UInt64(parts[0])
    let n = parts.count > 1 ? Int(parts[1]) : 8
    guard let a, let n, n > 0, n <= 4096 else {
        throw CLIError("--watch \(w): expected ADDR[:LEN] (ADDR in hex as 0x…, LEN 1–4096 bytes)")
    }
    return Watch(spec: w, address: a, length: n)
}
