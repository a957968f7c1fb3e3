import Glibc
import GuestMemory
import LinuxABI

/// A failed syscall: the guest sees -code in rax.
public struct SysError: Error, Equatable {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
}

/// stat(2)/lstat(2) of a host path, nil on failure (errno set).
func hostStat(_ path: ByteString, follow: Bool = true) -> stat? {
    var st = stat.init()
    let r: Int32 = path.withCString { follow ? fstatat(AT_FDCWD, $0, &st, 0) : lstat($0, &st) }
    return r == 0 ? st : nil
}

extension LinuxPersonality {
    /// A raw host syscall; the result, or -errno.
    @inline(__always)
    func host(_ nr: UInt64, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0,
              _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0) -> Int64 {
        hostSyscall(Int(nr), a0, a1, a2, a3, a4, a5)
    }
}

@inline(__always)
func hostSyscall(_ nr: Int, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0,
                 _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0) -> Int64 {
    chostSyscall(nr, a0, a1, a2, a3, a4, a5)
}

/// Host syscall numbers the personality makes itself (x86-64: the guest's numbers are the host's).
enum NR {
    static let read = 0, write = 1, close = 3, stat = 4, fstat = 5, lseek = 8, ioctl = 16, pread64 = 17,
               readv = 19, writev = 20, dup = 32, fcntl = 72, readlink = 89, newfstatat = 262,
               openat2 = 437, getdents64 = 217, statx = 332, faccessat2 = 439, unlinkat = 263,
               mkdirat = 258, renameat2 = 316, linkat = 265, symlinkat = 266, fchmodat = 268,
               fchownat = 260, utimensat = 280, truncate = 76, statfs = 137, getrandom = 318,
               clock_gettime = 228, pipe2 = 293, socket = 41, socketpair = 53, accept4 = 288
}

@inline(__always)
func u(_ p: UnsafeMutableRawPointer) -> UInt64 { UInt64(UInt(bitPattern: p)) }

@inline(__always)
func u(_ i: Int32) -> UInt64 { UInt64(bitPattern: Int64(i)) }
