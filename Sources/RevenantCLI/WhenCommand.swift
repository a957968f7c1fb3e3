import ArgumentParser
import Glibc
import LinuxABI
import PerlReplay
import Regen
import Replay
import SQLReplay
import Trace

struct When: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find every position in a recorded run where a predicate becomes true, at every level.",
        discussion: """
        Each hit is printed with its position at the three levels: the syscall event, the Perl
        statement running then (file:line) and the SQL statement last started (N of `sql --at N`).

        --syscall 'NAME[ KEY=GLOB|KEY~REGEX]...' is evaluated in the VMM during a replay, where
        guest memory can be read. NAME is a glob; keys: path, fd, result, errno (e.g. ENOENT),
        data (the bytes a write wrote or a read brought in). Every matching call is a hit.
        --perl 'EXPR' steps the replay in the VM statement by statement and evaluates the Perl
        expression by reading the paused interpreter's memory (see `revenant perl`): a hit is a
        statement where it becomes true.
        --sql 'QUERY' re-executes the query log (see `revenant sql`) and evaluates the query after
        every statement: a hit is a statement after which its first column becomes true.

        Examples:
          revenant when run.rvt --syscall 'openat path=*.db'
          revenant when run.rvt --syscall 'write fd=1 data~ERROR' --first
          revenant when run.rvt --sql 'SELECT balance < 0 FROM accounts WHERE id = 7'
        """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Option(help: ArgumentHelp("A syscall filter: NAME then KEY=GLOB / KEY~REGEX conditions.", valueName: "SPEC")) var syscall: String?
    @Option(help: ArgumentHelp("A SQL query evaluated after every SQL statement.", valueName: "QUERY")) var sql: String?
    @Option(help: ArgumentHelp("A Perl expression evaluated at every statement.", valueName: "EXPR")) var perl: String?
    @Option(help: ArgumentHelp("A breakpoint at an ELF symbol (comes with software breakpoints).", valueName: "SYM")) var symbol: String?
    @Option(help: ArgumentHelp("A memory watch (comes with software breakpoints).", valueName: "ADDR[:LEN]")) var watch: String?
    @Flag(help: "Stop at the first hit.") var first = false

    func run() throws {
        let chosen = [syscall, sql, perl, symbol, watch].compactMap { $0 }
        guard chosen.count == 1 else { throw CLIError("when: give exactly one of --syscall, --sql, --perl, --symbol, --watch") }
        if let perl {
            var run = try PerlReplayRun(trace: trace)
            run.when = try parseExpression(perl, option: "--perl")
            run.first = first
            let hits = try run.run { stop, _, position in
                print("\(position): statement #\(stop.seq)" + (stop.sub.map { " in \($0)" } ?? ""))
            }
            if hits == 0 { Glibc.exit(1) }
            return
        }
        if symbol != nil || watch != nil { throw CLIError("when --\(symbol != nil ? "symbol" : "watch"): breakpoints and memory watches in the VMM are not implemented yet") }
        let dir: TraceDirectory, header: TraceHeader
        do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        // Perl and SQL positions come from the index (made when missing or stale).
        var index = TraceIndex.open(dir)
        if index == nil, !(header.shims ?? []).isEmpty {
            _ = try regenerate(trace, ignoreCPU: false)
            index = TraceIndex.open(dir)
        }
        var hits = 0
        if let syscall {
            let predicate: SyscallPredicate
            do { predicate = try SyscallPredicate(syscall) } catch { throw CLIError("\(error)") }
            let session: ReplaySession
            do { session = try ReplaySession(path: trace, quiet: true, ignoreCPU: false, diagnostic: { _ in }) } catch {
                throw CLIError(error.description)
            }
            var found: [(Int, String)] = []
            let memory = session.personality.memory
            session.replayer.onServed = { [weak replayer = session.replayer] i, req, e in
                guard !(first && !found.isEmpty), predicate.matches(req, e, memory: memory) else { return }
                found.append((Int(i), "\(e.name)(\(e.args.prefix(SyscallArity.count(e.number)).map { "0x" + String($0, radix: 16) }.joined(separator: ", "))) = \(e.result)"))
                // --first: the rest of the run need not be replayed.
                if first { replayer?.stopRequested = true }
            }
            switch session.run() {
            case .diverged(let d): fail(d, code: 124)
            case .traceFailed(let t): fail(t, code: 125)
            case .finished, .stopped: break
            }
            for (i, call) in found {
                let at = try index?.position(atEvent: i) ?? Position(event: i)
                print("\(at): \(call)")
                hits += 1
            }
        } else if let sql {
            guard header.shims?.contains("sqlite") == true, let index else {
                throw CLIError("\(trace) was recorded without the SQLite shim: it has no query log", code: 1)
            }
            do {
                hits = try TimeTravel(directory: dir, index: index).whenTrue(sql, db: nil, first: first) { s in
                    // The Perl statement that ran it (the program's own line when DBI ran it).
                    let at = Position(event: s.endEvent, perl: s.perlCaller ?? s.perl, sql: s.seq)
                    print("\(at): \(s.sql.replacingNewlines())")
                }
            } catch let f as TimeTravel.Failure { throw CLIError(f.description, code: f.exitCode) }
        }
        if hits == 0 { Glibc.exit(1) }
    }
}

extension Position {
    init(event: Int) { self.init(event: event, perl: nil, sql: nil) }
}

