import CHost
import Glibc
import LinuxABI

/// The personality's own calls to the host kernel: raw syscalls (the result, or -errno) and the
/// numbers it uses, taken from the one syscall table (x86-64: the guest's numbers are the host's).

@inline(__always)
func hostSyscall(
    _ nr: Int, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0,
    _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0
) -> Int64 {
    chost_syscall6(nr, a0, a1, a2, a3, a4, a5)
}

extension LinuxPersonality {
    /// A raw host syscall with the guest's call number; the result, or -errno.
    @inline(__always)
    func host(
        _ nr: UInt64, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0,
        _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0
    ) -> Int64 {
        hostSyscall(Int(nr), a0, a1, a2, a3, a4, a5)
    }
}

/// Host syscall numbers the personality makes itself.
enum NR {
    private static func number(_ name: String) -> Int { SyscallNames.byName[name]! }
    static let fstat = number("fstat"), readlink = number("readlink"), newfstatat = number("newfstatat"),
        openat2 = number("openat2"), statx = number("statx"), faccessat2 = number("faccessat2"),
        unlinkat = number("unlinkat"), mkdirat = number("mkdirat"), renameat2 = number("renameat2"),
        linkat = number("linkat"), symlinkat = number("symlinkat"), fchmodat = number("fchmodat"),
        fchownat = number("fchownat"), utimensat = number("utimensat"), truncate = number("truncate"),
        statfs = number("statfs"), getrandom = number("getrandom"), pipe2 = number("pipe2"),
        socketpair = number("socketpair"), accept4 = number("accept4"), poll = number("poll"),
        ppoll = number("ppoll"), lgetxattr = number("lgetxattr"), llistxattr = number("llistxattr")
}

@inline(__always)
func u(_ p: UnsafeMutableRawPointer) -> UInt64 { UInt64(UInt(bitPattern: p)) }

@inline(__always)
func u(_ i: Int32) -> UInt64 { UInt64(bitPattern: Int64(i)) }

/// stat(2)/lstat(2) of a host path, nil on failure (errno set).
func hostStat(_ path: ByteString, follow: Bool = true) -> stat? {
    var st = stat.init()
    let r: Int32 = path.withCString { follow ? fstatat(AT_FDCWD, $0, &st, 0) : lstat($0, &st) }
    return r == 0 ? st : nil
}
