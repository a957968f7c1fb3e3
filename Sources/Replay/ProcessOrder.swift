import CHost
import Glibc
import Trace

/// The order of console writes across a run's processes (Docs/trace-format.md "Processes"): a
/// page shared by every VMM of the run, made before its first fork. Recording, a process holds
/// the page's lock across a write to Revenant's stdout or stderr and takes the next ticket as it
/// lets go, so tickets follow the order the bytes reached the console; replaying, each process
/// waits for its recorded ticket before writing, so the output interleaves as it did. Only console
/// writes are ordered: every other call a replay feeds back from its own process's stream. Every
/// call of a run that has forked also takes a stamp, its place among all the run's calls, which
/// replay does not wait for: SQL time travel merges processes' statements by them.
public final class ProcessOrder {
    private let page: UnsafeMutablePointer<chost_order>

    public init() throws(TraceError) {
        guard let p = chost_order_create() else {
            throw .io(path: "a page shared by the run's processes", errno: errno)
        }
        page = p
    }

    /// Recording: run `write` (a console write) under the lock; its ticket and its stamp.
    func ordered<T>(_ write: () -> T) -> (T, ticket: UInt32, stamp: UInt64) {
        chost_order_lock(page)
        let result = write()
        let stamp = chost_order_stamp(page)
        return (result, chost_order_take_and_unlock(page), stamp)
    }

    /// Recording: run `call` under the lock and stamp it there, so that no other process's call
    /// takes an earlier stamp after it (a lock let go before another process takes it).
    func stamped<T>(_ call: () -> T) -> (T, stamp: UInt64) {
        chost_order_lock(page)
        let result = call()
        let stamp = chost_order_stamp(page)
        chost_order_unlock(page)
        return (result, stamp)
    }

    /// Recording on from where another recorder stopped (a backup of `run --replicas` that took
    /// the primary's place): the next console write takes `ticket`.
    public func goOn(fromTicket ticket: UInt32) { chost_store_u32(&page.pointee.next, ticket) }
    /// Recording: the next stamp, a call's place among every process's calls.
    func stamp() -> UInt64 { chost_order_stamp(page) }

    public enum Wait { case ready, broken, timedOut }

    /// Replaying: wait until `ticket` is next (every earlier write has been made).
    func wait(for ticket: UInt32, seconds: UInt64) -> Wait {
        switch chost_order_wait(page, ticket, seconds * 1_000_000_000) {
        case 0: return .ready
        case -1: return .broken
        default: return .timedOut
        }
    }

    /// Replaying: the write of the current ticket is made.
    func advance() { chost_order_advance(page) }

    /// Recording: the stream number of the child a fork is about to make.
    func nextStream() -> Int { Int(chost_order_next_stream(page)) }

    /// A process's replay failed: nobody waits for its writes any more.
    public func breakOrder() { chost_order_break(page) }

    /// Set by a child VMM whose recording failed; the first VMM reports it.
    public var failed: Bool {
        get { chost_load_u32(&page.pointee.failed) != 0 }
        set { chost_store_u32(&page.pointee.failed, newValue ? 1 : 0) }
    }
}
