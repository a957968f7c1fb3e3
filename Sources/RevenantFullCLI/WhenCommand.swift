import ArgumentParser
import RevenantCommands
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Monitor
import PerlReplay
import Regen
import Replay
import SQLReplay
import Trace
import RevenantKit

struct When: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "when",
        abstract: CommandAbstract.when,
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
        for w in watches {
            if let why = w.kind.problem(in: GuestLayout(memory: header.memory)) {
                throw CLIError("--watch \(w.spec): \(why)")
            }
        }
        // Perl and SQL positions come from the process's index (made when missing or stale).
        var process: ProcessIndex?
        if let shim = header.shims?.first {
            process = try requireIndexes(trace, shim: shim, what: shim, pid: pid)[0]
        }
        let index = process?.index
        let hits = try readingIndex(trace) { () throws -> Int in
            if !symbol.isEmpty || !watches.isEmpty || predicate != nil {
                return try machineHits(watches: watches, index: index, tag: tag)
            }
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
}

extension When {
    /// --syscall, --symbol and --watch: a client of the monitor interface (Sources/Monitor), in
    /// a replay that serves calls through the mailbox as `replay` does. A syscall hit is printed
    /// as `log syscalls` prints that event; a breakpoint or a memory change between two calls is
    /// placed at the first event after it, with the Perl statement last started before that.
    func machineHits(watches: [Watch], index: TraceIndex?, tag: String) throws -> Int {
        let monitor = try ReplayMonitor(trace: trace, pid: pid, everyCallAnExit: false)
        monitor.includeShims = includeShims
        var specs: [Int: String] = [:]
        do {
            if let syscall { _ = try monitor.subscribe(.syscall(filter: syscall)) }
            for name in symbol { _ = try monitor.subscribe(.symbol(name)) }
            for w in watches { specs[try monitor.subscribe(w.kind)] = w.spec }
        } catch { throw CLIError("\(error)") }
        var found: [(at: Position, what: String, paste: RunPosition)] = []
        _ = try monitor.run { n, _ in
            let event = n.position.event
            let text = { (key: String) in n.detail(key)?.description ?? "?" }
            switch n.kind {
            case .syscall:
                // Its position from the index, after the replay (an unreadable index ends the command).
                found.append(
                    (Position(event: event), text("call"), RunPosition(pid: pastedPID(tag), .afterEvent(event))))
            case .symbol(let name): found.append((n.position, "\(name) at \(text("symbol"))", returnBefore(event, tag)))
            default:
                let what = "\(specs[n.subscription] ?? "?") \(text("old")) -> \(text("new"))"
                found.append((n.position, what, returnBefore(event, tag)))
            }
            // --first: the rest of the run need not be replayed.
            return first ? .stop : .proceed
        }
        if !symbol.isEmpty, !monitor.symbolsFound {
            throw CLIError(
                "when --symbol: no function called \(symbol.joined(separator: ", ")) in the program or its libraries",
                code: 1)
        }
        for f in found {
            let at = syscall == nil ? f.at : try index?.position(atEvent: f.at.event) ?? f.at
            print("\(tag)\(at): \(f.what)" + pasted(f.paste))
        }
        return found.count
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
    var kind: SubscriptionKind { .watch(address: address, length: length) }
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
