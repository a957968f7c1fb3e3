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
    public static let indexVersion = 8

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

    /// What one process's replay collected: the channel stream, the write offset at every event,
    /// and what the fast-replay decision needs of each event (taken as the replay serves it).
    struct Collected {
        var stream: [UInt8] = []
        var programStarts: [Int] = []
        /// A forked child's: how much of `stream` it inherited from its parent.
        var inherited = 0
        var positions: [UInt64] = []
        var events: [EventDigest] = []
    }

    /// Replay `path`, every process in its own VMM as `replay` does, and collect each one's
    /// channel. A child process's VMM writes its own index (`index.N.sqlite`, N its stream) as
    /// its replay ends, with `writeChild`; the first process's is returned to the caller, once
    /// every child has ended well.
    static func collect(
        path: String, ignoreCPU: Bool, progress: ((UInt64) -> Void)? = nil,
        diagnostic: @escaping (String) -> Void,
        writeChild: @escaping (Collected, ReplaySession) throws(Failure) -> Void
    ) throws(Failure)
        -> (collected: Collected, session: ReplaySession, nanoseconds: UInt64)
    {
        let session: ReplaySession
        do {
            session = try ReplaySession(
                path: path, quiet: true, ignoreCPU: ignoreCPU, followChildren: true, diagnostic: diagnostic)
        } catch {
            throw .setup(error.description)
        }
        let channel = session.personality.channel
        channel.mode = .collect
        var collected = Collected()
        // At the end of a process: what its buffer still holds, and where each program started.
        func takeChannel() {
            channel.collectTail()
            collected.stream = channel.collected
            collected.programStarts = channel.programStarts
            collected.inherited = channel.inherited
        }
        // (Hooks hold the session weakly: it owns them, and its guest memory must go with it.)
        session.replayer.onEvent = { [unowned replayer = session.replayer] index in
            collected.positions.append(channel.position() ?? 0)
            if let progress, replayer.process == nil, index & 0xffff == 0 { progress(index) }
        }
        session.replayer.onServed = { _, _, e in collected.events.append(EventDigest(e)) }
        // A child's VMM starts from its parent's copy of all this: its events are its own, its
        // channel starts as its parent's (ChannelPort.processForked).
        session.replayer.onBecameChild = { collected = Collected() }
        session.onChildEnd = { [unowned session] outcome in
            guard case .finished = outcome else { return outcome }
            takeChannel()
            do throws(Failure) { try writeChild(collected, session) } catch { return .traceFailed(error.description) }
            return outcome
        }
        switch session.run() {
        case .diverged(let d): throw .diverged(d)
        case .traceFailed(let t): throw .trace(t)
        case .stopped(let at): throw .trace("the replay stopped at event \(at)")
        case .finished(_, let ns):
            takeChannel()
            return (collected, session, ns)
        }
    }

    /// Regenerate the index of the trace at `path` (idempotent: the same trace gives the same
    /// index): `index.sqlite` for the first process, `index.N.sqlite` for the child of stream N.
    /// Each is written to a temporary file and renamed; the first process's comes last.
    public static func regenerate(
        path: String, ignoreCPU: Bool = false, channelOut: String? = nil, progress: ((UInt64) -> Void)? = nil,
        diagnostic: @escaping (String) -> Void
    ) throws(Failure) -> Summary {
        let t0 = chost_monotonic_ns()
        let (collected, session, replayNs) = try collect(
            path: path, ignoreCPU: ignoreCPU, progress: progress, diagnostic: diagnostic
        ) { (child, session) throws(Failure) in
            _ = try writeIndex(child, session: session)
        }
        if let channelOut, let e = writeWholeFile(channelOut, collected.stream) {
            throw .trace("cannot write \(channelOut): \(String(cString: strerror(e)))")
        }
        let (build, out) = try writeIndex(collected, session: session)
        var st = stat()
        stat(out, &st)
        // The children's figures, from their own indexes.
        var statements = build.statementCount, sqlStatements = build.sqlCount, channelBytes = collected.stream.count
        for stream in session.directory.childStreams {
            guard let child = TraceIndex.open(session.directory, stream: stream) else {
                throw .trace("cannot read the index of process stream events.\(stream) after writing it")
            }
            statements += child.statementCount
            sqlStatements += Int(child.meta("sql_statements") ?? "") ?? 0
            channelBytes += Int(child.meta("channel_bytes") ?? "") ?? 0
        }
        return Summary(
            events: UInt64(collected.positions.count), channelBytes: channelBytes, statements: statements,
            nondeterministic: build.nondeterministicCount, sqlStatements: sqlStatements,
            fastReplay: build.blocker == nil,
            fastReplayBlocker: build.blocker?.description, replayNanoseconds: replayNs,
            totalNanoseconds: chost_monotonic_ns() - t0, indexBytes: Int(st.st_size))
    }

    /// Build and write the index of the process `session` has replayed (the first, or the child
    /// it became); returns the builder (its figures) and the file written.
    static func writeIndex(
        _ collected: Collected, session: ReplaySession
    ) throws(Failure) -> (IndexBuilder, String) {
        var build = IndexBuilder(
            stream: collected.stream, programStarts: collected.programStarts, inherited: collected.inherited,
            positions: collected.positions,
            events: collected.events,
            cwd: session.header.cwd.description)
        let replayer = session.replayer, dir = session.directory
        let out: String
        do { out = try dir.indexPathForWriting(stream: replayer.stream) } catch { throw .trace("\(error)") }
        let tmp = out + ".partial"
        unlink(tmp)
        let pid = replayer.process ?? session.header.process?.pid ?? 0
        var meta: [(String, String)] = [
            ("index_version", String(indexVersion)),
            ("trace", traceIdentity(dir) ?? ""),
            ("program", session.header.program.description),
            ("cwd", session.header.cwd.description),
            ("shims", (session.header.shims ?? []).joined(separator: ",")),
            ("events", String(collected.positions.count)),
            ("channel_bytes", String(collected.stream.count - collected.inherited)),
            ("inherited_channel_bytes", String(collected.inherited)),
            ("stream", String(replayer.stream)),
            ("pid", String(pid)),
        ]
        if let status = replayer.recordedStatus { meta.append(("exit_status", String(status))) }
        do { try IndexWriter.write(to: tmp, builder: &build, meta: meta) } catch {
            unlink(tmp)
            throw .trace("cannot write \(out): \(error)")
        }
        guard rename(tmp, out) == 0 else { throw .trace("cannot write \(out): \(String(cString: strerror(errno)))") }
        return (build, out)
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
