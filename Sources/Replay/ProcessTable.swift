import Trace

/// The processes of a recorded run (Docs/trace-format.md "Processes"), read from the first event
/// of each child's stream: the first process is stream 0 (`events`, its pid from the header),
/// each child stream n (`events.n`) with its pid, its parent's and the parent's stream. Pids are
/// the host's and may be reused within a run; stream numbers are not.
public struct ProcessTable {
    public struct Process: Equatable {
        public var stream: Int
        public var pid: Int32
        /// nil for the first process.
        public var parent: Int32?
        public var parentStream: Int?
    }

    public let processes: [Process]
    /// How many processes a run may have at once by default (`run --max-processes`), and a
    /// replay that follows a recording still being written (its streams are not all there yet).
    public static let defaultLimit = 256

    public init(_ dir: TraceDirectory, firstPID: Int32) throws(TraceError) {
        var all = [Process(stream: 0, pid: firstPID, parent: nil, parentStream: nil)]
        for n in dir.childStreams {
            let (p, _) = try Self.open(stream: n, in: dir)
            guard p.parentStream != n else { throw .corruptEvent(index: 0, why: "events.\(n) is its own parent") }
            all.append(Process(stream: n, pid: p.pid, parent: p.parent, parentStream: p.parentStream))
        }
        processes = all
    }

    /// Child stream `n` opened: the process its first event names, and the reader past it.
    static func open(
        stream n: Int, in dir: TraceDirectory, following follow: Follow? = nil
    ) throws(TraceError) -> (ProcessEvent, EventReader) {
        var reader = try EventReader.open(dir.eventsPath(stream: n), following: follow)
        guard let e = try reader.next(following: follow), e.kind == EventKind.process.rawValue,
            let p = try? ProcessEvent.decode(e.payload)
        else { throw .corruptEvent(index: 0, why: "events.\(n) does not start with its process") }
        return (p, reader)
    }

    /// The stream of process `pid`; one line naming the pids there are when it has none, or
    /// naming the streams when the pid was used twice.
    public func stream(of pid: Int32, in trace: String) throws(ProcessLookupError) -> Int {
        let matches = processes.filter { $0.pid == pid }
        guard let first = matches.first else {
            let known = processes.map { String($0.pid) }.joined(separator: ", ")
            throw ProcessLookupError("--pid \(pid): no such process in \(trace) (its processes: \(known))")
        }
        guard matches.count == 1 else {
            let streams = matches.map { "events.\($0.stream)" }.joined(separator: ", ")
            throw ProcessLookupError("--pid \(pid): the run used that pid for several processes (\(streams))")
        }
        return first.stream
    }

    /// The streams from the first process's child down to `stream` (empty for the first); nil
    /// when a parent is missing or the ancestry loops.
    public func path(to stream: Int) -> [Int]? {
        var path: [Int] = []
        var s = stream
        while s != 0 {
            guard path.count < processes.count, let p = processes.first(where: { $0.stream == s }),
                let up = p.parentStream
            else { return nil }
            path.insert(s, at: 0)
            s = up
        }
        return path
    }
}

/// A `--pid` that names no one process of a trace, in one line.
public struct ProcessLookupError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
