import Glibc
import GuestMemory

/// vfork (and clone with CLONE_VM|CLONE_VFORK, glibc's posix_spawn): on Linux the child runs on
/// its parent's memory while the parent waits, until the child execs or ends; what it wrote there
/// (posix_spawn's child writes an exec failure's errno) the parent then sees. Here the child is a
/// forked VMM with a copy-on-write copy of the memory, so the two are joined by a pipe: the parent
/// waits on it, and the child, as it execs or ends, sends the pages of the guest's mappings it
/// wrote since the fork — those the host has copied for it, which `/proc/self/pagemap` shows as
/// mapped by it alone — and the parent writes them into its own memory. A child that dies without
/// sending (the host killed it) lets its parent go on without them.
final class VforkHandoff {
    private var read: Int32 = -1, write: Int32 = -1

    init?() {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { return nil }
        (read, write) = (fds[0], fds[1])
    }

    /// In the child: the end it sends on.
    func childSide() -> ChildSide {
        close(read)
        return ChildSide(fd: write)
    }

    /// In the parent: wait for the child's pages (none if it did not start) and write them.
    func parentSide(childStarted: Bool, memory: AddressSpace) -> [(address: UInt64, bytes: [UInt8])] {
        close(write)
        defer { close(read) }
        guard childStarted else { return [] }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(read, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            received += chunk[0..<n]
        }
        var pages: [(address: UInt64, bytes: [UInt8])] = []
        var at = 0
        while at + 8 <= received.count {
            let address = received[at..<at + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * $1.0) }
            at += 8
            let size = Int(Self.pageSize)
            guard at + size <= received.count else { break }
            let bytes = Array(received[at..<at + size])
            at += size
            // Only where the parent has memory of its own (a mapping the child made is not its).
            guard memory.mapping(containing: address) != nil, (try? memory.write(bytes, at: address)) != nil else {
                continue
            }
            pages.append((address, bytes))
        }
        return pages
    }

    struct ChildSide {
        let fd: Int32
        /// Send `pages` (whole pages: address, then the bytes) and let the parent go on.
        func send(_ pages: [(address: UInt64, bytes: [UInt8])]) {
            var out: [UInt8] = []
            for p in pages {
                out += withUnsafeBytes(of: p.address.littleEndian) { Array($0) }
                out += p.bytes
            }
            var at = 0
            while at < out.count {
                let n = out[at...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                at += n
            }
            close(fd)
        }
    }

    static let pageSize: UInt64 = 4096

    /// The pages of the guest's mappings this process has written since it was forked: present
    /// and mapped by it alone (pagemap bits 63 and 56), with their contents.
    static func writtenPages(_ memory: AddressSpace) -> [(address: UInt64, bytes: [UInt8])] {
        let fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var pages: [(address: UInt64, bytes: [UInt8])] = []
        for m in memory.mappings where !m.shared {
            let first = m.start / pageSize, count = Int((m.end - m.start + pageSize - 1) / pageSize)
            var entries = [UInt64](repeating: 0, count: count)
            let n = entries.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(first * 8)) }
            guard n == count * 8 else { continue }
            for (i, e) in entries.enumerated() where e & (1 << 63) != 0 && e & (1 << 56) != 0 {
                let address = (first + UInt64(i)) * pageSize
                if let bytes = try? memory.bytes(at: address, count: Int(pageSize)) { pages.append((address, bytes)) }
            }
        }
        return pages
    }
}
