import Glibc
import LinuxABI
import Trace

/// Event kinds in the `events` stream (Docs/trace-format.md).
public enum EventKind: UInt8 {
    /// One syscall: number, arguments, outcome, and the bytes it wrote into guest memory.
    case syscall = 1
    /// The file behind the next mmap (its blob's SHA-256): replay maps the blob.
    case mappedFile = 2
    /// The run's end: exit status and duration.
    case end = 3
    /// A regular file's contents just before the program opened it for writing: the digest of
    /// its blob (32 bytes) and its guest path. Replay ignores it; SQL time travel starts from it.
    case preImage = 4
    /// Before a successful execve: the AT_RANDOM bytes the new program got (16) and the files the
    /// call opened, in order (ExecEvent). Replay loads the new program from their blobs.
    case exec = 5
    /// The first event of a child process's stream (`events.N`): its pid, its parent's, and the
    /// parent's stream (0: `events`).
    case process = 6
    /// Before a call that wrote to Revenant's stdout or stderr: its ticket, the place of the write
    /// among every process's console writes (replay writes them in this order).
    case order = 7
    /// Before each call of a process once the run has forked (a child's from its start): its
    /// stamp, the call's place among every process's calls (Docs/trace-format.md "Processes").
    case stamp = 8
    /// Right after each pre-image from version 6: the path's mode and times (PreImageAttributes).
    case preImageAttributes = 9

    /// Kinds that go before a syscall event and that replay passes over (what a path held).
    public var isPreImage: Bool { self == .preImage || self == .preImageAttributes }
}

/// The payload of an `order` or a `stamp` event: one varint (a ticket, a stamp), nothing after it.
public enum CountEvent {
    public static func encoded(_ value: UInt64) -> [UInt8] {
        var b: [UInt8] = []
        appendVarint(&b, value)
        return b
    }

    /// nil when the payload is not exactly one varint.
    public static func decode(_ payload: [UInt8]) -> UInt64? {
        guard let (v, n) = readVarint(payload, 0), n == payload.count else { return nil }
        return v
    }
}

/// The payload of an `EventKind.end` event: the exit status, the duration, and from events
/// version 5 the syscall rewriter's figures when it ran (Docs/trace-format.md).
public struct EndEvent: Equatable {
    public var status: Int32
    public var nanoseconds: UInt64
    public var syscallSites: SyscallSiteFigures?

    public init(status: Int32, nanoseconds: UInt64, syscallSites: SyscallSiteFigures? = nil) {
        self.status = status
        self.nanoseconds = nanoseconds
        self.syscallSites = syscallSites
    }

    public func encoded() -> [UInt8] {
        var b: [UInt8] = []
        appendVarint(&b, zigzag(Int64(status)))
        appendVarint(&b, nanoseconds)
        if let f = syscallSites {
            for v in [f.rewritten, f.fast, f.trapped] { appendVarint(&b, UInt64(v)) }
        }
        return b
    }

    /// nil when not even the status and the duration read; the figures when all three read.
    public static func decode(_ p: [UInt8]) -> EndEvent? {
        guard let (s, n) = readVarint(p, 0), let (ns, m) = readVarint(p, n) else { return nil }
        var end = EndEvent(status: Int32(truncatingIfNeeded: unzigzag(s)), nanoseconds: ns)
        if let (r, a) = readVarint(p, n + m), let (f, b) = readVarint(p, n + m + a),
            let (t, _) = readVarint(p, n + m + a + b)
        {
            end.syscallSites = SyscallSiteFigures(
                rewritten: Int(clamping: r), fast: Int(clamping: f), trapped: Int(clamping: t))
        }
        return end
    }
}

/// What the syscall rewriter did in one process: sites rewritten, calls that came through them
/// (no trap) and calls that trapped.
public struct SyscallSiteFigures: Equatable {
    public var rewritten: Int, fast: Int, trapped: Int

    public init(rewritten: Int, fast: Int, trapped: Int) {
        self.rewritten = rewritten
        self.fast = fast
        self.trapped = trapped
    }

    /// "83.0% of calls without a trap (195 of 235)", or of `whose` calls.
    public func shareText(whose: String = "") -> String {
        let calls = fast + trapped
        let percent: Double = calls > 0 ? (1000 * Double(fast) / Double(calls)).rounded() / 10 : 0
        let share = calls > 0 ? "\(percent)" : "0"
        return "\(share)% of \(whose)calls without a trap (\(fast) of \(calls))"
    }
}

/// The payload of an `EventKind.process` event.
public struct ProcessEvent: Equatable {
    public var pid: Int32
    public var parent: Int32
    public var parentStream: Int

    public init(pid: Int32, parent: Int32, parentStream: Int) {
        self.pid = pid
        self.parent = parent
        self.parentStream = parentStream
    }

    public func encoded() -> [UInt8] {
        var b: [UInt8] = []
        appendVarint(&b, UInt64(UInt32(bitPattern: pid)))
        appendVarint(&b, UInt64(UInt32(bitPattern: parent)))
        appendVarint(&b, UInt64(parentStream))
        return b
    }

    public static func decode(_ p: [UInt8]) throws(SyscallEvent.DecodeError) -> ProcessEvent {
        guard let (pid, n) = readVarint(p, 0), let (parent, m) = readVarint(p, n),
            let (stream, k) = readVarint(p, n + m), n + m + k == p.count,
            pid <= UInt32.max, parent <= UInt32.max, stream <= UInt32.max
        else { throw .init(why: "a process event of \(p.count) bytes that does not read") }
        return ProcessEvent(
            pid: Int32(bitPattern: UInt32(truncatingIfNeeded: pid)),
            parent: Int32(bitPattern: UInt32(truncatingIfNeeded: parent)), parentStream: Int(stream))
    }
}

/// The payload of an `EventKind.exec` event.
public struct ExecEvent: Equatable {
    public var atRandom: [UInt8]
    /// The guest path each file was asked for, and its blob's SHA-256 (hex).
    public var files: [(path: ByteString, digest: String)]

    public init(atRandom: [UInt8], files: [(path: ByteString, digest: String)]) {
        self.atRandom = atRandom
        self.files = files
    }

    public static func == (a: ExecEvent, b: ExecEvent) -> Bool {
        a.atRandom == b.atRandom && a.files.map(\.path) == b.files.map(\.path)
            && a.files.map(\.digest) == b.files.map(\.digest)
    }

    public func encoded() -> [UInt8] {
        var b = atRandom
        appendVarint(&b, UInt64(files.count))
        for f in files {
            b += Hex.bytes(f.digest)
            appendVarint(&b, UInt64(f.path.count))
            b += f.path.bytes
        }
        return b
    }

    public static func decode(_ p: [UInt8]) throws(SyscallEvent.DecodeError) -> ExecEvent {
        guard p.count >= 16 else { throw .init(why: "an exec event of \(p.count) bytes") }
        var i = 16
        guard let (n, used) = readVarint(p, i), n <= 16 else { throw .init(why: "an exec event's file count") }
        i += used
        var files: [(path: ByteString, digest: String)] = []
        for _ in 0..<n {
            guard p.count - i >= 32 else { throw .init(why: "an exec event's digest runs past it") }
            let digest = Hex.string(Array(p[i..<i + 32]))
            i += 32
            guard let (len, used) = readVarint(p, i), len <= UInt64(p.count - i - used) else {
                throw .init(why: "an exec event's path runs past it")
            }
            i += used
            files.append((ByteString(Array(p[i..<i + Int(len)])), digest))
            i += Int(len)
        }
        guard i == p.count else { throw .init(why: "\(p.count - i) bytes left over in an exec event") }
        return ExecEvent(atRandom: Array(p[0..<16]), files: files)
    }
}

/// The payload of an `EventKind.syscall` event.
public struct SyscallEvent: Equatable {
    public var number: UInt64
    public var args: [UInt64]
    public var outcome: SyscallOutcome
    /// 1 or 2 when the call wrote to the stdout or stderr Revenant was given.
    public var console: UInt8
    public var writes: [(address: UInt64, bytes: [UInt8])]
    /// Path arguments as the program passed them (argument index → bytes), for `log` and search;
    /// replay does not need them.
    public var paths: [(index: Int, bytes: [UInt8])] = []
    /// A fork's result in the parent: the child's pid, or -errno when the host could not fork;
    /// and the child's stream (`events.N`: pids are reused, stream numbers are not).
    public var child: Int64 = 0
    public var childStream = 0

    public init(
        number: UInt64, args: [UInt64], outcome: SyscallOutcome, console: UInt8,
        writes: [(address: UInt64, bytes: [UInt8])]
    ) {
        self.number = number
        self.args = args
        self.outcome = outcome
        self.console = console
        self.writes = writes
    }

    public static func == (a: SyscallEvent, b: SyscallEvent) -> Bool {
        a.number == b.number && a.args == b.args && a.outcome == b.outcome && a.console == b.console
            && a.child == b.child && a.childStream == b.childStream
            && a.writes.map(\.address) == b.writes.map(\.address) && a.writes.map(\.bytes) == b.writes.map(\.bytes)
    }

    public var name: String { Int(exactly: number).flatMap { SyscallNames.byNumber[$0] } ?? "syscall_\(number)" }

    /// The value rax got (for outcomes that return into the program).
    public var result: Int64 {
        switch outcome {
        case .value(let v): return v
        case .deliver(let d): return d.result
        case .fork: return child
        default: return 0
        }
    }

    public func encoded() -> [UInt8] {
        var b: [UInt8] = []
        appendVarint(&b, number)
        for a in args { appendVarint(&b, a) }
        b.append(console)
        switch outcome {
        case .value(let v):
            b.append(0)
            appendVarint(&b, zigzag(v))
        case .setFSBase(let base):
            b.append(1)
            appendVarint(&b, base)
        case .exit(let s):
            b.append(2)
            appendVarint(&b, zigzag(Int64(s)))
        case .killed(let sig, let reason):
            b.append(3)
            appendVarint(&b, UInt64(UInt32(bitPattern: sig)))
            appendVarint(&b, UInt64(reason.utf8.count))
            b += reason.utf8
        case .deliver(let d):
            b.append(4)
            appendVarint(&b, UInt64(UInt32(bitPattern: d.signal)))
            appendVarint(&b, zigzag(Int64(d.code)))
            appendVarint(&b, zigzag(d.result))
            appendVarint(&b, d.handler)
        case .signalReturn(let frame):
            b.append(5)
            appendVarint(&b, frame)
        case .exec(let entry, let stack):
            b.append(6)
            appendVarint(&b, entry)
            appendVarint(&b, stack)
        case .halt: break  // never logged: the recorder halts a run without writing the call
        case .fork(let stack):
            b.append(7)
            appendVarint(&b, stack)
            appendVarint(&b, zigzag(child))
            appendVarint(&b, UInt64(childStream))
        }
        appendVarint(&b, UInt64(writes.count))
        for w in writes {
            appendVarint(&b, w.address)
            appendVarint(&b, UInt64(w.bytes.count))
            b += w.bytes
        }
        appendVarint(&b, UInt64(paths.count))
        for p in paths {
            appendVarint(&b, UInt64(p.index))
            appendVarint(&b, UInt64(p.bytes.count))
            b += p.bytes
        }
        return b
    }

    public struct DecodeError: Error { public let why: String }

    public static func decode(_ p: [UInt8]) throws(DecodeError) -> SyscallEvent {
        var i = 0
        func varint() throws(DecodeError) -> UInt64 {
            guard let (v, n) = readVarint(p, i) else { throw DecodeError(why: "truncated number at byte \(i)") }
            i += n
            return v
        }
        func byte() throws(DecodeError) -> UInt8 {
            guard i < p.count else { throw DecodeError(why: "truncated at byte \(i)") }
            defer { i += 1 }
            return p[i]
        }
        func bytes(_ n: UInt64) throws(DecodeError) -> [UInt8] {
            guard n <= UInt64(p.count - i) else { throw DecodeError(why: "\(n) bytes run past the event") }
            defer { i += Int(n) }
            return Array(p[i..<i + Int(n)])
        }
        let number = try varint()
        var args: [UInt64] = []
        for _ in 0..<6 { args.append(try varint()) }
        let console = try byte()
        let outcome: SyscallOutcome
        switch try byte() {
        case 0: outcome = .value(unzigzag(try varint()))
        case 1: outcome = .setFSBase(try varint())
        case 2: outcome = .exit(Int32(truncatingIfNeeded: unzigzag(try varint())))
        case 3:
            let sig = Int32(truncatingIfNeeded: try varint())
            outcome = .killed(signal: sig, reason: String(decoding: try bytes(try varint()), as: UTF8.self))
        case 4:
            let sig = Int32(truncatingIfNeeded: try varint()), code = Int32(truncatingIfNeeded: unzigzag(try varint()))
            let result = unzigzag(try varint()), handler = try varint()
            outcome = .deliver(
                SignalDelivery(
                    signal: sig, handler: handler, restorer: 0, flags: 0, savedMask: 0,
                    code: code, senderPID: 0, senderUID: 0, result: result))
        case 5: outcome = .signalReturn(frame: try varint())
        case 6:
            let entry = try varint()
            outcome = .exec(entry: entry, stack: try varint())
        case 7: outcome = .fork(childStack: try varint())
        case let t: throw DecodeError(why: "unknown outcome \(t)")
        }
        var child: Int64 = 0, childStream: UInt64 = 0
        if case .fork = outcome {
            child = unzigzag(try varint())
            childStream = try varint()
            guard childStream <= UInt32.max else { throw DecodeError(why: "stream \(childStream)") }
        }
        let n = try varint()
        guard n <= UInt64(p.count) else { throw DecodeError(why: "\(n) memory writes cannot fit") }
        var writes: [(address: UInt64, bytes: [UInt8])] = []
        for _ in 0..<n {
            let addr = try varint()
            writes.append((addr, try bytes(try varint())))
        }
        let np = try varint()
        guard np <= 6 else { throw DecodeError(why: "\(np) path arguments") }
        var paths: [(index: Int, bytes: [UInt8])] = []
        for _ in 0..<np {
            let index = Int(try varint() & 7)
            paths.append((index, try bytes(try varint())))
        }
        guard i == p.count else { throw DecodeError(why: "\(p.count - i) bytes left over") }
        var e = SyscallEvent(number: number, args: args, outcome: outcome, console: console, writes: writes)
        e.paths = paths
        e.child = child
        e.childStream = Int(childStream)
        return e
    }
}

@inline(__always) public func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
@inline(__always) public func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

/// The recorder's and the replayer's view of the syscall table (LinuxABI/SyscallTable.swift): one
/// row per call says how it is replayed, which arguments are paths, what its result counts and
/// which descriptor's file it writes.
public enum ReplayPolicy {
    public static func reexecutes(_ nr: UInt64) -> Bool { rule(nr) == .runAgain }
    public static func rule(_ nr: UInt64) -> ReplayRule { column[nr].rule }
    static func resultSized(_ nr: UInt64) -> Bool { column[nr].resultSized }
    static func pathArguments(_ nr: UInt64) -> [Int] { column[nr].paths }
    static func output(_ nr: UInt64) -> Int? { column[nr].output }

    /// The rows' columns read at every call, by number: the table's dictionary, hashed and the
    /// whole row copied for each column, was a fifth of recording a call.
    /// (A number with no row: replayed from the log, as `fedBack`, with no path and no output.)
    struct Columns {
        var rule: ReplayRule = .fedBack
        var resultSized = false
        var paths: [Int] = []
        var output: Int?
    }
    static let column = ColumnsByNumber(SyscallTable.entries)
    struct ColumnsByNumber {
        private var rows: [Columns]
        init(_ entries: [SyscallSpec]) {
            rows = Array(repeating: Columns(), count: (entries.map(\.number).max() ?? 0) + 1)
            for e in entries where e.number >= 0 {
                rows[e.number] = Columns(rule: e.replay, resultSized: e.resultSized, paths: e.paths, output: e.output)
            }
        }
        subscript(_ nr: UInt64) -> Columns { nr < UInt64(rows.count) ? rows[Int(nr)] : Columns() }
    }

    /// A call that takes or lets go of a file lock without waiting (fcntl F_SETLK, F_OFD_SETLK;
    /// flock with LOCK_NB or LOCK_UN): stamped under the run's lock, so a process that takes the
    /// lock after another let it go is stamped after it (SQLite's locks order its writers).
    static let (fcntl, flock) = (UInt64(SyscallNames.byName["fcntl"]!), UInt64(SyscallNames.byName["flock"]!))
    static func locksWithoutWaiting(_ req: SyscallRequest) -> Bool {
        switch req.number {
        case fcntl: return req[1] == UInt64(F_SETLK) || req[1] == 37  // F_OFD_SETLK
        case flock: return req[1] & UInt64(LOCK_NB | LOCK_UN) != 0
        default: return false
        }
    }
}
