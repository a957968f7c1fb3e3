import Foundation
import LinuxABI
import Replay
import Trace

/// The machine-level reconstruction of a database file: its pre-image plus every write the
/// replayed program made to it (pwrite64, write, ftruncate on a descriptor opened on that path),
/// up to an event. It knows nothing of SQL, so it cross-checks the SQL-level re-execution.
public enum MachineLevel {
    public struct Unsupported: Error, CustomStringConvertible { public let description: String }

    /// Replay the trace at `path` and return `file`'s bytes as they were before event `until`
    /// (of `process`: a child's pid, its writes only, from its pre-image; nil the first process).
    public static func rebuild(
        trace path: String, process: Int32? = nil, file: String, preImage: [UInt8]?, until: Int
    ) throws -> [UInt8] {
        let session: ReplaySession
        do {
            session = try ReplaySession(
                path: path, quiet: true, ignoreCPU: true, onlyProcess: process, diagnostic: { _ in })
        } catch {
            throw Unsupported(description: error.description)
        }
        var bytes = preImage ?? []
        var fds: [UInt64: UInt64] = [:]  // descriptor on the file → its offset (for write)
        var walFile = false
        let nr = { (name: String) in UInt64(SyscallNames.byName[name] ?? -1) }
        let (openat, close, pwrite, write, ftruncate, lseek) = (
            nr("openat"), nr("close"), nr("pwrite64"), nr("write"), nr("ftruncate"), nr("lseek")
        )
        let memory = session.personality.memory
        func put(_ data: [UInt8], at offset: Int) {
            if bytes.count < offset + data.count {
                bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count)
            }
            bytes.replaceSubrange(offset..<offset + data.count, with: data)
        }
        session.replayer.onServed = { [weak replayer = session.replayer] index, req, e in
            guard replayer?.isTarget == true else { return }
            // Nothing after the position matters: the rest of the run need not be replayed.
            if index + 1 >= UInt64(until) { replayer?.stopRequested = true }
            guard index < UInt64(until) else { return }
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
                if let data = try? memory.bytes(at: req[1], count: Int(result)) { put(data, at: Int(req[3])) }
            case write where fds[req[0]] != nil && result > 0:
                if let data = try? memory.bytes(at: req[1], count: Int(result)), let at = fds[req[0]] {
                    put(data, at: Int(at))
                    fds[req[0]] = at + UInt64(result)
                }
            case lseek where fds[req[0]] != nil && result >= 0: fds[req[0]] = UInt64(result)
            case ftruncate where fds[req[0]] != nil && result == 0:
                let n = Int(req[1])
                if n < bytes.count {
                    bytes.removeSubrange(n...)
                } else {
                    bytes += [UInt8](repeating: 0, count: n - bytes.count)
                }
            default: break
            }
        }
        switch session.run() {
        case .diverged(let d): throw Unsupported(description: d)
        case .traceFailed(let t): throw Unsupported(description: t)
        case .finished, .stopped: break
        }
        if walFile {
            throw Unsupported(
                description: "the database is in WAL mode: its pages live in \(file)-wal until a checkpoint")
        }
        return bytes
    }
}
