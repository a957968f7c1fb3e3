import Trace

/// The stamps of one process's calls (Docs/trace-format.md "Processes"): for each syscall event of
/// its stream, numbered from 0 as replay numbers them, its place among every process's calls, or
/// nil for a call made before the run's first fork (before any other process existed).
public struct Stamps {
    public let values: [UInt64?]

    public init(_ dir: TraceDirectory, stream: Int) throws(TraceError) {
        var reader = try EventReader(path: dir.eventsPath(stream: stream))
        var values: [UInt64?] = []
        var pending: UInt64?
        while let e = try reader.next() {
            if e.kind == EventKind.stamp.rawValue {
                guard let t = CountEvent.decode(e.payload) else {
                    throw .corruptEvent(index: UInt64(values.count), why: "a stamp event that does not read")
                }
                pending = t
            } else if e.kind == EventKind.syscall.rawValue {
                values.append(pending)
                pending = nil
            }
        }
        self.values = values
    }

    /// The stamp of the last call before event `event` (nil: none, or made before any fork).
    public func before(event: Int) -> UInt64? {
        let i = min(event, values.count) - 1
        return i >= 0 ? values[i] : nil
    }
}
