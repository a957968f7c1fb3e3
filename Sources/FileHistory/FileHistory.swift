import Foundation
import LinuxABI
import Personality
import Replay
import Trace

/// The files a run wrote, at any point of it (Docs/restore.md): a replay up to the point gives
/// every change the run made to its writable tree (each process's, by its VMM), and those are
/// applied in the run's order to the paths' pre-images.
public enum FileHistory {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        /// The replay did something else than recorded (exit 124).
        public var diverged = false
    }

    /// The tree at a point, and what it took to build it.
    public struct Snapshot {
        public let tree: FileTree
        /// Bytes read from the trace: its events files and the pre-images' blobs.
        public let bytesRead: Int
        /// The guest's working folder when the run started (relative paths are taken from it).
        public let cwd: String
    }

    /// The tree right before event `until` of process `pid` (nil: the first; `until` nil: the
    /// end), with the other processes' changes stamped before that point.
    public static func snapshot(trace path: String, pid: Int32?, until: Int?) throws(Failure) -> Snapshot {
        let session: ReplaySession
        let target: Int, cut: UInt64?
        let streams: [Int]
        do {
            session = try ReplaySession(
                path: path, quiet: true, ignoreCPU: true, followChildren: true, diagnostic: { _ in })
            let table = try ProcessTable(session.directory, firstPID: session.header.process?.pid ?? 0)
            streams = table.processes.map(\.stream)
            target = try pid.map { try table.stream(of: $0, in: path) } ?? 0
            cut = try until.flatMap { u throws(TraceError) in
                try Stamps(session.directory, stream: target).before(event: u)
            }
        } catch {
            throw Failure(description: "\(error)")
        }
        let dir = session.directory
        guard let scratch = makeScratchFolder("revenant-files") else {
            throw Failure(description: "cannot create a scratch folder: \(String(cString: strerror(errno)))")
        }
        defer { removeTree(scratch) }
        let cwd = String(decoding: session.header.cwd.bytes, as: UTF8.self)
        let collector = ChangeCollector(
            cwd: cwd, umask: session.header.umask ?? 0o022,
            writable: { [sandbox = session.personality.sandbox] in
                sandbox.hostPath(ByteString(Array($0.utf8)))?.1.writable ?? false
            }, memory: session.personality.memory)
        let replayer = session.replayer
        replayer.onServed = { [unowned replayer] index, req, e in
            // The part of the run that matters ends at the position: the rest need not be replayed.
            if let until {
                if replayer.stream == target {
                    if index + 1 >= UInt64(until) { replayer.stopRequested = true }
                    guard index < UInt64(until) else { return }
                } else if let stamp = replayer.stamp {
                    guard let cut, stamp < cut else {
                        replayer.stopRequested = true
                        return
                    }
                }
            }
            collector.served(index: index, stamp: replayer.stamp, req, e)
        }
        replayer.onBecameChild = { [unowned replayer] in collector.becameChild(stream: replayer.stream) }
        session.onChildEnd = { [unowned replayer] outcome in
            if let data = try? JSONEncoder().encode(collector.changes) {
                FileManager.default.createFile(atPath: scratch + "/\(replayer.stream)", contents: data)
            }
            return outcome
        }
        if until != 0 {
            switch session.run() {
            case .diverged(let d): throw Failure(description: d, diverged: true)
            case .traceFailed(let t): throw Failure(description: t)
            case .finished, .stopped: break
            }
        }
        var all = collector.changes.map { (stream: 0, change: $0) }
        for s in streams where s != 0 {
            guard let data = FileManager.default.contents(atPath: scratch + "/\(s)") else { continue }
            guard let theirs = try? JSONDecoder().decode([FileChange].self, from: data) else {
                throw Failure(description: "the replay of process stream \(s) left changes that do not read")
            }
            all += theirs.map { (s, $0) }
        }
        // Every process's changes in stamp order; a process's own keep theirs (a stable sort).
        var order = Array(all.indices)
        order.sort { (all[$0].change.stamp, $0) < (all[$1].change.stamp, $1) }

        let originals = try PreImages(dir, streams: streams)
        let tree = FileTree(
            original: { p, s in originals.original(p, stream: s) },
            missing: { p, s in originals.missing(p, stream: s) })
        for i in order { tree.apply(all[i].change, stream: all[i].stream) }
        // A path the run changes only later holds its pre-image at the position.
        for (p, s) in originals.allPaths { tree.meet(p, stream: s) }
        var read = originals.blobBytes
        for s in streams { read += fileSize(dir.eventsPath(stream: s)) }
        return Snapshot(tree: tree, bytesRead: read, cwd: cwd)
    }

    static func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }
}

/// Every pre-image of every process's stream, read from the events and the blobs they name.
final class PreImages {
    struct Kept { var digest: String, attributes: PreImageAttributes? }
    private var byStream: [Int: [String: Kept]] = [:]
    /// Each path with a pre-image: the first stream that kept one.
    private var firstStream: [String: Int] = [:]
    private var versions: [Int: UInt32] = [:]
    private let directory: TraceDirectory
    private(set) var blobBytes = 0
    private var blobs: [String: [UInt8]] = [:]

    init(_ dir: TraceDirectory, streams: [Int]) throws(FileHistory.Failure) {
        directory = dir
        for s in streams {
            let (version, placed): (UInt32, [PlacedPreImage])
            do { (version, placed) = try PlacedPreImage.all(inEvents: dir.eventsPath(stream: s)) } catch {
                throw FileHistory.Failure(description: "\(error)")
            }
            versions[s] = version
            var kept: [String: Kept] = [:]
            for p in placed {
                // Taken lexically, `..` stopping at the root: a name from a trace never leads
                // out of restore's folder.
                let path = lexicallyNormalized(String(decoding: p.preImage.path.bytes, as: UTF8.self))
                kept[path] = Kept(digest: p.preImage.digest, attributes: p.attributes)
            }
            byStream[s] = kept
            for p in kept.keys where firstStream[p] == nil { firstStream[p] = s }
        }
    }

    /// Each path with a pre-image, with the first stream that kept one.
    var allPaths: [(String, Int)] { firstStream.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    func original(_ path: String, stream: Int) -> FileTree.Original? {
        guard let k = byStream[stream]?[path] ?? firstStream[path].flatMap({ byStream[$0]?[path] }) else { return nil }
        if blobs[k.digest] == nil, let b = try? directory.blob(k.digest) {
            blobs[k.digest] = b
            blobBytes += b.count
        }
        return FileTree.Original(data: blobs[k.digest] ?? [], attributes: k.attributes)
    }

    /// Why a path without a pre-image has an unknown past (an older trace), nil: it did not exist.
    func missing(_ path: String, stream: Int) -> String? {
        let v = versions[stream] ?? EventStreamFormat.version
        guard v < 6 else { return nil }
        return "recorded with events version \(v), which kept no copy of a file before the run removed, renamed, "
            + "truncated or chmod'ed it without opening it for writing"
    }
}
