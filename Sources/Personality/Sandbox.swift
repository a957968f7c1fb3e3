import Glibc

/// One mount of the guest's view of the filesystem: guest path → host path.
public struct Mount: Equatable, Sendable {
    public var guest: String
    public var host: String
    public var writable: Bool
    public init(guest: String, host: String, writable: Bool) {
        self.guest = guest
        self.host = host
        self.writable = writable
    }
}

/// Where a guest path leads.
public struct ResolvedPath: Equatable {
    public enum Kind: Equatable {
        case host
        /// /proc/self/exe: a symlink to the program.
        case programLink
        /// /proc/self/fd/N, /dev/fd/N, /dev/stdin…: the guest's own descriptor N.
        case guestFD(Int)
    }
    public var kind: Kind
    /// Absolute, normalised, symlink-free guest path.
    public var guest: String
    public var host: String
    public var writable: Bool
}

/// The guest's view of the filesystem: host root read-only, working directory read-write, a
/// private /tmp, and --ro/--rw mounts. Paths resolve component by component in the guest's view
/// (openat2 RESOLVE_IN_ROOT semantics): `..` stops at the guest root and symlinks are followed
/// inside the guest's view, so nothing outside the mounts is reachable. The VMM's own /proc/self
/// is hidden; /proc/self/exe names the program.
public final class Sandbox {
    public private(set) var mounts: [Mount]
    public var cwd: String
    /// The program's guest path, for /proc/self/exe.
    public var programPath: String
    /// Device nodes the guest may open for writing although /dev is in the read-only root.
    static let writableDevices: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

    public init(mounts: [Mount], cwd: String, programPath: String) {
        self.mounts = mounts.sorted { $0.guest.count > $1.guest.count }
        self.cwd = cwd
        self.programPath = programPath
    }

    /// The mount a normalised guest path lies under (the longest matching prefix) and the host path.
    public func hostPath(_ guest: String) -> (String, Mount)? {
        for m in mounts {
            if m.guest == "/" { return (m.host == "/" ? guest : (guest == "/" ? m.host : m.host + guest), m) }
            if guest == m.guest { return (m.host, m) }
            if guest.hasPrefix(m.guest), guest.utf8[guest.utf8.index(guest.utf8.startIndex, offsetBy: m.guest.utf8.count)] == UInt8(ascii: "/") {
                return (m.host + guest.dropFirst(m.guest.count), m)
            }
        }
        return nil
    }

    static func isProcSelf(_ c: Substring) -> Bool {
        c == "self" || c == "thread-self" || (!c.isEmpty && c.allSatisfy(\.isNumber))
    }

    /// Resolve `path` (relative to guest directory `base`). `followFinal` follows a symlink in the
    /// last component (false for lstat, O_NOFOLLOW, readlink, unlink…).
    public func resolve(_ path: [UInt8], base: String? = nil, followFinal: Bool = true) throws(SysError) -> ResolvedPath {
        guard !path.isEmpty else { throw SysError(ENOENT) }
        guard path.count < 4096 else { throw SysError(ENAMETOOLONG) }
        var comps: [Substring] = []
        var pending: [Substring] = []
        let text = String(decoding: path, as: UTF8.self)
        func push(_ p: String) {
            pending.append(contentsOf: p.split(separator: "/", omittingEmptySubsequences: true).reversed())
        }
        push(text)
        if path.first != UInt8(ascii: "/") {
            comps = (base ?? cwd).split(separator: "/", omittingEmptySubsequences: true)
        }
        let trailingSlash = path.last == UInt8(ascii: "/")
        var links = 0
        while let c = pending.popLast() {
            if c == "." { continue }
            if c == ".." { _ = comps.popLast(); continue }
            comps.append(c)
            let isLast = pending.isEmpty
            // The VMM's own /proc/self must not show through.
            if comps.count >= 2, comps[0] == "proc", Sandbox.isProcSelf(comps[1]) {
                let rest = Array(comps.dropFirst(2)) + pending.reversed()
                if rest.isEmpty { throw SysError(ENOENT) }
                if rest[0] == "exe" && rest.count == 1 {
                    if !followFinal {
                        return ResolvedPath(kind: .programLink, guest: "/proc/self/exe", host: "", writable: false)
                    }
                    links += 1
                    pending = []
                    comps = []
                    push(programPath)
                    continue
                }
                if rest[0] == "fd", rest.count == 2, let n = Int(rest[1]), n >= 0, n < FDTable.limit {
                    return ResolvedPath(kind: .guestFD(n), guest: "/proc/self/fd/\(n)", host: "", writable: true)
                }
                throw SysError(ENOENT)
            }
            if isLast && !followFinal && !trailingSlash { break }
            let guest = "/" + comps.joined(separator: "/")
            guard let (host, _) = hostPath(guest) else { throw SysError(ENOENT) }
            var st = stat()
            if lstat(host, &st) != 0 {
                let e = errno
                if isLast { break }
                throw SysError(e)
            }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                links += 1
                if links > 40 { throw SysError(ELOOP) }
                var buf = [UInt8](repeating: 0, count: 4096)
                let n = readlink(host, &buf, buf.count)
                guard n > 0 else { throw SysError(EIO) }
                let target = String(decoding: buf[0..<n], as: UTF8.self)
                comps.removeLast()
                if target.hasPrefix("/") { comps = [] }
                push(target)
                continue
            }
            if !isLast && (st.st_mode & S_IFMT) != S_IFDIR { throw SysError(ENOTDIR) }
        }
        let guest = "/" + comps.joined(separator: "/")
        guard let (host, mount) = hostPath(guest) else { throw SysError(ENOENT) }
        if guest.hasPrefix("/dev/") && !Sandbox.writableDevices.contains(guest) && mount.guest == "/" {
            // Other device nodes stay out of reach (block devices, /dev/kvm, the host's terminals…).
            var st = stat()
            if lstat(host, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR || (st.st_mode & S_IFMT) == S_IFBLK {
                throw SysError(EACCES)
            }
        }
        return ResolvedPath(kind: .host, guest: guest, host: host,
                            writable: mount.writable || Sandbox.writableDevices.contains(guest))
    }
}
