import CHost
import Glibc

/// The one door through which host nondeterminism (clocks, randomness, ids) reaches the guest.
/// `run` reads the host; the recorder (#4) logs what passes here and the replayer feeds it back.
public protocol Nondeterminism: AnyObject {
    /// The guest's process id (also its thread id: one thread).
    var pid: Int32 { get }
    var ppid: Int32 { get }
    /// The user the guest runs as (a signal's sender uid): the recorded one in replay.
    var uid: UInt32 { get }
    /// The 16 bytes behind AT_RANDOM.
    func atRandom() -> [UInt8]
    /// CLOCK_MONOTONIC in nanoseconds (alarms, sleeps).
    func monotonicNow() -> UInt64
    /// Signals sent to the VMM from outside (Ctrl-C…) since the last call, as a bit set.
    func takeHostSignals() -> UInt64
}

public final class HostNondeterminism: Nondeterminism {
    public func monotonicNow() -> UInt64 { chost_monotonic_ns() }
    public func takeHostSignals() -> UInt64 { chost_take_signals() }

    public let pid: Int32 = getpid()
    public let ppid: Int32 = getppid()
    public let uid: UInt32 = getuid()
    public init() {}
    public func atRandom() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 16)
        _ = b.withUnsafeMutableBytes { hostSyscall(NR.getrandom, UInt64(UInt(bitPattern: $0.baseAddress)), 16) }
        return b
    }
}
