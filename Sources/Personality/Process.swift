import Glibc
import GuestMemory
import LinuxABI

/// Identity, limits and the end of the process. One process with one thread.
extension LinuxPersonality {
    static let processHandlers: [(String, Handler)] = [
        ("getpid", { p, _ in Int64(p.processID) }),
        ("gettid", { p, _ in Int64(p.processID) }),
        ("getppid", { p, _ in Int64(p.parentID) }),
        ("getuid", { p, r in p.host(r.number) }),
        ("geteuid", { p, r in p.host(r.number) }),
        ("getgid", { p, r in p.host(r.number) }),
        ("getegid", { p, r in p.host(r.number) }),
        ("getpgrp", { p, r in p.host(r.number) }),
        ("getpgid", { p, r in try p.hostOnGuestProcess(r) }),
        ("getsid", { p, r in try p.hostOnGuestProcess(r) }),
        (
            "setpgid",
            { p, r in
                let pid = Int32(truncatingIfNeeded: r[0]), pgid = Int32(truncatingIfNeeded: r[1])
                guard pid >= 0, pgid >= 0 else { throw SysError(EINVAL) }
                let target = pid == 0 ? p.processID : pid
                guard target == p.processID || p.children.contains(target) else { throw SysError(ESRCH) }
                // A new group, or one a guest process made: never one with processes outside the guest.
                let group = pgid == 0 ? target : pgid
                guard group == target || p.guestGroups.contains(group) else { throw SysError(EPERM) }
                let n = p.host(r.number, UInt64(target), UInt64(group))
                if n == 0 { p.guestGroups.insert(group) }
                return n
            }
        ),
        (
            "setsid",
            { p, r in
                let n = p.host(r.number)
                if n > 0 { p.guestGroups.insert(Int32(n)) }
                return n
            }
        ),
        ("getresuid", { p, r in try p.hostOut(r, sizes: [4, 4, 4]) }),
        ("getresgid", { p, r in try p.hostOut(r, sizes: [4, 4, 4]) }),
        (
            "getgroups",
            { p, r in
                let n = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: r[0]))
                guard n >= 0 else { throw SysError(EINVAL) }
                let list: UInt64 = n == 0 ? 0 : u(try p.memory.pointer(r[1], 4 * n, write: true))
                return p.host(r.number, r[0], list)
            }
        ),
        ("uname", { p, r in try p.hostOut(r, sizes: [MemoryLayout<utsname>.size]) }),
        ("sysinfo", { p, r in try p.hostOut(r, sizes: [112]) }),
        (
            "getrusage",
            { p, r in
                let out = try p.memory.pointer(r[1], MemoryLayout<rusage>.size, write: true)
                return p.host(r.number, r[0], u(out))
            }
        ),
        (
            "times",
            { p, r in
                let out: UInt64 = r[0] == 0 ? 0 : u(try p.memory.pointer(r[0], MemoryLayout<tms>.size, write: true))
                return p.host(r.number, out)
            }
        ),
        ("getpriority", { p, r in p.host(r.number, r[0], 0) }),
        (
            "getrlimit",
            { p, r in
                let out = try p.memory.pointer(r[1], 16, write: true)
                return p.host(r.number, r[0], u(out))
            }
        ),
        (
            "setrlimit",
            { p, r in
                _ = try p.memory.pointer(r[1], 16)
                return 0
            }
        ),
        (
            "prlimit64",
            { p, r in
                guard r[0] == 0 || r[0] == UInt64(p.processID) else { throw SysError(EPERM) }
                if r[2] != 0 { _ = try p.memory.pointer(r[2], 16) }
                let old: UInt64 = r[3] == 0 ? 0 : u(try p.memory.pointer(r[3], 16, write: true))
                return p.host(r.number, 0, r[1], 0, old)
            }
        ),
        (
            "umask",
            { p, r in
                let old = p.fileCreationMask
                p.fileCreationMask = r[0] & 0o777
                return Int64(old)
            }
        ),
        ("set_tid_address", { p, _ in Int64(p.processID) }),
        ("set_robust_list", { _, r in r[1] == 24 ? 0 : -Int64(EINVAL) }),
        ("rseq", { _, _ in -Int64(ENOSYS) }),
        (
            "sched_getaffinity",
            { p, r in
                guard r[1] >= 8 else { throw SysError(EINVAL) }
                try p.memory.store(UInt64(1), at: r[2])
                return 8
            }
        ),
        ("sched_yield", { _, _ in 0 }),
        (
            "prctl",
            { p, r in
                switch Int32(truncatingIfNeeded: r[0]) {
                case 15:
                    guard let name = try p.memory.cString(at: r[1], max: 4096) else { throw SysError(EFAULT) }
                    p.threadName = Array(name.prefix(15))
                    return 0
                case 16:
                    try p.memory.write(p.threadName + [UInt8](repeating: 0, count: 16 - p.threadName.count), at: r[1])
                    return 0
                case 4, 38 /* PR_SET_NO_NEW_PRIVS */: return 0
                case 3: return 1
                default: throw SysError(EINVAL)
                }
            }
        ),
        (
            "futex",
            { p, r in
                let op = Int32(truncatingIfNeeded: r[1]) & 0x7f
                switch op {
                case 1 /* WAKE */, 10 /* WAKE_BITSET */: return 0
                case 0 /* WAIT */, 9 /* WAIT_BITSET */:
                    let v = try p.memory.load(UInt32.self, at: r[0])
                    if v != UInt32(truncatingIfNeeded: r[2]) { throw SysError(EAGAIN) }
                    // Nobody else could ever wake a single-threaded process.
                    p.diagnose(
                        "futex wait on 0x\(String(r[0], radix: 16)) would block forever (one thread); "
                            + "returning ETIMEDOUT",
                        key: 0x3_0000_0000)
                    throw SysError(ETIMEDOUT)
                default: throw SysError(ENOSYS)
                }
            }
        ),
    ]

    /// exit and exit_group (one thread per process): a vfork child lets its parent go on first.
    static let exitHandler: OutcomeHandler = { p, r in
        p.releaseVforkParent()
        return .exit(Int32(truncatingIfNeeded: r[0]) & 0xff)
    }

    /// Calls that end the process or change the CPU.
    static let outcomeHandlers: [(String, OutcomeHandler)] = [
        ("exit", exitHandler),
        ("exit_group", exitHandler),
        (
            "arch_prctl",
            { p, r in
                switch r[0] {
                case 0x1002:  // ARCH_SET_FS
                    p.fsBase = r[1]
                    return .setFSBase(r[1])
                case 0x1003:  // ARCH_GET_FS
                    try p.memory.store(p.fsBase, at: r[1])
                    return .value(0)
                default: return .value(-Int64(EINVAL))
                }
            }
        ),
        (
            "kill",
            { p, r in
                let pid = Int32(truncatingIfNeeded: r[0])
                // Another of the guest's processes: the host's kill on its VMM, which delivers
                // the signal there at its next syscall (Fork.swift).
                if pid > 0, pid != p.processID, p.isGuestProcess(pid) {
                    guard Glibc.kill(pid, Int32(truncatingIfNeeded: r[1])) == 0 else { throw SysError(errno) }
                    return .value(0)
                }
                // A process group the guest made (every member is a guest process; this one too,
                // maybe: the signal reaches it through its VMM's forwarding, at this call's return).
                if pid < -1 || pid == 0 {
                    guard pid != Int32.min else { return .value(-Int64(ESRCH)) }  // -pid would not fit
                    let group = pid == 0 ? getpgid(0) : -pid
                    if p.guestGroups.contains(group) {
                        guard Glibc.kill(-group, Int32(truncatingIfNeeded: r[1])) == 0 else { throw SysError(errno) }
                        return .value(0)
                    }
                    if pid != 0 { return .value(-Int64(EPERM)) }
                }
                // A child it reaped is gone; any other process is out of the guest's reach.
                guard pid == p.processID || pid == 0 || pid == -1 else {
                    return .value(-Int64(p.endedChildren.contains(pid) ? ESRCH : EPERM))
                }
                return try p.signalSelf(Int32(truncatingIfNeeded: r[1]), code: 0 /* SI_USER */)
            }
        ),
        ("rt_sigreturn", sigreturnHandler),
        (
            "tgkill",
            { p, r in
                guard Int32(truncatingIfNeeded: r[0]) == p.processID,
                    Int32(truncatingIfNeeded: r[1]) == p.processID
                else { return .value(-Int64(ESRCH)) }
                return try p.signalSelf(Int32(truncatingIfNeeded: r[2]), code: -6 /* SI_TKILL */)
            }
        ),
        (
            "tkill",
            { p, r in
                guard Int32(truncatingIfNeeded: r[0]) == p.processID else { return .value(-Int64(ESRCH)) }
                return try p.signalSelf(Int32(truncatingIfNeeded: r[1]), code: -6 /* SI_TKILL */)
            }
        ),
    ]

    /// getpgid/getsid of this process (0) or another guest process; any other pid is not in view.
    func hostOnGuestProcess(_ r: SyscallRequest) throws -> Int64 {
        let pid = Int32(truncatingIfNeeded: r[0])
        guard pid == 0 || pid == processID || isGuestProcess(pid) else { throw SysError(ESRCH) }
        return host(r.number, r[0])
    }

    /// A host call whose pointer arguments (in order) are output buffers of the given sizes.
    func hostOut(_ r: SyscallRequest, sizes: [Int]) throws -> Int64 {
        var a: [UInt64] = [r[0], r[1], r[2], r[3]]
        for (i, size) in sizes.enumerated() { a[i] = u(try memory.pointer(r[i], size, write: true)) }
        return host(r.number, a[0], a[1], a[2], a[3])
    }
}
