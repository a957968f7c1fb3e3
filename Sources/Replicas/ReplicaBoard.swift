import CHost
import Glibc
import Trace

/// A page shared by the supervisor and its replicas (mapped before they are forked): each
/// replica's progress — the event it is at — which the primary reads to stay at most
/// `--max-lag` events ahead of its backups, and the supervisor to find a replica that stalls;
/// and whether the supervisor discarded it (the primary no longer waits for it).
public final class ReplicaBoard: @unchecked Sendable {
    public static let maxReplicas = 16
    private let page: UnsafeMutableRawPointer
    public let count: Int
    /// Replicas and their replacements: every slot a run may use.
    public let slots = maxReplicas

    /// Who serves calls when, with fewer than two cores per replica (its timings settable before
    /// the replicas start).
    public var turns: CoreTurns

    /// `turnSlots`: how many replicas serve calls at a time (CoreTurns.slots; 0: all).
    public init(count: Int, turnSlots: Int) {
        self.count = count
        let p = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        precondition(p != MAP_FAILED, "cannot map the replicas' shared page")
        page = p!
        turns = CoreTurns(page: page, slots: turnSlots)
        supervisor = getpid()
        stdinStart = nil
        stdinCopy = nil
        socketJournal = nil
    }

    /// Replica r's words, on a cache line each: its progress (u64), its discarded flag (u32), its
    /// waiting flag (u32), a fork request (u32), and once forked, its pid (u32), frame base (u64)
    /// and the event it was forked at (u64); when and where a fault was injected into it (u64, u64).
    private func progressWord(_ r: Int) -> UnsafeMutablePointer<UInt64> {
        (page + 64 * r).assumingMemoryBound(to: UInt64.self)
    }
    private func discardedWord(_ r: Int) -> UnsafeMutablePointer<UInt32> {
        (page + 64 * r + 8).assumingMemoryBound(to: UInt32.self)
    }

    public func progress(_ r: Int) -> UInt64 { chost_load_u64(progressWord(r)) }
    public func setProgress(_ r: Int, _ event: UInt64) { chost_store_u64(progressWord(r), event) }
    public func isDiscarded(_ r: Int) -> Bool { chost_load_u32(discardedWord(r)) != 0 }
    /// What the primary is waiting for, if anything: a backup that does not move then is
    /// stalling the run. Only a commit wait is at the primary's own event: a backup waiting for
    /// the log there answers it (ReplicaKernel.aboutToWait); a lag wait is before the event.
    /// A backup's: `log` while it waits for the log to grow (a primary that keeps every backup
    /// waiting so, while it is in no call itself, is stalling the run).
    public enum Wait: UInt32 {
        case none = 0, commit = 1, lag = 2, log = 3
    }
    private func waitingWord(_ r: Int) -> UnsafeMutablePointer<UInt32> {
        (page + 64 * r + 12).assumingMemoryBound(to: UInt32.self)
    }
    public func waiting(_ r: Int) -> Wait { Wait(rawValue: chost_load_u32(waitingWord(r))) ?? .none }
    public func setWaiting(_ r: Int, _ wait: Wait) { chost_store_u32(waitingWord(r), wait.rawValue) }
    public func discard(_ r: Int) { chost_store_u32(discardedWord(r), 1) }

    /// Recovery (Supervisor.recover): the supervisor asks backup r to fork the replica numbered
    /// `index` (0: nothing asked); the new replica writes its pid and how many frames its donor
    /// had sent when it forked (the new one's first frame is the next).
    private func word32(_ r: Int, _ offset: Int) -> UnsafeMutablePointer<UInt32> {
        (page + 64 * r + offset).assumingMemoryBound(to: UInt32.self)
    }
    public func forkRequest(_ r: Int) -> Int? {
        let v = chost_load_u32(word32(r, 16))
        return v == 0 ? nil : Int(v - 1)
    }
    public func requestFork(_ r: Int, index: Int?) { chost_store_u32(word32(r, 16), index.map { UInt32($0 + 1) } ?? 0) }
    private func word64(_ r: Int, _ offset: Int) -> UnsafeMutablePointer<UInt64> {
        (page + 64 * r + offset).assumingMemoryBound(to: UInt64.self)
    }
    public func joined(_ r: Int) -> (pid: pid_t, frames: Int, event: UInt64)? {
        let pid = chost_load_u32(word32(r, 20))
        guard pid != 0 else { return nil }
        return (pid_t(pid), Int(chost_load_u64(word64(r, 24))), chost_load_u64(word64(r, 32)))
    }
    /// When a fault was injected into replica r (monotonic ns, 0: none), and at which event:
    /// `-v` reports how long detection took.
    public func injected(_ r: Int) -> (nanoseconds: UInt64, event: UInt64)? {
        let t = chost_load_u64(word64(r, 40))
        return t == 0 ? nil : (t, chost_load_u64(word64(r, 48)))
    }
    public func noteInjection(_ r: Int, event: UInt64) {
        chost_store_u64(word64(r, 48), event)
        chost_store_u64(word64(r, 40), chost_monotonic_ns())
    }

    public func join(_ r: Int, pid: pid_t, frames: Int, event: UInt64) {
        chost_store_u64(word64(r, 24), UInt64(frames))
        chost_store_u64(word64(r, 32), event)
        chost_store_u32(word32(r, 20), UInt32(pid))
    }

    // Taking over (Docs/replicas.md "Taking over"), after CoreTurns' words: which replica is
    // the primary (u32), and where the one that took the primary's place cut the log: a
    // generation (u32, bumped once the cut is written), the cut's file offset, its chunk's first
    // event and the first event dropped (u64 each). Per replica (its line, offset 56): asked to
    // take over (u32).
    private static let takeOver = 3072
    private func shared<T>(_ offset: Int) -> UnsafeMutablePointer<T> {
        (page + Self.takeOver + offset).assumingMemoryBound(to: T.self)
    }
    /// The replica that is the primary: 0, until a backup takes its place.
    public var primary: Int {
        get { Int(chost_load_u32(shared(0))) }
        set { chost_store_u32(shared(0), UInt32(newValue)) }
    }
    /// Whether replica r is inside a call on the host (the primary's: blocked reading a terminal,
    /// sleeping — not stalled).
    public func inCall(_ r: Int) -> Bool { chost_load_u32(word32(r, 60)) != 0 }
    public func setInCall(_ r: Int, _ inCall: Bool) { chost_store_u32(word32(r, 60), inCall ? 1 : 0) }
    /// The supervisor asks backup r to take the primary's place (its pipes are sent first).
    public func promote(_ r: Int) { chost_store_u32(word32(r, 56), 1) }
    public func isPromoted(_ r: Int) -> Bool { chost_load_u32(word32(r, 56)) != 0 }
    /// The new primary cut the log here: every backup goes back to it (ReplicaKernel).
    public func publishCut(_ cut: StreamCut) {
        chost_store_u64(shared(8), UInt64(cut.offset))
        chost_store_u64(shared(16), cut.first)
        chost_store_u64(shared(24), cut.event)
        chost_add_u32(shared(4), 1)
    }
    public var cutGeneration: UInt32 { chost_load_u32(shared(4)) }
    /// The last cut published and its generation (0: none yet).
    public func cut() -> (generation: UInt32, cut: StreamCut) {
        let g = chost_load_u32(shared(4))
        let cut = StreamCut(
            offset: Int(chost_load_u64(shared(8))), first: chost_load_u64(shared(16)), event: chost_load_u64(shared(24))
        )
        return (g, cut)
    }

    // Checkpoints (two replicas, Docs/replicas.md "Checkpoints"), from offset 2048: the
    // supervisor's pid (u32), then a line per checkpoint: its state (u32: free, claimed by the
    // backup forking it, taken), a request to make copies of it (u32: first new replica + 1 in
    // the low half, how many in the high), its pid (u32), the event it was taken at and how
    // many frames its donor had sent (u64 each), the replica it was taken from (u32) and the
    // digest of its state (32 bytes), which the supervisor checks against the replicas'.
    public static let checkpointSlots = 8
    public enum CheckpointState: UInt32 { case free = 0, claimed = 1, taken = 2 }
    private static let checkpoints = 2048
    private func checkpointWord<T>(_ slot: Int, _ offset: Int) -> UnsafeMutablePointer<T> {
        (page + Self.checkpoints + 64 + 64 * slot + offset).assumingMemoryBound(to: T.self)
    }
    /// The supervisor's pid: a checkpoint whose supervisor is gone ends itself.
    public var supervisor: pid_t {
        get { pid_t(chost_load_u32((page + Self.checkpoints).assumingMemoryBound(to: UInt32.self))) }
        set { chost_store_u32((page + Self.checkpoints).assumingMemoryBound(to: UInt32.self), UInt32(newValue)) }
    }
    /// Whether the supervisor has ended (also when it is not reaped yet: its parent may be
    /// waiting for the end of an output pipe a checkpoint still holds).
    public var supervisorIsGone: Bool { chost_process_runs(supervisor) == 0 }
    /// Where the outside stdin started, when it is a regular file (a new primary seeks it to
    /// there plus what the log says the guest consumed); nil for any other stdin.
    public var stdinStart: Int64? {
        get {
            let v = chost_load_u64((page + Self.checkpoints + 8).assumingMemoryBound(to: UInt64.self))
            return v == .max ? nil : Int64(bitPattern: v)
        }
        set {
            chost_store_u64(
                (page + Self.checkpoints + 8).assumingMemoryBound(to: UInt64.self),
                newValue.map { UInt64(bitPattern: $0) } ?? .max)
        }
    }
    /// The supervisor's copy of a piped stdin (StdinPump.copy), which every replica inherits.
    public var stdinCopy: Int32? {
        get {
            let v = Int32(
                bitPattern: chost_load_u32((page + Self.checkpoints + 16).assumingMemoryBound(to: UInt32.self)))
            return v < 0 ? nil : v
        }
        set {
            chost_store_u32(
                (page + Self.checkpoints + 16).assumingMemoryBound(to: UInt32.self),
                UInt32(bitPattern: newValue ?? -1))
        }
    }
    /// How much of a piped stdin replica r's guest had read, as its log says (a backup's, u64 at
    /// 2624 + 8r; 0 until it says), and the same for the checkpoint in a slot (u64 at 2752 + 8
    /// × slot): the supervisor lets go of its copy's bytes below what they all read
    /// (StdinPump.release).
    private func stdinReadWord(_ offset: Int) -> UnsafeMutablePointer<UInt64> {
        (page + 2624 + offset).assumingMemoryBound(to: UInt64.self)
    }
    public func stdinRead(_ r: Int) -> UInt64 { chost_load_u64(stdinReadWord(8 * r)) }
    public func setStdinRead(_ r: Int, _ bytes: UInt64) { chost_store_u64(stdinReadWord(8 * r), bytes) }
    public func checkpointStdinRead(_ slot: Int) -> UInt64 { chost_load_u64(stdinReadWord(128 + 8 * slot)) }
    /// The same for the socket journal: the first byte of it replica r may still need (u64 at
    /// 2848 + 8r; 0 until it says), and a checkpoint's (u64 at 2976 + 8 × slot).
    public func journalNeeded(_ r: Int) -> UInt64 { chost_load_u64(stdinReadWord(224 + 8 * r)) }
    public func setJournalNeeded(_ r: Int, _ at: UInt64) { chost_store_u64(stdinReadWord(224 + 8 * r), at) }
    public func checkpointJournalNeeded(_ slot: Int) -> UInt64 { chost_load_u64(stdinReadWord(352 + 8 * slot)) }

    /// The socket journal (SocketJournal): its file in memory (u32 at 2816, all ones: none), how
    /// many of its bytes are written whole (u64 at 2824), and the supervisor's answer to the
    /// primary's last request to consume: the bytes consumed or -errno (i64 at 2832) and the
    /// answer's number (u32 at 2840, which the primary waits on).
    private func journalWord<T>(_ offset: Int) -> UnsafeMutablePointer<T> {
        (page + 2816 + offset).assumingMemoryBound(to: T.self)
    }
    public var socketJournal: Int32? {
        get {
            let v = Int32(bitPattern: chost_load_u32(journalWord(0)))
            return v < 0 ? nil : v
        }
        set { chost_store_u32(journalWord(0), UInt32(bitPattern: newValue ?? -1)) }
    }
    public var journalLength: UInt64 {
        get { chost_load_u64(journalWord(8)) }
        set { chost_store_u64(journalWord(8), newValue) }
    }
    /// Whether Revenant's stdin is a terminal, whose reads the supervisor makes into the journal
    /// (u32 at 2844, 1 if so).
    public var terminalJournaled: Bool {
        get { chost_load_u32(journalWord(28)) == 1 }
        set { chost_store_u32(journalWord(28), newValue ? 1 : 0) }
    }
    public var consumeAnswers: UInt32 { chost_load_u32(journalWord(24)) }
    public var consumed: Int64 { Int64(bitPattern: chost_load_u64(journalWord(16))) }
    public func answerConsume(_ result: Int64) {
        chost_store_u64(journalWord(16), UInt64(bitPattern: result))
        chost_add_u32(journalWord(24), 1)
        chost_futex_wake_shared(journalWord(24))
    }
    /// Wait (at most `timeout` ns) while the answers number `seen`.
    public func awaitConsumeAnswer(after seen: UInt32, timeout: UInt64) {
        _ = chost_futex_wait_shared(journalWord(24), seen, timeout)
    }

    public func checkpointState(_ slot: Int) -> CheckpointState {
        CheckpointState(rawValue: chost_load_u32(checkpointWord(slot, 0))) ?? .free
    }
    /// A free slot for a checkpoint about to be forked (only one backup forks them).
    public func claimCheckpoint() -> Int? {
        (0..<Self.checkpointSlots).first { chost_cas_u32(checkpointWord($0, 0), 0, 1) != 0 }
    }
    /// The checkpoint in `slot` is taken: what the supervisor checks it by.
    public func publishCheckpoint(
        _ slot: Int, pid: pid_t, event: UInt64, frames: Int, donor: Int, digest: [UInt8], stdinRead: UInt64,
        journalNeeded: UInt64
    ) {
        chost_store_u64(stdinReadWord(128 + 8 * slot), stdinRead)
        chost_store_u64(stdinReadWord(352 + 8 * slot), journalNeeded)
        chost_store_u32(checkpointWord(slot, 8), UInt32(pid))
        chost_store_u64(checkpointWord(slot, 16), event)
        chost_store_u64(checkpointWord(slot, 24), UInt64(frames))
        chost_store_u32(checkpointWord(slot, 12), UInt32(donor))
        let d: UnsafeMutablePointer<UInt8> = checkpointWord(slot, 32)
        for (i, b) in digest.prefix(32).enumerated() { d[i] = b }
        chost_store_u32(checkpointWord(slot, 0), CheckpointState.taken.rawValue)
    }
    public struct CheckpointInfo {
        public var pid: pid_t
        public var event: UInt64
        public var frames: Int
        public var donor: Int
        public var digest: [UInt8]
    }
    public func checkpoint(_ slot: Int) -> CheckpointInfo? {
        guard checkpointState(slot) == .taken else { return nil }
        let d: UnsafeMutablePointer<UInt8> = checkpointWord(slot, 32)
        return CheckpointInfo(
            pid: pid_t(chost_load_u32(checkpointWord(slot, 8))), event: chost_load_u64(checkpointWord(slot, 16)),
            frames: Int(chost_load_u64(checkpointWord(slot, 24))),
            donor: Int(chost_load_u32(checkpointWord(slot, 12))), digest: (0..<32).map { d[$0] })
    }
    /// The slot is free again (its checkpoint was killed, or never made).
    public func freeCheckpoint(_ slot: Int) {
        chost_store_u32(checkpointWord(slot, 4), 0)
        chost_store_u32(checkpointWord(slot, 0), CheckpointState.free.rawValue)
        chost_futex_wake_shared(checkpointWord(slot, 4))
    }
    /// Ask the checkpoint in `slot` for `count` copies of itself, numbered from `first`.
    public func requestCopies(_ slot: Int, first: Int, count: Int) {
        chost_store_u32(checkpointWord(slot, 4), UInt32(first + 1) | UInt32(count) << 16)
        chost_futex_wake_shared(checkpointWord(slot, 4))
    }
    /// The next copy the checkpoint in `slot` is asked for (its number), if any.
    public func copyRequested(_ slot: Int) -> Int? {
        let v = chost_load_u32(checkpointWord(slot, 4))
        return v & 0xffff == 0 ? nil : Int(v & 0xffff) - 1
    }
    /// One copy made: the next is numbered one more.
    public func copyMade(_ slot: Int) {
        let v = chost_load_u32(checkpointWord(slot, 4))
        let left = (v >> 16) &- 1
        chost_store_u32(checkpointWord(slot, 4), left == 0 || v == 0 ? 0 : ((v & 0xffff) + 1) | (left << 16))
    }
    /// A checkpoint parks here until it is asked for copies or freed (at most `timeout` ns).
    public func awaitCheckpointWord(_ slot: Int, timeout: UInt64) {
        let word: UnsafeMutablePointer<UInt32> = checkpointWord(slot, 4)
        _ = chost_futex_wait_shared(word, 0, timeout)
    }

    /// The event the slowest backup still in the run is at; nil when none is.
    public func slowestBackup() -> UInt64? {
        // Asked at every call of the primary: a loop, no arrays.
        var slowest: UInt64?
        let primary = primary
        for r in 0..<slots where r != primary && !isDiscarded(r) && (r < count || joined(r) != nil) {
            slowest = min(slowest ?? .max, progress(r))
        }
        return slowest
    }
}
