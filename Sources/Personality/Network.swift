import Glibc
import GuestMemory
import LinuxABI

/// Sockets. Without --net the guest has no network: socket() fails with EACCES as under a
/// seccomp sandbox (quietly: resolver libraries probe for nscd this way). socketpair is local.
/// Every address a call carries crosses the sandbox in SocketAddress.swift.
extension LinuxPersonality {
    static let networkHandlers: [(String, Handler)] = [
        (
            "socket",
            { p, r in
                guard p.config.network else { throw SysError(EACCES) }
                let typ = Int32(truncatingIfNeeded: r[1])
                let fd = p.host(r.number, r[0], u(typ | Int32(SOCK_CLOEXEC.rawValue)), r[2])
                guard fd >= 0 else { return fd }
                return Int64(
                    try p.installClosingOnFailure(
                        FDTable.Entry(
                            host: Int32(fd), path: nil,
                            cloexec: typ & Int32(SOCK_CLOEXEC.rawValue) != 0, writableMount: true, fromOutside: true)))
            }
        ),
        (
            "socketpair",
            { p, r in
                _ = try p.memory.pointer(r[3], 8, write: true)
                var pair: [Int32] = [0, 0]
                let typ = Int32(truncatingIfNeeded: r[1])
                let res = pair.withUnsafeMutableBufferPointer {
                    hostSyscall(
                        NR.socketpair, r[0], u(typ | Int32(SOCK_CLOEXEC.rawValue)), r[2],
                        UInt64(UInt(bitPattern: $0.baseAddress)))
                }
                guard res == 0 else { return res }
                let cloexec = typ & Int32(SOCK_CLOEXEC.rawValue) != 0
                let a = try p.installClosingOnFailure(
                    FDTable.Entry(host: pair[0], path: nil, cloexec: cloexec, writableMount: true))
                let b = try p.installClosingOnFailure(
                    FDTable.Entry(host: pair[1], path: nil, cloexec: cloexec, writableMount: true))
                try p.memory.store(Int32(a), at: r[3])
                try p.memory.store(Int32(b), at: r[3] + 4)
                return 0
            }
        ),
        (
            "connect",
            { p, r in
                let fd = try p.fds.host(r[0])
                return try p.withHostSocketAddress(r[1], r[2], .reach) { p.host(r.number, u(fd), u($0), UInt64($1)) }
            }
        ),
        (
            "bind",
            { p, r in
                let fd = try p.fds.host(r[0])
                return try p.withHostSocketAddress(r[1], r[2], .bind) { p.host(r.number, u(fd), u($0), UInt64($1)) }
            }
        ),
        ("listen", { p, r in p.host(r.number, u(try p.fds.host(r[0])), r[1]) }),
        ("shutdown", { p, r in p.host(r.number, u(try p.fds.host(r[0])), r[1]) }),
        ("accept", { p, r in try p.accept(r, flags: 0) }),
        ("accept4", { p, r in try p.accept(r, flags: Int32(truncatingIfNeeded: r[3])) }),
        (
            "sendto",
            { p, r in
                let fd = try p.fds.host(r[0])
                let buf = try p.memory.pointer(r[1], Int(clamping: r[2]))
                guard r[4] != 0 else { return p.host(r.number, u(fd), u(buf), r[2], r[3], 0, 0) }
                return try p.withHostSocketAddress(r[4], r[5], .reach) {
                    p.host(r.number, u(fd), u(buf), r[2], r[3], u($0), UInt64($1))
                }
            }
        ),
        (
            "recvfrom",
            { p, r in
                let buf = try p.memory.pointer(r[1], Int(clamping: r[2]), write: true)
                return try p.returningAddress(r[4], r[5]) { addr, len in
                    p.host(r.number, u(try p.fds.host(r[0])), u(buf), r[2], r[3], addr, len)
                }
            }
        ),
        (
            "getsockname",
            { p, r in
                try p.returningAddress(r[1], r[2]) { addr, len in p.host(r.number, u(try p.fds.host(r[0])), addr, len) }
            }
        ),
        (
            "getpeername",
            { p, r in
                try p.returningAddress(r[1], r[2]) { addr, len in p.host(r.number, u(try p.fds.host(r[0])), addr, len) }
            }
        ),
        (
            "setsockopt",
            { p, r in
                p.host(
                    r.number, u(try p.fds.host(r[0])), r[1], r[2], u(try p.memory.pointer(r[3], Int(r[4] & 0xffff))),
                    r[4])
            }
        ),
        (
            "getsockopt",
            { p, r in
                let (val, len) = try p.sockaddrOut(r[3], r[4])
                return p.host(r.number, u(try p.fds.host(r[0])), r[1], r[2], val, len)
            }
        ),
    ]

    /// An output buffer whose length is an in/out socklen_t in guest memory; both checked.
    func sockaddrOut(_ addr: UInt64, _ lenAddr: UInt64) throws -> (UInt64, UInt64) {
        guard addr != 0, lenAddr != 0 else { return (0, 0) }
        let len = try memory.load(UInt32.self, at: lenAddr)
        return (u(try memory.pointer(addr, Int(len), write: true)), u(try memory.pointer(lenAddr, 4, write: true)))
    }

    /// A call that returns a socket address into the guest's buffer (`addr`, in/out length at
    /// `lenAddr`): the buffer checked, and a bound socket's host name turned back into its guest path.
    func returningAddress(
        _ addr: UInt64, _ lenAddr: UInt64,
        _ call: (UInt64, UInt64) throws -> Int64
    ) throws -> Int64 {
        let capacity = addr != 0 && lenAddr != 0 ? Int(try memory.load(UInt32.self, at: lenAddr)) : 0
        let (a, l) = try sockaddrOut(addr, lenAddr)
        let res = try call(a, l)
        if res >= 0 { try guestSocketAddress(addr, lenAddr, capacity: capacity) }
        return res
    }

    func accept(_ r: SyscallRequest, flags: Int32) throws -> Int64 {
        let fd = try returningAddress(r[1], r[2]) { addr, len in
            hostSyscall(NR.accept4, u(try fds.host(r[0])), addr, len, u(flags | Int32(SOCK_CLOEXEC.rawValue)))
        }
        guard fd >= 0 else { return fd }
        return Int64(
            try installClosingOnFailure(
                FDTable.Entry(
                    host: Int32(fd), path: nil,
                    cloexec: flags & Int32(SOCK_CLOEXEC.rawValue) != 0, writableMount: true, fromOutside: true)))
    }
}
