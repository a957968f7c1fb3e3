import Glibc
import GuestMemory
import LinuxABI

/// read/write and everything else that works on an open descriptor.
extension LinuxPersonality {
    static let descriptorHandlers: [(String, Handler)] = [
        (
            "read",
            { p, r in
                let buf = try p.memory.pointer(r[1], Int(clamping: r[2]), write: true)
                return p.host(r.number, u(try p.fds.host(r[0])), u(buf), r[2])
            }
        ),
        ("write", { p, r in try p.writeLike(r) }),
        (
            "pread64",
            { p, r in
                let buf = try p.memory.pointer(r[1], Int(clamping: r[2]), write: true)
                return p.host(r.number, u(try p.fds.host(r[0])), u(buf), r[2], r[3])
            }
        ),
        ("pwrite64", { p, r in try p.writeLike(r) }),
        ("readv", { p, r in try p.vectored(r, write: true) }),
        ("writev", { p, r in try p.vectored(r, write: false) }),
        (
            "close",
            { p, r in
                let e = try p.fds.remove(r[0])
                return close(e.host) == 0 ? 0 : 0  // Linux closes even when close reports an error
            }
        ),
        ("lseek", { p, r in p.host(r.number, u(try p.fds.host(r[0])), r[1], r[2]) }),
        ("fsync", { p, r in p.host(r.number, u(try p.fds.host(r[0]))) }),
        ("fdatasync", { p, r in p.host(r.number, u(try p.fds.host(r[0]))) }),
        ("flock", { p, r in p.host(r.number, u(try p.fds.host(r[0])), r[1]) }),
        ("fadvise64", { p, r in p.host(r.number, u(try p.fds.host(r[0])), r[1], r[2], r[3]) }),
        (
            "ftruncate",
            { p, r in
                let e = try p.fds.entry(r[0])
                return p.host(r.number, u(e.host), r[1])
            }
        ),
        ("fallocate", { p, r in p.host(r.number, u(try p.fds.host(r[0])), r[1], r[2], r[3]) }),
        (
            "fstat",
            { p, r in
                let buf = try p.memory.pointer(r[1], MemoryLayout<stat>.size, write: true)
                return p.host(r.number, u(try p.fds.host(r[0])), u(buf))
            }
        ),
        (
            "fstatfs",
            { p, r in
                let buf = try p.memory.pointer(r[1], 120, write: true)
                return p.host(r.number, u(try p.fds.host(r[0])), u(buf))
            }
        ),
        (
            "fchmod",
            { p, r in
                let e = try p.fds.entry(r[0])
                guard e.writableMount else { throw SysError(EROFS) }
                p.aboutToChange(e)
                return p.host(r.number, u(e.host), r[1])
            }
        ),
        (
            "fchown",
            { p, r in
                let e = try p.fds.entry(r[0])
                guard e.writableMount else { throw SysError(EROFS) }
                p.aboutToChange(e)
                return p.host(r.number, u(e.host), r[1], r[2])
            }
        ),
        (
            "getdents64",
            { p, r in
                let buf = try p.memory.pointer(r[1], Int(clamping: r[2]), write: true)
                return p.host(r.number, u(try p.fds.host(r[0])), u(buf), r[2])
            }
        ),
        ("ioctl", { p, r in try p.ioctl(r) }),
        ("fcntl", { p, r in try p.fcntl(r) }),
        (
            "dup",
            { p, r in
                var e = try p.fds.entry(r[0])
                e.host = try p.hostDup(e.host)
                e.cloexec = false
                return Int64(try p.installClosingOnFailure(e))
            }
        ),
        ("dup2", { p, r in try p.dup3(r[0], r[1], flags: 0, allowSame: true) }),
        ("dup3", { p, r in try p.dup3(r[0], r[1], flags: Int32(truncatingIfNeeded: r[2]), allowSame: false) }),
        ("pipe", { p, r in try p.pipe(r[0], flags: 0) }),
        ("pipe2", { p, r in try p.pipe(r[0], flags: Int32(truncatingIfNeeded: r[1])) }),
        ("poll", { p, r in try p.poll(r, fdsAt: r[0], count: r[1], timeout: r[2], ppoll: false) }),
        ("ppoll", { p, r in try p.poll(r, fdsAt: r[0], count: r[1], timeout: r[2], ppoll: true) }),
        ("select", { p, r in try p.select(r) }),
        ("pselect6", { p, r in try p.select(r) }),
        (
            "sendfile",
            { p, r in
                let offPtr: UInt64 = r[2] == 0 ? 0 : u(try p.memory.pointer(r[2], 8, write: true))
                return p.host(r.number, u(try p.fds.host(r[0])), u(try p.fds.host(r[1])), offPtr, r[3])
            }
        ),
        (
            "copy_file_range",
            { p, r in
                let inOff: UInt64 = r[1] == 0 ? 0 : u(try p.memory.pointer(r[1], 8, write: true))
                let outOff: UInt64 = r[3] == 0 ? 0 : u(try p.memory.pointer(r[3], 8, write: true))
                return p.host(r.number, u(try p.fds.host(r[0])), inOff, u(try p.fds.host(r[2])), outOff, r[4], r[5])
            }
        ),
    ]

    /// write and pwrite64. A write to a broken pipe kills the guest with SIGPIPE unless it ignores it.
    func writeLike(_ r: SyscallRequest) throws -> Int64 {
        let buf = try memory.pointer(r[1], Int(clamping: r[2]))
        let res = host(r.number, u(try fds.host(r[0])), u(buf), r[2], r[3])
        if res == -Int64(EPIPE) { pendingSignal = Signal.sigpipe }
        return res
    }

    func vectored(_ r: SyscallRequest, write: Bool) throws -> Int64 {
        let hostFD = try fds.host(r[0])
        let n = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: r[2]))
        guard n >= 0, n <= 1024 else { throw SysError(EINVAL) }
        var iov = try memory.iovecs(at: r[1], count: n, write: write)
        let res = iov.withUnsafeMutableBufferPointer { b in
            host(r.number, u(hostFD), UInt64(UInt(bitPattern: b.baseAddress)), UInt64(n))
        }
        if !write && res == -Int64(EPIPE) { pendingSignal = Signal.sigpipe }
        return res
    }

    func hostDup(_ fd: Int32) throws -> Int32 {
        let d = Glibc.fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard d >= 0 else { throw SysError(errno) }
        return d
    }

    func installClosingOnFailure(_ e: FDTable.Entry, from: Int = 0) throws -> Int {
        do { return try fds.install(e, from: from) } catch {
            close(e.host)
            throw error
        }
    }

    func dup3(_ oldfd: UInt64, _ newfd: UInt64, flags: Int32, allowSame: Bool) throws -> Int64 {
        var e = try fds.entry(oldfd)
        let target = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: newfd))
        guard target >= 0, target < FDTable.limit else { throw SysError(EBADF) }
        if oldfd == newfd { if allowSame { return Int64(target) } else { throw SysError(EINVAL) } }
        guard flags & ~O_CLOEXEC == 0 else { throw SysError(EINVAL) }
        e.host = try hostDup(e.host)
        e.cloexec = flags & O_CLOEXEC != 0
        fds.set(target, e)
        return Int64(target)
    }

    func pipe(_ addr: UInt64, flags: Int32) throws -> Int64 {
        _ = try memory.pointer(addr, 8, write: true)
        var pair: [Int32] = [0, 0]
        let res = pair.withUnsafeMutableBufferPointer { b in
            hostSyscall(NR.pipe2, UInt64(UInt(bitPattern: b.baseAddress)), u((flags & ~O_CLOEXEC) | O_CLOEXEC))
        }
        guard res == 0 else { return res }
        let cloexec = flags & O_CLOEXEC != 0
        let r = try installClosingOnFailure(
            FDTable.Entry(host: pair[0], path: nil, cloexec: cloexec, writableMount: true))
        let w: Int
        do {
            w = try installClosingOnFailure(
                FDTable.Entry(host: pair[1], path: nil, cloexec: cloexec, writableMount: true))
        } catch {
            if let e = try? fds.remove(UInt64(r)) { close(e.host) }
            throw error
        }
        try memory.store(Int32(r), at: addr)
        try memory.store(Int32(w), at: addr + 4)
        return 0
    }

    func ioctl(_ r: SyscallRequest) throws -> Int64 {
        let hostFD = try fds.host(r[0])
        let request = r[1] & 0xffff_ffff
        let size: Int
        switch request {
        case 0x5401: size = 36  // TCGETS: struct termios (kernel layout)
        case 0x5413: size = 8  // TIOCGWINSZ
        case 0x540f: size = 4  // TIOCGPGRP
        case 0x541b: size = 4  // FIONREAD
        case 0x5451, 0x5450:  // FIOCLEX, FIONCLEX: the guest's own flag
            try fds.update(r[0]) { $0.cloexec = request == 0x5451 }
            return 0
        default:
            diagnose(
                "unsupported ioctl request 0x\(String(request, radix: 16)) on fd \(r[0]); returning ENOTTY",
                key: 0x1_0000_0000 | request)
            throw SysError(ENOTTY)
        }
        let buf = try memory.pointer(r[2], size, write: true)
        return host(r.number, u(hostFD), request, u(buf))
    }

    func fcntl(_ r: SyscallRequest) throws -> Int64 {
        let e = try fds.entry(r[0])
        let cmd = Int32(truncatingIfNeeded: r[1])
        switch cmd {
        case F_GETFD: return e.cloexec ? Int64(FD_CLOEXEC) : 0
        case F_SETFD:
            try fds.update(r[0]) { $0.cloexec = Int32(truncatingIfNeeded: r[2]) & FD_CLOEXEC != 0 }
            return 0
        case F_GETFL, F_SETFL:
            return host(r.number, u(e.host), r[1], r[2])
        case F_DUPFD, F_DUPFD_CLOEXEC:
            var copy = e
            copy.host = try hostDup(e.host)
            copy.cloexec = cmd == F_DUPFD_CLOEXEC
            return Int64(
                try installClosingOnFailure(copy, from: Int(truncatingIfNeeded: Int32(truncatingIfNeeded: r[2]))))
        case F_GETLK, F_SETLK, F_SETLKW, 36 /* F_OFD_GETLK */, 37 /* F_OFD_SETLK */, 38 /* F_OFD_SETLKW */:
            let lock = try memory.pointer(r[2], MemoryLayout<flock>.size, write: true)
            return host(r.number, u(e.host), r[1], u(lock))
        default:
            diagnose(
                "unsupported fcntl command \(cmd); returning EINVAL",
                key: 0x2_0000_0000 | UInt64(UInt32(bitPattern: cmd)))
            throw SysError(EINVAL)
        }
    }

    /// poll/ppoll: the pollfd array is copied and its guest fds translated.
    func poll(_ r: SyscallRequest, fdsAt: UInt64, count: UInt64, timeout: UInt64, ppoll: Bool) throws -> Int64 {
        guard count <= UInt64(FDTable.limit) else { throw SysError(EINVAL) }
        let n = Int(count)
        let guestFDs = try memory.pointer(fdsAt, 8 * n, write: true)
        var copy = [pollfd](repeating: pollfd(), count: n)
        for i in 0..<n {
            var pf = guestFDs.loadUnaligned(fromByteOffset: 8 * i, as: pollfd.self)
            if pf.fd >= 0 { pf.fd = (try? fds.host(UInt64(pf.fd))) ?? -1 }
            pf.revents = 0
            copy[i] = pf
        }
        var ts = timespec()
        let tsAddr: UInt64
        if ppoll {
            if timeout != 0 { ts = try memory.load(timespec.self, at: timeout) }
            tsAddr = timeout == 0 ? 0 : withUnsafeMutablePointer(to: &ts) { UInt64(UInt(bitPattern: $0)) }
        } else {
            tsAddr = timeout
        }
        let res = copy.withUnsafeMutableBufferPointer { b in
            ppoll
                ? hostSyscall(NR.ppoll, UInt64(UInt(bitPattern: b.baseAddress)), UInt64(n), tsAddr, 0, 8)
                : hostSyscall(NR.poll, UInt64(UInt(bitPattern: b.baseAddress)), UInt64(n), tsAddr)
        }
        for i in 0..<n {
            var pf = guestFDs.loadUnaligned(fromByteOffset: 8 * i, as: pollfd.self)
            pf.revents = copy[i].fd < 0 && pf.fd >= 0 ? Int16(POLLNVAL) : copy[i].revents
            guestFDs.storeBytes(of: pf, toByteOffset: 8 * i, as: pollfd.self)
        }
        return res
    }

    /// select/pselect6 for descriptors below 64: translated into a poll.
    func select(_ r: SyscallRequest) throws -> Int64 {
        let nfds = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: r[0]))
        guard nfds >= 0, nfds <= 64 else { throw SysError(EINVAL) }
        var sets: [UInt64] = [0, 0, 0]
        for k in 0..<3 where r[k + 1] != 0 { sets[k] = try memory.load(UInt64.self, at: r[k + 1]) }
        var pfds: [pollfd] = []
        var guestOf: [Int] = []
        for fd in 0..<nfds {
            var ev: Int16 = 0
            if sets[0] >> fd & 1 == 1 { ev |= Int16(POLLIN) }
            if sets[1] >> fd & 1 == 1 { ev |= Int16(POLLOUT) }
            if sets[2] >> fd & 1 == 1 { ev |= Int16(POLLPRI) }
            guard ev != 0 else { continue }
            pfds.append(pollfd(fd: try fds.host(UInt64(fd)), events: ev, revents: 0))
            guestOf.append(fd)
        }
        var timeoutMs: Int32 = -1
        if r[4] != 0 {
            let sec = try memory.load(Int64.self, at: r[4])
            let sub = try memory.load(Int64.self, at: r[4] + 8)
            guard sec >= 0, sub >= 0 else { throw SysError(EINVAL) }
            // Any number of seconds: a timeout past Int32's milliseconds waits as long as poll can.
            let (ms, overflow) = sec.multipliedReportingOverflow(by: 1000)
            timeoutMs =
                overflow
                ? Int32.max
                : Int32(
                    clamping: ms.addingReportingOverflow(
                        r.name == "select" ? sub / 1000 : sub / 1_000_000
                    ).partialValue)
        }
        let res = Glibc.poll(&pfds, nfds_t(pfds.count), timeoutMs)
        guard res >= 0 else { throw SysError(errno) }
        var out: [UInt64] = [0, 0, 0]
        var count: Int64 = 0
        for (i, pf) in pfds.enumerated() {
            let bit = UInt64(1) << guestOf[i]
            if pf.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 && sets[0] & bit != 0 {
                out[0] |= bit
                count += 1
            }
            if pf.revents & Int16(POLLOUT | POLLERR) != 0 && sets[1] & bit != 0 {
                out[1] |= bit
                count += 1
            }
            if pf.revents & Int16(POLLPRI) != 0 && sets[2] & bit != 0 {
                out[2] |= bit
                count += 1
            }
        }
        for k in 0..<3 where r[k + 1] != 0 { try memory.store(out[k], at: r[k + 1]) }
        return count
    }
}
