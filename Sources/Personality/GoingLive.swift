import Glibc
import LinuxABI

/// A replay that becomes a live run: a backup of `run --replicas` taking the primary's place
/// (Docs/replicas.md "Taking over"). Its personality served only the calls a replay runs again
/// (memory, signals); the descriptors, the working directory and the umask the guest has are
/// given to it here, and from then on calls reach the host as in `run`.
extension LinuxPersonality {
    /// The guest's file `path` (an absolute guest path) opened again on the host, as a descriptor
    /// opened with `flags` was: never created or truncated again.
    public func reopen(_ path: ByteString, flags: Int32) throws(SysError) -> FDTable.Entry {
        let res = try sandbox.resolve(path.bytes)
        guard case .host = res.kind else { throw SysError(ENOTSUP) }
        let again = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)
        if again & O_ACCMODE != O_RDONLY && !res.writable { throw SysError(EROFS) }
        let fd = openWithoutSymlinks(res.host, flags: again, mode: 0)
        guard fd >= 0 else { throw SysError(Int32(-fd)) }
        return FDTable.Entry(
            host: Int32(fd), path: res.guest, cloexec: flags & O_CLOEXEC != 0, writableMount: res.writable)
    }

    /// From here on, calls reach the host: `descriptors` are the guest's, `cwd` (a guest path)
    /// and `umask` what its calls left.
    public func goLive(
        descriptors: [(fd: Int, entry: FDTable.Entry)], cwd: ByteString, umask: UInt32
    )
        throws(SysError)
    {
        let dir = try sandbox.resolve(cwd.bytes)
        signalsFromLog = false
        mappedFileProvider = nil
        fds.closeAll()
        for d in descriptors { fds.set(d.fd, d.entry) }
        sandbox.cwd = dir.guest
        fileCreationMask = UInt64(umask & 0o777)
    }
}
