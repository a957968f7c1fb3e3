import CHost
import Glibc
import GuestMemory
import LinuxABI
import Personality
import Trace

/// What the recorded program did to Revenant's own stdout and stderr, done again on the replay's:
/// the bytes it wrote (read again from guest memory), and, where the recording's stdout was a
/// regular file, where it moved the file position (`lseek`), wrote at an offset (`pwrite64`) and
/// what it truncated or allocated. A replay whose own stdout cannot do the same (a terminal or a
/// pipe where the program moved backwards) says so and stops (exit 124) rather than printing
/// something else. Positions translate from the recording's file to the replay's: the replay's
/// file starts where the replay found it.
final class ConsoleOutput {
    struct Stream {
        /// Where the recording's file started and where its position is now (nil: appending, not
        /// tracked); nil start: the recording's stdout was no regular file.
        var recordedStart: Int64?
        var recordedPosition: Int64?
        /// Where the replay's own file started; nil when it cannot seek.
        let ownStart: Int64?
    }
    private var streams: [UInt8: Stream] = [:]

    init(recorded: [TraceHeader.Console]) {
        for kind: UInt8 in [1, 2] {
            let r = recorded.first { $0.fd == Int32(kind) }
            var st = stat()
            let seekable = fstat(Int32(kind), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
            let own = seekable ? lseek(Int32(kind), 0, SEEK_CUR) : -1
            streams[kind] = Stream(
                recordedStart: r?.offset,
                recordedPosition: r.flatMap { $0.append ? nil : $0.offset },
                ownStart: own >= 0 ? Int64(own) : nil)
        }
    }

    /// Do event `e` again on the console `e.console` names; a reason when it cannot be done.
    func replay(_ req: SyscallRequest, _ e: SyscallEvent, memory: AddressSpace) -> String? {
        guard e.result >= 0, let stream = streams[e.console] else { return nil }
        let fd = Int32(e.console)
        let name = fd == 1 ? "stdout" : "stderr"
        // A position in the recording's file, in the replay's.
        func own(_ recorded: Int64) -> Int64? {
            guard let start = stream.recordedStart, let ownStart = stream.ownStart else { return nil }
            // The numbers come from the trace: one that leaves the range of a file position is
            // one this replay cannot reproduce.
            let (delta, o1) = recorded.subtractingReportingOverflow(start)
            let (at, o2) = ownStart.addingReportingOverflow(delta)
            return o1 || o2 || at < 0 ? nil : at
        }
        func cannot(_ what: String) -> String {
            "the program \(what) on its \(name), a regular file when recorded; this replay's \(name) cannot "
                + "do the same (replay into a regular file to reproduce it)"
        }
        switch e.name {
        case "write", "writev":
            writeAll(fd, bytes(req, e, memory))
            if let p = stream.recordedPosition {
                let (next, overflow) = p.addingReportingOverflow(e.result)
                streams[e.console]?.recordedPosition = overflow ? nil : next
            }
        case "pwrite64":
            let data = bytes(req, e, memory)
            guard stream.recordedStart != nil else {
                writeAll(fd, data)
                return nil
            }
            guard let at = own(Int64(bitPattern: req[3])) else { return cannot("wrote at an offset (pwrite64)") }
            writeAll(fd, data, at: at)
        case "lseek":
            guard stream.recordedStart != nil else { return nil }
            defer { streams[e.console]?.recordedPosition = e.result }
            if let at = own(e.result) {
                lseek(fd, off_t(at), SEEK_SET)
            } else if let p = stream.recordedPosition, p != e.result {
                return cannot("moved the file position (lseek to \(e.result))")
            }
        case "ftruncate", "fallocate":
            guard stream.recordedStart != nil else { return nil }
            let length = Int64(bitPattern: e.name == "ftruncate" ? req[1] : req[2])
            guard let at = own(length) else { return cannot("changed the file's size (\(e.name))") }
            if e.name == "ftruncate" {
                ftruncate(fd, off_t(at))
            } else {
                _ = chost_syscall6(Int(req.number), UInt64(fd), req[1], UInt64(bitPattern: at), req[3], 0, 0)
            }
        default:
            // sendfile, copy_file_range: the bytes came from a file, not guest memory, and the
            // trace does not hold them.
            guard e.result > 0 else { return nil }
            return "the program wrote \(e.result) bytes to its \(name) with \(e.name); the trace does not hold them"
        }
        return nil
    }

    /// The bytes a write-like call wrote, from guest memory (fed back already), cut to its result.
    private func bytes(_ req: SyscallRequest, _ e: SyscallEvent, _ memory: AddressSpace) -> [UInt8] {
        var out: [UInt8] = []
        var left = Int(e.result)
        if e.name == "writev" {
            let n = Int(min(req[2], 1024))
            for i in 0..<n where left > 0 {
                guard let base = try? memory.load(UInt64.self, at: req[1] + UInt64(16 * i)),
                    let len = try? memory.load(UInt64.self, at: req[1] + UInt64(16 * i) + 8)
                else { break }
                let take = Int(min(UInt64(left), len))
                if take > 0, let b = try? memory.bytes(at: base, count: take) { out += b }
                left -= take
            }
        } else if let b = try? memory.bytes(at: req[1], count: left) {
            out = b
        }
        return out
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int64? = nil) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { b in
                offset.map { pwrite(fd, b.baseAddress! + done, b.count - done, off_t($0) &+ off_t(done)) }
                    ?? write(fd, b.baseAddress! + done, b.count - done)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
    }
}
