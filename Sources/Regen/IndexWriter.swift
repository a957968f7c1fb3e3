import Foundation
import GRDB
import GRDBSQLite

/// `index.sqlite`: the tables `regen` writes and `log`/search read (Docs/regen.md).
public enum IndexSchema {
    public static let sql = """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- program_code: 1 for the program's own files (not a module under /usr, not a string eval).
        CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT, program_code INTEGER NOT NULL);
        CREATE TABLE contexts(id INTEGER PRIMARY KEY, file INTEGER NOT NULL REFERENCES files(id), \
        package TEXT, sub TEXT);
        -- One row per Perl statement executed; event = the index of the next syscall event (the
        -- statement ran after event - 1 and before event).
        CREATE TABLE statements(seq INTEGER PRIMARY KEY, event INTEGER NOT NULL, context INTEGER NOT NULL, \
        line INTEGER NOT NULL);
        -- Perl's nondeterministic results, and the process's start state (%ENV, @ARGV, hash seed).
        CREATE TABLE nondeterminism(seq INTEGER PRIMARY KEY, op TEXT NOT NULL, statement INTEGER NOT NULL,
                                    begin_event INTEGER NOT NULL, end_event INTEGER NOT NULL, \
        errno INTEGER NOT NULL, value TEXT NOT NULL);
        -- The SQLite shim's log: connections, prepared statements (with the tables SQLite's authorizer
        -- saw them read and write), and one row per statement execution (seq = N of `sql --at N`).
        CREATE TABLE sql_connections(id INTEGER PRIMARY KEY, file TEXT NOT NULL, opened_event INTEGER NOT NULL, \
        closed_event INTEGER);
        CREATE TABLE sql_prepared(id INTEGER PRIMARY KEY, connection INTEGER NOT NULL, sql TEXT NOT NULL,
                                  tables_read TEXT NOT NULL, tables_written TEXT NOT NULL);
        -- rc NULL: the execution never finished (the process ended first). NULL bindings, clock,
        -- random: none; NULL digest with an rc: no row changed. The SQL text is the prepared one's.
        CREATE TABLE sql_statements(seq INTEGER PRIMARY KEY, event INTEGER NOT NULL, \
        end_event INTEGER NOT NULL, perl_statement INTEGER,
                                    user_statement INTEGER, prepared INTEGER NOT NULL, \
        connection INTEGER, bindings TEXT,
                                    rc INTEGER, rows INTEGER, changes INTEGER, digest TEXT, \
        clock TEXT, random TEXT, bindings_raw BLOB);
        CREATE TABLE sql_triggers(seq INTEGER PRIMARY KEY, statement INTEGER, connection INTEGER NOT NULL, \
        text TEXT NOT NULL, event INTEGER NOT NULL);
        CREATE TABLE sql_events(seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, statement INTEGER, \
        event INTEGER NOT NULL, value TEXT NOT NULL);
        -- The Perl shim's records of the run (channel format, Perl records only): what the fast
        -- Perl-level replay feeds back (Docs/perl-replay.md).
        CREATE TABLE perl_feed(bytes BLOB NOT NULL);
        CREATE VIEW sql_log AS
            SELECT s.seq, s.event, s.perl_statement, s.user_statement, c.file AS db, p.sql, \
        coalesce(s.bindings, '[]') AS bindings,
                   s.rc, s.rows, s.changes, s.digest, p.tables_read, p.tables_written, coalesce(s.clock, '[]') AS clock,
                   coalesce(s.random, '[]') AS random
            FROM sql_statements s LEFT JOIN sql_connections c ON c.id = s.connection \
        LEFT JOIN sql_prepared p ON p.id = s.prepared;
        CREATE VIEW perl_statements AS
            SELECT s.seq, s.event, f.path AS file, s.line, c.package, c.sub
            FROM statements s JOIN contexts c ON c.id = s.context JOIN files f ON f.id = c.file;
        """
}

/// Writes the index with GRDB; statement rows, the bulk of it, go through one prepared
/// statement bound with SQLite's C API (GRDB's argument arrays cost more than the replay).
final class IndexWriter: IndexSink {
    let db: Database
    let metaStatement: Statement, fileStatement: Statement, contextStatement: Statement, nondetStatement: Statement
    let statementStatement: Statement
    var nondetSeq = 0, triggerSeq = 0, sqlEventSeq = 0

    init(_ db: Database) throws {
        self.db = db
        metaStatement = try db.makeStatement(sql: "INSERT OR REPLACE INTO meta VALUES (?, ?)")
        fileStatement = try db.makeStatement(sql: "INSERT INTO files VALUES (?, ?, ?, ?)")
        contextStatement = try db.makeStatement(sql: "INSERT INTO contexts VALUES (?, ?, ?, ?)")
        nondetStatement = try db.makeStatement(sql: "INSERT INTO nondeterminism VALUES (?, ?, ?, ?, ?, ?, ?)")
        statementStatement = try db.makeStatement(sql: "INSERT INTO statements VALUES (?, ?, ?, ?)")
    }

    static func write(to path: String, builder: inout IndexBuilder, meta: [(String, String)]) throws {
        var config = Configuration()
        config.journalMode = .default
        let queue = try DatabaseQueue(path: path, configuration: config)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 4096")
            try db.inTransaction {
                try db.execute(sql: IndexSchema.sql)
                let w = try IndexWriter(db)
                for (k, v) in meta { try w.meta(k, v) }
                try builder.run(into: w)
                return .commit
            }
        }
        try queue.close()
    }

    func meta(_ key: String, _ value: String) throws { try metaStatement.execute(arguments: [key, value]) }

    func perlFeed(_ bytes: [UInt8]) throws {
        try db.execute(sql: "INSERT INTO perl_feed VALUES (?)", arguments: [Data(bytes)])
    }

    func file(id: UInt64, path: String, digest: [UInt8]?, programCode: Bool) throws {
        try fileStatement.execute(arguments: [
            Int64(id), path, digest.map { $0.map { String($0, radix: 16).leftPad(2) }.joined() }, programCode,
        ])
    }

    func context(id: UInt64, file: UInt64, package: String?, sub: String?) throws {
        try contextStatement.execute(arguments: [Int64(id), Int64(file), package, sub])
    }

    func statement(seq: Int, event: Int, context: UInt64, line: Int64) throws {
        let s = statementStatement.sqliteStatement
        sqlite3_bind_int64(s, 1, Int64(seq))
        sqlite3_bind_int64(s, 2, Int64(event))
        sqlite3_bind_int64(s, 3, Int64(bitPattern: context))
        sqlite3_bind_int64(s, 4, line)
        let rc = sqlite3_step(s)
        sqlite3_reset(s)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: "inserting statement \(seq)")
        }
    }

    func sqlConnection(id: UInt64, file: String, event: Int) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO sql_connections VALUES (?, ?, ?, NULL)").execute(
            arguments: [Int64(id), file, event])
    }

    func sqlClose(id: UInt64, event: Int) throws {
        try db.cachedStatement(sql: "UPDATE sql_connections SET closed_event = ? WHERE id = ?").execute(arguments: [
            event, Int64(id),
        ])
    }

    func sqlPrepared(id: UInt64, connection: UInt64, sql: String, reads: [String], writes: [String]) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO sql_prepared VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [
                Int64(id), Int64(connection), sql, "[" + reads.map(jsonQuote).joined(separator: ",") + "]",
                "[" + writes.map(jsonQuote).joined(separator: ",") + "]",
            ])
    }

    func sqlStatement(_ r: SQLStatementRow) throws {
        try db.cachedStatement(sql: "INSERT INTO sql_statements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [
                r.seq, r.event, r.endEvent, r.perlStatement, r.userStatement, Int64(r.prepared),
                r.connection.map { Int64($0) }, r.bindings == "[]" ? nil : r.bindings, r.rc, r.rows, r.changes,
                r.digest.flatMap { $0.allSatisfy { $0 == "0" } ? nil : $0 }, r.clock == "[]" ? nil : r.clock,
                r.random == "[]" ? nil : r.random, r.rawBindings.isEmpty ? nil : Data(r.rawBindings),
            ])
    }

    func sqlTrigger(statement: Int?, connection: UInt64, text: String, event: Int) throws {
        try db.cachedStatement(sql: "INSERT INTO sql_triggers VALUES (?, ?, ?, ?, ?)").execute(arguments: [
            triggerSeq, statement, Int64(connection), text, event,
        ])
        triggerSeq += 1
    }

    func sqlEvent(kind: String, statement: Int?, event: Int, value: String) throws {
        try db.cachedStatement(sql: "INSERT INTO sql_events VALUES (?, ?, ?, ?, ?)").execute(arguments: [
            sqlEventSeq, kind, statement, event, value,
        ])
        sqlEventSeq += 1
    }

    func nondeterminism(
        op: String, statement: Int, beginEvent: Int, endEvent: Int, errno: UInt64, values: String
    ) throws {
        try nondetStatement.execute(arguments: [nondetSeq, op, statement, beginEvent, endEvent, Int64(errno), values])
        nondetSeq += 1
    }
}
