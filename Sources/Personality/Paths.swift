import Glibc
import GuestMemory
import LinuxABI

/// Calls that name files: every path resolves in the guest's view (`Sandbox`), writes need a
/// writable mount (else EROFS), and the host call then runs on the resolved host path with
/// RESOLVE_NO_SYMLINKS so a symlink swapped in meanwhile cannot lead out.
extension LinuxPersonality {
    static let atFDCWD = UInt64(bitPattern: Int64(AT_FDCWD))

    static let pathHandlers: [(String, Handler)] = [
        ("open", { p, r in try p.openAt(atFDCWD, r[0], flags: r[1], mode: r[2]) }),
        ("openat", { p, r in try p.openAt(r[0], r[1], flags: r[2], mode: r[3]) }),
        ("creat", { p, r in try p.openAt(atFDCWD, r[0], flags: UInt64(O_CREAT | O_WRONLY | O_TRUNC), mode: r[1]) }),
        ("stat", { p, r in try p.stat(atFDCWD, r[0], r[1], flags: 0) }),
        ("lstat", { p, r in try p.stat(atFDCWD, r[0], r[1], flags: AT_SYMLINK_NOFOLLOW) }),
        ("newfstatat", { p, r in try p.stat(r[0], r[1], r[2], flags: Int32(truncatingIfNeeded: r[3])) }),
        ("statx", { p, r in try p.statx(r) }),
        ("access", { p, r in try p.access(atFDCWD, r[0], mode: r[1], flags: 0) }),
        ("faccessat", { p, r in try p.access(r[0], r[1], mode: r[2], flags: 0) }),
        ("faccessat2", { p, r in try p.access(r[0], r[1], mode: r[2], flags: Int32(truncatingIfNeeded: r[3])) }),
        ("readlink", { p, r in try p.readlink(atFDCWD, r[0], r[1], r[2]) }),
        ("readlinkat", { p, r in try p.readlink(r[0], r[1], r[2], r[3]) }),
        ("unlink", { p, r in try p.unlink(atFDCWD, r[0], flags: 0) }),
        ("unlinkat", { p, r in try p.unlink(r[0], r[1], flags: Int32(truncatingIfNeeded: r[2])) }),
        ("rmdir", { p, r in try p.unlink(atFDCWD, r[0], flags: AT_REMOVEDIR) }),
        ("mkdir", { p, r in try p.mkdir(atFDCWD, r[0], mode: r[1]) }),
        ("mkdirat", { p, r in try p.mkdir(r[0], r[1], mode: r[2]) }),
        ("rename", { p, r in try p.rename(atFDCWD, r[0], atFDCWD, r[1], flags: 0) }),
        ("renameat", { p, r in try p.rename(r[0], r[1], r[2], r[3], flags: 0) }),
        ("renameat2", { p, r in try p.rename(r[0], r[1], r[2], r[3], flags: r[4]) }),
        ("link", { p, r in try p.link(atFDCWD, r[0], atFDCWD, r[1], flags: 0) }),
        ("linkat", { p, r in try p.link(r[0], r[1], r[2], r[3], flags: Int32(truncatingIfNeeded: r[4])) }),
        ("symlink", { p, r in try p.symlink(r[0], atFDCWD, r[1]) }),
        ("symlinkat", { p, r in try p.symlink(r[0], r[1], r[2]) }),
        (
            "chmod",
            { p, r in
                try p.hostWrite(atFDCWD, r[0], follow: true) { hostSyscall(NR.fchmodat, u(AT_FDCWD), u($0), r[1]) }
            }
        ),
        (
            "fchmodat",
            { p, r in try p.hostWrite(r[0], r[1], follow: true) { hostSyscall(NR.fchmodat, u(AT_FDCWD), u($0), r[2]) } }
        ),
        (
            "chown",
            { p, r in
                try p.hostWrite(atFDCWD, r[0], follow: true) {
                    hostSyscall(NR.fchownat, u(AT_FDCWD), u($0), r[1], r[2], 0)
                }
            }
        ),
        (
            "lchown",
            { p, r in
                try p.hostWrite(atFDCWD, r[0], follow: false) {
                    hostSyscall(NR.fchownat, u(AT_FDCWD), u($0), r[1], r[2], u(AT_SYMLINK_NOFOLLOW))
                }
            }
        ),
        (
            "fchownat",
            { p, r in
                let flags = Int32(truncatingIfNeeded: r[4])
                return try p.hostWrite(r[0], r[1], follow: flags & AT_SYMLINK_NOFOLLOW == 0) {
                    hostSyscall(NR.fchownat, u(AT_FDCWD), u($0), r[2], r[3], u(flags & AT_SYMLINK_NOFOLLOW))
                }
            }
        ),
        ("utimensat", { p, r in try p.utimensat(r) }),
        (
            "truncate",
            { p, r in try p.hostWrite(atFDCWD, r[0], follow: true) { hostSyscall(NR.truncate, u($0), r[1]) } }
        ),
        (
            "statfs",
            { p, r in
                let res = try p.resolve(atFDCWD, r[0])
                let buf = try p.memory.pointer(r[1], 120, write: true)
                return res.host.withCString { hostSyscall(NR.statfs, u(UnsafeMutableRawPointer(mutating: $0)), u(buf)) }
            }
        ),
        ("getxattr", { p, r in try p.xattrRead(r, follow: true) }),
        ("lgetxattr", { p, r in try p.xattrRead(r, follow: false) }),
        ("listxattr", { p, r in try p.xattrRead(r, follow: true, list: true) }),
        ("llistxattr", { p, r in try p.xattrRead(r, follow: false, list: true) }),
        (
            "fgetxattr",
            { p, r in
                let fd = try p.fds.host(r[0])
                guard let name = try p.memory.cString(at: r[1], max: 255) else { throw SysError(ERANGE) }
                let value: UInt64 = r[3] == 0 ? 0 : u(try p.memory.pointer(r[2], Int(clamping: r[3]), write: true))
                return (name + [0]).withUnsafeBytes {
                    p.host(r.number, u(fd), u(UnsafeMutableRawPointer(mutating: $0.baseAddress!)), value, r[3])
                }
            }
        ),
        (
            "flistxattr",
            { p, r in
                let list: UInt64 = r[2] == 0 ? 0 : u(try p.memory.pointer(r[1], Int(clamping: r[2]), write: true))
                return p.host(r.number, u(try p.fds.host(r[0])), list, r[2])
            }
        ),
        (
            "getcwd",
            { p, r in
                let bytes = p.sandbox.cwd.bytes + [0]
                guard UInt64(bytes.count) <= r[1] else { throw SysError(ERANGE) }
                try p.memory.write(bytes, at: r[0])
                return Int64(bytes.count)
            }
        ),
        ("chdir", { p, r in try p.chdir(try p.resolve(atFDCWD, r[0])) }),
        (
            "fchdir",
            { p, r in
                guard let path = try p.fds.entry(r[0]).path else { throw SysError(ENOTDIR) }
                return try p.chdir(try p.sandbox.resolve(path.bytes))
            }
        ),
    ]

    func openAt(_ dirfd: UInt64, _ pathAddr: UInt64, flags rawFlags: UInt64, mode: UInt64) throws -> Int64 {
        var flags = Int32(truncatingIfNeeded: rawFlags)
        let follow = flags & O_NOFOLLOW == 0 && !(flags & O_CREAT != 0 && flags & O_EXCL != 0)
        let cloexec = flags & O_CLOEXEC != 0
        let accmode = flags & O_ACCMODE
        let wantsWrite = accmode != O_RDONLY || flags & O_TRUNC != 0
        if !wantsWrite && flags & O_CREAT == 0, let (res, _) = try lexical(dirfd, pathAddr) {
            // Reading: the open itself refuses a symlink on the way, so it is the only walk.
            let fd = openWithoutSymlinks(res.host, flags: flags, mode: 0)
            if fd >= 0 {
                return Int64(
                    try installClosingOnFailure(
                        FDTable.Entry(host: Int32(fd), path: res.guest, cloexec: cloexec, writableMount: res.writable)))
            }
        }
        let res = try resolve(dirfd, pathAddr, follow: follow)
        switch res.kind {
        case .programLink: throw SysError(ELOOP)
        case .guestFD(let n):
            // Linux reopens the file; a duplicate is what the guest can tell apart least.
            var e = try fds.entry(UInt64(n))
            e.host = try hostDup(e.host)
            e.cloexec = cloexec
            return Int64(try installClosingOnFailure(e))
        case .host: break
        }
        if !res.writable {
            if wantsWrite { throw SysError(EROFS) }
            if flags & O_CREAT != 0 {
                // Creating is a write; opening an existing file with O_CREAT is not.
                if hostStat(res.host) == nil { throw SysError(EROFS) }
                if flags & O_EXCL != 0 { throw SysError(EEXIST) }
                flags &= ~O_CREAT
            }
        }
        // Also when the file does not exist yet: the recorder then knows the run created it, and
        // does not take a later open (once it has contents) for its state before the run.
        if wantsWrite, let hook = onAboutToChange, hostStat(res.host).map({ ($0.st_mode & S_IFMT) == S_IFREG }) ?? true
        {
            hook(res.host, res.guest)
        }
        let fd = openWithoutSymlinks(
            res.host, flags: flags, mode: flags & (O_CREAT | 0x410000) != 0 ? mode & 0o7777 & ~fileCreationMask : 0)
        guard fd >= 0 else { return fd }
        return Int64(
            try installClosingOnFailure(
                FDTable.Entry(host: Int32(fd), path: res.guest, cloexec: cloexec, writableMount: res.writable)))
    }

    /// Where a path leads from its text alone (Sandbox.lexical), and whether it ends in a slash:
    /// for calls whose own host call refuses symlinks on the way, so that one walk of the host's
    /// kernel both checks and does; where that call fails, the caller resolves the path properly.
    func lexical(_ dirfd: UInt64, _ pathAddr: UInt64) throws -> (ResolvedPath, trailingSlash: Bool)? {
        let p = try path(pathAddr)
        let base = p.first == UInt8(ascii: "/") ? nil : try base(dirfd)
        return sandbox.lexical(p, base: base).map { ($0, p.last == UInt8(ascii: "/")) }
    }

    func stat(_ dirfd: UInt64, _ pathAddr: UInt64, _ buf: UInt64, flags: Int32) throws -> Int64 {
        let out = try memory.pointer(buf, MemoryLayout<Glibc.stat>.size, write: true)
        if try flags & 0x1000 != 0 && path(pathAddr).isEmpty {
            if Int32(truncatingIfNeeded: dirfd) == AT_FDCWD {
                return try statResolved(try sandbox.resolve(sandbox.cwd.bytes), out, nofollow: false)
            }
            return hostSyscall(NR.fstat, u(try fds.host(dirfd)), u(out))
        }
        if let (res, trailingSlash) = try lexical(dirfd, pathAddr) {
            // No symlink on the way (lstat of "link/" follows the link, as the walk does).
            let nofollow = flags & AT_SYMLINK_NOFOLLOW != 0 && !trailingSlash
            let fd = openWithoutSymlinks(res.host, flags: oPath | (nofollow ? O_NOFOLLOW : 0), mode: 0)
            if fd >= 0 {
                defer { close(Int32(fd)) }
                return hostSyscall(NR.fstat, UInt64(fd), u(out))
            }
        }
        let res = try resolve(dirfd, pathAddr, follow: flags & AT_SYMLINK_NOFOLLOW == 0)
        return try statResolved(res, out, nofollow: flags & AT_SYMLINK_NOFOLLOW != 0)
    }

    func statResolved(_ res: ResolvedPath, _ out: UnsafeMutableRawPointer, nofollow: Bool) throws -> Int64 {
        switch res.kind {
        case .host:
            return res.host.withCString {
                hostSyscall(
                    NR.newfstatat, u(AT_FDCWD), u(UnsafeMutableRawPointer(mutating: $0)), u(out), u(AT_SYMLINK_NOFOLLOW)
                )
            }
        case .guestFD(let n): return hostSyscall(NR.fstat, u(try fds.host(UInt64(n))), u(out))
        case .programLink:
            var st = Glibc.stat.init()
            st.st_mode = S_IFLNK | 0o777
            st.st_nlink = 1
            st.st_size = sandbox.programPath.count
            out.storeBytes(of: st, as: Glibc.stat.self)
            return 0
        }
    }

    func statx(_ r: SyscallRequest) throws -> Int64 {
        let flags = Int32(truncatingIfNeeded: r[2])
        let out = try memory.pointer(r[4], 256, write: true)
        let empty = try flags & 0x1000 != 0 && path(r[1]).isEmpty
        if empty && Int32(truncatingIfNeeded: r[0]) != AT_FDCWD {
            let h = try fds.host(r[0])
            return "".withCString {
                hostSyscall(NR.statx, u(h), u(UnsafeMutableRawPointer(mutating: $0)), u(flags), r[3], u(out))
            }
        }
        let res =
            empty
            ? try sandbox.resolve(sandbox.cwd.bytes)
            : try resolve(r[0], r[1], follow: flags & AT_SYMLINK_NOFOLLOW == 0)
        switch res.kind {
        case .host:
            return res.host.withCString {
                hostSyscall(
                    NR.statx, u(AT_FDCWD), u(UnsafeMutableRawPointer(mutating: $0)), u(flags | AT_SYMLINK_NOFOLLOW),
                    r[3], u(out))
            }
        case .guestFD(let n):
            let h = try fds.host(UInt64(n))
            return "".withCString {
                hostSyscall(NR.statx, u(h), u(UnsafeMutableRawPointer(mutating: $0)), u(0x1000), r[3], u(out))
            }
        case .programLink: throw SysError(ENOENT)
        }
    }

    func access(_ dirfd: UInt64, _ pathAddr: UInt64, mode: UInt64, flags: Int32) throws -> Int64 {
        let res = try resolve(dirfd, pathAddr, follow: flags & AT_SYMLINK_NOFOLLOW == 0)
        switch res.kind {
        case .host:
            if Int32(truncatingIfNeeded: mode) & W_OK != 0 && !res.writable {
                if hostStat(res.host) == nil { throw SysError(errno) }
                throw SysError(EROFS)
            }
            return res.host.withCString {
                hostSyscall(
                    NR.faccessat2, u(AT_FDCWD), u(UnsafeMutableRawPointer(mutating: $0)), mode,
                    u(flags | AT_SYMLINK_NOFOLLOW))
            }
        case .guestFD(let n):
            _ = try fds.entry(UInt64(n))
            return 0
        case .programLink: return 0
        }
    }

    func readlink(_ dirfd: UInt64, _ pathAddr: UInt64, _ buf: UInt64, _ size: UInt64) throws -> Int64 {
        let res = try resolve(dirfd, pathAddr, follow: false)
        let n = Int(clamping: size)
        guard n > 0 else { throw SysError(EINVAL) }
        let out = try memory.pointer(buf, n, write: true)
        switch res.kind {
        case .programLink:
            let bytes = Array(sandbox.programPath.bytes.prefix(n))
            out.copyMemory(from: bytes, byteCount: bytes.count)
            return Int64(bytes.count)
        case .guestFD(let g):
            let e = try fds.entry(UInt64(g))
            let bytes = Array((e.path ?? "pipe:[0]").bytes.prefix(n))
            out.copyMemory(from: bytes, byteCount: bytes.count)
            return Int64(bytes.count)
        case .host:
            return res.host.withCString {
                hostSyscall(NR.readlink, u(UnsafeMutableRawPointer(mutating: $0)), u(out), size)
            }
        }
    }

    /// A change to the filesystem at one path: needs a writable mount.
    func hostWrite(
        _ dirfd: UInt64, _ pathAddr: UInt64, follow: Bool, _ body: (UnsafeMutableRawPointer) -> Int64
    ) throws -> Int64 {
        let res = try resolve(dirfd, pathAddr, follow: follow)
        guard res.kind == .host else { throw SysError(EPERM) }
        guard res.writable else {
            if hostStat(res.host, follow: false) == nil { throw SysError(errno) }
            throw SysError(EROFS)
        }
        onAboutToChange?(res.host, res.guest)
        return res.host.withCString { body(UnsafeMutableRawPointer(mutating: $0)) }
    }

    func unlink(_ dirfd: UInt64, _ pathAddr: UInt64, flags: Int32) throws -> Int64 {
        guard flags & ~AT_REMOVEDIR == 0 else { throw SysError(EINVAL) }
        return try hostWrite(dirfd, pathAddr, follow: false) { hostSyscall(NR.unlinkat, u(AT_FDCWD), u($0), u(flags)) }
    }

    func mkdir(_ dirfd: UInt64, _ pathAddr: UInt64, mode: UInt64) throws -> Int64 {
        let res = try resolve(dirfd, pathAddr, follow: false)
        guard res.kind == .host else { throw SysError(EEXIST) }
        guard res.writable else {
            throw SysError(hostStat(res.host, follow: false) != nil ? EEXIST : EROFS)
        }
        return res.host.withCString {
            hostSyscall(
                NR.mkdirat, u(AT_FDCWD), u(UnsafeMutableRawPointer(mutating: $0)), mode & 0o7777 & ~fileCreationMask)
        }
    }

    func twoPaths(
        _ olddir: UInt64, _ oldAddr: UInt64, _ newdir: UInt64, _ newAddr: UInt64, followOld: Bool
    ) throws -> (ResolvedPath, ResolvedPath) {
        let a = try resolve(olddir, oldAddr, follow: followOld)
        let b = try resolve(newdir, newAddr, follow: false)
        guard a.kind == .host, b.kind == .host else { throw SysError(EXDEV) }
        guard a.writable, b.writable else { throw SysError(EROFS) }
        guard sandbox.hostPath(a.guest)?.1 == sandbox.hostPath(b.guest)?.1 else { throw SysError(EXDEV) }
        // rename and link change both paths (link: the new one is new, the old one now has two names).
        onAboutToChange?(a.host, a.guest)
        onAboutToChange?(b.host, b.guest)
        return (a, b)
    }

    func rename(_ olddir: UInt64, _ oldAddr: UInt64, _ newdir: UInt64, _ newAddr: UInt64, flags: UInt64) throws -> Int64
    {
        let (a, b) = try twoPaths(olddir, oldAddr, newdir, newAddr, followOld: false)
        return a.host.withCString { pa in
            b.host.withCString { pb in
                hostSyscall(
                    NR.renameat2, u(AT_FDCWD), u(UnsafeMutableRawPointer(mutating: pa)), u(AT_FDCWD),
                    u(UnsafeMutableRawPointer(mutating: pb)), flags)
            }
        }
    }

    func link(_ olddir: UInt64, _ oldAddr: UInt64, _ newdir: UInt64, _ newAddr: UInt64, flags: Int32) throws -> Int64 {
        let (a, b) = try twoPaths(olddir, oldAddr, newdir, newAddr, followOld: flags & AT_SYMLINK_FOLLOW != 0)
        return a.host.withCString { pa in
            b.host.withCString { pb in
                hostSyscall(
                    NR.linkat, u(AT_FDCWD), u(UnsafeMutableRawPointer(mutating: pa)), u(AT_FDCWD),
                    u(UnsafeMutableRawPointer(mutating: pb)), 0)
            }
        }
    }

    func symlink(_ targetAddr: UInt64, _ newdir: UInt64, _ newAddr: UInt64) throws -> Int64 {
        // The target is stored as text and interpreted in the guest's view when followed.
        let target = try path(targetAddr)
        return try hostWrite(newdir, newAddr, follow: false) { linkPath in
            (target + [0]).withUnsafeBytes { t in
                hostSyscall(
                    NR.symlinkat, u(UnsafeMutableRawPointer(mutating: t.baseAddress!)), u(AT_FDCWD), u(linkPath))
            }
        }
    }

    func utimensat(_ r: SyscallRequest) throws -> Int64 {
        let flags = Int32(truncatingIfNeeded: r[3])
        let times: UInt64 = r[2] == 0 ? 0 : u(try memory.pointer(r[2], 32))
        if r[1] == 0 {
            // futimens(fd): the descriptor itself.
            let e = try fds.entry(r[0])
            guard e.writableMount else { throw SysError(EROFS) }
            aboutToChange(e)
            return hostSyscall(NR.utimensat, u(e.host), 0, times, 0)
        }
        return try hostWrite(r[0], r[1], follow: flags & AT_SYMLINK_NOFOLLOW == 0) {
            hostSyscall(NR.utimensat, u(AT_FDCWD), u($0), times, u(flags & AT_SYMLINK_NOFOLLOW))
        }
    }

    /// getxattr/lgetxattr (name, value, size) and listxattr/llistxattr (list, size) on a path.
    func xattrRead(_ r: SyscallRequest, follow: Bool, list: Bool = false) throws -> Int64 {
        let res = try resolve(Self.atFDCWD, r[0], follow: follow)
        guard res.kind == .host else { throw SysError(ENODATA) }
        let nr = list ? NR.llistxattr : NR.lgetxattr  // the l- forms: the path is already resolved
        if list {
            let out: UInt64 = r[2] == 0 ? 0 : u(try memory.pointer(r[1], Int(clamping: r[2]), write: true))
            return res.host.withCString { hostSyscall(nr, u(UnsafeMutableRawPointer(mutating: $0)), out, r[2]) }
        }
        guard let name = try memory.cString(at: r[1], max: 255) else { throw SysError(ERANGE) }
        let out: UInt64 = r[3] == 0 ? 0 : u(try memory.pointer(r[2], Int(clamping: r[3]), write: true))
        return res.host.withCString { path in
            (name + [0]).withUnsafeBytes {
                hostSyscall(
                    nr, u(UnsafeMutableRawPointer(mutating: path)),
                    u(UnsafeMutableRawPointer(mutating: $0.baseAddress!)), out, r[3])
            }
        }
    }

    func chdir(_ res: ResolvedPath) throws -> Int64 {
        guard res.kind == .host else { throw SysError(ENOTDIR) }
        guard let st = hostStat(res.host) else { throw SysError(errno) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw SysError(ENOTDIR) }
        sandbox.cwd = res.guest
        return 0
    }
}

/// struct open_how (openat2).
struct open_how_t {
    var flags: UInt64
    var mode: UInt64
    var resolve: UInt64
}
