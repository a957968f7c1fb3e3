import GRDB
import Regen

/// A position in a recorded run at the three levels: the syscall event, the Perl statement
/// running then (file:line), and the SQL statement (N of `sql --at N`) last started.
public struct Position: CustomStringConvertible {
    public var event: Int
    public var perl: String?
    public var sql: Int?
    public init(event: Int, perl: String?, sql: Int?) {
        self.event = event
        self.perl = perl
        self.sql = sql
    }
    public var description: String {
        "event #\(event)" + (perl.map { ", perl \($0)" } ?? "") + (sql.map { ", SQL #\($0)" } ?? "")
    }
}

extension TraceIndex {
    /// The Perl and SQL positions at event `event` (a statement whose record precedes the
    /// event ran before it).
    public func position(atEvent event: Int) throws -> Position {
        try queue.read { db in
            let perl = try String.fetchOne(db, sql: """
                SELECT f.path || ':' || s.line FROM statements s JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file
                WHERE s.seq = (SELECT max(seq) FROM statements WHERE event <= ?)
                """, arguments: [event])
            let sql = try Int.fetchOne(db, sql: "SELECT max(seq) FROM sql_statements WHERE event <= ?", arguments: [event])
            return Position(event: event, perl: perl, sql: sql)
        }
    }
}
