import Glibc
import GuestMemory
import LinuxABI

/// Clocks, sleeping and randomness. There is no vDSO, so every clock read is a syscall here.
extension LinuxPersonality {
    static let timeHandlers: [(String, Handler)] = [
        (
            "clock_gettime",
            { p, r in
                p.host(r.number, r[0], u(try p.memory.pointer(r[1], 16, write: true)))
            }
        ),
        (
            "clock_getres",
            { p, r in
                p.host(r.number, r[0], r[1] == 0 ? 0 : u(try p.memory.pointer(r[1], 16, write: true)))
            }
        ),
        (
            "gettimeofday",
            { p, r in
                let tv: UInt64 = r[0] == 0 ? 0 : u(try p.memory.pointer(r[0], 16, write: true))
                let tz: UInt64 = r[1] == 0 ? 0 : u(try p.memory.pointer(r[1], 8, write: true))
                return p.host(r.number, tv, tz)
            }
        ),
        (
            "time",
            { p, r in
                let t = p.host(r.number, 0)
                if r[0] != 0 { try p.memory.store(t, at: r[0]) }
                return t
            }
        ),
        ("nanosleep", { p, r in try p.interruptibleSleep(request: r[0], remaining: r[1]) }),
        (
            "clock_nanosleep",
            { p, r in
                if r[1] & 1 /* TIMER_ABSTIME */ != 0 {
                    let req = try p.memory.pointer(r[2], 16)
                    return p.host(r.number, r[0], r[1], u(req), 0)
                }
                return try p.interruptibleSleep(request: r[2], remaining: r[3])
            }
        ),
        (
            "getrandom",
            { p, r in
                let buf = try p.memory.pointer(r[0], Int(clamping: r[1]), write: true)
                return p.host(r.number, u(buf), r[1], r[2])
            }
        ),
    ]
}

extension LinuxPersonality {
    /// A relative sleep that ends early, with EINTR and the time left, when an alarm falls due, a
    /// signal arrives from outside, or a child ends and the program handles SIGCHLD — as Linux
    /// ends it when a handled signal comes in.
    func interruptibleSleep(request: UInt64, remaining: UInt64) throws -> Int64 {
        let sec = try memory.load(Int64.self, at: request), nsec = try memory.load(Int64.self, at: request + 8)
        guard sec >= 0, nsec >= 0, nsec < 1_000_000_000 else { throw SysError(EINVAL) }
        if remaining != 0 { _ = try memory.pointer(remaining, 16, write: true) }
        let start = clock.monotonicNow()
        let ns = UInt64(sec).multipliedReportingOverflow(by: 1_000_000_000)
        let end = ns.overflow ? UInt64.max : later(start, later(ns.partialValue, UInt64(nsec)))
        while true {
            let now = clock.monotonicNow()
            if now >= end { return 0 }
            var wake = min(end, later(now, 50_000_000))  // look for outside signals every 50 ms
            if let alarm = alarmDeadline { wake = min(wake, alarm) }
            sleep(until: wake)
            let interrupted =
                (alarmDeadline.map { clock.monotonicNow() >= $0 } ?? false) || hostSignalWaiting()
                || handledChildEvent()
            if interrupted && clock.monotonicNow() < end {
                if remaining != 0 {
                    let left = end - clock.monotonicNow()
                    try memory.store(Int64(left / 1_000_000_000), at: remaining)
                    try memory.store(Int64(left % 1_000_000_000), at: remaining + 8)
                }
                throw SysError(EINTR)
            }
        }
    }

    /// A child ended and the program has a SIGCHLD handler: the signal is pending (delivered at
    /// the end of this syscall), and a sleep ends for it.
    func handledChildEvent() -> Bool {
        guard watchingChildren, disposition(Signal.sigchld) > 1 else { return false }
        noteChildEvents()
        return pendingSignals & (UInt64(1) << (Signal.sigchld - 1)) != 0
    }

    /// A signal from outside arrived (it stays recorded for the end of this syscall).
    func hostSignalWaiting() -> Bool {
        let s = nondeterminism.takeHostSignals()
        raiseHostSignals(s)
        return s != 0
    }
}

/// A deadline `ns` after `t`, never past the end of time (a wrapped one would fire at once).
func later(_ t: UInt64, _ ns: UInt64) -> UInt64 { t > UInt64.max - ns ? UInt64.max : t + ns }
