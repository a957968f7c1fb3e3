import CHost
import Glibc
import LinuxABI

/// The `events` file: a preamble, then chunks that each hold a run of events, lz4-compressed and
/// CRC-checked (layout in Docs/trace-format.md). Events are opaque here — a kind byte and a
/// payload; the recorder gives them meaning. Writing only ever appends whole chunks, so a recorder
/// killed midway leaves a stream that reads up to its last complete chunk.
public enum EventStreamFormat {
    public static let magic: [UInt8] = Array("RVNTEVTS".utf8)
    /// 2 added the exec event and outcome (execve); 3 the process and order events and the fork
    /// outcome (child processes); 4 the stamp event (a run's calls in one order); 5 the syscall
    /// rewriter's figures in the end event; 6 pre-images of every file a run changes (removed,
    /// renamed over, truncated, chmod'ed without being opened), each followed by its attributes;
    /// 7 an empty mapped-file event for a mapping of /dev/zero. Older streams are read as they are.
    public static let version: UInt32 = 7
    public static let oldestReadable: UInt32 = 1
    public static let preambleSize = 16
    public static let chunkMagic: UInt32 = 0x4B43_5652  // "RVCK"
    public static let chunkHeaderSize = 32
    /// Chunks are flushed at this many uncompressed bytes; no chunk may exceed `maxChunk`.
    public static let chunkTarget = 64 << 10
    /// ... and once their first event is this old (ns), so that a follower is at most this far
    /// behind a recorder that keeps making calls.
    public static let chunkDelay: UInt64 = 50_000_000
    public static let maxChunk = 16 << 20
}

public struct Event: Equatable, Sendable {
    public var kind: UInt8
    public var payload: [UInt8]
    public init(kind: UInt8, payload: [UInt8]) {
        self.kind = kind
        self.payload = payload
    }
}

/// Appends events to an `events` file.
public final class EventWriter {
    let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var bufferedEvents: UInt32 = 0
    private var bufferedSince: UInt64 = 0
    public internal(set) var eventCount: UInt64 = 0
    public private(set) var bytesWritten: UInt64 = 0
    public private(set) var chunks = 0
    /// While held (hold()), no chunk is written but by flush(): what is appended meanwhile stays
    /// in the buffer.
    private var holds = 0
    /// Appends and flushes may come from two threads (the primary of `run --replicas` flushes a
    /// quiet log from a thread of its own: flushIfOlder).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// Create `path` (it must not exist) and write the preamble.
    public init(path: String) throws(TraceError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        // Held while the stream is written, by every process that has it open (a forked child
        // too): a follower (Follow) waits as long as it is held.
        _ = flock(fd, LOCK_EX | LOCK_NB)
        var pre = EventStreamFormat.magic
        pre += le(EventStreamFormat.version) + le(UInt32(0))
        try writeAll(pre)
    }

    /// Go on writing a stream another writer began (StreamHandOver.swift): `fd` is open on it,
    /// truncated where this writer's first chunk goes, which holds event `eventCount` on.
    init(continuing fd: Int32, path: String, eventCount: UInt64) {
        self.fd = fd
        self.path = path
        self.eventCount = eventCount
    }

    deinit {
        Glibc.close(fd)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func append(_ e: Event) throws(TraceError) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        buffer.append(e.kind)
        appendVarint(&buffer, UInt64(e.payload.count))
        buffer += e.payload
        if bufferedEvents == 0 { bufferedSince = chost_monotonic_ns() }
        bufferedEvents += 1
        eventCount += 1
        if holds == 0,
            buffer.count >= EventStreamFormat.chunkTarget
                || chost_monotonic_ns() &- bufferedSince >= EventStreamFormat.chunkDelay
        {
            try flushLocked()
        }
    }

    /// Write the buffered events as one chunk.
    public func flush() throws(TraceError) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        try flushLocked()
    }

    /// Flush what waited at least `nanoseconds` (a writer whose program went quiet: the chunk
    /// would otherwise wait for its next event).
    public func flushIfOlder(than nanoseconds: UInt64) throws(TraceError) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if holds == 0, bufferedEvents > 0, chost_monotonic_ns() &- bufferedSince >= nanoseconds { try flushLocked() }
    }

    /// Keep what is appended from the stream until release() (or an explicit flush()): the
    /// primary of `run --replicas` hands the supervisor a socket before its making is logged.
    public func hold() {
        pthread_mutex_lock(mutex)
        holds += 1
        pthread_mutex_unlock(mutex)
    }

    public func release() {
        pthread_mutex_lock(mutex)
        holds -= 1
        pthread_mutex_unlock(mutex)
    }

    private func flushLocked() throws(TraceError) {
        guard bufferedEvents > 0 else { return }
        let payload = LZ4.compress(buffer)
        var header = le(EventStreamFormat.chunkMagic) + le(UInt32(0)) + le(eventCount - UInt64(bufferedEvents))
        header += le(bufferedEvents) + le(UInt32(buffer.count)) + le(UInt32(payload.count))
        let crc = CRC32.checksum(payload, initial: CRC32.checksum(header))
        try writeAll(header + le(crc) + payload)
        buffer.removeAll(keepingCapacity: true)
        bufferedEvents = 0
        chunks += 1
    }

    public func close() throws(TraceError) {
        try flush()
        if fsync(fd) != 0 { throw .io(path: path, errno: errno) }
    }

    private func writeAll(_ bytes: [UInt8]) throws(TraceError) {
        guard bytes.withUnsafeBytes({ LinuxABI.writeAll(fd, $0) }) else { throw .io(path: path, errno: errno) }
        bytesWritten += UInt64(bytes.count)
    }
}

/// Reads the events of an `events` file, chunk by chunk, checking everything it reads.
public struct EventReader {
    public internal(set) var bytes: [UInt8]
    public let path: String
    /// Where the next chunk starts, and where the one `pending` was read from did.
    var offset: Int
    var chunkStart = 0
    var pending: [Event] = []
    var pendingIndex = 0
    /// Events of the next chunk already read before a rewind (StreamHandOver.swift).
    var skipOnNextChunk: UInt64 = 0
    public internal(set) var eventsRead: UInt64 = 0
    /// The event the next `next()` gives: after a rewind into a chunk not read again yet,
    /// `eventsRead` counts to that chunk's start, and its events before the place are skipped
    /// when it is read.
    public var position: UInt64 { eventsRead + skipOnNextChunk }
    /// Set when the file ends inside a chunk (a recorder killed while writing it): the events before
    /// it are complete and valid.
    public private(set) var truncatedAt: UInt64?
    /// The stream's format version (what its events may hold depends on it).
    public let version: UInt32

    public init(path: String) throws(TraceError) {
        try self.init(bytes: try readRegularFile(path), path: path)
    }

    public init(bytes: [UInt8], path: String = "events") throws(TraceError) {
        self.bytes = bytes
        self.path = path
        guard bytes.count >= EventStreamFormat.preambleSize, Array(bytes[0..<8]) == EventStreamFormat.magic else {
            throw .notATrace(
                path: path,
                why: "the events file does not start with \(String(decoding: EventStreamFormat.magic, as: UTF8.self))")
        }
        version = readLE32(bytes, 8)
        guard (EventStreamFormat.oldestReadable...EventStreamFormat.version).contains(version) else {
            throw .unsupportedVersion(file: path, found: version, supported: EventStreamFormat.version)
        }
        // Every byte is checked: the preamble's reserved word too.
        guard readLE32(bytes, 12) == 0 else {
            throw .notATrace(path: path, why: "its preamble's reserved bytes are not zero")
        }
        offset = EventStreamFormat.preambleSize
    }

    /// Read what was appended to the file since (following a stream being written); whether
    /// anything was.
    public mutating func refill() -> Bool {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // Only an incomplete chunk lies past `offset` (else next() would have read it): read it
        // again from the file, which may have been cut there and written on by another writer
        // (a backup of `run --replicas` that took the primary's place).
        if bytes.count > offset { bytes.removeSubrange(offset...) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += buffer[0..<n]
        }
        // Whether there is anything past `offset` to try (it may be as long as before, but new).
        let grew = bytes.count > offset
        if grew { truncatedAt = nil }
        return grew
    }

    /// The next event, nil at the end of the stream (or of its last complete chunk).
    public mutating func next() throws(TraceError) -> Event? {
        while pendingIndex >= pending.count {
            guard try readChunk() else { return nil }
            if skipOnNextChunk > 0 {
                let k = min(skipOnNextChunk, UInt64(pending.count))
                pendingIndex = Int(k)
                eventsRead += k
                skipOnNextChunk -= k
            }
        }
        defer { pendingIndex += 1 }
        eventsRead += 1
        return pending[pendingIndex]
    }

    mutating func readChunk() throws(TraceError) -> Bool {
        let start = offset
        guard start < bytes.count else { return false }
        guard bytes.count - start >= EventStreamFormat.chunkHeaderSize else {
            truncatedAt = UInt64(start)
            return false
        }
        let off = UInt64(start)
        guard readLE32(bytes, start) == EventStreamFormat.chunkMagic else {
            throw .corruptChunk(offset: off, why: "bad chunk magic")
        }
        let first = readLE64(bytes, start + 8)
        let count = readLE32(bytes, start + 16)
        let rawSize = Int(readLE32(bytes, start + 20)), packedSize = Int(readLE32(bytes, start + 24))
        let crc = readLE32(bytes, start + 28)
        guard rawSize <= EventStreamFormat.maxChunk, packedSize <= EventStreamFormat.maxChunk, count > 0 else {
            throw .corruptChunk(
                offset: off, why: "impossible sizes (\(count) events, \(rawSize) bytes, \(packedSize) compressed)")
        }
        guard first == eventsRead else {
            throw .corruptChunk(offset: off, why: "starts at event \(first), expected \(eventsRead)")
        }
        let payloadStart = start + EventStreamFormat.chunkHeaderSize
        guard bytes.count - payloadStart >= packedSize else {
            truncatedAt = off
            return false
        }
        let payload = bytes[payloadStart..<payloadStart + packedSize]
        let expected = CRC32.checksum(payload, initial: CRC32.checksum(bytes[start..<start + 28]))
        guard expected == crc else { throw .corruptChunk(offset: off, why: "CRC mismatch") }
        guard let raw = LZ4.decompress(payload, size: rawSize) else {
            throw .corruptChunk(offset: off, why: "lz4 data does not decompress")
        }
        var events: [Event] = []
        var p = 0
        while p < raw.count {
            let kind = raw[p]
            p += 1
            guard let (len, used) = readVarint(raw, p), len <= UInt64(raw.count - p - used) else {
                throw .corruptChunk(offset: off, why: "event \(eventsRead + UInt64(events.count)) overruns its chunk")
            }
            p += used
            events.append(Event(kind: kind, payload: Array(raw[p..<p + Int(len)])))
            p += Int(len)
        }
        guard events.count == Int(count) else {
            throw .corruptChunk(offset: off, why: "holds \(events.count) events, header says \(count)")
        }
        pending = events
        pendingIndex = 0
        chunkStart = start
        offset = payloadStart + packedSize
        return true
    }
}

// MARK: - Little-endian and varint helpers

@inline(__always) func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
@inline(__always) func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
func readLE32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
func readLE64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }

/// LEB128, as in DWARF and protobuf.
public func appendVarint(_ out: inout [UInt8], _ value: UInt64) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(v & 0x7f) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

/// The varint at `offset`, and how many bytes it took; nil if it runs off the end or past 64 bits.
public func readVarint(_ b: [UInt8], _ offset: Int) -> (UInt64, Int)? {
    var v: UInt64 = 0, shift: UInt64 = 0, i = offset
    while i < b.count {
        let byte = b[i]
        i += 1
        if shift == 63 && byte > 1 { return nil }
        v |= UInt64(byte & 0x7f) << shift
        if byte & 0x80 == 0 { return (v, i - offset) }
        shift += 7
        if shift > 63 { return nil }
    }
    return nil
}

/// A whole regular file's bytes, or nil when it cannot be read (errno set; EINVAL for anything
/// but a regular file: a FIFO or a device in its place must not block or stream forever).
public func readWholeFile(_ path: String) -> [UInt8]? {
    // O_NONBLOCK: opening a FIFO that has no writer returns at once instead of waiting for one.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { return nil }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
        errno = EINVAL
        return nil
    }
    var out = [UInt8](repeating: 0, count: Int(st.st_size))
    var off = 0
    while off < out.count {
        let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        off += n
    }
    out.removeLast(out.count - off)
    return out
}

/// A file of the trace, read whole: a missing, unreadable or irregular one is a TraceError.
public func readRegularFile(_ path: String) throws(TraceError) -> [UInt8] {
    guard let bytes = readWholeFile(path) else {
        throw errno == EINVAL ? .notRegular(path: path) : .io(path: path, errno: errno)
    }
    return bytes
}

/// Write `bytes` as the whole file at `path` (created with `mode`, or truncated); errno on failure.
public func writeWholeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) -> Int32? {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    return bytes.withUnsafeBytes { writeAll(fd, $0) } ? nil : errno
}
