import Foundation
import GRDB
import Glibc
import Trace

/// One line of the regenerated Perl log: a statement, or a nondeterministic result (printed
/// under the statement it happened in).
public enum PerlLogEntry {
    case statement(seq: Int64, event: Int64, file: String, line: Int64, package: String?, sub: String?)
    case result(
        seq: Int64, op: String, statement: Int64, beginEvent: Int64, endEvent: Int64, errno: Int64, value: String)
}

/// Filters for `log perl --where`: file=GLOB, line=N, sub=GLOB, package=GLOB select statements;
/// op=GLOB selects nondeterministic results. Without statement filters every result is shown,
/// without result filters every statement.
public struct PerlFilter {
    public var file: String?, line: Int64?, sub: String?, package: String?, op: String?
    public init() {}
    var selectsStatements: Bool { file != nil || line != nil || sub != nil || package != nil }
}

/// Reads `index.sqlite`.
public final class TraceIndex {
    public let queue: DatabaseQueue

    /// The trace's index if it exists and was made from this very trace by this index version.
    /// `stream`: a child process's index (`index.N.sqlite`), 0 the first process's.
    public static func open(_ dir: TraceDirectory, stream: Int = 0) -> TraceIndex? {
        let path = dir.indexPath(stream: stream)
        guard access(path, R_OK) == 0 else { return nil }
        var config = Configuration()
        config.readonly = true
        guard let q = try? DatabaseQueue(path: path, configuration: config) else { return nil }
        let index = TraceIndex(queue: q)
        guard index.meta("index_version") == String(Regenerator.indexVersion),
            let id = Regenerator.traceIdentity(dir), index.meta("trace") == id,
            index.meta("stream") == String(stream)
        else { return nil }
        return index
    }

    init(queue: DatabaseQueue) { self.queue = queue }

    public func meta(_ key: String) -> String? {
        try? queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public var statementCount: Int { Int(meta("statements") ?? "") ?? 0 }

    /// Every entry in order, filtered; `body` returns false to stop.
    public func forEach(_ filter: PerlFilter, _ body: (PerlLogEntry) -> Bool) throws {
        try queue.read { db in
            var conditions: [String] = []
            var args: [(any DatabaseValueConvertible)?] = []
            if let f = filter.file {
                conditions.append("f.path GLOB ?")
                args.append(f)
            }
            if let l = filter.line {
                conditions.append("s.line = ?")
                args.append(l)
            }
            if let s = filter.sub {
                conditions.append("c.sub GLOB ?")
                args.append(s)
            }
            if let p = filter.package {
                conditions.append("c.package GLOB ?")
                args.append(p)
            }
            let statementsWanted = filter.op == nil || filter.selectsStatements
            let resultsWanted = !filter.selectsStatements || filter.op != nil
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let statementsWhere = statementsWanted ? whereClause : "WHERE 0"
            let stmts = try Row.fetchCursor(
                db,
                sql: """
                    SELECT s.seq, s.event, f.path, s.line, c.package, c.sub FROM statements s
                    JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file
                    \(statementsWhere)
                    ORDER BY s.seq
                    """, arguments: StatementArguments(args.map { $0?.databaseValue ?? .null }))
            let results = try Row.fetchCursor(
                db,
                sql: """
                    SELECT seq, op, statement, begin_event, end_event, errno, value FROM nondeterminism
                    \(resultsWanted ? (filter.op == nil ? "" : "WHERE op GLOB ?") : "WHERE 0") ORDER BY seq
                    """, arguments: filter.op.map { [$0] } ?? [])
            var nextStatement = try stmts.next()
            var nextResult = try results.next()
            while nextStatement != nil || nextResult != nil {
                // A result belongs after the statement it happened in.
                if let r = nextResult,
                    nextStatement == nil || (r["statement"] as Int64) < (nextStatement!["seq"] as Int64)
                {
                    guard
                        body(
                            .result(
                                seq: r[0], op: r[1], statement: r[2], beginEvent: r[3], endEvent: r[4], errno: r[5],
                                value: r[6]))
                    else { return }
                    nextResult = try results.next()
                } else if let s = nextStatement {
                    guard body(.statement(seq: s[0], event: s[1], file: s[2], line: s[3], package: s[4], sub: s[5]))
                    else { return }
                    nextStatement = try stmts.next()
                }
            }
        }
    }
}

/// One regenerated SQL statement execution.
public struct SQLLogEntry {
    public var seq: Int64, event: Int64, db: String?, sql: String, bindings: String
    public var rc: Int64?, rows: Int64?, changes: Int64?, reads: String?, writes: String?
    /// The Perl statement that ran it (file:line), when perl did, and the last statement of the
    /// program's own code before it (where DBI was called from) when that is another.
    public var perl: String?
    public var perlCaller: String?
    /// Trigger entries SQLite reported while it ran ("-- TRIGGER name", "-- body statement").
    public var triggers: [String]
}

/// Filters for `log sql --where`: table=NAME (read or written), db=GLOB, sql~TEXT, rc=N.
public struct SQLFilter {
    public var table: String?, db: String?, sqlContains: String?, rc: Int64?
    /// One statement by its number.
    public var seq: Int64?
    public init() {}
}

extension TraceIndex {
    public var sqlStatementCount: Int { Int(meta("sql_statements") ?? "") ?? 0 }

    /// Every SQL statement execution in order, filtered; `body` returns false to stop.
    public func forEachSQL(_ filter: SQLFilter, _ body: (SQLLogEntry) -> Bool) throws {
        try queue.read { db in
            var conditions: [String] = []
            var args: [DatabaseValue] = []
            if let t = filter.table {
                conditions.append(
                    "(EXISTS (SELECT 1 FROM json_each(l.tables_read) WHERE value = ?1)"
                        + " OR EXISTS (SELECT 1 FROM json_each(l.tables_written) WHERE value = ?1))"
                )
                args.append(t.databaseValue)
            }
            if let d = filter.db {
                conditions.append("l.db GLOB ?\(args.count + 1)")
                args.append(d.databaseValue)
            }
            if let s = filter.sqlContains {
                conditions.append("instr(l.sql, ?\(args.count + 1)) > 0")
                args.append(s.databaseValue)
            }
            if let rc = filter.rc {
                conditions.append("l.rc = ?\(args.count + 1)")
                args.append(rc.databaseValue)
            }
            if let n = filter.seq {
                conditions.append("l.seq = ?\(args.count + 1)")
                args.append(n.databaseValue)
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT l.seq, l.event, l.db, l.sql, l.bindings, l.rc, l.rows, l.changes,
                           l.tables_read, l.tables_written,
                           (SELECT f.path || ':' || s.line FROM statements s
                            JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file
                            WHERE s.seq = l.perl_statement) AS perl,
                           (SELECT f.path || ':' || s.line FROM statements s
                            JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file
                            WHERE s.seq = l.user_statement AND l.user_statement != l.perl_statement) AS caller,
                           (SELECT group_concat(text, char(31))
                            FROM (SELECT text FROM sql_triggers t WHERE t.statement = l.seq ORDER BY t.seq)) AS triggers
                    FROM sql_log l \(whereClause) ORDER BY l.seq
                    """, arguments: StatementArguments(args))
            while let r = try rows.next() {
                let joined: String? = r["triggers"]
                let triggers =
                    joined.map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) }
                    ?? []
                let e = SQLLogEntry(
                    seq: r["seq"], event: r["event"], db: r["db"], sql: r["sql"], bindings: r["bindings"],
                    rc: r["rc"], rows: r["rows"], changes: r["changes"], reads: r["tables_read"],
                    writes: r["tables_written"], perl: r["perl"], perlCaller: r["caller"], triggers: triggers)
                guard body(e) else { return }
            }
        }
    }
}

extension TraceIndex {
    /// Every statement on these lines: its number, the event it precedes (its machine position),
    /// its file and line (one pass over the index, however many lines are asked for).
    public func statements(onLines lines: Set<Int64>) throws -> [(seq: Int, event: Int, file: String, line: Int64)] {
        guard !lines.isEmpty else { return [] }
        return try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.seq, s.event, f.path, s.line FROM statements s
                    JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file
                    WHERE s.line IN (\(lines.map(String.init).joined(separator: ","))) ORDER BY s.seq
                    """
            ).map { (seq: $0[0], event: $0[1], file: $0[2], line: $0[3]) }
        }
    }

    /// The Perl shim's records (Perl records only, channel format): the fast replay's feed.
    public func perlFeed() throws -> [UInt8] {
        try queue.read { db in try Data.fetchOne(db, sql: "SELECT bytes FROM perl_feed").map { [UInt8]($0) } ?? [] }
    }

    /// The source files the shim saw: path as perl named it, SHA-256 (hex) when it had one, and
    /// whether it is the program's own code.
    public func sourceFiles() throws -> [(path: String, sha256: String?, programCode: Bool)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT path, sha256, program_code FROM files ORDER BY id").map {
                (path: $0[0], sha256: $0[1], programCode: $0[2])
            }
        }
    }

    /// Statements by number: event, file, line, package and sub of each (those that exist).
    public func statements(
        seqs: [Int]
    ) throws -> [Int: (event: Int, file: String, line: Int64, package: String, sub: String?)] {
        var out: [Int: (event: Int, file: String, line: Int64, package: String, sub: String?)] = [:]
        try queue.read { db in
            for start in stride(from: 0, to: seqs.count, by: 500) {
                let chunk = seqs[start..<min(start + 500, seqs.count)]
                let seqList = chunk.map(String.init).joined(separator: ",")
                for r in try Row.fetchAll(
                    db,
                    sql: "SELECT seq, event, file, line, package, sub FROM perl_statements WHERE seq IN (\(seqList))"
                ) {
                    out[r[0]] = (event: r[1], file: r[2], line: r[3], package: r[4] ?? "main", sub: r[5])
                }
            }
        }
        return out
    }

    /// The first statement of every call of a sub (`Pkg::name`, or `name` in any package): a
    /// statement in it whose previous statement was not (a recursive call is not told apart).
    public func subEntries(_ name: String) throws -> [(seq: Int, event: Int)] {
        try queue.read { db in
            let pattern = name.contains("::") ? name : "%::" + name
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT s.seq, s.event FROM perl_statements s LEFT JOIN perl_statements p ON p.seq = s.seq - 1
                    WHERE s.sub LIKE ? AND (p.sub IS NULL OR p.sub != s.sub) ORDER BY s.seq
                    """, arguments: [pattern]
            ).map { (seq: $0[0], event: $0[1]) }
        }
    }

    /// The event statement `seq` precedes.
    public func statementEvent(seq: Int) throws -> Int? {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT event FROM statements WHERE seq = ?", arguments: [seq])
        }
    }
}

extension TraceIndex {
    /// The event of every SQL statement execution, by seq (for positions at many stops).
    public func sqlStatementEvents() throws -> [Int] {
        try queue.read { db in try Int.fetchAll(db, sql: "SELECT event FROM sql_statements ORDER BY seq") }
    }
}
