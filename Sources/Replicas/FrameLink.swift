import CHost
import Glibc
import LinuxABI

/// A pipe whose ends are closed on exec (a program the primary runs is a VMM's child): between
/// the supervisor and a replica, or the supervisor's stdin to the primary. Nil when none is left.
func closeOnExecPipe() -> (read: Int32, write: Int32)? {
    var p: [Int32] = [0, 0]
    guard pipe(&p) == 0 else { return nil }
    for fd in p { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (p[0], p[1])
}

/// A replica's end of its pipe to the supervisor: frames are buffered and written together —
/// when 16 KiB are waiting, when the oldest waited 50 ms, and whenever the replica is about to
/// wait (the primary for a commit or for its backups, a backup for the log to grow), so that
/// nobody waits for a frame still in a buffer. The primary also reads its commits here.
public final class FrameLink {
    private let frames: Int32
    /// The primary's; a backup that takes the primary's place is given its own.
    public var commits: Int32?
    /// Frames sent so far (a replica forked from this one starts its count here).
    public private(set) var sent = 0
    private var buffer: [UInt8] = []
    private var bufferedSince: UInt64 = 0
    /// The supervisor is gone: the replica has no one to answer to and stops.
    public private(set) var broken = false

    public init(frames: Int32, commits: Int32?) {
        self.frames = frames
        self.commits = commits
    }

    /// `counted`: false for a frame the supervisor takes out of the sequence (`tookOver`).
    public func send(_ frame: ReplicaFrame, counted: Bool = true) {
        if buffer.isEmpty { bufferedSince = chost_monotonic_ns() }
        buffer += frame.encoded()
        if counted { sent += 1 }
        if buffer.count >= 16 << 10 || chost_monotonic_ns() &- bufferedSince >= 50_000_000 { flush() }
    }

    public func flush() {
        guard !buffer.isEmpty, !broken else { return }
        if !buffer.withUnsafeBytes({ writeAll(frames, $0) }) { broken = true }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Let go of the pipe (a replica forked from this one has its own).
    public func close() {
        buffer.removeAll()
        broken = true
        Glibc.close(frames)
    }

    /// The primary: wait for the supervisor's word on the output just sent; true when a majority
    /// of replicas produced the same and it may go out.
    public func awaitCommit() -> Bool {
        flush()
        guard let commits, !broken else { return false }
        var answer: UInt8 = 0
        while true {
            let n = read(commits, &answer, 1)
            if n < 0 && errno == EINTR { continue }
            return n == 1 && answer == Supervisor.committed
        }
    }

    /// A replica that took the primary's place waits for its word on an output it made as a
    /// backup: it may go out (`.commit`), the old primary released it already (`.released`), or
    /// no majority made it (`.refused`).
    public enum Verdict { case commit, released, refused }
    public func awaitVerdict() -> Verdict {
        flush()
        guard let commits, !broken else { return .refused }
        var answer: UInt8 = 0
        while true {
            let n = read(commits, &answer, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return .refused }
            return answer == Supervisor.committed ? .commit : answer == Supervisor.released ? .released : .refused
        }
    }
}
