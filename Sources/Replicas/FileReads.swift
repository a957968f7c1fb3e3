import Glibc
import GuestMemory
import LinuxABI
import Personality
import Replay

/// What the guest reads from files reaches the backups through the primary's log, checked
/// (Docs/replicas.md "Inputs"), so a fault in the primary's input buffer is found there as for
/// stdin and sockets. For a regular file in a read-only mount, which the guest cannot change,
/// the primary reads it and each backup reads the same bytes again from the file. A file in a
/// writable mount may have changed by the time a backup gets there (the committed writes that
/// follow): the primary has the kernel copy what the guest reads into the journal
/// (SocketJournal.appendFileRead), and the backups check the log against that.
enum FileReads {
    /// The most one read of a file in a writable mount puts in the journal (a larger one the
    /// primary makes alone).
    static let mostJournaled = 16 << 20
    private static func number(_ name: String) -> UInt64 { UInt64(SyscallNames.byName[name]!) }
    /// Reads of a file at its offset, and at the offset in their fourth argument.
    static let atOffset: Set<UInt64> = [number("read"), number("readv")]
    static let positioned: Set<UInt64> = [number("pread64"), number("preadv")]

    /// Guest paths whose contents change by themselves (or are no files): never checked.
    private static let unchecked: [ByteString] = ["/proc/", "/sys/", "/dev/"]
    static func mayCheck(_ path: ByteString) -> Bool { !unchecked.contains { path.hasPrefix($0) } }
}

extension ReplicaKernel {
    /// The primary: whether a call is a read of a regular file in a writable mount, whose bytes
    /// go through the journal (readWritableFile).
    func readsAWritableFile(_ req: SyscallRequest) -> Bool {
        guard board.socketJournal != nil,
            FileReads.atOffset.contains(req.number) || FileReads.positioned.contains(req.number),
            let e = try? personality.fds.entry(req[0]), e.writableMount, !e.fromOutside, let path = e.path,
            FileReads.mayCheck(path)
        else { return false }
        var st = stat()
        return fstat(e.host, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// Serve the read (inside the recorder, which logs what it wrote): the kernel copies the
    /// file's bytes into the journal, and the guest gets them from there. What cannot be read so
    /// (a buffer outside guest memory, a negative offset, more than `mostJournaled`) the primary
    /// reads alone, as Linux would answer it.
    func readWritableFile(_ req: SyscallRequest) -> SyscallOutcome {
        let positioned = FileReads.positioned.contains(req.number)
        let offset = positioned ? req[3] : .max
        guard let buffers = try? ReadBuffers.of(req, count: Int(clamping: req[2]), memory: personality.memory),
            case let room = buffers.reduce(0, { $0 + $1.iov_len }), room > 0, room <= FileReads.mostJournaled,
            !positioned || Int64(bitPattern: offset) >= 0, let host = try? personality.fds.host(req[0]),
            let journalFD = board.socketJournal
        else { return personality.handle(req) }
        // The primary appends alone: the supervisor writes to the journal only while it answers
        // the primary (SocketReads), which is not now.
        let (got, end) = SocketJournal.appendFileRead(
            journalFD, at: board.journalLength, event: event, from: host,
            offset: positioned ? Int64(bitPattern: offset) : nil, count: room)
        guard got > 0 else { return .value(Int64(got)) }
        board.journalLength = end
        catchUpJournal()
        guard let bytes = journal!.takeFileRead(at: event), bytes.count == got else { return .value(-Int64(EIO)) }
        _ = ReadBuffers.fill(buffers, with: bytes)
        flipInput(buffers, count: bytes.count, read: &fileBytesRead) {
            if case .flipFile(let byte, let bit) = $0 { (byte, bit) } else { nil }
        }
        return .value(Int64(got))
    }

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
            let buffers = (try? ReadBuffers.of(req, count: Int(n), memory: personality.memory)) ?? []
            flipInput(buffers, count: Int(n), read: &fileBytesRead) {
                if case .flipFile(let byte, let bit) = $0 { (byte, bit) } else { nil }
            }
            return outcome
        }
    }

    /// A backup: the bytes the primary logged for a read of a file are the ones the kernel copied
    /// into the journal for that call (a writable mount's), or the file's, read again here (a
    /// read-only mount's); else the log is not believed there (why).
    func vetFile(_ event: SyscallEvent) -> String? {
        let positioned = FileReads.positioned.contains(event.number)
        guard event.result > 0, positioned || FileReads.atOffset.contains(event.number), let ledger,
            let slot = ledger.slots[Int(Int32(truncatingIfNeeded: event.args[0]))],
            let d = ledger.descriptions[slot.description], case .file(let path, _) = d.kind, FileReads.mayCheck(path)
        else { return nil }
        let offset = positioned ? Int64(bitPattern: event.args[3]) : d.offset
        let count = Int(event.result)
        let logged = Array(event.writes.flatMap(\.bytes).prefix(count))
        if catchUpJournal(), let read = journal!.fileRead(at: self.event) {
            guard read != logged else { return nil }
            return "the \(count) bytes of \(path) the primary logged (from byte \(offset)) differ from the "
                + "\(read.count) in the journal"
        }
        guard let fd = checkedFile(path) else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard n >= 0 else { return nil }
        if n == count, logged == bytes { return nil }
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
