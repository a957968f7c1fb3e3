import Glibc
import GuestMemory
import LinuxABI

/// The guest's buffers a read call fills, for the reads the replicas serve or flip themselves
/// (SocketReads, FileReads).
enum ReadBuffers {
    private static func number(_ name: String) -> UInt64 { UInt64(SyscallNames.byName[name]!) }
    static let vectored: Set<UInt64> = [number("readv"), number("preadv")]

    /// The buffers of a read of `count` bytes, in order (a vectored read's own iovecs), each
    /// checked for writing.
    static func of(_ req: SyscallRequest, count: Int, memory: AddressSpace) throws(GuestMemoryError) -> [iovec] {
        if vectored.contains(req.number) {
            return try memory.iovecs(at: req[1], count: Int(Int32(truncatingIfNeeded: req[2])), write: true)
        }
        return count <= 0 ? [] : [iovec(iov_base: try memory.pointer(req[1], count, write: true), iov_len: count)]
    }

    /// Copy as much of `bytes` as the buffers hold into them, in order: how much.
    static func fill(_ buffers: [iovec], with bytes: [UInt8]) -> Int {
        var given = 0
        for b in buffers where given < bytes.count {
            let n = min(b.iov_len, bytes.count - given)
            bytes.withUnsafeBytes { b.iov_base.copyMemory(from: $0.baseAddress! + given, byteCount: n) }
            given += n
        }
        return given
    }

    /// Flip bit `bit` of byte `at` of what `buffers` hold (counted across them).
    static func flip(_ buffers: [iovec], at byte: Int, bit: Int) {
        var at = byte
        for b in buffers {
            if at < b.iov_len {
                b.iov_base.storeBytes(
                    of: b.iov_base.load(fromByteOffset: at, as: UInt8.self) ^ UInt8(1 << bit), toByteOffset: at,
                    as: UInt8.self)
                return
            }
            at -= b.iov_len
        }
    }
}
