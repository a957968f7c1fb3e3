import ArgumentParser
import RevenantCommands
import CHost
import Glibc
import LinuxABI
import Regen
import Replay
import SQLReplay
import Trace
import RevenantKit

struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: CommandAbstract.log,
        discussion: """
            `syscalls`: every recorded syscall, strace-like, with its path arguments and result. \
            `perl`: every Perl statement executed (file:line, sub) with its position (the syscall event \
            it precedes), and under it the nondeterministic results it saw (time, rand's seed, data \
            read, stat…). It reads the trace's index.sqlite, regenerating it first when it is missing \
            or stale (needs a trace recorded with the Perl shim: `record --shims auto`, the default). \
            `sql`: every SQL statement SQLite executed (the sqlite3 CLI, DBD::SQLite…), with its exact \
            bindings, result code, rows and changes, the Perl statement that ran it, and the trigger \
            entries it fired (marked, not repeated as statements). From the index too.

            --where filters (all must hold). syscalls: KEY=GLOB or KEY~REGEX with KEY name, path (any \
            path argument), fd, result, errno (e.g. errno=ENOENT), as `when --syscall` takes them. perl: \
            file=GLOB, line=N, sub=GLOB, package=GLOB (statements), op=GLOB (results). sql: table=NAME \
            (read or written), db=GLOB, sql~TEXT (contains), rc=N.

            A run with child processes has a stream per process, and every line names its process: \
            `[pid N]` first (a "pid" member with --jsonl; `revenant info` lists the pids). `syscalls` \
            lists every process's calls in the order the run made them (by the stamps of a forked \
            run's calls; a trace recorded before them, process by process), each numbered in its \
            own process's stream as `replay` and `when --pid` number it. `perl` and `sql` list every \
            process that ran Perl or SQL, their entries in the same order (each statement placed by \
            the last call before it). `--pid N` lists process N's alone. A forked child's statements \
            are its own from the fork on (numbered from 0); the programs processes exec get shims of \
            their own.

            A trace whose recording was cut short (the recorder killed) is listed up to the cut, with a \
            warning on stderr; the exit status is 0 if it listed anything asked for.

            Examples:
              revenant log run.rvt syscalls --where 'name=open*' --where 'path=*.db'
              revenant log run.rvt syscalls --jsonl --limit 20
              revenant log run.rvt perl --where 'file=*app.pl' --where line=42
            """
    )

    @Argument(help: "The trace directory.") var trace: String
    @Argument(help: "What to print: syscalls, perl or sql.") var what: String
    @Flag(help: "One JSON object per line.") var jsonl = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Print at most N entries.", valueName: "N")) var limit: Int?
    @Option(help: ArgumentHelp("A filter, KEY=GLOB or KEY~REGEX (repeatable).", valueName: "EXPR"))
    var `where`: [String] = []
    @Option(help: ArgumentHelp("The process whose log to print (a pid `info` lists).", valueName: "PID"))
    var pid: Int32?

    func validate() throws {
        try requirePath(trace, "TRACE")
        if let limit, limit < 0 { throw ValidationError("--limit: a count, 0 or more") }
    }

    func run() throws {
        if what == "perl" { return try perlLog() }
        if what == "sql" { return try sqlLog() }
        guard what == "syscalls" else { throw CLIError("log: unknown log '\(what)' (syscalls, perl or sql)") }
        let filter: SyscallPredicate
        do { filter = try SyscallPredicate(filters: `where`) } catch { throw CLIError(error.description) }
        let dir: TraceDirectory
        let header: TraceHeader
        do { (dir, header) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        let table: ProcessTable
        do { table = try ProcessTable(dir, firstPID: header.process?.pid ?? 0) } catch {
            throw CLIError("\(trace): \(error)")
        }
        var wanted = table.processes
        if let pid {
            do {
                let stream = try table.stream(of: pid, in: trace)
                wanted = wanted.filter { $0.stream == stream }
            } catch { throw CLIError(error.description) }
        }
        // Several processes: each line names its own; all of them in the order the run made the calls.
        let tagged = table.processes.count > 1
        var order: RunOrder
        do { order = try RunOrder(dir, processes: wanted) } catch { throw CLIError("\(trace): \(error)") }
        var printed = 0, complete = true
        do {
            while let c = try order.next() {
                guard filter.matches(c.event) else { continue }
                if let limit, printed >= limit {
                    complete = false
                    break
                }
                printed += 1
                let (jsonTag, textTag) = tags(tagged ? c.process.pid : nil)
                print(
                    jsonl
                        ? json(c.index, c.event, tag: jsonTag)
                        : textTag + "#\(c.index) " + SyscallText.call(c.event))
            }
        } catch { throw CLIError("\(trace): \(error)") }
        // As `replay` says it; the listing itself is whole up to there.
        for s in order.streams where complete && (!s.ended || s.truncatedAt != nil) {
            let why =
                s.truncatedAt.map { "the events file ends inside a chunk at byte offset \($0)" }
                ?? "it has no end event"
            let whose = tagged ? "process \(s.process.pid) of \(trace)" : trace
            FileHandleStderr.write(
                "revenant: \(whose) ends after event \(s.calls): "
                    + "its recording was cut short (\(why)); the listing stops there\n")
        }
        if printed == 0 && !`where`.isEmpty { Glibc.exit(1) }
    }

    /// `tag`: the process's member, first (`tags`).
    func json(_ i: UInt64, _ s: SyscallEvent, tag: String) -> String {
        let args = s.args.map(String.init).joined(separator: ",")
        var o = "{\(tag)\"event\":\(i),\"name\":\(jsonString(s.name)),\"args\":[\(args)]"
        if !s.paths.isEmpty {
            let paths = s.paths.map { "\"\($0.index)\":\(jsonString(String(decoding: $0.bytes, as: UTF8.self)))" }
            o += ",\"paths\":{\(paths.joined(separator: ","))}"
        }
        o += ",\"result\":\(s.result)"
        if s.result < 0 && s.result >= -4095, let n = errnoName(Int32(-s.result)) { o += ",\"errno\":\(jsonString(n))" }
        if case .deliver(let d) = s.outcome { o += ",\"signal\":\(jsonString(Signal.name(d.signal)))" }
        o += ",\"written\":\(s.writes.reduce(0) { $0 + $1.bytes.count })}"
        return o
    }
}

extension Log {
    /// `log perl`: the regenerated statement log, from the index (made first when needed).
    func perlLog() throws {
        var filter = PerlFilter()
        for w in `where` {
            guard let eq = w.firstIndex(of: "=") else {
                throw CLIError("--where \(w): expected KEY=VALUE (file, line, sub, package, op)")
            }
            let key = w[..<eq], value = String(w[w.index(after: eq)...])
            switch key {
            case "file": filter.file = value
            case "line":
                guard let n = Int64(value) else { throw CLIError("--where \(w): line wants a number") }
                filter.line = n
            case "sub": filter.sub = value
            case "package": filter.package = value
            case "op": filter.op = value
            default: throw CLIError("--where \(w): log perl filters by file, line, sub, package or op")
            }
        }
        let processes = try indexes(requiring: "perl", what: "Perl") { $0.statementCount > 0 }
        let out = try mergedLog(processes.count)
        for (index, stream, tag) in processes {
            let (jsonTag, textTag) = tags(tag)
            do {
                try out.process(stream: stream)
                try index.forEach(filter) { entry in
                    guard out.wantsMore else { return false }
                    switch entry {
                    case .statement(let seq, let event, let file, let line, let package, let sub):
                        if jsonl {
                            let packageJSON = package.map(jsonString) ?? "null", subJSON = sub.map(jsonString) ?? "null"
                            out.entry(
                                event: event,
                                "{\(jsonTag)\"seq\":\(seq),\"event\":\(event),\"file\":\(jsonString(file)),"
                                    + "\"line\":\(line),\"package\":\(packageJSON),\"sub\":\(subJSON)}")
                        } else {
                            let name = sub ?? package ?? "main"
                            out.entry(event: event, "\(textTag)#\(seq) \(file):\(line) \(name) [event \(event)]")
                        }
                    case .result(let seq, let op, let statement, let begin, let end, let err, let value):
                        if jsonl {
                            out.line(
                                "{\(jsonTag)\"result\":\(seq),\"op\":\(jsonString(op)),\"statement\":\(statement),"
                                    + "\"begin_event\":\(begin),\"end_event\":\(end),\"errno\":\(err),"
                                    + "\"value\":\(value)}", counts: true, event: begin)
                        } else {
                            let shown = value.count > 200 ? String(value.prefix(200)) + "…" : value
                            // $! is shown where the op failed (a false first value): elsewhere it is
                            // only what an earlier call left there (--jsonl always has it).
                            let failed =
                                value == "[]" || value.hasPrefix("[null") || value.hasPrefix("[0")
                                || value.hasPrefix("[\"\"")
                            let errnoNote =
                                err != 0 && failed ? " ($! = \(errnoName(Int32(err)) ?? String(err)))" : ""
                            out.line("\(textTag)    \(op) = \(shown)\(errnoNote)", counts: true, event: begin)
                        }
                    }
                    return true
                }
            } catch { throw indexFailure(trace, error) }
        }
        if out.finish() == 0 && !`where`.isEmpty { Glibc.exit(1) }
    }
}

extension Log {
    /// The indexes to list: `--pid`'s, or the first process's and every child's that `has` an
    /// entry; each with its stream and the pid to show (nil when the run had one process).
    func indexes(
        requiring shim: String, what: String, has: (TraceIndex) -> Bool
    ) throws -> [(index: TraceIndex, stream: Int, tag: Int32?)] {
        let all = try requireIndexes(trace, shim: shim, what: what, pid: pid)
        if pid != nil { return all.map { ($0.index, $0.stream, $0.pid) } }
        let shown = all.enumerated().filter { $0.offset == 0 || has($0.element.index) }.map(\.element)
        return shown.map { ($0.index, $0.stream, all.count > 1 ? $0.pid : nil) }
    }

    /// Where `log perl` and `log sql` print: several processes' entries in the run's order.
    func mergedLog(_ processes: Int) throws -> MergedLog {
        let dir: TraceDirectory
        do { (dir, _) = try TraceDirectory.open(trace) } catch { throw CLIError(error.description) }
        return MergedLog(dir, processes: processes, limit: limit)
    }

    /// How a line names its process: a "pid" member first in JSON, `[pid N] ` before a line.
    func tags(_ pid: Int32?) -> (json: String, text: String) {
        (pid.map { "\"pid\":\($0)," } ?? "", pidTag(pid))
    }

    /// `log sql`: the regenerated query log.
    func sqlLog() throws {
        var filter = SQLFilter()
        for w in `where` {
            if let r = w.range(of: "sql~"), r.lowerBound == w.startIndex {
                filter.sqlContains = String(w[r.upperBound...])
                continue
            }
            guard let eq = w.firstIndex(of: "=") else {
                throw CLIError("--where \(w): expected table=NAME, db=GLOB, sql~TEXT or rc=N")
            }
            let key = w[..<eq], value = String(w[w.index(after: eq)...])
            switch key {
            case "table": filter.table = value
            case "db": filter.db = value
            case "rc":
                guard let n = Int64(value) else { throw CLIError("--where \(w): rc wants a number") }
                filter.rc = n
            default: throw CLIError("--where \(w): log sql filters by table, db, sql~ or rc")
            }
        }
        let processes = try indexes(requiring: "sqlite", what: "SQLite") { $0.sqlStatementCount > 0 }
        if processes.allSatisfy({ $0.index.sqlStatementCount == 0 }) && `where`.isEmpty {
            throw CLIError("\(trace): the program ran no SQL statement (no SQLite activity)", code: 1)
        }
        let out = try mergedLog(processes.count)
        for (index, stream, tag) in processes {
            let (jsonTag, textTag) = tags(tag)
            do {
                try out.process(stream: stream)
                try index.forEachSQL(filter) { e in
                    guard out.wantsMore else { return false }
                    if jsonl {
                        var o = [
                            jsonTag + "\"seq\":\(e.seq)", "\"event\":\(e.event)",
                            "\"db\":\(e.db.map(jsonString) ?? "null")",
                            "\"sql\":\(jsonString(e.sql))",
                            "\"bindings\":\(e.bindings)", "\"rc\":\(e.rc.map(String.init) ?? "null")",
                            "\"rows\":\(e.rows.map(String.init) ?? "null")",
                            "\"changes\":\(e.changes.map(String.init) ?? "null")", "\"tables_read\":\(e.reads ?? "[]")",
                            "\"tables_written\":\(e.writes ?? "[]")",
                        ]
                        o.append("\"perl\":\(e.perl.map(jsonString) ?? "null")")
                        o.append("\"perl_caller\":\((e.perlCaller ?? e.perl).map(jsonString) ?? "null")")
                        o.append("\"triggers\":[\(e.triggers.map(jsonString).joined(separator: ","))]")
                        out.entry(event: e.event, "{" + o.joined(separator: ",") + "}")
                    } else {
                        let db =
                            e.db.map {
                                $0.isEmpty ? ":memory:" : String($0.split(separator: "/").last ?? Substring($0))
                            }
                            ?? "?"
                        let result = e.rc.map { rc in rc == 101 || rc == 0 ? "ok" : "rc \(rc)" } ?? "unfinished"
                        var line = "\(textTag)#\(e.seq) [\(db)] \(e.sql.replacingNewlines())"
                        if e.bindings != "[]" { line += " -- bindings \(e.bindings)" }
                        line += "  => \(result)"
                        if let rows = e.rows, rows > 0 { line += ", \(rows) rows" }
                        if let c = e.changes, c > 0 { line += ", \(c) changed" }
                        if let p = e.perl { line += "  (perl \(e.perlCaller.map { "\($0), in \(p)" } ?? p))" }
                        out.entry(event: e.event, line)
                        for t in e.triggers {
                            out.line("\(textTag)    trigger: \(t.replacingNewlines())", event: e.event)
                        }
                    }
                    return true
                }
            } catch { throw indexFailure(trace, error) }
        }
        if out.finish() == 0 && !`where`.isEmpty { Glibc.exit(1) }
    }
}

extension String {
    func replacingNewlines() -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " ")
    }
}

/// `[pid N] ` before a line that names its process (nothing for nil: a run with one process).
func pidTag(_ pid: Int32?) -> String { pid.map { "[pid \($0)] " } ?? "" }
