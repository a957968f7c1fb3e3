import Glibc
import GuestMemory
import LinuxABI

/// Clocks, sleeping and randomness. There is no vDSO, so every clock read is a syscall here.
extension LinuxPersonality {
    static let timeHandlers: [(String, Handler)] = [
        ("clock_gettime", { p, r in
            p.host(r.number, r[0], u(try p.memory.pointer(r[1], 16, write: true)))
        }),
        ("clock_getres", { p, r in
            p.host(r.number, r[0], r[1] == 0 ? 0 : u(try p.memory.pointer(r[1], 16, write: true)))
        }),
        ("gettimeofday", { p, r in
            let tv: UInt64 = r[0] == 0 ? 0 : u(try p.memory.pointer(r[0], 16, write: true))
            let tz: UInt64 = r[1] == 0 ? 0 : u(try p.memory.pointer(r[1], 8, write: true))
            return p.host(r.number, tv, tz)
        }),
        ("time", { p, r in
            let t = p.host(r.number, 0)
            if r[0] != 0 { try p.memory.store(t, at: r[0]) }
            return t
        }),
        ("nanosleep", { p, r in
            let req = try p.memory.pointer(r[0], 16)
            let rem: UInt64 = r[1] == 0 ? 0 : u(try p.memory.pointer(r[1], 16, write: true))
            return p.host(r.number, u(req), rem)
        }),
        ("clock_nanosleep", { p, r in
            let req = try p.memory.pointer(r[2], 16)
            let rem: UInt64 = r[3] == 0 ? 0 : u(try p.memory.pointer(r[3], 16, write: true))
            return p.host(r.number, r[0], r[1], u(req), rem)
        }),
        ("getrandom", { p, r in
            let buf = try p.memory.pointer(r[0], Int(clamping: r[1]), write: true)
            return p.host(r.number, u(buf), r[1], r[2])
        }),
    ]
}
