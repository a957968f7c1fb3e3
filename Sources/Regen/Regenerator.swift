import CHost
import Glibc
import LinuxABI
import Personality
import Replay
import Trace

/// `revenant regen`: replay a trace with the channel collected, decode the shims' records, give
/// each its machine position (the event index it precedes: the VMM reads the buffer's write
/// offset at every event) and write `index.sqlite`. Also decides, from the events, whether the
/// fast Perl-level replay can reproduce the run.
public enum Regenerator {
    /// Bumped when the index's tables or their meaning change; `log` regenerates older indexes.
    public static let indexVersion = 6

    public struct Summary: Sendable {
        public var events: UInt64
        public var channelBytes: Int
        public var statements: Int
        public var nondeterministic: Int
        public var sqlStatements: Int
        public var fastReplay: Bool
        public var fastReplayBlocker: String?
        public var replayNanoseconds: UInt64
        public var totalNanoseconds: UInt64
        public var indexBytes: Int
    }

    public enum Failure: Error, CustomStringConvertible {
        case setup(String)
        case diverged(String)
        case trace(String)
        public var description: String {
            switch self {
            case .setup(let s), .diverged(let s), .trace(let s): return s
            }
        }
        public var exitCode: Int32 {
            if case .diverged = self { return 124 }
            return 125
        }
    }

    /// Replay `path` and collect its channel: the stream, the write offset at every event, and
    /// what the fast-replay decision needs of each event (taken as the replay serves it).
    static func collect(
        path: String, ignoreCPU: Bool, progress: ((UInt64) -> Void)? = nil,
        diagnostic: @escaping (String) -> Void
    ) throws(Failure)
        -> (stream: [UInt8], positions: [UInt64], events: [EventDigest], session: ReplaySession, nanoseconds: UInt64)
    {
        let session: ReplaySession
        do { session = try ReplaySession(path: path, quiet: true, ignoreCPU: ignoreCPU, diagnostic: diagnostic) } catch
        {
            throw .setup(error.description)
        }
        let channel = session.personality.channel
        channel.mode = .collect
        var positions: [UInt64] = []
        var events: [EventDigest] = []
        session.replayer.onEvent = { index in
            positions.append(channel.position() ?? 0)
            if let progress, index & 0xffff == 0 { progress(index) }
        }
        session.replayer.onServed = { _, _, e in events.append(EventDigest(e)) }
        switch session.run() {
        case .diverged(let d): throw .diverged(d)
        case .traceFailed(let t): throw .trace(t)
        case .stopped(let at): throw .trace("the replay stopped at event \(at)")
        case .finished(_, let ns):
            channel.collectTail()
            return (channel.collected, positions, events, session, ns)
        }
    }

    /// Regenerate the index of the trace at `path` (idempotent: the same trace gives the same
    /// index). Writes a temporary file and renames it over `index.sqlite`.
    public static func regenerate(
        path: String, ignoreCPU: Bool = false, channelOut: String? = nil, progress: ((UInt64) -> Void)? = nil,
        diagnostic: @escaping (String) -> Void
    ) throws(Failure) -> Summary {
        let t0 = chost_monotonic_ns()
        let (stream, positions, events, session, replayNs) = try collect(
            path: path, ignoreCPU: ignoreCPU, progress: progress, diagnostic: diagnostic)
        if let channelOut, let e = writeWholeFile(channelOut, stream) {
            throw .trace("cannot write \(channelOut): \(String(cString: strerror(e)))")
        }
        var build = IndexBuilder(
            stream: stream, positions: positions, events: events,
            cwd: session.header.cwd.description)
        let out: String
        do { out = try session.directory.indexPathForWriting() } catch { throw .trace("\(error)") }
        let tmp = out + ".partial"
        unlink(tmp)
        do {
            try IndexWriter.write(
                to: tmp, builder: &build,
                meta: [
                    ("index_version", String(indexVersion)),
                    ("trace", traceIdentity(session.directory) ?? ""),
                    ("program", session.header.program.description),
                    ("cwd", session.header.cwd.description),
                    ("shims", (session.header.shims ?? []).joined(separator: ",")),
                    ("events", String(positions.count)),
                    ("channel_bytes", String(stream.count)),
                ] + (session.replayer.recordedStatus.map { [("exit_status", String($0))] } ?? []))
        } catch {
            unlink(tmp)
            throw .trace("cannot write \(out): \(error)")
        }
        guard rename(tmp, out) == 0 else { throw .trace("cannot write \(out): \(String(cString: strerror(errno)))") }
        var st = stat()
        stat(out, &st)
        return Summary(
            events: UInt64(positions.count), channelBytes: stream.count, statements: build.statementCount,
            nondeterministic: build.nondeterministicCount, sqlStatements: build.sqlCount,
            fastReplay: build.blocker == nil,
            fastReplayBlocker: build.blocker?.description, replayNanoseconds: replayNs,
            totalNanoseconds: chost_monotonic_ns() - t0, indexBytes: Int(st.st_size))
    }

    /// What identifies the trace an index was made from: its header and events files' sizes and
    /// the header's digest (a re-recorded trace at the same path gets a new index).
    public static func traceIdentity(_ dir: TraceDirectory) -> String? {
        var st = stat()
        guard let header = readWholeFile(dir.headerPath), stat(dir.eventsPath, &st) == 0 else { return nil }
        return SHA256.hex(header) + ":" + String(st.st_size)
    }
}

/// What the fast-replay decision needs of each syscall event.
struct EventDigest {
    var number: UInt64
    var fd: UInt64
    var result: Int64
    var path: String?
    /// mmap's descriptor (argument 4).
    var mmapFD: UInt64 = 0

    var name: String { Int(exactly: number).flatMap { SyscallNames.byNumber[$0] } ?? "syscall_\(number)" }

    init(_ s: SyscallEvent) {
        number = s.number
        fd = s.args.first ?? 0
        result = s.result
        path = s.paths.first.map { String(decoding: $0.bytes, as: UTF8.self) }
        mmapFD = s.args.count > 4 ? s.args[4] : 0
    }
}
