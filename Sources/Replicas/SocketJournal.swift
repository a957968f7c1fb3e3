import CHost
import Glibc

/// What the supervisor consumed from the guest's stream sockets, in order (Docs/replicas.md
/// "Inputs"): a file in memory that every replica inherits, of records — the event that made
/// the socket (u64), the length (u64), the bytes — of which `ReplicaBoard.journalLength` bytes
/// are written whole. Seen per socket, the records are the bytes its guest read, in order:
/// backups check the primary's log against them, and a new primary reads first the ones its log
/// does not account for.
package struct SocketJournal {
    package let fd: Int32
    /// Per socket (by the event that made it): where its records' bytes are in the file, in order.
    private var records: [UInt64: [(at: Int64, count: Int)]] = [:]
    /// Where the next record starts, of those seen.
    package private(set) var scanned: Int64 = 0

    package init(fd: Int32) { self.fd = fd }

    /// The records of Revenant's stdin when it is a terminal, which the supervisor reads too
    /// (SocketReads): no event made it.
    package static let terminal = UInt64.max

    /// The supervisor: `bytes` of the socket made at `made` appended at `end`; the new end.
    package static func append(_ fd: Int32, at end: UInt64, made: UInt64, bytes: [UInt8]) -> UInt64? {
        var record = [UInt8]()
        record.reserveCapacity(16 + bytes.count)
        for v in [made, UInt64(bytes.count)] {
            for k in 0..<8 { record.append(UInt8(truncatingIfNeeded: v >> (8 * k))) }
        }
        record += bytes
        let n = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(end)) }
        return n == record.count ? end + UInt64(n) : nil
    }

    /// The records written since the last look, up to `length`.
    package mutating func catchUp(to length: UInt64) {
        var header = [UInt8](repeating: 0, count: 16)
        while scanned + 16 <= Int64(length) {
            guard header.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 16, off_t(scanned)) }) == 16 else { return }
            let word = { (o: Int) in (0..<8).reduce(UInt64(0)) { $0 | UInt64(header[o + $1]) << (8 * UInt64($1)) } }
            let made = word(0), count = Int(word(8))
            records[made, default: []].append((scanned + 16, count))
            scanned += 16 + Int64(count)
        }
    }

    /// The first byte of the file a reader whose guest read `offsets` of its sockets (by the
    /// event that made each) may still need: the record it reads next of each, or what it has
    /// not seen yet.
    package func needed(_ offsets: [UInt64: Int64]) -> Int64 {
        var first = scanned
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
