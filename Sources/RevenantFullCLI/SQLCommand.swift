import ArgumentParser
import RevenantCommands
import Glibc
import Regen
import SQLReplay
import Trace
import RevenantKit

struct SQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: CommandAbstract.sql,
        discussion: """
            Statements are numbered as `revenant log TRACE sql` prints them (N = 0, 1, …, across all \
            connections). The database is rebuilt from its pre-image (the copy the trace kept when the \
            program first opened it for writing; empty when it did not exist) by re-executing the log's \
            statements on it — prepare + bind with the exact recorded values, the clock, random() and \
            the PRNG seed fed back — and each is checked against the log (result code, rows changed, \
            row-change digest): a difference stops with a report naming the statement (exit 124). \
            Statement N inside an open transaction: the file shows what that connection saw, its \
            uncommitted changes included.

            --when QUERY prints every statement after which QUERY's first column becomes true \
            (non-NULL, non-zero, non-empty) having been false before; --first stops at the first. \
            QUERY is one SELECT that only reads (checked before any replay); where it names a table \
            the run has not created yet it is not true. One evaluation may run --timeout seconds.

            --restore OUT.db writes a new file beside OUT.db and renames it into place; it never \
            replaces a device, a folder or a file in the trace, nor an existing file or a symlink \
            without --force (with it, the link itself, not what it points to).

            A run with child processes: each process has its own statements (`log sql` marks them \
            with the pid); --at N is statement N of the first process, or with --pid P of process \
            P, numbered in its own log. The other processes' statements on the same database are \
            merged in, in the order the run made them (by the stamps of their calls: SQLite's file \
            locks order its writers), from the database as it was when the first of them opened \
            it; --when marks another process's statement with its pid.

            Examples:
              revenant sql run.rvt --at 41 --restore before-the-delete.db
              revenant sql run.rvt --when 'SELECT count(*) = 0 FROM accounts' --first
              revenant sql run.rvt --db app.db --when 'SELECT min(balance) < 0 FROM accounts'
            """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Option(help: ArgumentHelp("The database (path or file name) when the run opened several.", valueName: "NAME"))
    var db: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "The statement to stop after: N or sql:N; another position (Docs/positions.md) means the last "
                + "statement that ended before it.", valueName: "N|POS"))
    var at: String?
    @Option(help: ArgumentHelp("Write the database as it was after statement N to OUT.db.", valueName: "OUT.db"))
    var restore: String?
    @Option(
        help: ArgumentHelp(
            "A query evaluated after every statement; print where it becomes true.", valueName: "SQL QUERY")) var when:
        String?
    @Flag(help: "With --when: stop at the first statement where it becomes true.") var first = false
    @Flag(help: "With --restore: skip the machine-level cross-check (a replay of the whole run in the VM).")
    var noMachineCheck = false
    @Flag(help: "With --restore: replace OUT.db if it exists (a symlink there: the link itself).") var force = false
    @Option(help: ArgumentHelp("The process whose statements to travel in (a pid `info` lists).", valueName: "PID"))
    var pid: Int32?
    @OptionGroup var evaluation: EvaluationOptions

    func validate() throws {
        try requirePath(trace, "TRACE")
        if db == "" { throw ValidationError("--db: an empty name") }
        if let at {
            if let n = Int(at), n < 0 { throw ValidationError("--at: statement numbers start at 0") }
            let p = try sqlPosition(at)
            if let n = p.pid, let pid, n != pid { throw ValidationError("--at \(at) names process \(n), --pid \(pid)") }
        }
        if restore != nil && at == nil { throw ValidationError("--restore needs --at N") }
        if when != nil && restore != nil { throw ValidationError("--when and --restore do not go together") }
        if first && when == nil { throw ValidationError("--first goes with --when") }
        for (set, flag) in [(force, "--force"), (noMachineCheck, "--no-machine-check")]
        where set && restore == nil {
            throw ValidationError("\(flag) goes with --restore")
        }
    }

    func run() throws {
        // What can be refused without the trace's index is refused before any replay.
        if let when {
            try reportingTravelFailures { try TimeTravel.checkPredicate(when, label: "the --when query") }
        }
        let dir: TraceDirectory, header: TraceHeader
        do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        guard header.shims?.contains("sqlite") == true else {
            throw CLIError(
                "\(trace) was recorded without the SQLite shim (--shims none, or a revenant without it): "
                    + "it has no query log",
                code: 1)
        }
        let output = try restore.map {
            try outputFile($0, option: "--restore", force: force, trace: trace, companions: TimeTravel.companions)
        }
        let travel = try sqlTimeTravel(trace, dir, pid: process)
        let index = travel.index
        try readingIndex(trace) {
            try reportingTravelFailures {
                if let db { _ = try travel.resolve(db) }
                if let when { return try predicate(travel, index, when) }
                guard let at = try at.map({ try statement(at: sqlPosition($0), index) }) else {
                    return try summary(travel, index)
                }
                if let output { try restore(travel, at, output) } else { try show(index, at) }
            }
        }
    }

    /// The process: --pid, or `PID/` in front of --at.
    var process: Int32? { pid ?? at.flatMap { try? sqlPosition($0).pid } }

    func sqlPosition(_ text: String) throws -> RunPosition {
        do { return try RunPosition(parsing: text, bareNumberIsSQL: true) } catch {
            throw ValidationError("--at \(error)")
        }
    }

    /// The statement a position names: sql:N itself, else the last that ended before it.
    func statement(at position: RunPosition, _ index: TraceIndex) throws -> Int {
        if case .afterSQL(let n) = position.point { return n }
        let before: Int
        do { before = try position.eventsBefore(index: index) ?? Int.max } catch {
            throw CLIError(error.description, code: 1)
        }
        let n = try index.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT max(seq) FROM sql_statements WHERE end_event <= ?", arguments: [before])
        }
        guard let n else { throw CLIError("\(position): no SQL statement ended before it", code: 1) }
        return n
    }

    func restore(_ travel: TimeTravel, _ at: Int, _ output: OutputFile) throws {
        let r = try travel.restore(db: db, at: at, to: output)
        let check = noMachineCheck ? "" : try machineCheck(r, output.path)
        let skipped = r.skipped.map { "\(pidTag($0.pid))#\($0.seq) (\($0.why))" }.joined(separator: ", ")
        print(
            "restored \(r.file) as it was after statement \(at) into \(output.path): "
                + "\(r.statements - r.skipped.count) statements re-executed, \(r.checked) checked against the log"
                + (r.skipped.isEmpty ? "" : "; skipped " + skipped)
                + (r.merged.isEmpty
                    ? ""
                    : "; merged in by stamp: "
                        + r.merged.sorted { $0.key < $1.key }.map { "\($0.value) of process \($0.key)" }.joined(
                            separator: ", "))
                + (r.openTransaction
                    ? "; statement \(at) is inside an open transaction: the file shows what its connection saw" : "")
                + check)
    }

    func show(_ index: TraceIndex, _ at: Int) throws {
        var printed = false
        var filter = SQLFilter()
        filter.seq = Int64(at)
        try index.forEachSQL(filter) { e in
            printed = true
            print(
                "#\(e.seq) [\(e.db ?? "?")] \(e.sql)\(e.bindings == "[]" ? "" : " -- bindings \(e.bindings)")"
                    + " => rc \(e.rc.map(String.init) ?? "?")" + (e.perl.map { "  (perl \($0))" } ?? "")
                    + "  [event \(e.event)]")
            return false
        }
        if !printed {
            let last = index.sqlStatementCount - 1
            throw TimeTravel.Failure.noAnswer("statement \(at) is out of range: the log has statements 0…\(last)")
        }
    }

    /// Rebuild the same file at the machine level (pre-image + the replayed writes) and compare.
    func machineCheck(_ r: TimeTravel.Restored, _ out: String) throws -> String {
        if r.openTransaction {
            return "; no machine-level cross-check inside a transaction (its pages are not written yet)"
        }
        let machine: [UInt8]
        do {
            machine = try MachineLevel.rebuild(trace: trace, pid: process, file: r.file, until: r.endEvent)
        } catch {
            return "; no machine-level cross-check: \(error)"
        }
        let sql = readWholeFile(out) ?? []
        guard sql == machine else {
            let at = zip(sql, machine).prefix { $0 == $1 }.count
            throw CLIError(
                "the SQL-level and machine-level reconstructions of \(r.file) differ "
                    + "(\(sql.count) vs \(machine.count) bytes, first difference at byte \(at))",
                code: 124)
        }
        return "; the machine-level reconstruction (restore's: pre-image + every process's replayed writes up to "
            + "event \(r.endEvent)) is byte-identical"
    }

    func summary(_ travel: TimeTravel, _ index: TraceIndex) throws {
        let dbs = try travel.databases()
        let databases = dbs.isEmpty ? "none (in memory only)" : dbs.joined(separator: ", ")
        print("\(index.sqlStatementCount) SQL statements; databases: \(databases)")
    }

    func predicate(_ travel: TimeTravel, _ index: TraceIndex, _ query: String) throws {
        let (label, timeout) = ("the --when query", evaluation.timeout)
        let hits: Int
        do {
            hits = try travel.whenTrue(query, label: label, timeout: timeout, db: db, first: first) { s in
                print(
                    "\(pidTag(s.pid))#\(s.seq) \(s.sql.replacingNewlines())"
                        + ((s.perlCaller ?? s.perl).map { "  (perl \($0))" } ?? ""))
            }
        } catch let t as TimeTravel.TimedOut { throw evaluation.timedOut(label, at: "statement #\(t.statement)") }
        if hits == 0 { Glibc.exit(1) }
    }
}

/// TimeTravel's failures as the CLI ends with them: one line, their exit code.
func reportingTravelFailures<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let f as TimeTravel.Failure { throw CLIError(f.description, code: f.exitCode) }
}
