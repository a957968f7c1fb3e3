import CHost
import Glibc

/// Replicas taking turns at the host's cores (Docs/replicas.md "Turns").
///
/// A replica serving calls through its mailbox needs two cores at once: its vCPU, which spins in
/// the stub for each reply, and its VMM's spinner. With fewer than two cores per replica, the
/// replicas' four or six spinning threads run against each other, the stub's spin times out, and
/// nearly every call ends in a VM exit: syscall-heavy Perl under `--replicas 2` on two cores ran
/// at ~70× `run`. So replicas take turns: `slots` of them (a core pair each) serve calls at a
/// time, and the others wait at their next call, parked on a futex, so that their vCPU and
/// spinner park too. A turn ends
/// - when its holder waits anyway: for a commit, for its backups (`--max-lag`), for the log;
/// - when it has lasted `slice` and another replica is waiting: it goes to the next one in turn;
/// - when its holder has made no call for `idle` (it computes, blocks in a host call, or is stuck
///   or dead): a waiting replica takes it. A CPU-bound program's replicas therefore run side by
///   side, one core each.
///
/// Turns only decide who runs when: nothing a replica computes or sends depends on them, so a
/// replica that ran without its turn would only be slower, never wrong.
/// Sendable: every word it uses is in the shared page, read and written atomically.
public struct CoreTurns: @unchecked Sendable {
    /// How many replicas serve calls at once; 0: no turns (two cores or more per replica).
    public let slots: Int
    /// Nanoseconds: how long a turn lasts while another replica waits; how long without a call
    /// makes its holder idle; and how long a turn just handed to a parked replica is not taken
    /// for idleness (its threads are waking up: taken sooner, two replicas passed single calls
    /// back and forth).
    public var slice: UInt64 = 20_000_000
    public var idle: UInt64 = 1_000_000
    public var grace: UInt64 = 5_000_000
    /// The replicas' shared page (ReplicaBoard).
    private let page: UnsafeMutableRawPointer
    public static let maxSlots = 8

    /// Turns for `replicas` on a host with `cores` online: a slot per two cores, none when every
    /// replica has two.
    public static func slots(replicas: Int, cores: Int) -> Int {
        cores >= 2 * replicas ? 0 : min(max(1, cores / 2), maxSlots)
    }

    init(page: UnsafeMutableRawPointer, slots: Int) {
        self.page = page
        self.slots = min(slots, Self.maxSlots)
    }

    // The words, after the replicas' own lines (ReplicaBoard): the replicas waiting (a bit
    // each), a sequence number bumped at every hand-over (what waiters park on), and per slot
    // its holder (replica + 1, 0: free), when the holder last began a call, when its turn began,
    // and whether it was handed over.
    private static let base = 64 * ReplicaBoard.maxReplicas
    private func word<T>(_ offset: Int) -> UnsafeMutablePointer<T> {
        (page + Self.base + offset).assumingMemoryBound(to: T.self)
    }
    private var waitingMask: UnsafeMutablePointer<UInt32> { word(0) }
    private var sequence: UnsafeMutablePointer<UInt32> { word(4) }
    /// How many times a turn went from one replica to another, handed or taken (`-v`).
    public var handOvers: Int { Int(chost_load_u32(handOverCount)) }
    private var handOverCount: UnsafeMutablePointer<UInt32> { word(8) }
    private func holder(_ s: Int) -> UnsafeMutablePointer<UInt32> { word(64 + 64 * s) }
    private func heartbeat(_ s: Int) -> UnsafeMutablePointer<UInt64> { word(64 + 64 * s + 8) }
    private func since(_ s: Int) -> UnsafeMutablePointer<UInt64> { word(64 + 64 * s + 16) }
    /// 1 while the turn is one handed to a replica that was parked (its threads wake up: the grace
    /// applies); 0 for one taken free or from an idle holder by a thread already running.
    private func handed(_ s: Int) -> UnsafeMutablePointer<UInt32> { word(64 + 64 * s + 24) }

    /// Replica r is about to serve a call: it keeps its turn, or waits for one.
    public func enter(_ r: Int) {
        guard slots > 0 else { return }
        let me = UInt32(r + 1)
        var now = chost_monotonic_ns()
        if let s = (0..<slots).first(where: { chost_load_u32(holder($0)) == me }) {
            chost_store_u64(heartbeat(s), now)
            let others = chost_load_u32(waitingMask) & ~(1 << UInt32(r))
            if others == 0 || !Self.elapsed(since(s), now, more: slice) { return }
            handOver(s, from: me)
        }
        chost_or_u32(waitingMask, 1 << UInt32(r))
        defer { chost_and_u32(waitingMask, ~(1 << UInt32(r))) }
        while true {
            let seen = chost_load_u32(sequence)
            now = chost_monotonic_ns()
            for s in 0..<slots {
                let h = chost_load_u32(holder(s))
                // Handed to r, free, or idle for too long.
                let mine =
                    h == me || (h == 0 && chost_cas_u32(holder(s), 0, me) != 0)
                    || (Self.elapsed(heartbeat(s), now, more: idle)
                        && (chost_load_u32(handed(s)) == 0 || Self.elapsed(since(s), now, more: grace))
                        && chost_cas_u32(holder(s), h, me) != 0)
                guard mine else { continue }
                if h != me && h != 0 { chost_add_u32(handOverCount, 1) }
                if h != me { chost_store_u32(handed(s), 0) }
                chost_store_u64(heartbeat(s), now)
                chost_store_u64(since(s), now)
                return
            }
            _ = chost_futex_wait_shared(sequence, seen, idle)
        }
    }

    /// Whether replica r may use the cores now: it holds a turn, or there are none.
    public func holds(_ r: Int) -> Bool {
        slots == 0 || (0..<slots).contains { chost_load_u32(holder($0)) == UInt32(r + 1) }
    }

    /// Replica r waits anyway (or leaves the run): whatever turn it holds goes on.
    public func leave(_ r: Int) {
        guard slots > 0 else { return }
        for s in 0..<slots where chost_load_u32(holder(s)) == UInt32(r + 1) { handOver(s, from: UInt32(r + 1)) }
    }

    /// Replica r is gone (discarded, dead): its turn goes on, and it is waited for no more.
    public func forget(_ r: Int) {
        guard slots > 0 else { return }
        chost_and_u32(waitingMask, ~(1 << UInt32(r)))
        leave(r)
    }

    /// Whether more than `limit` ns passed from the time in `word` to `now`. Another process may
    /// have stored a time after this one read `now`: that is no time passed.
    private static func elapsed(_ word: UnsafeMutablePointer<UInt64>, _ now: UInt64, more limit: UInt64) -> Bool {
        let then = chost_load_u64(word)
        return now > then && now - then > limit
    }

    /// Slot s goes from its holder to the next replica waiting after it, or is freed.
    private func handOver(_ s: Int, from me: UInt32) {
        let waiting = chost_load_u32(waitingMask) & ~(1 << (me - 1))
        var next: UInt32 = 0
        if waiting != 0 {
            // Round robin: the lowest waiting replica above the holder, else the lowest of all.
            let above = waiting & ~((1 << me) - 1)
            next = UInt32((above != 0 ? above : waiting).trailingZeroBitCount) + 1
        }
        let now = chost_monotonic_ns()
        chost_store_u64(heartbeat(s), now)
        chost_store_u64(since(s), now)
        chost_store_u32(handed(s), next != 0 ? 1 : 0)
        guard chost_cas_u32(holder(s), me, next) != 0 else { return }
        if next != 0 { chost_add_u32(handOverCount, 1) }
        chost_add_u32(sequence, 1)
        chost_futex_wake_shared(sequence)
    }
}
