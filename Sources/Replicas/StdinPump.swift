import CHost
import Glibc

/// The supervisor performs the primary's reads of a stdin that is a pipe or a socket
/// (Docs/replicas.md "Inputs"): it reads the outside stdin itself and hands the bytes to the
/// primary through a pipe of its own, keeping every byte. A backup that takes the primary's place
/// gets a new pipe that starts again at the first byte; it skips what the log says the guest
/// consumed, so what the old primary read but had not logged when it was lost reaches it too.
/// (A stdin that is a regular file is sought to that offset instead; a terminal is the
/// primary's own.)
///
/// One thread of the supervisor moves the bytes, parked in poll: it reads the outside stdin only
/// while the primary's pipe has room (so it reads ahead at most a pipe's buffer, as a program
/// reading stdin in blocks does), and closes the pipe once the outside stdin ended and all of it
/// was handed over.
///
/// The copy does not keep every byte for the whole run: the supervisor lets go of the bytes
/// every backup and checkpoint has read past (release(below:)), in whole MiB, so a replicated
/// run holds about what its backups lag behind, not its whole input. A new primary's pipe then
/// starts at the first byte still kept.
final class StdinPump {
    /// Every byte read from the outside stdin so far, in a file in memory the replicas inherit
    /// (ReplicaBoard.stdinCopy: backups check the primary's logged reads against it); how many,
    /// and how many of them went into the pipe.
    let copy: Int32
    private var kept = 0
    private var sent = 0
    /// `--inject 'flip replica=0 stdin=N bit=B'`: the first primary gets byte N with bit B
    /// flipped (a fault in its input buffer); the copy keeps it right.
    var flip: (byte: Int, bit: Int)?
    private var targets = 0
    private var ended = false
    /// The bytes before this one were let go (a hole in the copy).
    private(set) var released: UInt64 = 0
    /// Shared with the pump's thread: how far the current pipe was written (its bytes before
    /// that are in the pipe), how much was read, and how many new pipes were asked for and how
    /// many taken up (while one waits, no byte is let go).
    private let shared = UnsafeMutablePointer<UInt64>.allocate(capacity: 4)
    /// How much was read from the outside stdin (bytes).
    var read: UInt64 { chost_load_u64(shared + 2) }
    /// The most the copy held at once (bytes).
    private(set) var peakHeld: UInt64 = 0
    private static let releaseUnit: UInt64 = 1 << 20
    /// The write end of the primary's pipe (-1: closed, or its reader is gone).
    private var target: Int32
    /// New targets, from restart(): each its descriptor and the offset it starts at.
    private let wake: (read: Int32, write: Int32)

    /// The read end of the first primary's stdin.
    let first: Int32

    /// Nil when its copy or pipes cannot be made.
    init?() {
        let copy = chost_memfd("revenant-stdin")
        guard copy >= 0 else { return nil }
        guard let p = closeOnExecPipe() else {
            close(copy)
            return nil
        }
        guard let w = closeOnExecPipe() else {
            close(copy)
            close(p.read)
            close(p.write)
            return nil
        }
        self.copy = copy
        shared.initialize(repeating: 0, count: 4)
        _ = fcntl(p.write, F_SETFL, O_NONBLOCK)
        first = p.read
        target = p.write
        wake = w
    }

    /// Descriptors a forked replica must not keep (it would hold its own stdin open).
    var supervisorEnds: [Int32] { [target, wake.read, wake.write] }

    /// What is in the copy: `count` bytes from `offset` (fewer at its end).
    static func copied(_ copy: Int32, offset: Int64, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(copy, $0.baseAddress, count, off_t(offset)) }
        return Array(bytes.prefix(max(n, 0)))
    }

    func start() {
        _ = chost_thread_start(
            { ctx in Unmanaged<StdinPump>.fromOpaque(ctx!).takeUnretainedValue().pump() },
            Unmanaged.passRetained(self).toOpaque())
    }

    /// A pipe for a new primary that starts again at the first byte still kept: its read end
    /// (-1: none) and that byte's offset.
    func restart() -> (fd: Int32, from: UInt64) {
        guard let p = closeOnExecPipe() else { return (-1, 0) }
        _ = fcntl(p.write, F_SETFL, O_NONBLOCK)
        var message = (p.write, released)
        let asked = chost_load_u64(shared + 1)
        chost_store_u64(shared + 1, asked + 1)
        guard write(wake.write, &message, MemoryLayout.size(ofValue: message)) == MemoryLayout.size(ofValue: message)
        else {
            chost_store_u64(shared + 1, asked)
            close(p.read)
            close(p.write)
            return (-1, 0)
        }
        return (p.read, released)
    }

    /// Every replica that may need the copy has read at least `bytes` of it: the whole MiB below
    /// that, and below what the current pipe was given, are let go.
    func release(below bytes: UInt64) {
        guard chost_load_u64(shared + 1) == chost_load_u64(shared + 3) else { return }
        let limit = min(bytes, chost_load_u64(shared)) / Self.releaseUnit * Self.releaseUnit
        guard limit > released else { return }
        guard chost_punch_hole(copy, Int64(released), Int64(limit - released)) == 0 else { return }
        released = limit
    }

    /// The copy's bytes now held (noted for its peak).
    func noteHeld() {
        var st = stat()
        guard fstat(copy, &st) == 0 else { return }
        peakHeld = max(peakHeld, UInt64(st.st_blocks) * 512)
    }

    private func pump() {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            // Bytes waiting: wait for room in the pipe. None: wait for the outside stdin (so it
            // reads ahead at most a pipe's buffer and one block).
            let pending = target >= 0 && sent < kept
            let wantInput = target >= 0 && !ended && !pending
            var fds = [
                pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wantInput ? 0 : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: pending ? target : -1, events: Int16(POLLOUT), revents: 0),
            ]
            guard poll(&fds, 3, -1) >= 0 || errno == EINTR else { return }
            if fds[0].revents != 0 {
                var message: (Int32, UInt64) = (-1, 0)
                let size = MemoryLayout.size(ofValue: message)
                guard Glibc.read(wake.read, &message, size) == size else { return }
                if target >= 0 { close(target) }
                target = message.0
                sent = Int(message.1)
                chost_store_u64(shared, UInt64(sent))
                targets += 1
                chost_store_u64(shared + 3, UInt64(targets))
            }
            if wantInput, fds[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                if n > 0 {
                    guard buffer.withUnsafeBytes({ pwrite(copy, $0.baseAddress, n, off_t(kept)) }) == n else { return }
                    kept += n
                    chost_store_u64(shared + 2, UInt64(kept))
                } else if n == 0 || errno != EINTR && errno != EAGAIN {
                    ended = true
                }
            }
            if target >= 0 && sent < kept {
                let want = min(kept - sent, buffer.count)
                guard buffer.withUnsafeMutableBytes({ pread(copy, $0.baseAddress, want, off_t(sent)) }) == want else {
                    return
                }
                if let flip, targets == 0, (sent..<(sent + want)).contains(flip.byte) {
                    buffer[flip.byte - sent] ^= UInt8(1 << flip.bit)
                }
                let n = buffer.withUnsafeBytes { write(target, $0.baseAddress, want) }
                if n > 0 {
                    sent += n
                    chost_store_u64(shared, UInt64(sent))
                } else if n < 0 && errno != EAGAIN && errno != EINTR {
                    // Its reader is gone (the primary was lost): nothing more until restart().
                    close(target)
                    target = -1
                }
            }
            if ended && target >= 0 && sent == kept {
                close(target)
                target = -1
            }
        }
    }
}
