import Glibc
import Trace
import LinuxABI
import Replay

/// `restore --dir`: a snapshot's files written under a new folder at their guest paths.
public enum RestoredTree {
    public struct Refused: Error, CustomStringConvertible { public let description: String }

    public struct Written {
        public var files = 0, folders = 0, links = 0, bytes = 0
        /// Paths whose contents the trace cannot give, and why (named, never written).
        public var notRestored: [(String, String)] = []
    }

    /// OUT must be new or an empty folder: restore (and `gdb --sysroot`) never mixes its files
    /// with others.
    public static func checkEmpty(_ dir: String, option: String = "--dir") throws(Refused) {
        var st = stat()
        guard lstat(dir, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw Refused(description: "\(option) \(dir) exists and is not a folder")
        }
        guard let d = opendir(dir) else {
            throw Refused(description: "\(option) \(dir): \(String(cString: strerror(errno)))")
        }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." {
                throw Refused(description: "\(option) \(dir) is not empty: it takes a new or empty folder")
            }
        }
    }

    /// Writes every path of the snapshot that exists (and that the run changes at some point).
    public static func write(_ snapshot: FileHistory.Snapshot, to dir: String) throws(Refused) -> Written {
        var w = Written()
        try makeFolders(dir, mode: 0o755)
        // Parents before children: sorted paths put a folder before what it holds.
        let present = snapshot.tree.paths.compactMap { p, n in n.map { (p, $0) } }.sorted { $0.0 < $1.0 }
        var folderModes: [(String, UInt32)] = []
        for (p, n) in present where n.changed || n.original {
            let target = dir + p
            if let why = n.unknown {
                w.notRestored.append((p, why))
                continue
            }
            let parent = String(target[..<target.lastIndex(of: "/")!])
            try makeFolders(parent, mode: 0o755)
            switch n.kind {
            case .folder:
                try makeFolders(target, mode: 0o700)
                folderModes.append((target, n.mode))
                w.folders += 1
            case .symlink:
                guard symlink(String(decoding: n.data, as: UTF8.self), target) == 0 else { throw failed(target) }
                w.links += 1
            case .file:
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
                guard fd >= 0 else { throw failed(target) }
                defer { close(fd) }
                guard n.data.withUnsafeBytes({ writeAll(fd, $0) }) else { throw failed(target) }
                fchmod(fd, mode_t(n.mode))
                w.files += 1
                w.bytes += n.data.count
            }
            if let m = n.modified, n.kind != .folder { setTimes(target, n.accessed ?? m, m) }
        }
        // Folders' modes last: a read-only folder would refuse what goes in it.
        for (p, mode) in folderModes.reversed() { chmod(p, mode_t(mode)) }
        return w
    }

    /// Copies of host files (the trace's blobs) under `dir` at their guest paths (absolute ones;
    /// lexical, so nothing lands outside `dir`), read-only as a package's files are. Returns the
    /// bytes written.
    public static func place(_ files: [(guest: String, host: String)], under dir: String) throws(Refused) -> Int {
        try makeFolders(dir, mode: 0o755)
        var bytes = 0
        for (guest, host) in files.sorted(by: { $0.guest < $1.guest }) where guest.hasPrefix("/") {
            let path = dir + lexicallyNormalized(guest)
            if let cut = path.lastIndex(of: "/") { try makeFolders(String(path[..<cut]), mode: 0o755) }
            guard let data = readWholeFile(host) else { throw Refused(description: "cannot read \(host)") }
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o444)
            guard fd >= 0 else { throw failed(path) }
            defer { close(fd) }
            guard data.withUnsafeBytes({ writeAll(fd, $0) }) else { throw failed(path) }
            bytes += data.count
        }
        return bytes
    }

    public static func setTimes(_ path: String, _ accessed: FileTime, _ modified: FileTime) {
        let times = [accessed.timespec, modified.timespec]
        _ = times.withUnsafeBufferPointer { utimensat(AT_FDCWD, path, $0.baseAddress, AT_SYMLINK_NOFOLLOW) }
    }

    static func makeFolders(_ path: String, mode: mode_t) throws(Refused) {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw Refused(description: "\(path) exists and is not a folder")
            }
            return
        }
        if let cut = path.lastIndex(of: "/"), cut != path.startIndex {
            try makeFolders(String(path[..<cut]), mode: 0o755)
        }
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw failed(path) }
    }

    static func failed(_ path: String) -> Refused {
        Refused(description: "cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

extension FileTree {
    /// A guest path as the tree names it: absolute (relative to the run's working folder), lexical.
    public static func absolute(_ path: String, cwd: String) -> String {
        lexicallyNormalized(path.hasPrefix("/") ? path : cwd + "/" + path)
    }
}
