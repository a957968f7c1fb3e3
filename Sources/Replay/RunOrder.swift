import Trace

/// Every call of a run's processes (or of some of them) in the order the run made them: by the
/// stamps each call of a forked run carries (Docs/trace-format.md "Processes"). Calls without a
/// stamp — the first process's before its first fork, or every call of a trace recorded before
/// stamps — come first, process by process in stream order, so an older trace lists its
/// processes one after another.
public struct RunOrder {
    /// One call: its process, its number in that process's stream (as `replay` and `--pid`
    /// number it), the call.
    public struct Call {
        public var process: ProcessTable.Process
        public var index: UInt64
        public var event: SyscallEvent
    }

    /// One process's stream, read a call ahead.
    public final class Stream {
        public let process: ProcessTable.Process
        var reader: EventReader
        /// The number the next call gets; after the last, how many calls the stream has.
        public private(set) var calls: UInt64 = 0
        var pending: (stamp: UInt64?, event: SyscallEvent)?
        /// Whether the stream has its end event (a killed recorder's has none).
        public private(set) var ended = false
        /// Where the stream ends inside a chunk, if it does (EventReader).
        public var truncatedAt: UInt64? { reader.truncatedAt }

        init(_ dir: TraceDirectory, _ process: ProcessTable.Process) throws(TraceError) {
            self.process = process
            reader = try EventReader(path: dir.eventsPath(stream: process.stream))
            try advance()
        }

        func advance() throws(TraceError) {
            if pending != nil { calls += 1 }
            pending = nil
            var stamp: UInt64?
            while let e = try reader.next() {
                switch e.kind {
                case EventKind.end.rawValue: ended = true
                case EventKind.stamp.rawValue:
                    guard let t = CountEvent.decode(e.payload) else {
                        throw .corruptEvent(index: calls, why: "a stamp event that does not read")
                    }
                    stamp = t
                case EventKind.syscall.rawValue:
                    do { pending = (stamp, try SyscallEvent.decode(e.payload)) } catch {
                        throw .corruptEvent(index: calls, why: error.why)
                    }
                    return
                default: break
                }
            }
        }
    }

    public let streams: [Stream]

    public init(_ dir: TraceDirectory, processes: [ProcessTable.Process]) throws(TraceError) {
        var streams: [Stream] = []
        for p in processes { streams.append(try Stream(dir, p)) }
        self.streams = streams
    }

    /// The next call in the run's order; nil after the last.
    public mutating func next() throws(TraceError) -> Call? {
        var best: Stream?, bestKey = Int64.max
        for s in streams {
            guard let p = s.pending else { continue }
            let key = p.stamp.map { Int64(clamping: $0) } ?? -1
            if best == nil || key < bestKey { (best, bestKey) = (s, key) }
        }
        guard let s = best, let p = s.pending else { return nil }
        let call = Call(process: s.process, index: s.calls, event: p.event)
        try s.advance()
        return call
    }
}
