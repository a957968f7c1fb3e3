/// The shims number strings, files, contexts, SQL connections and prepared statements per program,
/// from 1. A process that execs a program with shims of its own (`ChannelPort.programStarts`)
/// starts a second numbering in the same channel stream, so a reader shifts each program's ids
/// past the previous programs' and the process keeps one numbering (its index's keys). Zero stays
/// zero: it means "none" where an id refers to another (a file-scope context's sub).
struct ProgramIds: Sendable {
    struct Ids: Sendable { var string: UInt64 = 0, file: UInt64 = 0, context: UInt64 = 0, connection: UInt64 = 0 }
    private var base = Ids(), highest = Ids()
    private var preparedBase: UInt64 = 0, preparedHighest: UInt64 = 0

    init() {}

    /// The next records are another program's.
    mutating func nextProgram() {
        base = highest
        preparedBase = preparedHighest
    }

    /// `record` with its ids in the process's numbering.
    mutating func map(_ record: ChannelRecord) -> ChannelRecord {
        func shift(_ id: UInt64, _ by: UInt64) -> UInt64 { id == 0 ? 0 : id &+ by }
        func define(_ id: UInt64, _ by: UInt64, _ top: inout UInt64) -> UInt64 {
            let v = shift(id, by)
            top = max(top, v)
            return v
        }
        switch record {
        case .string(let id, let value): return .string(id: define(id, base.string, &highest.string), value: value)
        case .file(let id, let path, let digest):
            return .file(id: define(id, base.file, &highest.file), path: path, digest: digest)
        case .context(let id, let file, let package, let sub):
            return .context(
                id: define(id, base.context, &highest.context), file: shift(file, base.file),
                package: shift(package, base.string), sub: shift(sub, base.string))
        case .statement(let context, let line): return .statement(context: shift(context, base.context), line: line)
        case .sqlConnection(let id, let file):
            return .sqlConnection(id: define(id, base.connection, &highest.connection), file: file)
        case .sqlPrepare(let id, let connection, let sql, let reads, let writes):
            return .sqlPrepare(
                statement: define(id, preparedBase, &preparedHighest), connection: shift(connection, base.connection),
                sql: sql, reads: reads, writes: writes)
        case .sqlExec(let id, let bindings): return .sqlExec(statement: shift(id, preparedBase), bindings: bindings)
        case .sqlDone(let id, let rc, let rows, let changes, let digest):
            return .sqlDone(statement: shift(id, preparedBase), rc: rc, rows: rows, changes: changes, digest: digest)
        case .sqlTrigger(let connection, let text):
            return .sqlTrigger(connection: shift(connection, base.connection), text: text)
        case .sqlFlag(let connection, let kind, let detail):
            return .sqlFlag(connection: shift(connection, base.connection), kind: kind, detail: detail)
        case .sqlClose(let connection): return .sqlClose(connection: shift(connection, base.connection))
        default: return record
        }
    }
}

/// A process's channel records in its one numbering: the decoder and the ids, which move on to a
/// new program together (at a `ChannelPort.programStarts` offset).
public struct ProgramReader {
    private var decoder: ChannelDecoder
    private var ids = ProgramIds()

    public init(_ bytes: [UInt8]) { decoder = ChannelDecoder(bytes) }

    /// The next piece of a stream handed over piece by piece (a flush never splits a record).
    public init(_ bytes: [UInt8], continuing previous: ProgramReader) {
        decoder = ChannelDecoder(bytes, continuing: previous.decoder)
        ids = previous.ids
    }

    /// The next records are another program's.
    public mutating func nextProgram() {
        decoder.nextProgram()
        ids.nextProgram()
    }

    /// The next record, its ids in the process's numbering, and where it ends.
    public mutating func next() throws(ChannelFormatError) -> (record: ChannelRecord, end: Int)? {
        guard let (raw, end) = try decoder.next() else { return nil }
        return (ids.map(raw), end)
    }

    public var offset: Int { decoder.offset }
    public var length: Int { decoder.length }
}
