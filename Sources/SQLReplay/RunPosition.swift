import GRDB
import Regen

/// A position in a recorded run as every command takes it (`--at`; Docs/positions.md): one
/// syntax, resolved to how many of the process's syscall events lie before it.
public struct RunPosition: Equatable, Sendable, CustomStringConvertible {
    public enum Point: Equatable, Sendable {
        /// Before the program's first instruction.
        case start
        /// Right after event E (as `when` and `log syscalls` number them).
        case afterEvent(Int)
        /// Just before the K-th execution (from 1) of the Perl statement at FILE:LINE (FILE matched
        /// as a path tail).
        case perl(file: String, line: Int, execution: Int)
        /// Right after SQL statement N (as `sql --at N` and `log sql` number them).
        case afterSQL(Int)
        /// The end of the recording.
        case end
    }

    /// A machine position inside the interval after an event (`event:E@ADDR:K+N`), each part
    /// counted from where the one before it ended (Docs/gdb.md "Positions").
    public enum Inside: Equatable, Sendable {
        /// The K-th arrival (from 1) at ADDR: the program about to run the instruction there. The
        /// instruction the part starts at does not count.
        case arrive(UInt64, Int)
        /// N single steps.
        case steps(Int)
    }

    /// `PID/` in front: a process of a run that had several (nil: the first).
    public var pid: Int32?
    public var point: Point
    /// After `event:E` only: instruction-level parts (none: right after the event's return).
    /// Files and databases change at syscalls only, so they are the same as at `event:E`.
    public var inside: [Inside]

    public init(pid: Int32? = nil, _ point: Point, inside: [Inside] = []) {
        self.pid = pid
        self.point = point
        self.inside = inside
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public static let syntax =
        "event:E[@ADDR:K][+N], perl:FILE:LINE[:K], sql:N, start or end, with PID/ in front for a child process"

    /// Parses the text form; a bare number is `sql:N` when `bareNumber` says so (`sql --at N`).
    public init(parsing text: String, bareNumberIsSQL: Bool = false) throws(Invalid) {
        var rest = Substring(text)
        if let slash = rest.firstIndex(of: "/"), let pid = Int32(rest[..<slash]), pid > 0 {
            self.pid = pid
            rest = rest[rest.index(after: slash)...]
        }
        func number(_ s: Substring, _ what: String) throws(Invalid) -> Int {
            guard let n = Int(s), n >= 0 else {
                throw Invalid(description: "\(text): \(what) must be a number, not '\(s)' (\(Self.syntax))")
            }
            return n
        }
        if rest == "start" {
            point = .start
        } else if rest == "end" {
            point = .end
        } else if rest.hasPrefix("event:") {
            // E, then any number of @ADDR:K and +N parts.
            let body = rest.dropFirst(6)
            let end = body.firstIndex { $0 == "@" || $0 == "+" } ?? body.endIndex
            point = .afterEvent(try number(body[..<end], "the event"))
            inside = try Self.insideParts(body[end...], text: text)
            return
        } else if rest.hasPrefix("sql:") {
            point = .afterSQL(try number(rest.dropFirst(4), "the statement"))
        } else if bareNumberIsSQL, !rest.isEmpty, rest.allSatisfy(\.isNumber) {
            point = .afterSQL(try number(rest, "the statement"))
        } else if rest.hasPrefix("perl:") {
            // FILE may hold colons: LINE and K are the last one or two fields that are numbers.
            var fields = rest.dropFirst(5).split(separator: ":", omittingEmptySubsequences: false)
            var execution = 1
            if fields.count >= 3, let k = Int(fields.last!), let _ = Int(fields[fields.count - 2]) {
                guard k >= 1 else { throw Invalid(description: "\(text): K counts executions from 1") }
                execution = k
                fields.removeLast()
            }
            guard fields.count >= 2, let line = Int(fields.last!), line >= 1 else {
                throw Invalid(description: "\(text): perl: takes FILE:LINE[:K] (\(Self.syntax))")
            }
            let file = fields.dropLast().joined(separator: ":")
            guard !file.isEmpty else { throw Invalid(description: "\(text): perl: needs a file name") }
            point = .perl(file: file, line: line, execution: execution)
        } else {
            throw Invalid(description: "\(text): not a position (\(Self.syntax))")
        }
        inside = []
    }

    /// `@ADDR:K` (ADDR in hex, 0x optional; K from 1) and `+N` parts, in order.
    private static func insideParts(_ text: Substring, text whole: String) throws(Invalid) -> [Inside] {
        var parts: [Inside] = []
        var rest = text
        while let mark = rest.first {
            rest = rest.dropFirst()
            let end = rest.firstIndex { $0 == "@" || $0 == "+" } ?? rest.endIndex
            let part = rest[..<end]
            rest = rest[end...]
            if mark == "+" {
                guard let n = Int(part), n >= 1 else {
                    throw Invalid(description: "\(whole): +N takes a number of single steps from 1, not '\(part)'")
                }
                parts.append(.steps(n))
                continue
            }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            let hex = fields[0].hasPrefix("0x") ? fields[0].dropFirst(2) : fields[0]
            guard fields.count == 2, let address = UInt64(hex, radix: 16), let k = Int(fields[1]), k >= 1 else {
                throw Invalid(
                    description: "\(whole): @ADDR:K takes an address in hex and an arrival from 1, not '\(part)'")
            }
            parts.append(.arrive(address, k))
        }
        return parts
    }

    public var description: String {
        let p = pid.map { "\($0)/" } ?? ""
        switch point {
        case .start: return p + "start"
        case .end: return p + "end"
        case .afterEvent(let e):
            return p + "event:\(e)"
                + inside.map {
                    switch $0 {
                    case .arrive(let a, let k): return "@0x\(String(a, radix: 16)):\(k)"
                    case .steps(let n): return "+\(n)"
                    }
                }.joined()
        case .afterSQL(let n): return p + "sql:\(n)"
        case .perl(let file, let line, let k): return p + "perl:\(file):\(line)" + (k == 1 ? "" : ":\(k)")
        }
    }

    /// Whether resolving needs the process's index (the Perl and SQL forms).
    public var needsIndex: Bool {
        switch point {
        case .perl, .afterSQL: return true
        case .start, .end, .afterEvent: return false
        }
    }

    /// How many of the process's syscall events lie before the position (nil: all of them, the
    /// end). `index` is the process's, needed by the Perl and SQL forms.
    public func eventsBefore(index: TraceIndex?) throws(Invalid) -> Int? {
        switch point {
        case .start: return 0
        case .end: return nil
        case .afterEvent(let e): return e + 1
        case .afterSQL(let n):
            let end = try query(index) { db in
                try Int.fetchOne(db, sql: "SELECT end_event FROM sql_statements WHERE seq = ?", arguments: [n])
            }
            guard let end else { throw Invalid(description: "\(self): the run has no SQL statement #\(n)") }
            return end
        case .perl(let file, let line, let k):
            let (event, count) = try query(index) { db in
                let hits = """
                    FROM (\(Self.executions)) x JOIN files f ON f.id = x.file
                    WHERE x.line = ?1 AND (f.path = ?2 OR substr(f.path, -length(?2) - 1) = '/' || ?2)
                    """
                let event = try Int.fetchOne(
                    db, sql: "SELECT x.event \(hits) ORDER BY x.seq LIMIT 1 OFFSET ?3", arguments: [line, file, k - 1])
                let count =
                    event != nil ? k : try Int.fetchOne(db, sql: "SELECT count(*) \(hits)", arguments: [line, file])
                return (event, count ?? 0)
            }
            guard let event else {
                throw Invalid(
                    description: count == 0
                        ? "\(self): no statement at \(file):\(line) ran in this run"
                        : "\(self): the statement at \(file):\(line) ran \(count) time\(count == 1 ? "" : "s")")
            }
            return event
        }
    }

    /// Every execution of a statement, with its line and file: K counts these at a line (a line
    /// that holds several statements counts each; the index has lines, not statements' columns).
    static let executions = """
        SELECT s.seq, s.event, s.line, c.file FROM statements s JOIN contexts c ON c.id = s.context
        """

    /// The position of Perl statement `seq` (a `when --perl` hit): perl:FILE:LINE:K.
    public static func perl(statement seq: Int, index: TraceIndex, pid: Int32? = nil) throws -> RunPosition? {
        guard let s = try index.statements(seqs: [seq])[seq] else { return nil }
        return try PerlExecutions(index: index, pid: pid).position(seq: seq, file: s.file, line: s.line)
    }

    private func query<T>(_ index: TraceIndex?, _ body: (Database) throws -> T) throws(Invalid) -> T {
        guard let index else {
            throw Invalid(
                description: "\(self): the trace has no Perl or SQL log to find it in (recorded without shims)")
        }
        do { return try index.queue.read(body) } catch {
            throw Invalid(description: "\(self): the index cannot be read: \(error)")
        }
    }
}

/// perl:FILE:LINE:K for statements of one process, K counted from the index: the statements on
/// each line are read once (a monitor's notification at every statement asks for many).
public final class PerlExecutions {
    let index: TraceIndex
    let pid: Int32?
    private var onLine: [String: [Int]] = [:]

    public init(index: TraceIndex, pid: Int32?) {
        self.index = index
        self.pid = pid
    }

    /// Statement `seq`, at FILE:LINE: its execution of that line is the number of statements
    /// there up to it.
    public func position(seq: Int, file: String, line: Int64) throws -> RunPosition {
        let key = "\(line) \(file)"
        if onLine[key] == nil {
            onLine[key] = try index.statements(onLines: [line]).filter { $0.file == file }.map(\.seq)
        }
        let seqs = onLine[key] ?? []
        var lo = 0, hi = seqs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if seqs[mid] <= seq { lo = mid + 1 } else { hi = mid }
        }
        return RunPosition(pid: pid, .perl(file: file, line: Int(line), execution: max(1, lo)))
    }
}
