import Glibc
import GuestMemory
import LinuxABI

/// Signal dispositions and the mask are VMM state. Asynchronous delivery (SIGINT to the recorder…)
/// comes with record/replay (#4); a signal the process sends itself takes its default action.
extension LinuxPersonality {
    static let signalHandlers: [(String, Handler)] = [
        ("rt_sigaction", { p, r in
            let sig = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: r[0]))
            guard sig >= 1, sig <= 64, r[3] == 8 else { throw SysError(EINVAL) }
            if r[2] != 0 { try p.memory.write(p.signalActions[sig], at: r[2]) }
            if r[1] != 0 {
                guard sig != 9, sig != 19 else { throw SysError(EINVAL) }
                p.signalActions[sig] = try p.memory.bytes(at: r[1], count: 32)
            }
            return 0
        }),
        ("rt_sigprocmask", { p, r in
            guard r[3] == 8 else { throw SysError(EINVAL) }
            let old = p.signalMask
            if r[1] != 0 {
                let set = try p.memory.load(UInt64.self, at: r[1]) & ~(UInt64(1) << 8 | UInt64(1) << 18)  // never SIGKILL/SIGSTOP
                switch Int32(truncatingIfNeeded: r[0]) {
                case SIG_BLOCK: p.signalMask |= set
                case SIG_UNBLOCK: p.signalMask &= ~set
                case SIG_SETMASK: p.signalMask = set
                default: throw SysError(EINVAL)
                }
            }
            if r[2] != 0 { try p.memory.store(old, at: r[2]) }
            return 0
        }),
        ("sigaltstack", { p, r in
            if r[1] != 0 { try p.memory.write(p.altStack, at: r[1]) }
            if r[0] != 0 { p.altStack = try p.memory.bytes(at: r[0], count: 24) }
            return 0
        }),
        ("alarm", { _, _ in 0 }),
    ]

    /// The handler address of a signal: 0 = SIG_DFL, 1 = SIG_IGN, else a function.
    func disposition(_ sig: Int32) -> UInt64 {
        guard sig >= 1, sig <= 64 else { return 0 }
        return signalActions[Int(sig)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// Signals whose default action is to do nothing.
    static let ignoredByDefault: Set<Int32> = [17 /* SIGCHLD */, 18 /* SIGCONT */, 23 /* SIGURG */, 28 /* SIGWINCH */]

    func signalSelf(_ sig: Int32) throws -> SyscallOutcome {
        guard sig >= 0, sig <= 64 else { throw SysError(EINVAL) }
        if sig == 0 { return .value(0) }
        let d = disposition(sig)
        if sig == 9 || (d == 0 && !LinuxPersonality.ignoredByDefault.contains(sig)) {
            return .killed(signal: sig, reason: "the program sent itself \(Signal.name(sig))")
        }
        if d == 1 || d == 0 { return .value(0) }
        return unsupported(SyscallRequest(number: 62, args: (0, UInt64(sig), 0, 0, 0, 0)),
                           detail: "delivering \(Signal.name(sig)) to a handler is not supported yet")
    }
}
