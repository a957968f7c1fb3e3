import Glibc
import GuestMemory
import LinuxABI

/// Socket addresses cross the sandbox like paths do (Docs/security.md). An `AF_UNIX` path names a
/// file: it resolves in the guest's view, and `bind` creates it only in a writable mount. Without
/// `--net` the guest reaches no host socket: every other address family, abstract `AF_UNIX` names
/// and autobind are refused (EACCES, as `socket` is), and a path may only lead to a socket this
/// run bound itself. A socketpair needs no address, so it keeps working.
extension LinuxPersonality {
    /// Linux's sizeof(struct sockaddr_storage) and sizeof(sun_path).
    static let sockaddrMax = 128
    static let sunPathMax = 108

    enum SocketUse { case bind, reach }

    /// Run `body` with the host's form of the guest's address at `addr` (`len` bytes): a pointer
    /// and a length for the host call. `use` says whether the call creates the name or reaches it.
    func withHostSocketAddress(
        _ addr: UInt64, _ len: UInt64, _ use: SocketUse,
        _ body: (UnsafeMutableRawPointer, Int) -> Int64
    ) throws -> Int64 {
        let length = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: len))
        guard length >= 0, length <= Self.sockaddrMax else { throw SysError(EINVAL) }
        var bytes = try memory.bytes(at: addr, count: length)
        let family = bytes.count >= 2 ? Int32(bytes[0]) | Int32(bytes[1]) << 8 : -1
        guard family == AF_UNIX else {
            // AF_UNSPEC dissolves a datagram association: it reaches nothing.
            guard config.network || family == AF_UNSPEC || family == -1 else { throw SysError(EACCES) }
            return bytes.withUnsafeMutableBytes {
                body($0.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!, length)
            }
        }
        // Autobind (just the family) and abstract names live in the host's namespace.
        guard bytes.count > 2, bytes[2] != 0 else {
            guard config.network || (use == .reach && bytes.count == 2) else { throw SysError(EACCES) }
            return bytes.withUnsafeMutableBytes { body($0.baseAddress!, length) }
        }
        let name = Array(bytes[2...].prefix { $0 != 0 })
        let res = try resolveSocketPath(name, use)
        return try withSunPath(res.host, use) { sun, sunLength, hostName in
            let r = body(sun, sunLength)
            if r == 0 && use == .bind {
                boundSockets.insert(res.host)
                socketNames[hostName] = name
            }
            return r
        }
    }

    private func resolveSocketPath(_ name: [UInt8], _ use: SocketUse) throws -> ResolvedPath {
        let res =
            name.first == UInt8(ascii: "/")
            ? try sandbox.resolve(name, followFinal: use == .reach)
            : try sandbox.resolve(name, base: sandbox.cwd, followFinal: use == .reach)
        guard res.kind == .host else { throw SysError(use == .bind ? EADDRINUSE : ECONNREFUSED) }
        switch use {
        case .bind:
            if hostStat(res.host, follow: false) != nil { throw SysError(EADDRINUSE) }
            guard res.writable else { throw SysError(EROFS) }
        case .reach:
            guard config.network || boundSockets.contains(res.host) else {
                // A missing name is ENOENT natively too; an existing host socket is out of reach.
                if hostStat(res.host) == nil { throw SysError(ENOENT) }
                throw SysError(EACCES)
            }
        }
        return res
    }

    /// A `sockaddr_un` for a host path. A path too long for `sun_path` is reached through an
    /// O_PATH descriptor of the socket (/proc/self/fd/N) and bound through one of its directory
    /// (/proc/self/fd/N/name), or, when even that is too long, under a short name then renamed.
    private func withSunPath(
        _ host: ByteString, _ use: SocketUse,
        _ body: (UnsafeMutableRawPointer, Int, ByteString) -> Int64
    ) throws -> Int64 {
        func call(_ path: ByteString) -> Int64 {
            var sun = [UInt8](repeating: 0, count: 2 + Self.sunPathMax)
            sun[0] = UInt8(AF_UNIX)
            let bytes = path.bytes
            sun.replaceSubrange(2..<2 + bytes.count, with: bytes)
            return sun.withUnsafeMutableBytes { body($0.baseAddress!, 2 + bytes.count + 1, path) }
        }
        if host.count < Self.sunPathMax { return call(host) }
        if use == .reach {
            let fd = host.withCString { open($0, oPath | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw SysError(errno) }
            defer { close(fd) }
            return call(ByteString("/proc/self/fd/\(fd)"))
        }
        let slash = host.bytes.lastIndex(of: UInt8(ascii: "/"))!
        let parent = slash == 0 ? "/" : ByteString(bytes: host.bytes[..<slash])
        let name = ByteString(bytes: host.bytes[(slash + 1)...])
        let dirFD = parent.withCString { open($0, oPath | O_DIRECTORY | O_CLOEXEC) }
        guard dirFD >= 0 else { throw SysError(errno) }
        defer { close(dirFD) }
        let viaDir = ByteString("/proc/self/fd/\(dirFD)/") + name
        if viaDir.count < Self.sunPathMax { return call(viaDir) }
        let temporary = ByteString(".revenant-socket-\(getpid())-\(boundSockets.count)")
        let r = call(ByteString("/proc/self/fd/\(dirFD)/") + temporary)
        guard r == 0 else { return r }
        let moved = temporary.withCString { from in
            name.withCString { to in
                hostSyscall(
                    NR.renameat2, u(dirFD), u(UnsafeMutableRawPointer(mutating: from)),
                    u(dirFD), u(UnsafeMutableRawPointer(mutating: to)), 1 /* RENAME_NOREPLACE */)
            }
        }
        if moved != 0 { _ = temporary.withCString { unlinkat(dirFD, $0, 0) } }
        return moved
    }

    /// After a call that returned an address into a guest buffer of `capacity` bytes (getsockname,
    /// accept…): a socket this run bound is named by its guest path, never by the host's name for it.
    func guestSocketAddress(_ addr: UInt64, _ lenAddr: UInt64, capacity: Int) throws {
        guard addr != 0, lenAddr != 0, capacity > 2, !socketNames.isEmpty else { return }
        let len = min(Int(try memory.load(UInt32.self, at: lenAddr)), capacity)
        guard len > 2, try memory.load(UInt16.self, at: addr) == UInt16(AF_UNIX) else { return }
        let raw = try memory.bytes(at: addr + 2, count: len - 2)
        guard let guest = socketNames[ByteString(bytes: raw.prefix { $0 != 0 })] else { return }
        let name = guest + [0]
        // As the kernel does: the full length, and as much of the name as the buffer holds.
        try memory.write(Array(name.prefix(capacity - 2)), at: addr + 2)
        try memory.store(UInt32(2 + name.count), at: lenAddr)
    }
}
