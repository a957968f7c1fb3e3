import CGuestStub
import CHost
import Glibc
import GuestMemory
import LinuxABI

/// The fast syscall path under PVM: the stub posts each call in a guest page and a VMM thread,
/// spinning on another core, serves it without a VM exit (~3–4 µs instead of ≥ 22 µs per exit;
/// Docs/machine.md "Costs"). It needs a free core, so it falls back to exits by itself:
/// the spinner sleeps after 1 ms without calls (the next exit wakes it), and a call the spinner
/// does not pick up within 1 ms (another process holds the core) parks it for 20 ms, doubling up to
/// 1 s while it keeps starving (again within a second of the last park's end). A kernel may also
/// send its spinner to sleep between calls (`GuestKernel.spinnerMayPoll`: replicas waiting for a
/// turn at the cores). Only one call is ever in flight, so the personality is used by one
/// thread at a time; the state word's sequentially consistent operations order the hand-overs.
final class SyscallMailbox: @unchecked Sendable {
    let page: UnsafeMutableRawPointer
    /// Serves one call (GuestMachine.serve: the rewriter, then the kernel).
    let serveCall: (SyscallRequest) -> SyscallOutcome
    /// Asked between calls: false sends the spinner to sleep until the next exit wakes it.
    let mayPoll: () -> Bool
    /// A little work the spinner does between calls instead of polling (copying the guest's
    /// deferred mappings, ~20 µs a step): true when there was some. A posted call waits for the
    /// step to end, well inside the stub's spin.
    let idleWork: () -> Bool
    private var state: UnsafeMutablePointer<UInt32> { page.assumingMemoryBound(to: UInt32.self) }
    private var waiter: UnsafeMutablePointer<UInt32> {
        (page + Int(REVENANT_MB_WAITER)).assumingMemoryBound(to: UInt32.self)
    }
    /// A call the spinner served whose outcome is not a plain value (the process ended…).
    static let outcomeState = UInt32(REVENANT_MB_OUTCOME)

    /// Words the spinner and the vCPU thread share, kept out of Swift's exclusivity checks (the
    /// spinner reads them on every turn of its loop, where the checks cost half its time): stop,
    /// exited, park milliseconds.
    private let words: UnsafeMutablePointer<UInt32> = {
        let w = UnsafeMutablePointer<UInt32>.allocate(capacity: 3)
        w.initialize(repeating: 0, count: 3)
        return w
    }()
    private var stopWord: UnsafeMutablePointer<UInt32> { words }
    /// Set by the spinner as its last act: `stop` waits for it, so that no spinner touches the
    /// mailbox page after the machine that owns it is gone.
    private var exitedWord: UnsafeMutablePointer<UInt32> { words + 1 }
    private var parkWord: UnsafeMutablePointer<UInt32> { words + 2 }
    // Owned by the vCPU thread.
    private var parkedUntil: UInt64 = 0
    private var nextPark: UInt32 = 20
    // Written by whichever thread serves, read after the state hand-over.
    private var pendingOutcome: SyscallOutcome?
    private(set) var servedBySpinner = 0
    private(set) var fallbacks = 0

    /// A testing knob (Docs/machine.md "Trapless syscalls"): REVENANT_FORCE_FALLBACK=P makes P% of
    /// the spinner's calls end in a fallback, half by falling asleep after the reply (the next call
    /// exits), half by replying late (the stub gives up spinning and takes the wait exit). A replay
    /// must not care which path a call took.
    static let forcedFallbackPercent: UInt64 = {
        guard let v = getenv("REVENANT_FORCE_FALLBACK"), let p = UInt64(String(cString: v)) else { return 0 }
        return min(p, 100)
    }()
    private var random: UInt64 = 0x9e37_79b9_7f4a_7c15
    /// True for P% of calls (xorshift: any sequence serves).
    private func forceFallback() -> Bool {
        guard SyscallMailbox.forcedFallbackPercent > 0 else { return false }
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return random % 100 < SyscallMailbox.forcedFallbackPercent
    }

    deinit { words.deallocate() }

    init(
        page: UnsafeMutableRawPointer, serveCall: @escaping (SyscallRequest) -> SyscallOutcome,
        mayPoll: @escaping () -> Bool = { true }, idleWork: @escaping () -> Bool = { false }
    ) {
        self.page = page
        self.serveCall = serveCall
        self.mayPoll = mayPoll
        self.idleWork = idleWork
        memset(page, 0, 4096)
        chost_store_u32(state, UInt32(REVENANT_MB_ASLEEP))
    }

    /// Start the spinner thread (asleep: the first exit wakes it).
    func start() {
        let me = Unmanaged.passRetained(self).toOpaque()
        _ = chost_thread_start(
            { ctx in
                let mb = Unmanaged<SyscallMailbox>.fromOpaque(ctx!).takeRetainedValue()
                // Signals from outside go to the vCPU thread, so that they interrupt KVM_RUN.
                chost_block_forwarded_signals()
                chost_make_kickable()
                mb.spin()
                chost_store_u32(mb.exitedWord, 1)
            }, me)
        started = true
    }
    private var started = false

    /// Stop the spinner and wait until it has left the mailbox page.
    func stop() {
        chost_store_u32(stopWord, 1)
        chost_store_u32(state, UInt32(REVENANT_MB_ASLEEP))
        chost_futex_wake(state)
        guard started else { return }
        // Bounded: a forked copy of this process has no spinner thread to wait for.
        for _ in 0..<20_000 where chost_load_u32(exitedWord) == 0 {
            chost_futex_wake(state)
            usleep(50)
        }
    }

    private var stopped: Bool { chost_load_u32(stopWord) != 0 }

    private func request() -> SyscallRequest {
        func word(_ off: Int32) -> UInt64 { page.load(fromByteOffset: Int(off), as: UInt64.self) }
        let a = Int32(REVENANT_MB_ARGS)
        return SyscallRequest(
            number: UInt64(page.load(fromByteOffset: Int(REVENANT_MB_NR), as: UInt32.self)),
            args: (word(a), word(a + 8), word(a + 16), word(a + 24), word(a + 32), word(a + 40)),
            rip: word(Int32(REVENANT_MB_RCX)))
    }

    // MARK: spinner thread

    private func spin() {
        var idleSince = monotonicNow()
        var polls = 0
        var sleepAfterReply = false
        while !stopped {
            let s = chost_load_acquire_u32(state)
            if s == UInt32(REVENANT_MB_POSTED) {
                if chost_cas_u32(state, s, UInt32(REVENANT_MB_TAKEN)) != 0 {
                    sleepAfterReply = serve()
                    idleSince = monotonicNow()
                }
                continue
            }
            if s == UInt32(REVENANT_MB_ASLEEP) {
                let park = chost_load_u32(parkWord)
                if park > 0 {
                    _ = chost_futex_wait(state, s, UInt64(park) * 1_000_000)
                    chost_store_u32(parkWord, 0)
                    _ = chost_cas_u32(state, s, UInt32(REVENANT_MB_IDLE))
                } else {
                    _ = chost_futex_wait(state, s, 0)
                }
                idleSince = monotonicNow()
                continue
            }
            if sleepAfterReply, s == UInt32(REVENANT_MB_IDLE) {
                sleepAfterReply = false
                _ = chost_cas_u32(state, s, UInt32(REVENANT_MB_ASLEEP))
                continue
            }
            if polls & 15 == 0, s == UInt32(REVENANT_MB_IDLE), idleWork() {
                idleSince = monotonicNow()
                polls += 1
                continue
            }
            chost_pause()
            polls += 1
            if polls & 255 == 0, s == UInt32(REVENANT_MB_IDLE), monotonicNow() - idleSince > 1_000_000 || !mayPoll() {
                _ = chost_cas_u32(state, s, UInt32(REVENANT_MB_ASLEEP))
            }
        }
    }

    /// Serve the posted call; true when the spinner is to fall asleep once the stub has the reply
    /// (a forced fallback).
    private func serve() -> Bool {
        let outcome = serveCall(request())
        servedBySpinner += 1
        var sleepAfterReply = false
        if forceFallback() {
            if random & 1 == 0 { sleepAfterReply = true } else { usleep(300) }
        }
        if case .value(let v) = outcome {
            page.storeBytes(of: UInt64(bitPattern: v), toByteOffset: Int(REVENANT_MB_RESULT), as: UInt64.self)
            chost_store_u32(state, UInt32(REVENANT_MB_REPLIED))
        } else {
            pendingOutcome = outcome
            chost_store_u32(state, SyscallMailbox.outcomeState)
        }
        if chost_load_u32(waiter) != 0 { chost_futex_wake(state) }
        return sleepAfterReply
    }

    // MARK: vCPU thread

    /// Before a syscall that took the exit path: wake a spinner that fell asleep while idle.
    func noteExitPath() {
        guard chost_load_u32(state) == UInt32(REVENANT_MB_ASLEEP), monotonicNow() >= parkedUntil else { return }
        if chost_cas_u32(state, UInt32(REVENANT_MB_ASLEEP), UInt32(REVENANT_MB_IDLE)) != 0 { chost_futex_wake(state) }
    }

    /// The stub gave up spinning ("wait" exit): wait for the spinner, or serve the call here when
    /// the spinner has not picked it up within 1 ms.
    /// Returns the outcome and the caller's rip and rflags (saved rcx and r11).
    func completeWait() -> (SyscallOutcome, UInt64, UInt64) {
        let start = monotonicNow()
        var kicked = false
        let rcx = page.load(fromByteOffset: Int(REVENANT_MB_RCX), as: UInt64.self)
        let r11 = page.load(fromByteOffset: Int(REVENANT_MB_R11), as: UInt64.self)
        while true {
            let s = chost_load_u32(state)
            if s == UInt32(REVENANT_MB_REPLIED) {
                let v = page.load(fromByteOffset: Int(REVENANT_MB_RESULT), as: UInt64.self)
                chost_store_u32(state, UInt32(REVENANT_MB_IDLE))
                return (.value(Int64(bitPattern: v)), rcx, r11)
            }
            if s == SyscallMailbox.outcomeState {
                let o = pendingOutcome ?? .value(-Int64(EIO))
                pendingOutcome = nil
                chost_store_u32(state, UInt32(REVENANT_MB_IDLE))
                return (o, rcx, r11)
            }
            let starved = s == UInt32(REVENANT_MB_POSTED) && monotonicNow() - start > 1_000_000
            if s == UInt32(REVENANT_MB_POSTED), starved || !mayPoll() {
                // Starved (the spinner did not take the call within 1 ms): take it back, park the
                // spinner (20 ms, doubling while it starves again within a second of its last
                // park's end) and serve the call here. A kernel that wants its spinner asleep
                // (a replica without a turn: its spinner may have been off the cores when the call
                // came) gets the same without a park.
                let now = monotonicNow()
                if now > parkedUntil + 1_000_000_000 { nextPark = 20 }
                chost_store_u32(parkWord, starved ? nextPark : 0)
                if chost_cas_u32(state, s, UInt32(REVENANT_MB_ASLEEP)) != 0 {
                    if starved {
                        parkedUntil = now + UInt64(nextPark) * 1_000_000
                        nextPark = min(nextPark * 2, 1000)
                        fallbacks += 1
                    }
                    return (serveCall(request()), rcx, r11)
                }
                // The spinner took it after all: no parking.
                chost_store_u32(parkWord, 0)
                continue
            }
            if s == UInt32(REVENANT_MB_TAKEN), !kicked, chost_signal_pending() != 0 {
                // A signal came from outside (Ctrl-C) while the spinner is blocked in a host call
                // (a read from the terminal…): interrupt it, so the call ends with EINTR and the
                // signal reaches the guest as it would under Linux.
                chost_kick()
                kicked = true
            }
            chost_store_u32(waiter, 1)
            if chost_load_u32(state) == s { _ = chost_futex_wait(state, s, 200_000) }
            chost_store_u32(waiter, 0)
        }
    }
}

@inline(__always) func monotonicNow() -> UInt64 { chost_monotonic_ns() }
