import Foundation
import LinuxABI
import Replay
import Trace

/// The machine-level reconstruction of a database file: its pre-image plus every write the
/// replayed program made to it (pwrite64, write, ftruncate on a descriptor opened on that path),
/// up to an event. It knows nothing of SQL, so it cross-checks the SQL-level re-execution.
/// Several processes' writes go in by their stamps, as their statements do (Docs/sql-replay.md
/// "Several processes"): each process's VMM logs its own, and the first applies them in order.
public enum MachineLevel {
    public struct Unsupported: Error, CustomStringConvertible { public let description: String }

    /// One change to the file: bytes written at an offset, or a new length.
    struct Change {
        /// Its call's stamp; -1 before the run's first fork.
        var stamp: Int64
        var offset: UInt64
        var data: [UInt8]?  // nil: truncated (or extended) to `offset`
    }

    /// Replay the trace at `path` and return `file`'s bytes as they were before event `until` of
    /// process `pid` (nil: the first process), starting from `preImage`. With `merged`, the other
    /// processes' writes stamped before that point go in too; without it, that process's alone
    /// (its ancestors replayed silently up to its fork).
    public static func rebuild(
        trace path: String, pid: Int32? = nil, merged: Bool = false, file: String, preImage: [UInt8]?, until: Int
    ) throws -> [UInt8] {
        let session: ReplaySession
        let dir: TraceDirectory
        let target: Int, cut: UInt64?
        do {
            session = try ReplaySession(
                path: path, quiet: true, ignoreCPU: true, followChildren: merged, onlyProcess: merged ? nil : pid,
                diagnostic: { _ in })
            dir = session.directory
            target =
                try pid.map {
                    try ProcessTable(dir, firstPID: session.header.process?.pid ?? 0).stream(of: $0, in: path)
                }
                ?? 0
            cut = merged ? try Stamps(dir, stream: target).before(event: until) : nil
        } catch {
            throw Unsupported(description: "\(error)")
        }
        // Each child VMM leaves its changes here; the first gathers them.
        guard let scratch = makeScratchFolder("revenant-machine") else {
            throw Unsupported(description: "cannot create a scratch folder: \(String(cString: strerror(errno)))")
        }
        defer { removeTree(scratch) }
        var changes: [Change] = []
        var walFile = false
        var fds: [UInt64: UInt64] = [:]  // descriptor on the file → its offset (for write)
        let nr = { (name: String) in UInt64(SyscallNames.byName[name] ?? -1) }
        let (openat, close, pwrite, write, ftruncate, lseek) = (
            nr("openat"), nr("close"), nr("pwrite64"), nr("write"), nr("ftruncate"), nr("lseek")
        )
        let memory = session.personality.memory
        let replayer = session.replayer
        replayer.onServed = { [unowned replayer] index, req, e in
            guard merged || replayer.isTarget else { return }
            // The part of the run that matters ends at the position: the rest need not be replayed.
            let stamp = replayer.stamp.map(Int64.init) ?? -1
            if replayer.stream == target {
                if index + 1 >= UInt64(until) { replayer.stopRequested = true }
                guard index < UInt64(until) else { return }
            } else if stamp >= 0 {
                guard let cut, UInt64(stamp) < cut else {
                    replayer.stopRequested = true
                    return
                }
            }
            let result = e.result
            switch req.number {
            case openat:
                guard result >= 0, let p = e.paths.first.map({ String(decoding: $0.bytes, as: UTF8.self) }) else {
                    return
                }
                let absolute = p.hasPrefix("/") ? p : session.header.cwd.description + "/" + p
                if absolute == file { fds[UInt64(result)] = 0 } else { fds[UInt64(result)] = nil }
                if absolute == file + "-wal" { walFile = true }
            case close: fds[req[0]] = nil
            case pwrite where fds[req[0]] != nil && result > 0:
                if let data = try? memory.bytes(at: req[1], count: Int(result)) {
                    changes.append(Change(stamp: stamp, offset: req[3], data: data))
                }
            case write where fds[req[0]] != nil && result > 0:
                if let data = try? memory.bytes(at: req[1], count: Int(result)), let at = fds[req[0]] {
                    changes.append(Change(stamp: stamp, offset: at, data: data))
                    fds[req[0]] = at + UInt64(result)
                }
            case lseek where fds[req[0]] != nil && result >= 0: fds[req[0]] = UInt64(result)
            case ftruncate where fds[req[0]] != nil && result == 0:
                changes.append(Change(stamp: stamp, offset: req[1], data: nil))
            default: break
            }
        }
        // A child starts with its parent's descriptors, none of its changes.
        replayer.onBecameChild = { changes = [] }
        session.onChildEnd = { [unowned replayer] outcome in
            let name = scratch + "/\(replayer.stream)"
            FileManager.default.createFile(atPath: name, contents: Data(encode(changes, wal: walFile)))
            return outcome
        }
        switch session.run() {
        case .diverged(let d): throw Unsupported(description: d)
        case .traceFailed(let t): throw Unsupported(description: t)
        case .finished, .stopped: break
        }
        // Every process's changes in stamp order; a process's own keep theirs (stable sort).
        var all = changes.map { (stream: 0, change: $0) }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? [] {
            guard let stream = Int(name), let data = FileManager.default.contents(atPath: scratch + "/" + name),
                let (theirs, wal) = decode(Array(data))
            else { continue }
            walFile = walFile || wal
            all += theirs.map { (stream, $0) }
        }
        if walFile {
            throw Unsupported(
                description: "the database is in WAL mode: its pages live in \(file)-wal until a checkpoint")
        }
        var order = Array(all.indices)
        order.sort { (all[$0].change.stamp, $0) < (all[$1].change.stamp, $1) }
        var bytes = preImage ?? []
        for i in order { apply(all[i].change, to: &bytes) }
        return bytes
    }

    static func apply(_ c: Change, to bytes: inout [UInt8]) {
        let offset = Int(c.offset)
        guard let data = c.data else {
            if offset < bytes.count {
                bytes.removeSubrange(offset...)
            } else {
                bytes += [UInt8](repeating: 0, count: offset - bytes.count)
            }
            return
        }
        if bytes.count < offset + data.count {
            bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count)
        }
        bytes.replaceSubrange(offset..<offset + data.count, with: data)
    }

    /// A child VMM's changes, as it hands them to the first (a file of ours, read back at once).
    static func encode(_ changes: [Change], wal: Bool) -> [UInt8] {
        var b: [UInt8] = [wal ? 1 : 0]
        for c in changes {
            appendVarint(&b, zigzag(c.stamp))
            appendVarint(&b, c.offset)
            appendVarint(&b, c.data.map { UInt64($0.count) + 1 } ?? 0)
            b += c.data ?? []
        }
        return b
    }

    static func decode(_ b: [UInt8]) -> ([Change], Bool)? {
        guard let wal = b.first else { return nil }
        var out: [Change] = []
        var at = 1
        func next() -> UInt64? {
            guard let (v, n) = readVarint(b, at) else { return nil }
            at += n
            return v
        }
        while at < b.count {
            guard let stamp = next(), let offset = next(), let length = next() else { return nil }
            var c = Change(stamp: unzigzag(stamp), offset: offset, data: nil)
            if length > 0 {
                let n = Int(length - 1)
                guard at + n <= b.count else { return nil }
                c.data = Array(b[at..<at + n])
                at += n
            }
            out.append(c)
        }
        return (out, wal != 0)
    }
}
