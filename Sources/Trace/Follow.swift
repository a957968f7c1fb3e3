import CHost
import Glibc

/// Reading a trace while its recorder is still writing it (`replay --follow`, the backups of
/// `run --replicas`): at the end of what is there, a reader waits for more instead of taking the
/// end for a recording cut short — for as long as the recorder lives (it holds an exclusive
/// `flock` on each stream it writes), then for `timeout` seconds more without growth (a trace
/// copied from elsewhere has no recorder here to ask). Waiting parks the thread: it polls with
/// sleeps that grow from 50 µs to 5 ms, never spins.
public struct Follow {
    public var timeout: Double
    /// Called while waiting, before each pause (a backup of `run --replicas` sends what it has
    /// to say: nobody may wait for a frame in its buffer).
    public var onWait: (() -> Void)?
    /// Asked while waiting, with whether the writer lives, after what is there was read: true
    /// ends the wait as if the stream had ended (a backup of `run --replicas` told to take the
    /// primary's place once the old primary is gone).
    public var stopWaiting: ((Bool) -> Bool)?
    /// Asked before each read of what was appended: true ends the wait at once (the stream was
    /// cut and is written again by a new writer: the reader must go back to the cut before it
    /// reads on).
    public var stopBeforeReading: (() -> Bool)?
    public init(timeout: Double, onWait: (() -> Void)? = nil) {
        self.timeout = timeout
        self.onWait = onWait
    }

    /// Whether a recorder still holds `path` (a stream it writes) open for writing.
    public static func writerAlive(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// Wait until `ready()` holds; false once the writer of `path` is gone and `timeout` seconds
    /// passed with `ready()` still false. `ready` is asked after the writer is seen, so that what
    /// a writer did just before it ended is found.
    public func wait(for path: String, until ready: () throws(TraceError) -> Bool) throws(TraceError) -> Bool {
        if stopBeforeReading?() == true { return false }
        if try ready() { return true }
        var idleSince = chost_monotonic_ns()
        var pause: UInt32 = 50
        while true {
            let alive = Self.writerAlive(path)
            if stopBeforeReading?() == true { return false }
            if try ready() { return true }
            if stopWaiting?(alive) == true { return false }
            let now = chost_monotonic_ns()
            if alive {
                idleSince = now
            } else if Double(now - idleSince) / 1e9 >= timeout {
                return false
            }
            onWait?()
            usleep(pause)
            pause = min(pause * 2, 5000)
        }
    }
}

extension EventReader {
    /// The next event, waiting for it while the stream is being written (`follow`); nil at the
    /// end of a stream whose writer is gone (or without `follow`, at the end of what is there).
    public mutating func next(following follow: Follow?) throws(TraceError) -> Event? {
        if let e = try next() { return e }
        guard let follow else { return nil }
        var found: Event?
        let more = try follow.wait(for: path) { () throws(TraceError) -> Bool in
            guard refill() else { return false }
            found = try next()
            return found != nil
        }
        return more ? found : nil
    }

    /// A stream opened for reading; with `follow`, waits for it to appear and hold its preamble.
    public static func open(_ path: String, following follow: Follow?) throws(TraceError) -> EventReader {
        if let follow {
            _ = try follow.wait(for: path) { () throws(TraceError) -> Bool in
                var st = stat()
                return stat(path, &st) == 0 && st.st_size >= EventStreamFormat.preambleSize
            }
        }
        return try EventReader(path: path)
    }
}
