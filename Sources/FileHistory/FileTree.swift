import Glibc
import Replay

/// The writable tree as the run changed it: every path the run touched, with what it holds, built
/// from the paths' pre-images and the run's changes applied in the run's order. A path the tree
/// has not seen yet takes its pre-image when a change first names it — or, when the trace holds
/// none, did not exist then (from events version 6: the recorder keeps one for every path a run
/// changes that existed).
public final class FileTree {
    public final class Node {
        public enum Kind: Equatable { case file, folder, symlink }
        public var kind: Kind
        public var data: [UInt8]
        /// Permissions (the low 12 bits of st_mode).
        public var mode: UInt32
        public var accessed: FileTime?
        public var modified: FileTime?
        /// Why its contents are not what the run left (a change the trace cannot reproduce, or
        /// a pre-image an older trace did not keep); nil when they are.
        public var unknown: String?
        /// Whether the run changed it (contents, name or attributes) or made it.
        public var changed = false
        /// Whether it holds a pre-image (the run changes it at some point).
        public var original = false
        init(kind: Kind, data: [UInt8] = [], mode: UInt32) {
            self.kind = kind
            self.data = data
            self.mode = mode
        }
    }

    /// What a path held before the run changed it.
    public struct Original {
        public var data: [UInt8]
        public var attributes: PreImageAttributes?
        public init(data: [UInt8], attributes: PreImageAttributes?) {
            self.data = data
            self.attributes = attributes
        }
    }

    /// Guest path → what it holds now; a known path that holds nothing maps to nil.
    public private(set) var paths: [String: Node?] = [:]
    private var descriptions: [Int64: (node: Node, offset: UInt64, append: Bool)] = [:]
    /// Looks up a path's pre-image in the stream of the change that names it.
    private let original: (String, Int) -> Original?
    /// Names a path without a pre-image whose state before the run is unknown (an older trace), or
    /// nil when such a path did not exist.
    private let missing: (String, Int) -> String?

    public init(
        original: @escaping (String, Int) -> Original?, missing: @escaping (String, Int) -> String?
    ) {
        self.original = original
        self.missing = missing
    }

    /// What `path` holds, taking its pre-image when the tree meets it first (`stream`: whose).
    /// `opening`: an open, for which every trace version kept a pre-image of a file that existed.
    @discardableResult
    func node(_ path: String, stream: Int, opening: Bool = false) -> Node? {
        if let known = paths[path] { return known }
        let made: Node?
        if let o = original(path, stream) {
            let type = o.attributes?.type ?? UInt32(S_IFREG)
            let kind: Node.Kind = type == UInt32(S_IFDIR) ? .folder : type == UInt32(S_IFLNK) ? .symlink : .file
            let n = Node(kind: kind, data: o.data, mode: (o.attributes?.mode ?? 0o644) & 0o7777)
            n.accessed = o.attributes?.accessed
            n.modified = o.attributes?.modified
            n.original = true
            made = n
        } else if !opening, let why = missing(path, stream) {
            let n = Node(kind: .file, mode: 0o644)
            n.unknown = why
            made = n
        } else {
            made = nil
        }
        paths[path] = made
        return made
    }

    /// Meets, before anything changes, every path with a pre-image the run has not named yet (it
    /// changes them later: at the position they hold their pre-image).
    func meet(_ path: String, stream: Int) { node(path, stream: stream) }

    public func apply(_ c: FileChange, stream: Int) {
        switch c.kind {
        case .open(let d, let path, let flags, let mode):
            let writes = flags & O_ACCMODE != O_RDONLY
            // A file only read, never changed, has no pre-image: the tree does not hold it.
            if !writes, flags & O_CREAT == 0, paths[path] == nil, original(path, stream) == nil { return }
            var n = node(path, stream: stream, opening: true)
            if n == nil, flags & O_CREAT != 0 {
                n = Node(kind: .file, mode: mode)
                paths[path] = n
            }
            guard let n else { return }
            if writes && flags & O_TRUNC != 0, n.kind == .file {
                n.data = []
                n.changed = true
            }
            if flags & O_CREAT != 0 { n.changed = true }
            descriptions[d] = (n, 0, flags & O_APPEND != 0)
        case .write(let d, let data):
            guard var x = descriptions[d] else { return }
            let at = x.append ? UInt64(x.node.data.count) : x.offset
            Self.write(data, at: at, to: x.node)
            x.offset = at + UInt64(data.count)
            descriptions[d] = x
        case .writeAt(let d, let offset, let data):
            // With O_APPEND, Linux's pwrite appends too.
            guard let x = descriptions[d] else { return }
            Self.write(data, at: x.append ? UInt64(x.node.data.count) : offset, to: x.node)
        case .advance(let d, let count): descriptions[d]?.offset += count
        case .seek(let d, let offset): descriptions[d]?.offset = offset
        case .truncateDescription(let d, let length):
            if let n = descriptions[d]?.node { Self.truncate(n, to: length) }
        case .truncatePath(let path, let length): if let n = node(path, stream: stream) { Self.truncate(n, to: length) }
        case .chmodDescription(let d, let mode): descriptions[d].map { setMode($0.node, mode) }
        case .chmodPath(let path, let mode): node(path, stream: stream).map { setMode($0, mode) }
        case .times(let path, let d, let times):
            guard let n = path.map({ node($0, stream: stream) }) ?? descriptions[d ?? -1]?.node, times.count == 2 else {
                return
            }
            n.changed = true
            func time(_ t: FileTimeChange, _ old: FileTime?) -> FileTime? {
                switch t {
                case .set(let s, let ns): return FileTime(seconds: s, nanoseconds: ns)
                case .now: return nil
                case .omit: return old
                }
            }
            (n.accessed, n.modified) = (time(times[0], n.accessed), time(times[1], n.modified))
        case .unlink(let path), .removeFolder(let path):
            node(path, stream: stream)
            paths[path] = .some(nil)
        case .makeFolder(let path, let mode):
            node(path, stream: stream)
            let n = Node(kind: .folder, mode: mode)
            n.changed = true
            paths[path] = n
        case .symlink(let target, let path):
            node(path, stream: stream)
            let n = Node(kind: .symlink, data: target, mode: 0o777)
            n.changed = true
            paths[path] = n
        case .link(let from, let to):
            node(to, stream: stream)
            paths[to] = node(from, stream: stream)
        case .rename(let from, let to, let flags):
            rename(from, to, exchange: flags & 2 != 0, stream: stream)
        case .lost(let d, let path, let why):
            guard let n = path.map({ node($0, stream: stream) }) ?? descriptions[d ?? -1]?.node else { return }
            n.changed = true
            n.unknown = n.unknown ?? "\(why) at event \(c.event) changed it in ways the trace does not hold"
        }
    }

    private func setMode(_ n: Node, _ mode: UInt32) {
        n.mode = mode
        n.changed = true
    }

    /// A rename moves the path and everything the tree knows under it (a folder's files).
    private func rename(_ from: String, _ to: String, exchange: Bool, stream: Int) {
        let a = node(from, stream: stream)
        let b = node(to, stream: stream)
        guard from != to else { return }
        let under = { (root: String) in self.paths.keys.filter { $0.hasPrefix(root + "/") } }
        let moving = under(from).map { ($0, paths[$0]!) }
        let replaced = under(to).map { ($0, paths[$0]!) }
        for (p, _) in moving + replaced { paths[p] = .some(nil) }
        for (p, n) in moving { paths[to + p.dropFirst(from.count)] = n }
        if exchange { for (p, n) in replaced { paths[from + p.dropFirst(to.count)] = n } }
        paths[to] = a
        paths[from] = exchange ? b : .some(nil)
        a?.changed = true
        if exchange { b?.changed = true }
    }

    static func write(_ data: [UInt8], at offset: UInt64, to n: Node) {
        let start = Int(offset)
        if n.data.count < start + data.count {
            n.data += [UInt8](repeating: 0, count: start + data.count - n.data.count)
        }
        n.data.replaceSubrange(start..<start + data.count, with: data)
        n.changed = true
    }

    static func truncate(_ n: Node, to length: UInt64) {
        let l = Int(length)
        if l < n.data.count {
            n.data.removeSubrange(l...)
        } else {
            n.data += [UInt8](repeating: 0, count: l - n.data.count)
        }
        n.changed = true
    }
}
