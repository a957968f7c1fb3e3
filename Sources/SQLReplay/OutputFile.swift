import Glibc

/// A file a command writes at a path the user named (`sql --restore OUT`, `regen --channel-out`).
/// The content goes to a temporary beside OUT, renamed into place by `commit()`: a failure leaves
/// OUT as it was. Refused, before anything is written, wherever writing would destroy what it
/// must not: a device, FIFO, socket or folder at OUT; a path inside a folder the command reads
/// (its trace), by name or by device and inode (a symlinked or bind-mounted alias); an existing
/// file without `force`; a symlink at OUT, dangling or not, without `force` — with it, the link
/// itself is replaced, never what it points to.
public final class OutputFile {
    public struct Refused: Error, CustomStringConvertible { public let description: String }

    /// The path as the user gave it.
    public let path: String
    /// Where the content goes until `commit()`.
    public let temporary: String
    let option: String
    let force: Bool
    /// Suffixes of files that belong with OUT (a database's `-journal`, `-wal`, `-shm`): the
    /// temporary's are removed with it, and stale ones of the file OUT replaces go with it.
    let companions: [String]
    private var committed = false

    /// `option` names the path in messages; `protected` are folders that must not be written
    /// into (the trace the command reads).
    public init(
        _ path: String, option: String, force: Bool, protected: [String],
        companions: [String] = []
    ) throws(Refused) {
        self.path = path
        self.option = option
        self.force = force
        self.companions = companions
        guard !path.isEmpty else { throw Refused(description: "\(option): an empty path") }
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let folder = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        guard !name.isEmpty, name != ".", name != ".." else {
            throw Refused(description: "\(option) \(path) is a folder")
        }
        let cannot = {
            Refused(
                description:
                    "\(option) \(path): cannot write in \(folder): \(String(cString: strerror(errno)))")
        }
        guard let real = OutputFile.realPath(folder) else { throw cannot() }
        for p in protected {
            if OutputFile.isInside(folder: real, name: name, protected: p) {
                throw Refused(description: "\(option) \(path) is inside \(p), which this command reads")
            }
        }
        try OutputFile.checkTarget(path, option: option, force: force)
        // A new file beside OUT (same folder, so the rename stays on one file system), created
        // exclusively with the mode a new file gets (0666 less the umask).
        var made: String?
        for _ in 0..<100 {
            let hidden = ".\(name).revenant-\(UInt32.random(in: 0...UInt32.max))"
            let candidate = slash == nil ? hidden : folder + "/" + hidden
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o666)
            if fd >= 0 {
                close(fd)
                made = candidate
                break
            }
            if errno != EEXIST { break }
        }
        guard let made else { throw cannot() }
        temporary = made
    }

    deinit {
        if !committed { for s in [""] + companions { unlink(temporary + s) } }
    }

    /// Rename the temporary into place (checked again: something may have appeared at OUT
    /// meanwhile), then remove the stale companions of the file it replaced (a hot journal left
    /// beside a new database would be rolled back into it).
    public func commit() throws(Refused) {
        try OutputFile.checkTarget(path, option: option, force: force)
        guard rename(temporary, path) == 0 else {
            throw Refused(description: "\(option) \(path): cannot write it: \(String(cString: strerror(errno)))")
        }
        committed = true
        for s in companions {
            var st = stat()
            if lstat(path + s, &st) == 0, st.st_mode & S_IFMT != S_IFDIR { unlink(path + s) }
        }
    }

    /// What is at `path` now may be replaced: nothing, or (with `force`) a regular file or a symlink.
    static func checkTarget(_ path: String, option: String, force: Bool) throws(Refused) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        switch st.st_mode & S_IFMT {
        case S_IFREG where force, S_IFLNK where force: return
        case S_IFREG: throw Refused(description: "\(option) \(path) exists (--force to replace it)")
        case S_IFLNK:
            throw Refused(
                description: "\(option) \(path) is a symbolic link "
                    + "(--force replaces the link itself, not what it points to)")
        case S_IFDIR: throw Refused(description: "\(option) \(path) is a folder")
        default:
            throw Refused(
                description: "\(option) \(path) is not a regular file (a device, FIFO or socket): "
                    + "it is never replaced")
        }
    }

    /// Whether `folder/name` (folder a real path) lies in `protected`: by real path, by the device
    /// and inode of `folder` or one of its parents (an alias of the protected folder), or by those
    /// of an existing `name` (another name of a file in it).
    static func isInside(folder: String, name: String, protected: String) -> Bool {
        guard let root = realPath(protected), let rootID = fileID(root, follow: true) else { return false }
        let target = (folder == "/" ? "" : folder) + "/" + name
        if target == root || target.hasPrefix(root == "/" ? "/" : root + "/") { return true }
        var d = folder
        while true {
            if fileID(d, follow: true) == rootID { return true }
            guard d != "/", let cut = d.lastIndex(of: "/") else { break }
            d = cut == d.startIndex ? "/" : String(d[..<cut])
        }
        guard let id = fileID(target, follow: false) else { return false }
        return id == rootID || idsInside(root, depth: 2).contains(id)
    }

    struct FileID: Hashable { var device: UInt64, inode: UInt64 }

    static func fileID(_ path: String, follow: Bool) -> FileID? {
        var st = stat()
        guard (follow ? stat(path, &st) : lstat(path, &st)) == 0 else { return nil }
        return FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The files and folders under `root`, `depth` levels down (a trace: its files and blobs/).
    static func idsInside(_ root: String, depth: Int) -> Set<FileID> {
        guard depth > 0, let dir = opendir(root) else { return [] }
        defer { closedir(dir) }
        var out = Set<FileID>()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != ".", name != ".." else { continue }
            let p = root + "/" + name
            guard let id = fileID(p, follow: false) else { continue }
            out.insert(id)
            if entry.pointee.d_type == UInt8(DT_DIR) { out.formUnion(idsInside(p, depth: depth - 1)) }
        }
        return out
    }

    static func realPath(_ path: String) -> String? {
        guard let r = realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }
}
