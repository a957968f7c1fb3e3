import CSQLReplay
import Foundation
import GRDB
import LinuxABI
import Regen
import Replay
import Trace

/// SQL-level replay (Docs/sql-replay.md "Time travel"): a database
/// rebuilt as it was right after any statement N of the regenerated query log, by re-executing
/// the log on the database's pre-image (from the trace's blobs) with prepare + bind and the
/// clock, random() values and PRNG seed the live run read fed back. Every re-executed statement
/// is checked against the log (result code, changes, row-change digest); a difference is a
/// divergence naming the statement.
public struct TimeTravel {
    public let directory: TraceDirectory
    public let index: TraceIndex

    /// One logged execution, as re-execution needs it.
    public struct Statement {
        /// endEvent: the machine position right after it (its SQL_DONE record's event).
        public var seq: Int, connection: Int64, sql: String, endEvent: Int, bindings: [ChannelValue]
        public var rc: Int64?, rows: Int64?, changes: Int64?, digest: String?, clock: [Int64], random: [[UInt8]]
        /// The Perl statement that ran it, and the program's own line that called into DBI
        /// (when the first is inside a module).
        public var perl: String?
        public var perlCaller: String?
        /// Another process's statement merged in (its pid); nil for the process's own.
        public var pid: Int32?
    }

    public enum Failure: Error, CustomStringConvertible {
        case usage(String)  // exit 125
        case noAnswer(String)  // exit 1 (index out of range, no SQL, no such database)
        case diverged(String)  // exit 124
        public var description: String {
            switch self {
            case .usage(let s), .noAnswer(let s), .diverged(let s): return s
            }
        }
        public var exitCode: Int32 {
            switch self {
            case .usage: return 125
            case .noAnswer: return 1
            case .diverged: return 124
            }
        }
    }

    /// The process whose statements these are: its stream holds its pre-images (0: the first).
    let stream: Int

    /// Another process of the run, whose statements on the same database are merged in.
    public struct Process {
        public let stream: Int, pid: Int32, index: TraceIndex
        public init(stream: Int, pid: Int32, index: TraceIndex) {
            self.stream = stream
            self.pid = pid
            self.index = index
        }
    }
    let others: [Process]

    /// `index`: the process's own (`index.N.sqlite` for the child of stream N); `others`: the
    /// run's other processes, whose statements on the same database go in by their stamps.
    public init(directory: TraceDirectory, index: TraceIndex, stream: Int = 0, others: [Process] = []) {
        self.directory = directory
        self.index = index
        self.stream = stream
        self.others = others
    }

    /// The database files the run's connections opened (":memory:" and temp ones excluded).
    public func databases() throws -> [String] {
        try index.queue.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT file FROM sql_connections WHERE file != '' ORDER BY id")
        }
    }

    /// The file `name` designates: a path, a basename, or the only database.
    /// An index that cannot be read throws its own error (TraceIndex.unreadable says why).
    public func resolve(_ name: String?) throws -> String {
        let all = try databases()
        let listed = all.joined(separator: ", ")
        guard !all.isEmpty else {
            let count = index.sqlStatementCount
            throw Failure.noAnswer("the run opened no database file (SQLite activity: \(count) statements)")
        }
        guard let name else {
            guard all.count == 1 else {
                throw Failure.usage("the run opened \(all.count) databases (\(listed)): choose one with --db")
            }
            return all[0]
        }
        if let exact = all.first(where: { $0 == name }) { return exact }
        let byBase = all.filter { $0.split(separator: "/").last.map(String.init) == name }
        guard byBase.count == 1 else {
            throw Failure.noAnswer("the run never opened a database named \(name) (it opened \(listed))")
        }
        return byBase[0]
    }

    /// The executions on connections to `file`, in order, up to and including `last`.
    func statements(file: String, through last: Int) throws -> [Statement] {
        try index.queue.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT s.seq, s.connection, p.sql, s.end_event, s.bindings_raw, s.rc, s.rows, s.changes,
                           s.digest, s.clock, s.random,
                           (SELECT f.path || ':' || st.line FROM statements st
                            JOIN contexts c ON c.id = st.context JOIN files f ON f.id = c.file
                            WHERE st.seq = s.perl_statement) AS perl,
                           (SELECT f.path || ':' || st.line FROM statements st
                            JOIN contexts c ON c.id = st.context JOIN files f ON f.id = c.file
                            WHERE st.seq = s.user_statement) AS caller
                    FROM sql_statements s JOIN sql_connections k ON k.id = s.connection
                    JOIN sql_prepared p ON p.id = s.prepared
                    WHERE k.file = ? AND s.seq <= ? ORDER BY s.seq
                    """, arguments: [file, last])
            var out: [Statement] = []
            while let r = try rows.next() {
                let raw: Data = r["bindings_raw"] ?? Data()
                let clock: String = r["clock"] ?? "[]", random: String = r["random"] ?? "[]"
                let rc: Int64? = r["rc"]
                // No digest for a finished statement: it changed no row.
                let digest: String? = r["digest"] ?? (rc == nil ? nil : String(repeating: "0", count: 32))
                out.append(
                    Statement(
                        seq: r["seq"], connection: r["connection"], sql: r["sql"], endEvent: r["end_event"],
                        bindings: try ChannelValue.decodeAll(Array(raw)), rc: r["rc"], rows: r["rows"],
                        changes: r["changes"],
                        digest: digest, clock: TimeTravel.integers(clock), random: TimeTravel.hexStrings(random),
                        perl: r["perl"], perlCaller: r["caller"]))
            }
            return out
        }
    }

    /// The seed SQLite's PRNG drew from xRandomness in the live run.
    func seed() throws -> [UInt8] {
        let v = try index.queue.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM sql_events WHERE kind = 'seed' ORDER BY seq LIMIT 1")
        }
        guard let v, let r = v.range(of: "\"bytes\":\""), let end = v[r.upperBound...].firstIndex(of: "\"") else {
            return []
        }
        return Hex.bytes(String(v[r.upperBound..<end]))
    }

    /// Every pre-image in the process's stream (another's with `stream`): guest path → blob digest.
    func preImages(stream: Int? = nil) throws -> [String: String] {
        try preImagesPlaced(stream: stream ?? self.stream).mapValues(\.digest)
    }

    /// The same, with the event each was taken at (the call that follows it): what each regular
    /// file held when the process first opened it. From events version 6 a pre-image is also taken
    /// when a path is first removed or renamed: a file removed before it is opened starts empty
    /// (none), one renamed away too, and one renamed over holds what was renamed there.
    func preImagesPlaced(stream: Int) throws -> [String: (digest: String, event: Int)] {
        var out: [String: (digest: String, event: Int)] = [:]
        let removing = Set(["unlink", "unlinkat", "rmdir"].compactMap { SyscallNames.byName[$0].map(UInt64.init) })
        let renaming = Set(["rename", "renameat", "renameat2"].compactMap { SyscallNames.byName[$0].map(UInt64.init) })
        let placed = try PlacedPreImage.all(inEvents: directory.eventsPath(stream: stream)).1
        for (i, p) in placed.enumerated() {
            let path = String(decoding: p.preImage.path.bytes, as: UTF8.self)
            guard p.isRegularFile, out[path] == nil, let call = p.call, !removing.contains(call) else { continue }
            guard renaming.contains(call) else {
                out[path] = (p.preImage.digest, p.event)
                continue
            }
            // The recorder keeps the first path's, then the second's: the file renamed over
            // holds the first's contents; the first path holds nothing.
            if i > 0, placed[i - 1].event == p.event, placed[i - 1].call == call, placed[i - 1].isRegularFile,
                i < 2 || placed[i - 2].event != p.event
            {
                out[path] = (placed[i - 1].preImage.digest, p.event)
            }
        }
        return out
    }

    /// The statements on `file` up to this process's statement `n`, with those of the other
    /// processes merged in by stamp (Docs/sql-replay.md "Several processes"): another process's
    /// statement goes in when the last call before it ended was stamped before the last call
    /// before statement `n` ended (`endEvent`; nil: every statement of every process). Also
    /// the database's starting point: no pre-image when a process that ran statements on it
    /// created it, else the earliest pre-image of those processes.
    func merged(file: String, through n: Int, endEvent: Int?) throws -> ([Statement], [UInt8]?) {
        var own = try statements(file: file, through: n)
        var preImages = [stream: try preImagesPlaced(stream: stream)[file]]
        guard !others.isEmpty else { return (own, try preImages[stream]!.map { try directory.blob($0.digest) }) }
        var stamps = [stream: try Stamps(directory, stream: stream)]
        // The cut: nil keeps what came before the first fork only.
        let limit: UInt64? = endEvent.map { stamps[stream]!.before(event: $0) } ?? .max
        var all: [(key: Int64, rank: Int, statement: Statement)] = []
        // The stamp of the last call before `event`; before the first fork (no stamp): -1,
        // ahead of every other process's.
        func place(_ event: Int, _ stream: Int) -> Int64 { stamps[stream]!.before(event: event).map(Int64.init) ?? -1 }
        func key(_ s: Statement, _ stream: Int) -> Int64 { place(s.endEvent, stream) }
        for s in own { all.append((key(s, stream), 0, s)) }
        for (rank, other) in others.enumerated() {
            let travel = TimeTravel(directory: directory, index: other.index, stream: other.stream)
            guard try travel.databases().contains(file) else { continue }
            stamps[other.stream] = try Stamps(directory, stream: other.stream)
            var taken = false
            for var s in try travel.statements(file: file, through: Int.max) {
                let k = key(s, other.stream)
                if k >= 0 { guard let limit, UInt64(k) < limit else { continue } }
                s.pid = other.pid
                all.append((k, rank + 1, s))
                taken = true
            }
            if taken { preImages[other.stream] = try preImagesPlaced(stream: other.stream)[file] }
        }
        guard all.contains(where: { $0.rank != 0 }) else {
            return (own, try preImages[stream]!.map { try directory.blob($0.digest) })
        }
        // Each process's statements keep their order (its stamps only grow).
        all.sort { ($0.key, $0.rank, $0.statement.seq) < ($1.key, $1.rank, $1.statement.seq) }
        own = all.map(\.statement)
        // A process that ran statements on the file without a pre-image of it created it.
        if preImages.values.contains(where: { $0 == nil }) { return (own, nil) }
        // (Placed by the open it precedes: the call at its event.)
        let first = preImages.compactMap { stream, p in p.map { (stream, $0) } }.min { a, b in
            place(a.1.event + 1, a.0) < place(b.1.event + 1, b.0)
        }
        return (own, try first.map { try directory.blob($0.1.digest) })
    }

    public struct Restored {
        public var file: String
        /// Statements of other processes merged in: pid → how many.
        public var merged: [Int32: Int] = [:]
        /// The machine position right after statement N (its SQL_DONE record's event).
        public var endEvent: Int
        public var preImage: [UInt8]?
        public var statements: Int
        public var checked: Int
        /// pid: another process's statement (nil: this process's).
        public var skipped: [(seq: Int, pid: Int32?, why: String)]
        public var openTransaction: Bool
    }

    /// The files that go with a database file (SQLite's journals): see `OutputFile`.
    public static let companions = ["-journal", "-wal", "-shm"]

    /// Rebuild `file` (nil: the only one) as it was right after statement `n` into `output` (its
    /// temporary, renamed into place when complete: a failure leaves OUT as it was).
    public func restore(db name: String?, at n: Int, to output: OutputFile) throws -> Restored {
        let restored = try rebuild(db: name, at: n, into: output.temporary)
        do { try output.commit() } catch { throw Failure.usage(error.description) }
        return restored
    }

    /// Rebuild into `out`, a file of ours (a temporary or a scratch file). With `after`, called
    /// after each re-executed statement with the replay connection that ran it (SQL
    /// predicates); returning false stops.
    func rebuild(
        db name: String?, at n: Int, into out: String,
        after: ((Statement, OpaquePointer) throws -> Bool)? = nil
    ) throws -> Restored {
        let total = index.sqlStatementCount
        guard total > 0 else {
            throw Failure.noAnswer("the program ran no SQL statement (no SQLite activity in the trace)")
        }
        guard n >= 0 && n < total else {
            throw Failure.noAnswer("statement \(n) is out of range: the log has statements 0…\(total - 1)")
        }
        let file = try resolve(name)
        let endEvent =
            try index.queue.read { db in
                try Int.fetchOne(db, sql: "SELECT end_event FROM sql_statements WHERE seq = ?", arguments: [n])
            } ?? 0
        let (list, pre) = try merged(file: file, through: n, endEvent: after == nil ? endEvent : nil)
        if let e = writeWholeFile(out, pre ?? []) {
            throw Failure.usage("cannot write \(out): \(String(cString: strerror(e)))")
        }
        let seed = try self.seed()
        // Other files the statements open (attached databases) live in a scratch folder, from
        // their pre-images: re-execution never writes where the recorded run wrote.
        guard let scratch = makeScratchFolder("revenant-sql") else {
            throw Failure.usage("cannot create a scratch folder: \(String(cString: strerror(errno)))")
        }
        defer { removeTree(scratch) }
        for (path, digest) in try preImages() where path != file && path != "" {
            // A name from the trace: `..` stops at the scratch folder's root, as in the guest's view.
            let host = scratch + lexicallyNormalized(path)
            makeParents(host)
            _ = FileManager.default.createFile(atPath: host, contents: Data(try directory.blob(digest)))
        }
        let outAbsolute = out.hasPrefix("/") ? out : FileManager.default.currentDirectoryPath + "/" + out
        seed.withUnsafeBufferPointer {
            sqlreplay_begin($0.baseAddress, Int32($0.count), index.meta("cwd") ?? "/", file, outAbsolute, scratch)
        }
        defer { sqlreplay_end() }
        var connections: [String: OpaquePointer] = [:]  // "stream:connection" → the replay's
        defer { for c in connections.values { sqlreplay_close(c) } }
        let appDefined = try flaggedNames()
        var result = Restored(
            file: file, endEvent: endEvent, preImage: pre, statements: list.count, checked: 0, skipped: [],
            openTransaction: false)
        for s in list { if let p = s.pid { result.merged[p, default: 0] += 1 } }
        for s in list {
            if let why = TimeTravel.cannotReexecute(s) {
                result.skipped.append((s.seq, s.pid, why))
                continue
            }
            let conn: OpaquePointer
            let key = "\(s.pid.map { String($0) } ?? ""):\(s.connection)"
            if let c = connections[key] {
                conn = c
            } else {
                var err: UnsafeMutablePointer<CChar>?
                guard let c = sqlreplay_open(file, &err) else {
                    defer { sqlreplay_free(err) }
                    throw Failure.usage("cannot open \(out): \(err.map { String(cString: $0) } ?? "?")")
                }
                connections[key] = c
                conn = c
            }
            for v in s.clock { sqlreplay_push_clock(v) }
            for r in s.random { r.withUnsafeBufferPointer { sqlreplay_push_random($0.baseAddress, Int32($0.count)) } }
            let (rc, changes, digest, error) = TimeTravel.execute(conn, s)
            if let error, rc != 0, rc != 100, rc != 101, s.rc.map({ $0 == 0 || $0 == 100 || $0 == 101 }) ?? false {
                // It ran live but does not even prepare here: it uses something the program
                // provided itself (an application function or collation, the CLI's
                // generate_series…). Harmless to skip when it changed nothing, fatal otherwise.
                let provided = appDefined.first { error.contains(": \($0)") }
                guard (s.changes ?? 0) == 0, s.digest.map({ $0.allSatisfy { $0 == "0" } }) ?? true else {
                    let perlNote = s.perl.map { " (perl \($0))" } ?? ""
                    let cause =
                        provided.map { "\($0), which the program defined itself" }
                        ?? "something this SQLite lacks (\(error))"
                    throw Failure.noAnswer(
                        "statement \(s.seq)\(perlNote) changed rows with \(cause): "
                            + "re-execution cannot rebuild the database after it")
                }
                result.skipped.append((s.seq, s.pid, provided.map { "calls \($0), defined by the program" } ?? error))
                continue
            }
            if let liveRC = s.rc {
                var problems: [String] = []
                if Int64(rc) != liveRC {
                    problems.append("result code \(rc)\(error.map { " (\($0))" } ?? ""), recorded \(liveRC)")
                }
                if let c = s.changes, c != changes { problems.append("\(changes) rows changed, recorded \(c)") }
                if let d = s.digest, d != digest {
                    problems.append("row changes differ (digest \(digest), recorded \(d))")
                }
                if !problems.isEmpty {
                    let perlNote = s.perl.map { " (perl \($0))" } ?? ""
                    throw Failure.diverged(
                        "SQL replay diverged at statement \(s.seq)\(perlNote): \(s.sql.prefix(200)): "
                            + problems.joined(separator: "; "))
                }
                result.checked += 1
            }
            if let after, try !after(s, conn) { break }
        }
        // Inside an open transaction the file shows what that connection saw: commit it.
        for c in connections.values where sqlreplay_in_transaction(c) != 0 {
            result.openTransaction = true
            _ = sqlreplay_commit_open(c)
        }
        return result
    }

    /// A predicate is one SELECT that only reads (it runs on the replay's own connection: a write
    /// would make the replay diverge, a second statement would run unseen). Checked before any
    /// replay; `label` names the query in the one-line refusal ("the --when query").
    public static func checkPredicate(_ query: String, label: String) throws(Failure) {
        var err: UnsafeMutablePointer<CChar>?
        let status = sqlreplay_check_query(query, &err)
        defer { sqlreplay_free(err) }
        // MISSING: a table the run creates later; the verb said it reads, the replay will tell.
        if status == Int32(SQLREPLAY_QUERY_OK) || status == Int32(SQLREPLAY_QUERY_MISSING) { return }
        throw .usage(predicateProblem(status, err.map { String(cString: $0) }, label: label))
    }

    static func predicateProblem(_ status: Int32, _ error: String?, label: String) -> String {
        switch Int(status) {
        case SQLREPLAY_QUERY_EMPTY: return "\(label) is empty"
        case SQLREPLAY_QUERY_SEVERAL: return "\(label) must be one statement: there is another after its first `;`"
        case SQLREPLAY_QUERY_NOT_READ_ONLY:
            return "\(label) must be one SELECT that only reads (it runs on the replayed database)"
        default: return "\(label) does not prepare: \(error ?? "?")"
        }
    }

    /// An evaluation of a predicate ran past its time, after `statement` (the caller says so:
    /// EvaluationOptions words every command's timeouts alike).
    public struct TimedOut: Error { public let statement: Int }

    /// SQL predicates: re-execute the whole log (in a scratch file) and call `hit` for every
    /// statement after which `query`'s first column becomes true, having been false (or not
    /// yet evaluated) before. A table or column the run has not created yet makes it false
    /// there. One evaluation running longer than `timeout` seconds ends the search (TimedOut).
    /// Returns the number of hits.
    public func whenTrue(
        _ query: String, label: String, timeout: Double, db name: String?, first: Bool,
        hit: @escaping (Statement) throws -> Void
    ) throws -> Int {
        try TimeTravel.checkPredicate(query, label: label)
        let last = index.sqlStatementCount - 1
        guard last >= 0 else {
            throw Failure.noAnswer("the program ran no SQL statement (no SQLite activity in the trace)")
        }
        // A new file of ours, never committed: removed (journals too) when done.
        let scratch: OutputFile
        do {
            scratch = try OutputFile(
                "/tmp/revenant-sql-when.db", option: "scratch", force: true, protected: [],
                companions: TimeTravel.companions)
        } catch { throw Failure.usage(error.description) }
        var before = false
        var hits = 0
        var prepared = false, missing: String?
        _ = try rebuild(db: name, at: last, into: scratch.temporary) { s, connection in
            var status: Int32 = 0
            var err: UnsafeMutablePointer<CChar>?
            let now = sqlreplay_truth(connection, query, timeout, &status, &err) == 1
            let error = err.map { String(cString: $0) }
            sqlreplay_free(err)
            switch Int(status) {
            case SQLREPLAY_QUERY_OK: prepared = true
            case SQLREPLAY_QUERY_MISSING: missing = error
            case SQLREPLAY_QUERY_TIMED_OUT: throw TimedOut(statement: s.seq)
            case SQLREPLAY_QUERY_ERROR:
                throw Failure.usage("\(label) failed after statement #\(s.seq): \(error ?? "?")")
            default: throw Failure.usage(TimeTravel.predicateProblem(status, error, label: label))
            }
            if now && !before {
                hits += 1
                try hit(s)
            }
            before = now
            return !(first && hits > 0)
        }
        // Not true anywhere because it never ran: say why rather than "never true".
        if !prepared, let missing { throw Failure.usage("\(label) never ran: \(missing) after every statement") }
        return hits
    }

    /// Functions and collations the program defined itself (the shim flags them).
    func flaggedNames() throws -> [String] {
        let values = try index.queue.read { db in
            try String.fetchAll(db, sql: "SELECT value FROM sql_events WHERE kind = 'flag'")
        }
        return values.compactMap { v in
            guard v.contains("\"function\"") || v.contains("\"collation\""), let r = v.range(of: "\"detail\":\""),
                let end = v[r.upperBound...].firstIndex(of: "\"")
            else { return nil }
            return String(v[r.upperBound..<end])
        }
    }

    /// Statements re-execution must not run: the reason, or nil.
    static func cannotReexecute(_ s: Statement) -> String? {
        if s.sql.isEmpty { return "no SQL text" }
        if s.sql.range(of: "fts3_tokenizer", options: .caseInsensitive) != nil {
            return "fts3_tokenizer takes a pointer into the recorded process"
        }
        return nil
    }

    static func execute(_ conn: OpaquePointer, _ s: Statement) -> (Int32, Int64, String, String?) {
        var keep: [[UInt8]] = []
        var values: [sqlreplay_value] = s.bindings.map { v in
            var x = sqlreplay_value()
            switch v {
            case .undef: x.type = Int32(SQLREPLAY_NULL)
            case .int(let i):
                x.type = Int32(SQLREPLAY_INT)
                x.i = i
            case .uint(let u):
                x.type = Int32(SQLREPLAY_INT)
                x.i = Int64(bitPattern: u)
            case .double(let d):
                x.type = Int32(SQLREPLAY_DOUBLE)
                x.d = d
            case .bytes(let b, _):
                x.type = Int32(SQLREPLAY_TEXT)
                x.length = Int64(b.count)
                keep.append(b)
            case .blob(let b):
                x.type = Int32(SQLREPLAY_BLOB)
                x.length = Int64(b.count)
                keep.append(b)
            case .zeroBlob(let n):
                x.type = Int32(SQLREPLAY_ZEROBLOB)
                x.length = Int64(n)
            }
            return x
        }
        var changes: Int64 = 0, rows: Int64 = 0
        var digest = [UInt8](repeating: 0, count: 16)
        var err: UnsafeMutablePointer<CChar>?
        // Point text and blob values at their bytes for the duration of the call.
        var k = 0
        var pointers: [UnsafeMutablePointer<UInt8>] = []
        for i in values.indices where values[i].type == Int32(SQLREPLAY_TEXT) || values[i].type == Int32(SQLREPLAY_BLOB)
        {
            let b = keep[k]
            k += 1
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, b.count))
            p.initialize(from: b, count: b.count)
            pointers.append(p)
            values[i].bytes = UnsafePointer(p)
        }
        defer { for p in pointers { p.deallocate() } }
        let rc = values.withUnsafeBufferPointer { vb in
            digest.withUnsafeMutableBufferPointer { db in
                // SQLITE_ROW logged: the program reset it after that many rows.
                sqlreplay_exec(
                    conn, s.sql, Int32(vb.count), vb.baseAddress, s.rc == 100 ? (s.rows ?? -1) : -1,
                    &changes, &rows, db.baseAddress, &err)
            }
        }
        defer { sqlreplay_free(err) }
        return (rc, changes, Hex.string(digest), err.map { String(cString: $0) })
    }

    func makeParents(_ path: String) {
        try? FileManager.default.createDirectory(
            atPath: String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]),
            withIntermediateDirectories: true)
    }

    static func integers(_ json: String) -> [Int64] {
        json.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").compactMap {
            Int64($0.trimmingCharacters(in: .whitespaces))
        }
    }

    static func hexStrings(_ json: String) -> [[UInt8]] {
        json.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").map {
            Hex.bytes($0.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")))
        }
    }
}
