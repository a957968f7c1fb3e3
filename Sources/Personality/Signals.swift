import CHost
import Glibc
import GuestMemory
import LinuxABI

/// Signals: dispositions and the mask are VMM state; a signal becomes pending (sent to itself, or
/// an alarm that expired) and is delivered at the next syscall boundary, as the return of that
/// syscall into the handler (the machine builds Linux's rt_sigframe). Sleeps end early with EINTR
/// when an alarm falls inside them. Blocking reads are not interrupted (documented limitation).
extension LinuxPersonality {
    static let signalHandlers: [(String, Handler)] = [
        (
            "rt_sigaction",
            { p, r in
                let sig = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: r[0]))
                guard sig >= 1, sig <= 64, r[3] == 8 else { throw SysError(EINVAL) }
                if r[2] != 0 { try p.memory.write(p.signalActions[sig], at: r[2]) }
                if r[1] != 0 {
                    guard sig != 9, sig != 19 else { throw SysError(EINVAL) }
                    p.signalActions[sig] = try p.memory.bytes(at: r[1], count: 32)
                    // Setting SIG_IGN discards a pending instance, as Linux does.
                    if p.disposition(Int32(sig)) == 1 { p.pendingSignals &= ~(UInt64(1) << (sig - 1)) }
                }
                return 0
            }
        ),
        (
            "rt_sigprocmask",
            { p, r in
                guard r[3] == 8 else { throw SysError(EINVAL) }
                let old = p.signalMask
                if r[1] != 0 {
                    let set = try p.memory.load(UInt64.self, at: r[1]) & ~LinuxPersonality.unblockable
                    switch Int32(truncatingIfNeeded: r[0]) {
                    case SIG_BLOCK: p.signalMask |= set
                    case SIG_UNBLOCK: p.signalMask &= ~set
                    case SIG_SETMASK: p.signalMask = set
                    default: throw SysError(EINVAL)
                    }
                }
                if r[2] != 0 { try p.memory.store(old, at: r[2]) }
                return 0
            }
        ),
        (
            "rt_sigpending",
            { p, r in
                try p.memory.store(p.pendingSignals & p.signalMask, at: r[0])
                return 0
            }
        ),
        (
            "sigaltstack",
            { p, r in
                if r[1] != 0 { try p.memory.write(p.altStack, at: r[1]) }
                if r[0] != 0 { p.altStack = try p.memory.bytes(at: r[0], count: 24) }
                return 0
            }
        ),
        (
            "alarm",
            { p, r in
                let now = p.clock.monotonicNow()
                let left =
                    p.alarmDeadline.map {
                        $0 > now ? ($0 - now) / 1_000_000_000 + (($0 - now) % 1_000_000_000 == 0 ? 0 : 1) : 0
                    } ?? 0
                let seconds = r[0] & 0xffff_ffff  // alarm takes an unsigned int
                p.alarmDeadline = seconds == 0 ? nil : later(now, seconds * 1_000_000_000)
                p.alarmInterval = 0
                return Int64(left)
            }
        ),
        (
            "setitimer",
            { p, r in
                guard r[0] == 0 /* ITIMER_REAL */ else {
                    p.diagnose("setitimer: only ITIMER_REAL is supported; returning EINVAL", key: 0x4_0000_0000)
                    throw SysError(EINVAL)
                }
                if r[2] != 0 { try p.storeItimer(at: r[2]) }
                if r[1] != 0 {
                    let v = try p.memory.bytes(at: r[1], count: 32).withUnsafeBytes { b in
                        (0..<4).map { b.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
                    }
                    guard v.allSatisfy({ $0 >= 0 }), v[1] < 1_000_000, v[3] < 1_000_000 else { throw SysError(EINVAL) }
                    // Capped at ~100 years: no overflow, and nothing a run will wait for.
                    let cap: Int64 = 3_000_000_000
                    let interval = UInt64(min(v[0], cap)) * 1_000_000_000 + UInt64(v[1]) * 1000
                    let value = UInt64(min(v[2], cap)) * 1_000_000_000 + UInt64(v[3]) * 1000
                    p.alarmDeadline = value == 0 ? nil : later(p.clock.monotonicNow(), value)
                    p.alarmInterval = interval
                }
                return 0
            }
        ),
        (
            "getitimer",
            { p, r in
                guard r[0] == 0 else { throw SysError(EINVAL) }
                try p.storeItimer(at: r[1])
                return 0
            }
        ),
        (
            "pause",
            { p, _ in
                // An alarm ends it, a signal from outside or from another guest process, or the
                // end of a child the program handles SIGCHLD for.
                guard p.alarmDeadline != nil || p.watchingChildren || p.isForkedChild else {
                    p.diagnose("pause() with no alarm set would never return; returning EINTR", key: 0x5_0000_0000)
                    throw SysError(EINTR)
                }
                while true {
                    let now = p.clock.monotonicNow()
                    if let alarm = p.alarmDeadline, now >= alarm { throw SysError(EINTR) }
                    p.sleep(until: min(p.alarmDeadline ?? UInt64.max, later(now, 50_000_000)))
                    // (A signal still waiting to be taken counts too: it is taken as the call returns.)
                    if chost_signal_pending() != 0 || p.hostSignalWaiting() || p.handledChildEvent() {
                        throw SysError(EINTR)
                    }
                }
            }
        ),
    ]

    static let unblockable: UInt64 = (1 << 8) | (1 << 18)  // SIGKILL, SIGSTOP

    func storeItimer(at addr: UInt64) throws {
        let now = clock.monotonicNow()
        let left = alarmDeadline.map { $0 > now ? $0 - now : 1000 } ?? 0
        let words: [Int64] = [
            Int64(alarmInterval / 1_000_000_000), Int64(alarmInterval % 1_000_000_000 / 1000),
            Int64(left / 1_000_000_000), Int64(left % 1_000_000_000 / 1000),
        ]
        for (i, w) in words.enumerated() { try memory.store(w, at: addr + UInt64(8 * i)) }
    }

    /// The handler address of a signal: 0 = SIG_DFL, 1 = SIG_IGN, else a function.
    func disposition(_ sig: Int32) -> UInt64 {
        guard sig >= 1, sig <= 64 else { return 0 }
        return signalActions[Int(sig)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// Signals whose default action is to do nothing.
    static let ignoredByDefault: Set<Int32> = [
        17 /* SIGCHLD */, 18 /* SIGCONT */, 23 /* SIGURG */, 28 /* SIGWINCH */,
    ]

    /// kill/tgkill/tkill to the process itself.
    func signalSelf(_ sig: Int32, code: Int32) throws -> SyscallOutcome {
        guard sig >= 0, sig <= 64 else { throw SysError(EINVAL) }
        if sig == 0 { return .value(0) }
        if sig == 9 { return .killed(signal: 9, reason: "the program sent itself SIGKILL") }
        raise(sig, code: code)
        return .value(0)
    }

    /// Make `sig` pending (it is delivered at the end of this or a later syscall).
    func raise(_ sig: Int32, code: Int32) {
        guard !signalsFromLog, disposition(sig) != 1 else { return }
        pendingSignals |= UInt64(1) << (sig - 1)
        pendingCodes[Int(sig)] = code
    }

    /// Make pending the signals revenant received from outside (bit sig-1), as sent by a user.
    func raiseHostSignals(_ set: UInt64) {
        guard set != 0 else { return }
        for sig in 1...64 where set & (UInt64(1) << (sig - 1)) != 0 { raise(Int32(sig), code: 0 /* SI_USER */) }
    }

    /// At the end of a syscall: expire the alarm, then deliver the lowest deliverable signal.
    func signalAtBoundary(result: Int64) -> SyscallOutcome? {
        if let deadline = alarmDeadline, clock.monotonicNow() >= deadline {
            alarmDeadline = alarmInterval > 0 ? later(deadline, alarmInterval) : nil
            raise(14, code: 0x80 /* SI_KERNEL */)
        }
        while true {
            let deliverable = pendingSignals & ~signalMask
            guard deliverable != 0 else { return nil }
            let sig = Int32(deliverable.trailingZeroBitCount + 1)
            pendingSignals &= ~(UInt64(1) << (sig - 1))
            let handler = disposition(sig)
            if handler == 1 { continue }
            if handler == 0 {
                if LinuxPersonality.ignoredByDefault.contains(sig) { continue }
                return .killed(
                    signal: sig,
                    reason: sig == 14 ? "SIGALRM (alarm expired)" : "the program sent itself \(Signal.name(sig))")
            }
            return .deliver(enterHandler(sig, code: pendingCodes[Int(sig)], result: result))
        }
    }

    /// Enter the handler of `sig` (set, not ignored): block what its sigaction says, reset it
    /// for SA_RESETHAND, and say how the machine builds the frame.
    func enterHandler(
        _ sig: Int32, code: Int32, result: Int64,
        fault: SignalDelivery.Fault? = nil
    ) -> SignalDelivery {
        let action = signalActions[Int(sig)]
        let word = { (i: Int) in
            action.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self) }
        }
        let handler = word(0), flags = word(1), restorer = word(2), saMask = word(3)
        let saved = signalMask
        signalMask |=
            (saMask | (flags & 0x4000_0000 /* SA_NODEFER */ != 0 ? 0 : UInt64(1) << (sig - 1)))
            & ~LinuxPersonality.unblockable
        if flags & 0x8000_0000 /* SA_RESETHAND */ != 0 {
            signalActions[Int(sig)] = [UInt8](repeating: 0, count: 32)
        }
        var d = SignalDelivery(
            signal: sig, handler: handler, restorer: restorer, flags: flags, savedMask: saved,
            code: code, senderPID: fault == nil ? processID : 0,
            senderUID: fault == nil ? nondeterminism.uid : 0, result: result)
        d.fault = fault
        d.alternateStack = altStack.withUnsafeBytes {
            SignalDelivery.AlternateStack(
                base: $0.loadUnaligned(as: UInt64.self),
                flags: $0.loadUnaligned(fromByteOffset: 8, as: Int32.self),
                size: $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        }
        return d
    }

    /// A CPU exception in the program raised `sig`: its handler, entered as Linux does, or nil
    /// when the fault ends the program — no handler, or the signal ignored or blocked (Linux then
    /// restores the default action, as force_sig_fault does). Deterministic: a replay faults at
    /// the same instruction with the same signal state, so nothing is logged.
    public func deliverFault(_ sig: Int32, code: Int32, fault: SignalDelivery.Fault) -> SignalDelivery? {
        guard sig >= 1, sig <= 64 else { return nil }
        let bit = UInt64(1) << (sig - 1)
        guard disposition(sig) > 1, signalMask & bit == 0 else {
            signalActions[Int(sig)] = [UInt8](repeating: 0, count: 32)
            signalMask &= ~bit
            return nil
        }
        return enterHandler(sig, code: code, result: 0, fault: fault)
    }

    /// Replay: enter the handler of `sig` as the recording did (same mask and SA_RESETHAND
    /// bookkeeping as `signalAtBoundary`). Nil when the program has no handler for it now.
    public func deliverLogged(_ sig: Int32, code: Int32, result: Int64) -> SignalDelivery? {
        guard sig >= 1, sig <= 64 else { return nil }
        let handler = disposition(sig)
        guard handler > 1 else { return nil }
        pendingSignals = UInt64(1) << (sig - 1)
        pendingCodes[Int(sig)] = code
        let saved = (signalsFromLog, alarmDeadline)
        signalsFromLog = false
        alarmDeadline = nil
        defer {
            (signalsFromLog, alarmDeadline) = saved
            pendingSignals = 0
        }
        if case .deliver(let d)? = signalAtBoundary(result: result) { return d }
        return nil
    }

    /// Sleep on the host until `deadline` (monotonic ns).
    func sleep(until deadline: UInt64) {
        let now = clock.monotonicNow()
        guard deadline > now else { return }
        var ts = timespec(tv_sec: Int((deadline - now) / 1_000_000_000), tv_nsec: Int((deadline - now) % 1_000_000_000))
        var rem = timespec()
        while nanosleep(&ts, &rem) != 0 && errno == EINTR {
            if chost_signal_pending() != 0 { return }
            ts = rem
        }
    }

    /// rt_sigreturn: the frame is 8 bytes below the stack pointer (the handler's `ret` popped the
    /// restorer address); its ucontext's saved mask becomes the mask again.
    static let sigreturnHandler: OutcomeHandler = { p, r in
        guard r.rsp != 0 else { return .killed(signal: Signal.sigsegv, reason: "rt_sigreturn without a stack pointer") }
        let frame = r.rsp - 8
        guard let mask = try? p.memory.load(UInt64.self, at: frame + 8 + 296) else {
            return .killed(signal: Signal.sigsegv, reason: "rt_sigreturn with a bad signal frame")
        }
        p.signalMask = mask & ~LinuxPersonality.unblockable
        return .signalReturn(frame: frame)
    }
}
