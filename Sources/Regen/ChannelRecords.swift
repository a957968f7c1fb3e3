import CGuestStub
import Trace

/// The channel's records (GuestAgents/include/revenant_channel.h, Docs/channel-format.md),
/// decoded. Offsets are positions in the channel stream; `end` is where the record's last byte
/// ends, which is what the VMM's reading of the write offset is compared with.
public enum ChannelRecord: Equatable, Sendable {
    case start(version: UInt64, interpreter: String, script: String)
    case string(id: UInt64, value: String)
    case file(id: UInt64, path: String, digest: [UInt8]?)
    case context(id: UInt64, file: UInt64, package: UInt64, sub: UInt64)
    /// A statement; `context` and `line` are resolved for delta records too.
    case statement(context: UInt64, line: Int64)
    case opBegin(opcode: UInt64)
    case opEnd(opcode: UInt64, errno: UInt64, values: [ChannelValue])
    case environment([(String, String)])
    case arguments([String])
    case hashState(seed: [UInt8], randBits: UInt64, enabled: Bool)
    case seed(UInt64)
    case opName(opcode: UInt64, name: String)
    // The SQLite shim's records.
    case sqlConnection(id: UInt64, file: String)
    case sqlPrepare(statement: UInt64, connection: UInt64, sql: String, reads: [String], writes: [String])
    case sqlExec(statement: UInt64, bindings: [ChannelValue])
    case sqlDone(statement: UInt64, rc: UInt64, rows: UInt64, changes: Int64, digest: [UInt8])
    case sqlClock(Int64)
    case sqlRandom([UInt8])
    case sqlSeed(requested: UInt64, bytes: [UInt8])
    case sqlTrigger(connection: UInt64, text: String)
    case sqlFlag(connection: UInt64, kind: UInt64, detail: String)
    case sqlClose(connection: UInt64)

    public static func == (a: ChannelRecord, b: ChannelRecord) -> Bool {
        switch (a, b) {
        case (.environment(let x), .environment(let y)): return x.map { [$0.0, $0.1] } == y.map { [$0.0, $0.1] }
        case (.start(let a1, let a2, let a3), .start(let b1, let b2, let b3)): return a1 == b1 && a2 == b2 && a3 == b3
        case (.string(let a1, let a2), .string(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.file(let a1, let a2, let a3), .file(let b1, let b2, let b3)): return a1 == b1 && a2 == b2 && a3 == b3
        case (.context(let a1, let a2, let a3, let a4), .context(let b1, let b2, let b3, let b4)):
            return a1 == b1 && a2 == b2 && a3 == b3 && a4 == b4
        case (.statement(let a1, let a2), .statement(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.opBegin(let x), .opBegin(let y)): return x == y
        case (.opEnd(let a1, let a2, let a3), .opEnd(let b1, let b2, let b3)): return a1 == b1 && a2 == b2 && a3 == b3
        case (.arguments(let x), .arguments(let y)): return x == y
        case (.hashState(let a1, let a2, let a3), .hashState(let b1, let b2, let b3)):
            return a1 == b1 && a2 == b2 && a3 == b3
        case (.seed(let x), .seed(let y)): return x == y
        case (.opName(let a1, let a2), .opName(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.sqlConnection(let a1, let a2), .sqlConnection(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.sqlPrepare(let a1, let a2, let a3, let a4, let a5), .sqlPrepare(let b1, let b2, let b3, let b4, let b5)):
            return a1 == b1 && a2 == b2 && a3 == b3 && a4 == b4 && a5 == b5
        case (.sqlExec(let a1, let a2), .sqlExec(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.sqlDone(let a1, let a2, let a3, let a4, let a5), .sqlDone(let b1, let b2, let b3, let b4, let b5)):
            return a1 == b1 && a2 == b2 && a3 == b3 && a4 == b4 && a5 == b5
        case (.sqlClock(let x), .sqlClock(let y)): return x == y
        case (.sqlRandom(let x), .sqlRandom(let y)): return x == y
        case (.sqlSeed(let a1, let a2), .sqlSeed(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.sqlTrigger(let a1, let a2), .sqlTrigger(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.sqlFlag(let a1, let a2, let a3), .sqlFlag(let b1, let b2, let b3)):
            return a1 == b1 && a2 == b2 && a3 == b3
        case (.sqlClose(let x), .sqlClose(let y)): return x == y
        default: return false
        }
    }
}

/// One value an op produced.
public enum ChannelValue: Equatable, Sendable {
    case undef
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case bytes([UInt8], utf8: Bool)
    /// SQL bindings: a blob, and a zero-filled blob of a size.
    case blob([UInt8])
    case zeroBlob(UInt64)

    /// JSON, for the index and `--jsonl` (strings as text when they are UTF-8, else as hex).
    public var json: String {
        switch self {
        case .undef: return "null"
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let v): return v.isFinite ? "\(v)" : "\"\(v)\""
        case .bytes(let b, _):
            if let s = String(validating: b, as: UTF8.self) { return jsonQuote(s) }
            return "{\"hex\":\"" + hex(b) + "\"}"
        case .blob(let b): return "{\"blob\":\"" + hex(b) + "\"}"
        case .zeroBlob(let n): return "{\"zeroblob\":\(n)}"
        }
    }
}

public struct ChannelFormatError: Error, CustomStringConvertible {
    public let offset: Int
    public let why: String
    public var description: String { "channel record at stream offset \(offset): \(why)" }
}

extension ChannelValue {
    /// The value in the channel's encoding (tag, payload): exact, unlike JSON.
    public func encode(into b: inout [UInt8]) {
        func u(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                b.append(UInt8(v & 0x7f) | 0x80)
                v >>= 7
            }
            b.append(UInt8(v))
        }
        switch self {
        case .undef: b.append(0)
        case .int(let v):
            b.append(1)
            u(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
        case .uint(let v):
            b.append(2)
            u(v)
        case .double(let d):
            b.append(3)
            withUnsafeBytes(of: d.bitPattern.littleEndian) { b += $0 }
        case .bytes(let x, let utf8):
            b.append(utf8 ? 5 : 4)
            u(UInt64(x.count))
            b += x
        case .blob(let x):
            b.append(6)
            u(UInt64(x.count))
            b += x
        case .zeroBlob(let n):
            b.append(7)
            u(n)
        }
    }

    /// Values encoded one after another, back.
    public static func decodeAll(_ bytes: [UInt8]) throws(ChannelFormatError) -> [ChannelValue] {
        var d = ChannelDecoder(bytes)
        var out: [ChannelValue] = []
        while d.offset < bytes.count { out.append(try d.value()) }
        return out
    }
}

/// Decodes a channel stream record by record.
public struct ChannelDecoder {
    public enum Tag: UInt8 {
        case start = 0x01, string, file, context, statement, opBegin, opEnd, environment, arguments, hash, seed, opName
        case sqlConnection = 0x20, sqlPrepare, sqlExec, sqlDone, sqlClock, sqlRandom, sqlSeed, sqlTrigger, sqlFlag,
            sqlClose
    }
    public static let deltaBase: UInt8 = 0x80
    /// The records' format (REVENANT_SHIM_FORMAT_VERSION, revenant_channel.h).
    public static let version = UInt64(REVENANT_SHIM_FORMAT_VERSION)

    let bytes: [UInt8]
    public private(set) var offset = 0
    var context: UInt64 = 0
    var line: Int64 = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// The program's own code: not a module under /usr, not a string eval (the index's
    /// `files.program_code`, and the caller line positions name).
    public static func isProgramCode(_ path: String) -> Bool { !path.hasPrefix("/usr/") && !path.hasPrefix("(eval") }

    /// Where this decoder's bytes end (a record ending here is the last one handed over).
    public var length: Int { bytes.count }

    /// Decodes the next piece of a stream handed over piece by piece (a flush never splits a
    /// record), carrying the statement context the deltas are relative to.
    public init(_ bytes: [UInt8], continuing previous: ChannelDecoder) {
        self.bytes = bytes
        context = previous.context
        line = previous.line
    }

    /// The next records are another program's (ProgramReader): no statement to be relative to.
    mutating func nextProgram() {
        context = 0
        line = 0
    }

    /// The next record and where it ends, or nil at the end of the stream.
    public mutating func next() throws(ChannelFormatError) -> (record: ChannelRecord, end: Int)? {
        guard offset < bytes.count else { return nil }
        let start = offset
        let tag = bytes[offset]
        offset += 1
        if tag >= Self.deltaBase {
            guard context != 0 else {
                throw ChannelFormatError(offset: start, why: "a line delta before any statement")
            }
            line += Int64(tag) - 0xc0
            return (.statement(context: context, line: line), offset)
        }
        guard let t = Tag(rawValue: tag) else {
            throw ChannelFormatError(offset: start, why: "unknown tag 0x\(String(tag, radix: 16))")
        }
        let r: ChannelRecord
        switch t {
        case .start: r = .start(version: try u(), interpreter: try str(), script: try str())
        case .string: r = .string(id: try u(), value: try str())
        case .file:
            let id = try u(), path = try str(), kind = try byte()
            switch kind {
            case 0: r = .file(id: id, path: path, digest: nil)
            case 1: r = .file(id: id, path: path, digest: try raw(32))
            default: throw ChannelFormatError(offset: start, why: "unknown digest kind \(kind)")
            }
        case .context: r = .context(id: try u(), file: try u(), package: try u(), sub: try u())
        case .statement:
            context = try u()
            line = Int64(bitPattern: try u())
            r = .statement(context: context, line: line)
        case .opBegin: r = .opBegin(opcode: try u())
        case .opEnd:
            let op = try u(), err = try u(), n = try u()
            guard n <= UInt64(bytes.count - offset) else {
                throw ChannelFormatError(offset: start, why: "\(n) values cannot fit")
            }
            var values: [ChannelValue] = []
            values.reserveCapacity(Int(n))
            for _ in 0..<n { values.append(try value()) }
            r = .opEnd(opcode: op, errno: err, values: values)
        case .environment:
            let n = try u()
            guard n <= UInt64(bytes.count - offset) else {
                throw ChannelFormatError(offset: start, why: "\(n) variables cannot fit")
            }
            var env: [(String, String)] = []
            for _ in 0..<n { env.append((try str(), try str())) }
            r = .environment(env)
        case .arguments:
            let n = try u()
            guard n <= UInt64(bytes.count - offset) else {
                throw ChannelFormatError(offset: start, why: "\(n) arguments cannot fit")
            }
            var args: [String] = []
            for _ in 0..<n { args.append(try str()) }
            r = .arguments(args)
        case .hash:
            let seed = try rawString()
            let bits = try raw(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
            r = .hashState(seed: seed, randBits: bits, enabled: try byte() != 0)
        case .seed: r = .seed(try u())
        case .opName: r = .opName(opcode: try u(), name: try str())
        case .sqlConnection: r = .sqlConnection(id: try u(), file: try str())
        case .sqlPrepare:
            let id = try u(), conn = try u(), sql = try str()
            r = .sqlPrepare(
                statement: id, connection: conn, sql: sql, reads: try strings(at: start), writes: try strings(at: start)
            )
        case .sqlExec:
            let id = try u(), n = try u()
            guard n <= UInt64(bytes.count - offset) else {
                throw ChannelFormatError(offset: start, why: "\(n) bindings cannot fit")
            }
            var values: [ChannelValue] = []
            for _ in 0..<n { values.append(try value()) }
            r = .sqlExec(statement: id, bindings: values)
        case .sqlDone:
            r = .sqlDone(statement: try u(), rc: try u(), rows: try u(), changes: try s(), digest: try raw(16))
        case .sqlClock: r = .sqlClock(try s())
        case .sqlRandom: r = .sqlRandom(try rawString())
        case .sqlSeed: r = .sqlSeed(requested: try u(), bytes: try rawString())
        case .sqlTrigger: r = .sqlTrigger(connection: try u(), text: try str())
        case .sqlFlag: r = .sqlFlag(connection: try u(), kind: try u(), detail: try str())
        case .sqlClose: r = .sqlClose(connection: try u())
        }
        return (r, offset)
    }

    mutating func byte() throws(ChannelFormatError) -> UInt8 {
        guard offset < bytes.count else {
            throw ChannelFormatError(offset: offset, why: "the stream ends inside a record")
        }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u() throws(ChannelFormatError) -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw ChannelFormatError(offset: offset, why: "a varint longer than 64 bits") }
            v |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    mutating func s() throws(ChannelFormatError) -> Int64 {
        let z = try u()
        return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    mutating func raw(_ n: Int) throws(ChannelFormatError) -> [UInt8] {
        guard n >= 0, n <= bytes.count - offset else {
            throw ChannelFormatError(offset: offset, why: "the stream ends inside a record")
        }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    mutating func rawString() throws(ChannelFormatError) -> [UInt8] {
        let n = try u()
        guard n <= UInt64(bytes.count - offset) else {
            throw ChannelFormatError(offset: offset, why: "a string of \(n) bytes runs past the end")
        }
        return try raw(Int(n))
    }

    mutating func str() throws(ChannelFormatError) -> String { String(decoding: try rawString(), as: UTF8.self) }

    mutating func strings(at start: Int) throws(ChannelFormatError) -> [String] {
        let n = try u()
        guard n <= UInt64(bytes.count - offset) else {
            throw ChannelFormatError(offset: start, why: "\(n) names cannot fit")
        }
        var out: [String] = []
        for _ in 0..<n { out.append(try str()) }
        return out
    }

    mutating func value() throws(ChannelFormatError) -> ChannelValue {
        let at = offset
        switch try byte() {
        case 0: return .undef
        case 1: return .int(try s())
        case 2: return .uint(try u())
        case 3:
            return .double(
                Double(
                    bitPattern: try raw(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
                ))
        case 4: return .bytes(try rawString(), utf8: false)
        case 5: return .bytes(try rawString(), utf8: true)
        case 6: return .blob(try rawString())
        case 7: return .zeroBlob(try u())
        case let t: throw ChannelFormatError(offset: at, why: "unknown value tag \(t)")
        }
    }
}

func jsonQuote(_ s: String) -> String { JSON.quote(s) }

func hex(_ b: [UInt8]) -> String { b.map { String($0, radix: 16).leftPad(2) }.joined() }

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// A report of the Perl shim's replay mode (`REVENANT_REC_REPLAY`, the fast Perl-level replay).
public struct ReplayReport: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case hit = 1, diverged, done, failed, stopped }
    public var kind: Kind
    /// The statement's number in the run (for a hit); how many statements ran (otherwise).
    public var statement: Int
    public var text: String

    public init(kind: Kind, statement: Int, text: String) {
        self.kind = kind
        self.statement = statement
        self.text = text
    }
}

extension ChannelDecoder {
    public static let replayTag = UInt8(REVENANT_REC_REPLAY.rawValue)

    /// The reports in a stream the replay mode wrote (it writes nothing else).
    public static func replayReports(_ bytes: [UInt8]) throws(ChannelFormatError) -> [ReplayReport] {
        var d = ChannelDecoder(bytes)
        var out: [ReplayReport] = []
        while d.offset < bytes.count {
            let start = d.offset
            guard try d.byte() == replayTag else { throw ChannelFormatError(offset: start, why: "not a replay report") }
            let k = try d.byte()
            guard let kind = ReplayReport.Kind(rawValue: k) else {
                throw ChannelFormatError(offset: start, why: "unknown report kind \(k)")
            }
            out.append(ReplayReport(kind: kind, statement: Int(try d.u()), text: try d.str()))
        }
        return out
    }
}
