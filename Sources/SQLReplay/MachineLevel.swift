import FileHistory

/// The machine-level reconstruction of a database file: what `restore` gives for it (FileHistory:
/// its pre-image plus every write, truncation and rename the replayed run made, every process's
/// in the run's order) right before an event. It knows nothing of SQL, so it cross-checks the
/// SQL-level re-execution, and it starts from its own pre-image: the two share no code.
public enum MachineLevel {
    public struct Unsupported: Error, CustomStringConvertible { public let description: String }

    /// `file`'s bytes right before event `until` of process `pid` (nil: the first process).
    public static func rebuild(
        trace path: String, pid: Int32? = nil, file: String, until: Int
    ) throws(Unsupported)
        -> [UInt8]
    {
        let snapshot: FileHistory.Snapshot
        do { snapshot = try FileHistory.snapshot(trace: path, pid: pid, until: until) } catch {
            throw Unsupported(description: error.description)
        }
        let guest = FileTree.absolute(file, cwd: snapshot.cwd)
        if snapshot.tree.paths[guest + "-wal"] != nil {
            throw Unsupported(
                description: "the database is in WAL mode: its pages live in \(file)-wal until a checkpoint")
        }
        guard let known = snapshot.tree.paths[guest] else {
            throw Unsupported(description: "the run never wrote \(file)")
        }
        guard let node = known else { throw Unsupported(description: "\(file) did not exist there") }
        if let why = node.unknown { throw Unsupported(description: why) }
        return node.data
    }
}
