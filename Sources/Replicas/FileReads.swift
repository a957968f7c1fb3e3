import Glibc
import GuestMemory
import LinuxABI
import Personality
import Replay

/// What the guest reads from files is an input the primary makes, and reaches the backups
/// through its log (Docs/replicas.md "Inputs"). For a regular file in a read-only mount, which
/// the guest cannot change, each backup reads the same bytes again from the file and checks
/// the primary's log against them, so a fault in the primary's input buffer is found there as
/// for stdin and sockets. Files in writable mounts are not checked: the primary's committed
/// writes may have changed them by the time a backup gets there.
enum FileReads {
    private static func number(_ name: String) -> UInt64 { UInt64(SyscallNames.byName[name]!) }
    /// Reads of a file at its offset, and at the offset in their fourth argument.
    static let atOffset: Set<UInt64> = [number("read"), number("readv")]
    static let positioned: Set<UInt64> = [number("pread64"), number("preadv")]

    /// Guest paths whose contents change by themselves (or are no files): never checked.
    private static let unchecked: [ByteString] = ["/proc/", "/sys/", "/dev/"]
    static func mayCheck(_ path: ByteString) -> Bool { !unchecked.contains { path.hasPrefix($0) } }
}

extension ReplicaKernel {
    /// The primary, with `--inject 'flip replica=0 file=N bit=B'`: a read of a file the backups
    /// check is served here, and byte N of what those reads gave (counted over all of them) is
    /// flipped before the recorder logs it, as a fault in the input buffer would be.
    func flipFileReads(_ req: SyscallRequest, _ recorder: Recorder) {
        guard FileReads.atOffset.contains(req.number) || FileReads.positioned.contains(req.number),
            injections.contains(where: { if case .flipFile = $0.action { true } else { false } }),
            let e = try? personality.fds.entry(req[0]), !e.writableMount, !e.fromOutside,
            let path = e.path, FileReads.mayCheck(path)
        else { return }
        var st = stat()
        guard fstat(e.host, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
        recorder.serveInstead = { [unowned self] in
            let outcome = personality.handle(req)
            guard case .value(let n) = outcome, n > 0 else { return outcome }
            let start = fileBytesRead
            fileBytesRead += Int(n)
            for i in injections {
                guard case .flipFile(let byte, let bit) = i.action, byte >= start, byte < start + Int(n) else {
                    continue
                }
                let buffers = try? ReadBuffers.of(req, count: Int(n), memory: personality.memory)
                ReadBuffers.flip(buffers ?? [], at: byte - start, bit: bit)
            }
            return outcome
        }
    }

    /// A backup: the bytes the primary logged for a read of a regular file in a read-only mount
    /// are the file's, read again here; else the log is not believed there (why).
    func vetFile(_ event: SyscallEvent) -> String? {
        let positioned = FileReads.positioned.contains(event.number)
        guard event.result > 0, positioned || FileReads.atOffset.contains(event.number), let ledger,
            let slot = ledger.slots[Int(Int32(truncatingIfNeeded: event.args[0]))],
            let d = ledger.descriptions[slot.description], case .file(let path, _) = d.kind, FileReads.mayCheck(path),
            let fd = checkedFile(path)
        else { return nil }
        let offset = positioned ? Int64(bitPattern: event.args[3]) : d.offset
        let count = Int(event.result)
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard n >= 0 else { return nil }
        if n == count, Array(event.writes.flatMap(\.bytes).prefix(count)) == bytes { return nil }
        return "the \(count) bytes of \(path) the primary logged (from byte \(offset)) differ from the file's"
    }

    /// The host descriptor a backup reads `path` with (opened once), or nil when it is not
    /// checked: not a regular file in a read-only mount.
    private func checkedFile(_ path: ByteString) -> Int32? {
        if let fd = checkedFiles[path] { return fd >= 0 ? fd : nil }
        if checkedFiles.count >= 64 {
            for fd in checkedFiles.values where fd >= 0 { close(fd) }
            checkedFiles = [:]
        }
        var fd: Int32 = -1
        if let res = try? personality.sandbox.resolve(path.bytes), res.kind == .host, !res.writable {
            fd = res.host.withCString { open($0, O_RDONLY | O_CLOEXEC) }
            var st = stat()
            if fd >= 0, fstat(fd, &st) != 0 || st.st_mode & S_IFMT != S_IFREG {
                close(fd)
                fd = -1
            }
        }
        checkedFiles[path] = fd
        return fd >= 0 ? fd : nil
    }
}
