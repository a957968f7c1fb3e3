import Glibc
import LinuxABI

/// One mount of the guest's view of the filesystem: guest path → host path.
public struct Mount: Equatable, Sendable {
    public var guest: ByteString
    public var host: ByteString
    public var writable: Bool
    public init(guest: ByteString, host: ByteString, writable: Bool) {
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
    public var guest: ByteString
    public var host: ByteString
    public var writable: Bool
}

/// The guest's view of the filesystem: host root read-only, working directory read-write, a
/// private /tmp, and --ro/--rw mounts. Paths resolve component by component in the guest's view
/// (openat2 RESOLVE_IN_ROOT semantics): `..` stops at the guest root and symlinks are followed
/// inside the guest's view, so nothing outside the mounts is reachable. The VMM's own /proc/self
/// is hidden; /proc/self/exe names the program.
public final class Sandbox {
    public private(set) var mounts: [Mount]
    public var cwd: ByteString
    /// The program's guest path, for /proc/self/exe.
    public var programPath: ByteString
    /// Device nodes the guest may open for writing although /dev is in the read-only root.
    static let writableDevices: Set<ByteString> = [
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
        "/dev/urandom", "/dev/tty",
    ]

    /// Mounts whose paths may be resolved from their text (SandboxLexical.swift).
    let lexicalMounts: [Bool]

    public init(mounts: [Mount], cwd: ByteString, programPath: ByteString) {
        self.mounts = mounts.sorted { $0.guest.count > $1.guest.count }
        lexicalMounts = Sandbox.lexicalMounts(self.mounts)
        self.cwd = cwd
        self.programPath = programPath
    }

    /// The mount a normalised guest path lies under (the longest matching prefix) and the host path.
    public func hostPath(_ guest: ByteString) -> (ByteString, Mount)? {
        var host: [UInt8] = []
        guard let m = hostPath(guest.bytes, into: &host) else { return nil }
        return (ByteString(host), m)
    }

    /// The same, written into `host` (its storage reused: resolve calls this for every component).
    func hostPath(_ guest: [UInt8], into host: inout [UInt8]) -> Mount? {
        Sandbox.hostPath(guest, into: &host, mounts: mounts[...])
    }

    /// The same, among `mounts` (sorted longest first).
    static func hostPath(_ guest: [UInt8], into host: inout [UInt8], mounts: ArraySlice<Mount>) -> Mount? {
        let slash = UInt8(ascii: "/")
        for m in mounts {
            let g = m.guest.bytes
            host.removeAll(keepingCapacity: true)
            if g == Sandbox.root.bytes {
                if m.host.bytes != Sandbox.root.bytes { host += m.host.bytes }
                if host.isEmpty || guest != Sandbox.root.bytes { host += guest }
                return m
            }
            if guest == g {
                host += m.host.bytes
                return m
            }
            if guest.count > g.count, guest[g.count] == slash, guest.starts(with: g) {
                host += m.host.bytes
                host += guest[g.count...]
                return m
            }
        }
        return nil
    }

    // Names resolve compares with on every component, made once (a literal would be a new array
    // each time: the allocations were most of a path's cost, ~4.5 of 6 µs for four components).
    static let root: ByteString = "/", dot: ByteString = ".", dotDot: ByteString = ".."
    static let proc: ByteString = "proc", exe: ByteString = "exe", fd: ByteString = "fd"

    static func isProcSelf(_ c: ByteString) -> Bool {
        c == "self" || c == "thread-self" || (!c.isEmpty && c.bytes.allSatisfy { $0 >= 0x30 && $0 <= 0x39 })
    }

    /// Resolve `path` (relative to guest directory `base`). `followFinal` follows a symlink in the
    /// last component (false for lstat, O_NOFOLLOW, readlink, unlink…). `fromText` lets a path
    /// with no symlink on the way be resolved from its text (SandboxLexical.swift); the answer is
    /// the walk's either way (false: walk, for tests that compare the two).
    public func resolve(
        _ path: [UInt8], base: ByteString? = nil,
        followFinal: Bool = true, fromText: Bool = true
    ) throws(SysError) -> ResolvedPath {
        guard !path.isEmpty else { throw SysError(ENOENT) }
        guard path.count < 4096 else { throw SysError(ENAMETOOLONG) }
        if fromText, let res = lexicalChecked(path, base: base, followFinal: followFinal) { return res }
        var comps: [ByteString] = []
        var pending: [ByteString] = []
        let slash = UInt8(ascii: "/")
        func push(_ p: [UInt8]) {
            pending.append(contentsOf: ByteString(p).split(separator: slash).reversed())
        }
        push(path)
        if path.first != slash {
            comps = (base ?? cwd).split(separator: slash)
        }
        let trailingSlash = path.last == slash
        var links = 0
        var guestBuffer: [UInt8] = [], hostBuffer: [UInt8] = []
        guestBuffer.reserveCapacity(256)
        hostBuffer.reserveCapacity(256)
        /// The guest path of `comps` ("/a/b"; nothing for the root) into `out`, its storage reused.
        func write(into out: inout [UInt8]) {
            out.removeAll(keepingCapacity: true)
            for c in comps {
                out.append(slash)
                out += c.bytes
            }
        }
        func joined() -> ByteString {
            var out: [UInt8] = []
            write(into: &out)
            return out.isEmpty ? Sandbox.root : ByteString(out)
        }
        /// The host path in `hostBuffer`, NUL-terminated, as a C string.
        func withHostPath<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
            hostBuffer.withUnsafeBufferPointer {
                body(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self))
            }
        }
        while let c = pending.popLast() {
            if c == Sandbox.dot { continue }
            if c == Sandbox.dotDot {
                _ = comps.popLast()
                continue
            }
            comps.append(c)
            let isLast = pending.isEmpty
            // The VMM's own /proc/self must not show through.
            if comps.count >= 2, comps[0] == Sandbox.proc, Sandbox.isProcSelf(comps[1]) {
                let rest = Array(comps.dropFirst(2)) + pending.reversed()
                if rest.isEmpty { throw SysError(ENOENT) }
                if rest[0] == Sandbox.exe && rest.count == 1 {
                    if !followFinal {
                        return ResolvedPath(kind: .programLink, guest: "/proc/self/exe", host: "", writable: false)
                    }
                    links += 1
                    pending = []
                    comps = []
                    push(programPath.bytes)
                    continue
                }
                if rest[0] == Sandbox.fd, rest.count == 2, let n = Int(rest[1].description), n >= 0, n < FDTable.limit {
                    return ResolvedPath(
                        kind: .guestFD(n), guest: ByteString("/proc/self/fd/\(n)"), host: "",
                        writable: true)
                }
                throw SysError(ENOENT)
            }
            if isLast && !followFinal && !trailingSlash { break }
            // The component's guest and host paths in buffers reused from one component to the next.
            write(into: &guestBuffer)
            guard hostPath(guestBuffer, into: &hostBuffer) != nil else { throw SysError(ENOENT) }
            hostBuffer.append(0)
            var st = stat()
            if withHostPath({ lstat($0, &st) }) != 0 {
                let e = errno
                if isLast { break }
                throw SysError(e)
            }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                links += 1
                if links > 40 { throw SysError(ELOOP) }
                var buf = [UInt8](repeating: 0, count: 4096)
                let n = withHostPath { readlink($0, &buf, buf.count) }
                guard n > 0 else { throw SysError(EIO) }
                comps.removeLast()
                if buf[0] == slash { comps = [] }
                push(Array(buf[0..<n]))
                continue
            }
            if !isLast && (st.st_mode & S_IFMT) != S_IFDIR { throw SysError(ENOTDIR) }
        }
        let guest = joined()
        guard let (host, mount) = hostPath(guest) else { throw SysError(ENOENT) }
        if guest.hasPrefix("/dev/") && !Sandbox.writableDevices.contains(guest) && mount.guest == "/" {
            // Other device nodes stay out of reach (block devices, /dev/kvm, the host's terminals…).
            var st = stat()
            if host.withCString({ lstat($0, &st) }) == 0,
                (st.st_mode & S_IFMT) == S_IFCHR || (st.st_mode & S_IFMT) == S_IFBLK
            {
                throw SysError(EACCES)
            }
        }
        return ResolvedPath(
            kind: .host, guest: guest, host: host,
            writable: mount.writable || Sandbox.writableDevices.contains(guest))
    }
}
