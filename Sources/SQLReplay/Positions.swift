import GRDB
import Regen

/// A position in a recorded run at the three levels: the syscall event, the Perl statement
/// running then (file:line), and the SQL statement (N of `sql --at N`) last started.
public struct Position: CustomStringConvertible {
    public var event: Int
    public var perl: String?
    /// The program's own line running then, when `perl` is inside a module (DBI, DBD...).
    public var perlCaller: String?
    public var sql: Int?
    public init(event: Int, perl: String?, perlCaller: String? = nil, sql: Int?) {
        self.event = event
        self.perl = perl
        self.perlCaller = perlCaller
        self.sql = sql
    }
    public var description: String {
        "event #\(event)" + (perl.map { p in ", perl " + (perlCaller.map { "\($0), in \(p)" } ?? p) } ?? "")
            + (sql.map { ", SQL #\($0)" } ?? "")
    }
}

extension TraceIndex {
    /// The Perl and SQL positions at event `event` (a statement whose record precedes the
    /// event ran before it).
    public func position(atEvent event: Int) throws -> Position {
        try queue.read { db in
            let perl = try String.fetchOne(
                db,
                sql: """
                    SELECT f.path || ':' || s.line FROM statements s
                    JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file
                    WHERE s.seq = (SELECT max(seq) FROM statements WHERE event <= ?)
                    """, arguments: [event])
            // The same rule as the SQL log's caller (the index marks the program's own files).
            let caller = try String.fetchOne(
                db,
                sql: """
                    SELECT f.path || ':' || s.line FROM statements s
                    JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file
                    WHERE s.event <= ? AND f.program_code ORDER BY s.seq DESC LIMIT 1
                    """, arguments: [event])
            let sql = try Int.fetchOne(
                db, sql: "SELECT max(seq) FROM sql_statements WHERE event <= ?", arguments: [event])
            return Position(event: event, perl: perl, perlCaller: caller == perl ? nil : caller, sql: sql)
        }
    }
}
