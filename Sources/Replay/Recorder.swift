import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Trace

/// Records a run: every syscall's outcome and the bytes it wrote into guest memory go into the
/// event stream; every file the program maps goes into the blob store. It stands between the
/// machine and the personality (rr-style: the same personality runs, and its effects are logged).
/// Each process of the run writes its own stream (`events`, then `events.N` for each child), and
/// every write to Revenant's stdout or stderr takes a ticket from the run's ProcessOrder.
public final class Recorder: GuestKernel {
    public let personality: LinuxPersonality
    public var mayRewriteSyscalls: Bool { !personality.sharesParentMemory }
    public let trace: TraceDirectory
    /// This process's stream (a forked child opens its own).
    var writer: EventWriter
    /// Shared by every process of the run (made here, in the first, before any fork).
    public let order: ProcessOrder
    /// A fork's event and stamp, written once the host fork's result is known (forked(child:pid:)).
    private var pendingFork: (SyscallEvent, UInt64)?
    /// Whether this process stamps its calls: from its first fork on, a child from its start.
    private var stamping = false
    /// This process's stream: 0 for the first (`events`), n for `events.n`.
    public private(set) var stream = 0
    private var memory: AddressSpace { personality.memory }
    private var mapped: MappedFileEvent?
    private var blobByFile: [String: String] = [:]
    /// The first error writing the trace; the run is stopped and the CLI reports it.
    public private(set) var failure: TraceError?
    public private(set) var syscalls = 0

    public convenience init(personality: LinuxPersonality, trace: TraceDirectory) throws(TraceError) {
        try self.init(personality: personality, trace: trace, writer: try EventWriter(path: trace.eventsPath))
    }

    /// Recording into `writer`: a new stream, or one another recorder began (a backup of `run
    /// --replicas` that took the primary's place goes on with the primary's).
    public init(personality: LinuxPersonality, trace: TraceDirectory, writer: EventWriter) throws(TraceError) {
        self.personality = personality
        self.trace = trace
        self.writer = writer
        order = try ProcessOrder()
        // A device's mapping has no contents to keep. /dev/zero's (zeros) is marked so that replay
        // maps the device again; another device's gets no event, and its replay stops there, a
        // divergence (mapping an empty copy made the guest fault later, and the replay end quietly).
        personality.onFileMapped = { [unowned self] fd, _ in
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                self.mapped = nil
                return
            }
            if st.st_mode & S_IFMT == S_IFREG {
                self.mapped = self.storeFile(fd: fd).map { .blob(digest: $0) }
            } else {
                self.mapped = MappedFileEvent.isZeroDevice(st) ? .zeroDevice : nil
            }
        }
        personality.onAboutToChange = { [unowned self] host, guest in self.storePreImage(host: host, guest: guest) }
        personality.onExecFileOpened = { [unowned self] guest, fd in
            if let digest = self.storeFile(fd: fd) {
                self.execFiles.append((guest, digest))
            } else {
                self.failure = self.failure ?? .io(path: guest.description, errno: EIO)
            }
        }
    }

    /// The next call's outcome, when it was made already and must not be made again: it is
    /// logged as if served (a replica that took the primary's place, at an output the old
    /// primary released before it died).
    public var alreadyServed: SyscallOutcome?
    /// The next call served by this instead of the personality, and logged with what it wrote
    /// to guest memory (the primary of `run --replicas` reading a socket the supervisor holds).
    public var serveInstead: (() -> SyscallOutcome)?

    /// The files the current execve opened (a failed one opens some too: they are not logged).
    private var execFiles: [(path: ByteString, digest: String)] = []

    /// Keep a copy of a whole file (once per path and size/mtime) and return its digest.
    public func storeFile(fd: Int32) -> String? {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 0 else { return nil }
        let key = "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        if let d = blobByFile[key] { return d }
        do {
            if let d = try trace.storeBlob(file: fd) {
                blobByFile[key] = d
                return d
            }
        } catch {
            failure = failure ?? error
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + off, $0.count - off, off_t(off)) }
            if n <= 0 { break }
            off += n
        }
        guard off == bytes.count else { return nil }
        do {
            let d = try trace.storeBlob(bytes)
            blobByFile[key] = d
            return d
        } catch {
            failure = failure ?? error
            return nil
        }
    }

    /// The first time the run changes a path, keep what it held before: a regular file's
    /// contents, a symbolic link's target, a folder (empty), each with its mode and times;
    /// nothing when it did not exist (later changes must not take the run's own work for its
    /// state before the run), nor for a device, FIFO or socket.
    private var preImaged: Set<ByteString> = []
    func storePreImage(host: ByteString, guest: ByteString) {
        guard preImaged.insert(guest).inserted else { return }
        var st = stat()
        guard host.withCString({ lstat($0, &st) }) == 0 else { return }
        let digest: String?
        switch st.st_mode & S_IFMT {
        case S_IFREG: digest = storeFile(path: host)
        case S_IFLNK: digest = readLink(host).flatMap { try? trace.storeBlob($0) }
        case S_IFDIR: digest = try? trace.storeBlob([])
        default: return
        }
        guard let digest else { return }
        do {
            try writer.append(
                Event(kind: EventKind.preImage.rawValue, payload: PreImage(digest: digest, path: guest).encoded()))
            try writer.append(
                Event(kind: EventKind.preImageAttributes.rawValue, payload: PreImageAttributes(st).encoded()))
        } catch {
            failure = failure ?? error
        }
    }

    private func readLink(_ path: ByteString) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = path.withCString { p in buf.withUnsafeMutableBytes { readlink(p, $0.baseAddress!, $0.count) } }
        guard n >= 0, n < buf.count else { return nil }
        return Array(buf[0..<n])
    }

    /// Store a file by path (the program and its interpreter, before they are loaded).
    public func storeFile(path: ByteString) -> String? {
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return storeFile(fd: fd)
    }

    /// Faults are deterministic: the same instruction faults again in replay, with the same
    /// signal state (sigaction is run again there), so the personality decides alike both times.
    public func deliverFault(_ signal: Int32, code: Int32, fault: SignalDelivery.Fault) -> SignalDelivery? {
        personality.deliverFault(signal, code: code, fault: fault)
    }

    public func handle(_ req: SyscallRequest) -> SyscallOutcome {
        // The shims' channel is no event: the trace holds none of it.
        if req.number == ChannelPort.number { return personality.handle(req) }
        guard failure == nil else { return .halt }
        memory.writeRanges = []
        mapped = nil
        execFiles = []
        // Path arguments are read before the call: execve replaces the memory they are in.
        var paths: [(index: Int, bytes: [UInt8])] = []
        for i in ReplayPolicy.pathArguments(req.number) where req[i] != 0 {
            if let s = try? memory.cString(at: req[i], max: 4095) { paths.append((i, s)) }
        }
        // A write to Revenant's stdout or stderr is ordered among the run's processes' writes.
        let console = ReplayPolicy.output(req.number).map { personality.consoleKind(req[$0]) } ?? 0
        var outcome: SyscallOutcome
        var ticket: UInt32?
        var stamp: UInt64?
        let served = alreadyServed, instead = serveInstead
        alreadyServed = nil
        serveInstead = nil
        func serve() -> SyscallOutcome { served ?? instead?() ?? personality.handle(req) }
        if console != 0 {
            var s: UInt64
            (outcome, ticket, s) = order.ordered { serve() }
            stamp = s
        } else if stamping && ReplayPolicy.locksWithoutWaiting(req) {
            (outcome, stamp) = order.stamped { serve() }
        } else {
            outcome = serve()
        }
        // From its first fork on (a child from its start) a process stamps every call; the fork
        // itself before the host forks, so that the child's calls come after it.
        if case .fork = outcome { stamping = true }
        if !stamping { stamp = nil } else if stamp == nil { stamp = order.stamp() }
        let ranges = memory.writeRanges ?? []
        memory.writeRanges = nil
        syscalls += 1
        guard failure == nil else { return .halt }
        var event = SyscallEvent(
            number: req.number, args: (0..<6).map { req[$0] }, outcome: outcome, console: console, writes: [])
        event.paths = paths
        if case .fork = outcome {
            event.childStream = order.nextStream()
            pendingFork = (event, stamp ?? 0)
            return outcome
        }
        if ReplayPolicy.rule(req.number) == .fedBack {
            // What the call left in guest memory: each written range's contents now, trimmed to the
            // result for calls whose result counts the bytes they produced.
            var budget = ReplayPolicy.resultSized(req.number) ? max(0, event.result) : Int64.max
            var seen = Set<UInt64>()
            for r in ranges where budget > 0 && seen.insert(r.address).inserted {
                let n = Int(min(Int64(r.length), budget))
                if budget != Int64.max { budget -= Int64(n) }
                if n > 0, let bytes = try? memory.bytes(at: r.address, count: n) {
                    event.writes.append((r.address, bytes))
                }
            }
        }
        do {
            // In the order the replayer reads them (Docs/trace-format.md "Event kinds").
            if let ticket {
                try writer.append(Event(kind: EventKind.order.rawValue, payload: CountEvent.encoded(UInt64(ticket))))
            }
            if let stamp {
                try writer.append(Event(kind: EventKind.stamp.rawValue, payload: CountEvent.encoded(stamp)))
            }
            if let mapped {
                try writer.append(Event(kind: EventKind.mappedFile.rawValue, payload: mapped.encoded()))
            }
            if case .exec = outcome {
                let exec = ExecEvent(atRandom: personality.lastExecRandom, files: execFiles)
                try writer.append(Event(kind: EventKind.exec.rawValue, payload: exec.encoded()))
            }
            try writer.append(Event(kind: EventKind.syscall.rawValue, payload: event.encoded()))
        } catch {
            failure = error
            return .halt
        }
        return outcome
    }

    /// The host forked (or could not: pid -errno). The parent logs the call with the child's pid
    /// and stream; the child leaves the parent's stream (its buffered events are the parent's to
    /// write: they are dropped unwritten) and starts its own, `events.N`.
    public func forked(child: Bool, pid: Int32) -> Int64 {
        let result = personality.forked(child: child, pid: pid)
        guard case (var event, let stamp)? = pendingFork else { return result }
        pendingFork = nil
        do {
            if child {
                writer = try EventWriter(path: trace.eventsPath(stream: event.childStream))
                let start = ProcessEvent(pid: pid, parent: personality.parentID, parentStream: stream)
                stream = event.childStream
                // A child keeps pre-images of its own: a file as it is at the child's first open
                // for writing (where time travel in that process starts from).
                preImaged = []
                stamping = true
                try writer.append(Event(kind: EventKind.process.rawValue, payload: start.encoded()))
            } else {
                event.child = Int64(pid)
                // A vfork child's writes to the memory it shared: a replay writes them back here.
                event.writes = personality.vforkWrites
                try writer.append(Event(kind: EventKind.stamp.rawValue, payload: CountEvent.encoded(stamp)))
                try writer.append(Event(kind: EventKind.syscall.rawValue, payload: event.encoded()))
            }
        } catch {
            failure = failure ?? error
        }
        return result
    }

    /// Write the end event and flush: the trace is complete. `syscallSites`: the rewriter's figures
    /// for `info`, when it ran.
    public func finish(
        status: Int32, nanoseconds: UInt64, syscallSites: SyscallSiteFigures? = nil
    ) throws(TraceError) {
        let end = EndEvent(status: status, nanoseconds: nanoseconds, syscallSites: syscallSites)
        try writer.append(Event(kind: EventKind.end.rawValue, payload: end.encoded()))
        try writer.close()
    }

    /// Flush what is buffered (on a signal that ends the recorder early).
    public func flush() { try? writer.flush() }

    /// From another thread: flush what waited a chunk's delay (the program went quiet).
    public func flushIfQuiet() { try? writer.flushIfOlder(than: EventStreamFormat.chunkDelay) }
    /// What is logged from now on stays in the buffer until `releaseLog()` or `flush()`.
    public func holdLog() { writer.hold() }
    public func releaseLog() { writer.release() }
}
