import Glibc
import LinuxABI

/// Resolving a path from its text, checked by one walk of the host's kernel instead of a `lstat`
/// per component. `Sandbox.resolve` walks component by component so that a symlink is followed in
/// the guest's view; but most paths have no symlink, no `..` and lead nowhere special, and for
/// those the walk's answer is the path's text joined to its base under the mount it falls in.
/// `openat2` with `RESOLVE_NO_SYMLINKS` checks that no component is a symlink in a single walk of
/// the kernel's; where it fails for any reason, `resolve` walks as before, so every answer given
/// this way is the walk's (a guest `stat` of a 2-component path went from 3 host path walks to 1).
extension Sandbox {
    /// Whether paths under each mount (`mounts`' order) may be resolved from their text: its host
    /// path has no symlink (openat2 refuses those anyway), and the guest directories above its
    /// mount point are real directories, each in a read-only mount or the root of one, so the
    /// walk could not have turned aside before reaching the mount. Checked once, when the sandbox
    /// is made. (A guest that removed a writable mount's root, /tmp say, and put a symlink in its
    /// place would still reach a mount below it by its text: a path inside its own view.)
    static func lexicalMounts(_ mounts: [Mount]) -> [Bool] {
        mounts.map { m in
            guard m.host.bytes.first == UInt8(ascii: "/"), noSymlinks(m.host) else { return false }
            var prefix: [UInt8] = []
            let parts = m.guest.split(separator: UInt8(ascii: "/"))
            var host: [UInt8] = []
            for part in parts.dropLast() {
                prefix.append(UInt8(ascii: "/"))
                prefix += part.bytes
                // The longest mount above the prefix: `mounts` is sorted longest first.
                guard let above = mounts.first(where: { contains($0.guest.bytes, prefix) && $0 != m }),
                    !above.writable || above.guest.bytes == prefix
                else { return false }
                _ = hostPath(prefix, into: &host, mounts: [above][...])
                var st = stat()
                let r = ByteString(host).withCString { lstat($0, &st) }
                guard r == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return false }
            }
            return true
        }
    }

    /// Whether a host path leads somewhere without a symlink on the way.
    static func noSymlinks(_ host: ByteString) -> Bool {
        let fd = openWithoutSymlinks(host, flags: oPath, mode: 0)
        if fd >= 0 { close(Int32(fd)) }
        return fd >= 0
    }

    /// Whether guest directory `dir` holds guest path `path` (or is it).
    static func contains(_ dir: [UInt8], _ path: [UInt8]) -> Bool {
        if dir == root.bytes || dir == path { return true }
        return path.count > dir.count && path[dir.count] == UInt8(ascii: "/") && path.starts(with: dir)
    }

    /// Where `path` (relative to guest directory `base`) leads, from its text alone — or nil where
    /// the text could mislead: `..`, /proc and /dev (the walk treats them apart), a mount root, a
    /// mount not in `lexicalMounts`. The caller must still check that no component is a symlink
    /// (`resolve` does; `openWithoutSymlinks` does as it opens).
    public func lexical(_ path: [UInt8], base: ByteString? = nil) -> ResolvedPath? {
        guard !path.isEmpty, path.count < 4096 else { return nil }
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        var guest: [UInt8] = []
        guest.reserveCapacity(path.count + 64)
        if path[0] != slash {
            let b = (base ?? cwd).bytes
            if b != Sandbox.root.bytes { guest += b }
        }
        var i = 0
        while i < path.count {
            while i < path.count && path[i] == slash { i += 1 }
            var j = i
            while j < path.count && path[j] != slash { j += 1 }
            let n = j - i
            if n == 2 && path[i] == dot && path[i + 1] == dot { return nil }
            if n > 0 && !(n == 1 && path[i] == dot) {
                guest.append(slash)
                guest += path[i..<j]
            }
            i = j
        }
        if guest.isEmpty || Sandbox.contains(Sandbox.procDir, guest) || Sandbox.contains(Sandbox.devDir, guest) {
            return nil
        }
        guard let index = mounts.firstIndex(where: { Sandbox.contains($0.guest.bytes, guest) }),
            lexicalMounts[index], guest != mounts[index].guest.bytes
        else { return nil }
        var host: [UInt8] = []
        _ = Sandbox.hostPath(guest, into: &host, mounts: mounts[index...])
        return ResolvedPath(
            kind: .host, guest: ByteString(guest), host: ByteString(host), writable: mounts[index].writable)
    }

    static let procDir = Array("/proc".utf8), devDir = Array("/dev".utf8)

    /// `lexical`, checked: the path has no symlink up to its last component (up to its parent
    /// when `followFinal` is false, as the walk leaves the last one alone then), and what it
    /// names exists, or only its last component is missing. Nil where the walk must decide.
    func lexicalChecked(_ path: [UInt8], base: ByteString?, followFinal: Bool) -> ResolvedPath? {
        guard let res = lexical(path, base: base) else { return nil }
        let trailingSlash = path.last == UInt8(ascii: "/")
        if followFinal || trailingSlash {
            if Sandbox.noSymlinks(res.host) { return res }
            guard errno == ENOENT else { return nil }
        }
        // The parent: the last component is left alone (or missing, which the walk allows).
        let parent = ByteString(Array(res.host.bytes[..<res.host.bytes.lastIndex(of: UInt8(ascii: "/"))!]))
        let fd = openWithoutSymlinks(parent.isEmpty ? Sandbox.root : parent, flags: oPath | O_DIRECTORY, mode: 0)
        guard fd >= 0 else { return nil }
        close(Int32(fd))
        return res
    }
}

/// O_PATH (Glibc leaves it out without _GNU_SOURCE): a descriptor that only names a file.
let oPath: Int32 = 0o1000_0000

/// openat2 of a host path with no symlink allowed on the way (nor /proc's magic links),
/// close-on-exec in the VMM: the descriptor, or -errno (errno set too).
func openWithoutSymlinks(_ host: ByteString, flags: Int32, mode: UInt64) -> Int64 {
    var how = open_how_t(
        flags: UInt64(UInt32(bitPattern: flags | O_CLOEXEC)), mode: mode,
        resolve: 0x04 /* RESOLVE_NO_SYMLINKS */ | 0x02 /* RESOLVE_NO_MAGICLINKS */)
    let r = host.withCString { cpath in
        withUnsafeMutablePointer(to: &how) {
            hostSyscall(
                NR.openat2, u(AT_FDCWD), u(UnsafeMutableRawPointer(mutating: cpath)),
                u(UnsafeMutableRawPointer($0)), 24)
        }
    }
    if r < 0 { errno = Int32(-r) }
    return r
}
