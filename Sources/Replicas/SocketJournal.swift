import CHost
import Glibc

/// What the guest read from outside, in order (Docs/replicas.md "Inputs"): what the supervisor
/// consumed from its sockets and a terminal on stdin, and what the kernel copied from files in
/// writable mounts for the primary. A file in memory that every replica inherits, of records —
/// a key (u64), the length (u64), the bytes — of which `ReplicaBoard.journalLength` bytes are
/// written whole. A socket's key is the event that made it, and seen per socket, the records are
/// the bytes its guest read, in order: backups check the primary's log against them, and a new
/// primary reads first the ones its log does not account for. The terminal's key is `terminal`;
/// a datagram's sender's is its socket's with bit 61 set (`senders`); a file read's is its
/// call's event with bit 62 set (`fileRead`), one record per call.
package struct SocketJournal {
    package let fd: Int32
    /// Per socket (by the event that made it): where its records' bytes are in the file, in order.
    private var records: [UInt64: [(at: Int64, count: Int)]] = [:]
    /// Per call that read a file in a writable mount (by its event), not yet let go: where its
    /// record's bytes are (a later record for the same event, a new primary's, replaces one).
    private var fileReads: [UInt64: (at: Int64, count: Int)] = [:]
    /// Where the next record starts, of those seen.
    package private(set) var scanned: Int64 = 0

    package init(fd: Int32) { self.fd = fd }

    /// The records of Revenant's stdin when it is a terminal, which the supervisor reads too
    /// (SocketReads): no event made it.
    package static let terminal = UInt64.max
    /// The key of the senders' addresses of the datagrams the socket made at `made` received,
    /// a record each, after the datagram's own.
    package static func senders(_ made: UInt64) -> UInt64 { made | 1 << 61 }
    /// The key of what the guest read from a file in a writable mount at the call `event`.
    package static func fileRead(_ event: UInt64) -> UInt64 { event | fileBit }
    private static let fileBit: UInt64 = 1 << 62

    /// A record's header: its key and its length, little-endian.
    private static func header(_ key: UInt64, _ count: Int) -> [UInt8] {
        [key, UInt64(count)].flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    }

    /// The supervisor: `bytes` of the socket made at `made` appended at `end`; the new end.
    package static func append(_ fd: Int32, at end: UInt64, made: UInt64, bytes: [UInt8]) -> UInt64? {
        let record = header(made, bytes.count) + bytes
        let n = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(end)) }
        return n == record.count ? end + UInt64(n) : nil
    }

    /// The primary: what its guest reads at the call `event` from the regular file `file` — at
    /// most `count` bytes, at `offset`, or (nil) at the file's own offset, which moves as the
    /// read's would — appended at `end`. The kernel copies them (sendfile), so they never pass
    /// through the primary's memory, where a fault could change them before the backups see
    /// them. The bytes copied (0: none, at the end of the file; or -errno) and the new end.
    package static func appendFileRead(
        _ fd: Int32, at end: UInt64, event: UInt64, from file: Int32, offset: Int64?, count: Int
    ) -> (got: Int, end: UInt64) {
        guard lseek(fd, off_t(end) + 16, SEEK_SET) >= 0 else { return (-Int(errno), end) }
        var got = 0
        var at = off_t(offset ?? 0)
        while got < count {
            let n = offset == nil ? sendfile(fd, file, nil, count - got) : sendfile(fd, file, &at, count - got)
            if n > 0 {
                got += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                if got == 0 { return (-Int(errno), end) }
                break
            }
        }
        guard got > 0 else { return (0, end) }
        let record = header(fileRead(event), got)
        guard record.withUnsafeBytes({ pwrite(fd, $0.baseAddress, 16, off_t(end)) }) == 16 else {
            return (-Int(EIO), end)
        }
        return (got, end + 16 + UInt64(got))
    }

    /// The records written since the last look, up to `length`.
    package mutating func catchUp(to length: UInt64) {
        var header = [UInt8](repeating: 0, count: 16)
        while scanned + 16 <= Int64(length) {
            guard header.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 16, off_t(scanned)) }) == 16 else { return }
            let word = { (o: Int) in (0..<8).reduce(UInt64(0)) { $0 | UInt64(header[o + $1]) << (8 * UInt64($1)) } }
            let made = word(0), count = Int(word(8))
            if made != Self.terminal, made & Self.fileBit != 0 {
                fileReads[made & ~Self.fileBit] = (scanned + 16, count)
            } else {
                records[made, default: []].append((scanned + 16, count))
            }
            scanned += 16 + Int64(count)
        }
    }

    /// The first byte of the file a reader whose guest read `offsets` of its sockets (by the
    /// event that made each) and is at the call `event` may still need: the record it reads next
    /// of each socket, those of file reads at `event` or after, or what it has not seen yet. The
    /// file reads before `event` are let go of.
    package mutating func needed(_ offsets: [UInt64: Int64], at event: UInt64) -> Int64 {
        var first = scanned
        for (read, r) in fileReads {
            if read < event { fileReads[read] = nil } else { first = min(first, r.at - 16) }
        }
        for (made, offset) in offsets {
            var start: Int64 = 0
            for r in records[made] ?? [] {
                if offset < start + Int64(r.count) {
                    first = min(first, r.at - 16)
                    break
                }
                start += Int64(r.count)
            }
        }
        return first
    }

    /// What the supervisor read from a file for the call `event`, nil when it read nothing for it.
    package func fileRead(at event: UInt64) -> [UInt8]? {
        guard let r = fileReads[event] else { return nil }
        var bytes = [UInt8](repeating: 0, count: r.count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, r.count, off_t(r.at)) }
        return n == r.count ? bytes : nil
    }

    /// The same, let go of at once (the primary reads each once).
    package mutating func takeFileRead(at event: UInt64) -> [UInt8]? {
        defer { fileReads[event] = nil }
        return fileRead(at: event)
    }

    /// Record `index` of those under `key`, nil when there is none.
    package func record(of key: UInt64, _ index: Int) -> [UInt8]? {
        guard let list = records[key], index >= 0, index < list.count else { return nil }
        let r = list[index]
        var bytes = [UInt8](repeating: 0, count: r.count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, r.count, off_t(r.at)) }
        return n == r.count ? bytes : nil
    }
    /// How many records there are under `key`.
    package func records(of key: UInt64) -> Int { records[key]?.count ?? 0 }
    /// Which of the records under `key` starts at byte `offset` of their bytes, nil when none does.
    package func recordIndex(of key: UInt64, at offset: Int64) -> Int? {
        var start: Int64 = 0
        for (i, r) in (records[key] ?? []).enumerated() {
            if start == offset { return i }
            start += Int64(r.count)
        }
        return nil
    }

    /// How many bytes of the socket made at `made` the journal holds.
    package func total(of made: UInt64) -> Int64 { Int64(records[made]?.reduce(0) { $0 + $1.count } ?? 0) }

    /// Bytes `offset ..< offset + count` of the socket made at `made`, as its guest reads them;
    /// nil when the journal does not hold them all.
    package func bytes(of made: UInt64, from offset: Int64, count: Int) -> [UInt8]? {
        guard let list = records[made], offset >= 0, count >= 0, offset + Int64(count) <= total(of: made) else {
            return nil
        }
        var out = [UInt8]()
        out.reserveCapacity(count)
        var start: Int64 = 0
        for r in list where out.count < count {
            let end = start + Int64(r.count)
            defer { start = end }
            guard end > offset + Int64(out.count) else { continue }
            let from = offset + Int64(out.count) - start
            let n = min(Int64(r.count) - from, Int64(count - out.count))
            var chunk = [UInt8](repeating: 0, count: Int(n))
            guard chunk.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, Int(n), off_t(r.at + from)) }) == Int(n)
            else { return nil }
            out += chunk
        }
        return out.count == count ? out : nil
    }
}
