import CHost
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Trace

/// Values a replay must reproduce rather than read from the host.
public final class ReplayNondeterminism: Nondeterminism {
    public let pid: Int32, ppid: Int32, uid: UInt32
    let random: [UInt8]
    public init(pid: Int32, ppid: Int32, uid: UInt32, atRandom: [UInt8]) {
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.random = atRandom
    }
    public func atRandom() -> [UInt8] { random }
    public func monotonicNow() -> UInt64 { chost_monotonic_ns() }
    /// Signals from outside reach a replay only once it went live (a backup of `run --replicas`
    /// that took the primary's place): before, the log says which the guest got.
    public var live = false
    public func takeHostSignals() -> UInt64 { live ? chost_take_signals() : 0 }
}

/// Replays a recorded run: at each syscall the guest makes, it checks number and arguments against
/// the log, then either feeds back the logged result and memory writes (everything that touched
/// the host) or runs the call again on the personality (state the VMM owns: memory map, signal
/// state, FS base), checking that it comes out as recorded. Nothing on the host is opened, read or
/// written but the trace itself and the replay's own stdout/stderr.
public final class Replayer: GuestKernel {
    public let personality: LinuxPersonality
    public var mayRewriteSyscalls: Bool { !personality.sharesParentMemory }
    public let trace: TraceDirectory
    var reader: EventReader
    let quiet: Bool
    private var memory: AddressSpace { personality.memory }
    public private(set) var index: UInt64 = 0
    public private(set) var divergence: String?
    /// Set when the log ended before the program did (the recording was cut short).
    public private(set) var endedEarly = false
    public private(set) var traceError: TraceError?
    public private(set) var recordedStatus: Int32?
    private var recent: [String] = []
    private var openBlobs: [Int32] = []
    /// For the divergence report: where the guest is (rip) and who it is (symbolizer).
    public var describeRIP: (UInt64) -> String = { "0x" + String($0, radix: 16) }
    /// Called as the guest reaches event `index`, before it is served (regeneration reads the
    /// channel's write offset here).
    public var onEvent: ((UInt64) -> Void)?
    /// Called after each call is served (a fed-back call's logged writes are in guest memory):
    /// the machine-level database reconstruction and `when --syscall` look at it here.
    public var onServed: ((UInt64, SyscallRequest, SyscallEvent) -> Void)?
    /// Asked before a call's logged result is fed back: why the log's entry must not be believed
    /// (the replay diverges there), or nil. A backup of `run --replicas` checks the stdin bytes
    /// the primary logged against the supervisor's own copy.
    public var vetLogged: ((SyscallRequest, SyscallEvent) -> String?)?
    /// Called when this replay has become a child process (its VMM forked, or `path` led here):
    /// what a hook gathered so far was the parent's.
    public var onBecameChild: (() -> Void)?
    /// Set (from a hook) to end the replay at the guest's next syscall: a search that found
    /// what it wanted (`when --first`) need not replay the rest.
    public var stopRequested = false
    public private(set) var stopped = false
    /// `replay --follow` and the replicas' backups: the trace is still being written; at the end
    /// of what is there, wait for more while its recorder lives.
    public var follow: Follow?

    /// Revenant's own stdout and stderr, written as the recording's were (nil when quiet).
    private let console: ConsoleOutput?

    /// Whether a recorded fork forks the replay too (each child replaying its own stream, as
    /// `replay` does); otherwise the parent gets the child's recorded pid and the child is not
    /// replayed (what the searches and regen need: they look at the first process).
    public var followChildren = false
    /// With `followChildren` and a console: the console writes of the run's processes, made in
    /// the recorded order (made before the first fork).
    public var order: ProcessOrder?
    /// `replay --pid N` and the searches of one process: the streams from the first process's
    /// child down to N's. At the fork that made the next of them, this replay leaves the parent
    /// and goes on as the child, in the same VM (its memory is the child's at that instant);
    /// console output is made only once it is N.
    public var path: [Int]?
    /// Whether the process being replayed is the one asked for (always, without `path`).
    public var isTarget: Bool { path.map { stream == ($0.last ?? 0) } ?? true }
    /// The pid and stream the child of the fork in progress had when recorded.
    private var recordedChild: Int32 = 0
    private var recordedStream = 0
    /// The process being replayed: nil for the first, else a child's recorded pid.
    public private(set) var process: Int32?
    private var becameChildInCall = false
    private var recordedChildWrites: [(address: UInt64, bytes: [UInt8])] = []
    /// The stamp of the call being served (its place among all the run's calls), nil for a call
    /// made before the run's first fork.
    public private(set) var stamp: UInt64?
    /// Its stream: 0 (`events`) for the first.
    public private(set) var stream = 0
    /// Another process's replay failed while this one waited for its turn at the console.
    public private(set) var abandoned = false

    public init(
        personality: LinuxPersonality, trace: TraceDirectory, quiet: Bool,
        consoles: [TraceHeader.Console] = []
    ) throws(TraceError) {
        self.personality = personality
        self.trace = trace
        self.quiet = quiet
        console = quiet ? nil : ConsoleOutput(recorded: consoles)
        reader = try EventReader(path: trace.eventsPath)
        personality.signalsFromLog = true
    }

    deinit { for fd in openBlobs { close(fd) } }

    /// Where the log's events for the call being served began (among all the stream's events),
    /// and its index: where a replica taking over, or going back to a new writer's cut, starts.
    private var groupStart: (event: UInt64, index: UInt64) = (0, 0)
    /// Console writes are numbered (order events): how many the calls served before this one
    /// took, and the number the call being served has. A recorder going on from here goes on
    /// with the next number.
    public private(set) var ticketsTaken: UInt32 = 0
    private var groupTicket: UInt32?

    /// A backup of `run --replicas` taking the primary's place at the call being served: where
    /// the stream is cut (this call's events, if any were read, and all after are dropped) and
    /// the events its chunk holds before.
    public func handOverCut() throws(TraceError) -> (StreamCut, [Event]) {
        try reader.cut(atEvent: groupStart.event)
    }

    /// This replay became a live run at the call being served (its kernel is a recorder now):
    /// the replay ends as the run does, not as the log.
    public private(set) var wentLive = false
    public func goneLive() {
        wentLive = true
        divergence = nil
        endedEarly = false
    }

    /// Between calls: read the log again from the file after the events replayed so far
    /// (EventReader.forgetReadAhead). False when the trace cannot be read.
    public func forgetReadAhead() -> Bool {
        do { try reader.forgetReadAhead() } catch {
            traceError = error
            return false
        }
        return true
    }

    /// The stream was cut at `cut` and is written again by another writer (the new primary):
    /// serve the call being served again from there. False when this replay had already read
    /// past the cut (it replayed what the new writer dropped).
    /// `inCall`: asked while serving a call (it stopped waiting for the log, or diverged); else
    /// between calls, where the next is read from the reader's place.
    public func goBack(to cut: StreamCut, inCall: Bool) -> Bool {
        let from = inCall ? groupStart.event : reader.position
        guard from <= cut.event else { return false }
        do { try reader.rewind(toEvent: from, cut: cut) } catch {
            traceError = error
            return false
        }
        guard inCall else { return true }
        groupTicket = nil
        divergence = nil
        endedEarly = false
        index = groupStart.index
        return true
    }

    public var truncatedAt: UInt64? { reader.truncatedAt }
    /// The stream being replayed (`events`, or a child's `events.N`).
    public var streamPath: String { trace.eventsPath(stream: stream) }

    /// Faults are deterministic: the same instruction faults again in replay, with the same
    /// signal state (sigaction is run again there), so the personality decides alike both times.
    public func deliverFault(_ signal: Int32, code: Int32, fault: SignalDelivery.Fault) -> SignalDelivery? {
        personality.deliverFault(signal, code: code, fault: fault)
    }

    public func handle(_ req: SyscallRequest) -> SyscallOutcome {
        // The shims' channel was no event when recording either (the same result in both modes).
        if req.number == ChannelPort.number { return personality.handle(req) }
        if cloneSandbox { return serveInClone(req) }
        if stopRequested {
            stopped = true
            return .halt
        }
        guard divergence == nil, traceError == nil, !endedEarly, !abandoned else { return .halt }
        groupStart = (reader.position, index)
        if let t = groupTicket { ticketsTaken = t + 1 }
        groupTicket = nil
        onEvent?(index)
        var mapped: MappedFileEvent?
        var exec: ExecEvent?
        var ticket: UInt32?
        let event: SyscallEvent
        do {
            // The log's next event; nil when it has ended (the recording was cut short).
            func next() throws(TraceError) -> Event? {
                guard let e = try reader.next(following: follow) else {
                    endedEarly = true
                    return nil
                }
                return e
            }
            guard var e = try next() else { return .halt }
            while EventKind(rawValue: e.kind)?.isPreImage == true {
                guard let n = try next() else { return .halt }
                e = n
            }
            if e.kind == EventKind.order.rawValue {
                guard let t = CountEvent.decode(e.payload), t <= UInt32.max else {
                    traceError = .corruptEvent(index: index, why: "an order event that does not read")
                    return .halt
                }
                ticket = UInt32(t)
                groupTicket = UInt32(t)
                guard let n = try next() else { return .halt }
                e = n
            }
            stamp = nil
            if e.kind == EventKind.stamp.rawValue {
                guard let t = CountEvent.decode(e.payload) else {
                    traceError = .corruptEvent(index: index, why: "a stamp event that does not read")
                    return .halt
                }
                stamp = t
                guard let n = try next() else { return .halt }
                e = n
            }
            if e.kind == EventKind.mappedFile.rawValue {
                guard let m = MappedFileEvent.decode(e.payload, version: reader.version) else {
                    traceError = .corruptEvent(index: index, why: "a mapped-file event that does not read")
                    return .halt
                }
                mapped = m
                guard let n = try next() else { return .halt }
                e = n
            }
            if e.kind == EventKind.exec.rawValue {
                do { exec = try ExecEvent.decode(e.payload) } catch {
                    traceError = .corruptEvent(index: index, why: error.why)
                    return .halt
                }
                guard let n = try next() else { return .halt }
                e = n
            }
            if e.kind == EventKind.end.rawValue {
                return diverge(req, "the recorded run had ended here, but the program made \(req.name)")
            }
            guard e.kind == EventKind.syscall.rawValue else { return diverge(req, "unexpected event kind \(e.kind)") }
            do { event = try SyscallEvent.decode(e.payload) } catch {
                traceError = .corruptEvent(index: index, why: error.why)
                return .halt
            }
        } catch {
            traceError = error
            return .halt
        }
        defer {
            // Numbered as the divergence report and `log syscalls` number events (from 0).
            let firstArgs = event.args.prefix(3).map { "0x" + String($0, radix: 16) }.joined(separator: ", ")
            recent.append("#\(index) \(event.name)(\(firstArgs), …) = \(event.result)")
            if recent.count > 10 { recent.removeFirst() }
            // A process followed alone became the child inside this call: its events count from 0.
            if becameChildInCall { becameChildInCall = false } else { index += 1 }
        }
        let seenArgs = (0..<6).map { req[$0] }
        // Only the arguments the call reads: the other registers are whatever the caller left.
        let used = SyscallTable.arity(req.number)
        guard req.number == event.number, seenArgs.prefix(used) == event.args.prefix(used) else {
            return diverge(req, "expected \(event.name)(\(hexList(event.args))), saw \(req.name)(\(hexList(seenArgs)))")
        }

        if ReplayPolicy.rule(req.number) == .loaded, case .exec = event.outcome {
            return loadAgain(req, event, exec)
        }
        if ReplayPolicy.rule(req.number) == .forked, case .fork = event.outcome {
            return forkAgain(req, event)
        }

        if ReplayPolicy.reexecutes(req.number) {
            switch mapped {
            case .blob(let digest):
                personality.mappedFileProvider = { [unowned self] guestFD in
                    // A blob that is missing or does not match its digest ends the replay (exit 125).
                    let fd: Int32, file: String
                    do throws(TraceError) {
                        fd = try self.trace.openBlob(digest)
                        file = try self.trace.blobFile(digest)
                    } catch {
                        self.traceError = error
                        throw SysError(EIO)
                    }
                    if let path = self.recordedPaths[guestFD] { self.onMappedBlob?(file, path) }
                    self.openBlobs.append(fd)
                    return (fd, file, false)
                }
            case .zeroDevice:
                // Mapped as the recording mapped it: the device, whose private mapping is zeros.
                personality.mappedFileProvider = { [unowned self] _ in
                    let fd = Glibc.open(MappedFileEvent.zeroDevicePath, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw SysError(errno) }
                    self.openBlobs.append(fd)
                    return (fd, MappedFileEvent.zeroDevicePath, false)
                }
            case nil:
                personality.mappedFileProvider = { _ in throw SysError(EBADF) }
            }
            let again = personality.handle(req)
            if traceError != nil { return .halt }
            // The mapping holds the blob now; the descriptor is not needed any more.
            for fd in openBlobs { close(fd) }
            openBlobs.removeAll()
            notePaths(event)
            onServed?(index, req, event)
            switch (again, event.outcome) {
            case (.value(let a), .value(let b)) where a == b: return again
            case (.value(let a), .deliver(let d)) where a == d.result:
                return deliver(d, req)
            case (.setFSBase(let a), .setFSBase(let b)) where a == b: return again
            case (.exit(let a), .exit(let b)) where a == b: return again
            case (.signalReturn(let a), .signalReturn(let b)) where a == b: return again
            case (.killed(let a, _), .killed(let b, _)) where a == b: return again
            default:
                return diverge(req, "\(req.name) ran again to \(again), recorded \(event.outcome)")
            }
        }

        // Fed back from the log.
        if let why = vetLogged?(req, event) { return diverge(req, why) }
        for w in event.writes {
            do { try memory.write(w.bytes, at: w.address) } catch {
                return diverge(
                    req,
                    "the recorded result of \(req.name) writes outside guest memory "
                        + "at 0x\(String(w.address, radix: 16))"
                )
            }
        }
        if event.console != 0, let console, isTarget {
            if let order, let ticket {
                switch order.wait(for: ticket, seconds: Self.orderTimeout) {
                case .ready: break
                case .broken:
                    abandoned = true
                    return .halt
                case .timedOut:
                    return diverge(
                        req,
                        "console write #\(ticket) waited \(Self.orderTimeout) s for another process's earlier write")
                }
            }
            let why = console.replay(req, event, memory: memory)
            if ticket != nil { order?.advance() }
            if let why { return diverge(req, why) }
        }
        notePaths(event)
        onServed?(index, req, event)
        switch event.outcome {
        case .deliver(let d): return deliver(d, req)
        case .exit, .killed, .value: return event.outcome
        case .setFSBase, .signalReturn, .halt, .exec, .fork:
            return diverge(req, "\(req.name) is fed back from the log but recorded \(event.outcome)")
        }
    }

    /// A successful execve: the new program is loaded again from the trace's copies of the files
    /// the recording loaded, asked for by the same names in the same order, with the same
    /// AT_RANDOM bytes; it must start where the recorded one did.
    private func loadAgain(_ req: SyscallRequest, _ event: SyscallEvent, _ exec: ExecEvent?) -> SyscallOutcome {
        guard let exec else { return diverge(req, "the recording has no record of the program \(req.name) loaded") }
        var files: [LoggedExecFile] = []
        for f in exec.files {
            let file: String
            do { file = try trace.blobFile(f.digest) } catch {
                traceError = error
                return .halt
            }
            files.append(
                LoggedExecFile(path: f.path, file: file) { [unowned self] in
                    do throws(TraceError) {
                        let fd = try self.trace.openBlob(f.digest)
                        self.onMappedBlob?(file, f.path.description)
                        return fd
                    } catch {
                        self.traceError = error
                        throw SysError(EIO)
                    }
                })
        }
        personality.execFilesFromLog = files
        personality.execRandomFromLog = exec.atRandom
        let again = personality.handle(req)
        let unused = personality.execFilesFromLog ?? []
        personality.execFilesFromLog = nil
        personality.execRandomFromLog = nil
        if traceError != nil { return .halt }
        onServed?(index, req, event)
        guard again == event.outcome, unused.isEmpty else {
            return diverge(req, "\(req.name) loaded again to \(again), recorded \(event.outcome)")
        }
        return again
    }

    /// A throw-away clone evaluating something in the guest (Docs/architecture.md "Looking without
    /// touching", way 3): no event is fed or checked any more; memory calls are served for real
    /// (inside the clone's copy-on-write memory), writes to stdout/stderr are dropped, exit ends
    /// the clone, anything else fails with EPERM. The clone is discarded afterwards.
    public var cloneSandbox = false

    private func serveInClone(_ req: SyscallRequest) -> SyscallOutcome {
        switch req.name {
        case "brk", "mmap", "munmap", "mremap", "mprotect", "madvise": return personality.handle(req)
        case "write" where req[0] == 1 || req[0] == 2: return .value(Int64(req[2]))
        // The expression ended the program (`exit 9`): the clone ends with it, and says so.
        case "exit", "exit_group": return .exit(Int32(truncatingIfNeeded: req[0]) & 0xff)
        default: return .value(-Int64(EPERM))
        }
    }

    /// The recorded path of each open descriptor (for naming the blobs mapped from them).
    private var recordedPaths: [UInt64: String] = [:]
    /// A file mapped during the replay comes from the trace's blob store: the blob's path and the
    /// path the recording opened it by (crash reports and breakpoints name the file).
    public var onMappedBlob: ((String, String) -> Void)?

    private static let opens: Set<UInt64> = Set(
        ["openat", "open", "creat"].compactMap { SyscallNames.byName[$0] }.map(UInt64.init))
    private static let closeNumber = UInt64(SyscallNames.byName["close"] ?? -1)

    /// Runs for every event: compares numbers, not names.
    private func notePaths(_ event: SyscallEvent) {
        if Self.opens.contains(event.number) {
            if event.result >= 0, let p = event.paths.first {
                recordedPaths[UInt64(event.result)] = String(decoding: p.bytes, as: UTF8.self)
            }
        } else if event.number == Self.closeNumber, event.result == 0 {
            recordedPaths[event.args[0]] = nil
        }
    }

    /// How long a console write waits for the processes that wrote before it (their replay is
    /// all fed back, so only a process that stopped can keep it waiting).
    static let orderTimeout: UInt64 = 60

    /// A recorded fork: the personality runs it again (the same checks, the same clone flags);
    /// then, following children, the replay's VMM forks too, else the parent just goes on with
    /// the child's recorded pid. A fork the host refused when recording is fed back.
    private func forkAgain(_ req: SyscallRequest, _ event: SyscallEvent) -> SyscallOutcome {
        onServed?(index, req, event)
        guard event.child > 0 else { return .value(event.child) }
        // A trace is not trusted: it makes no process without a stream.
        let child = Int32(truncatingIfNeeded: event.child)
        if followChildren, event.childStream == 0 || access(trace.eventsPath(stream: event.childStream), F_OK) != 0 {
            traceError = .corruptEvent(
                index: index,
                why: "a fork to process \(child), whose stream events.\(event.childStream) is missing")
            return .halt
        }
        let again = personality.handle(req)
        // Nor more processes at once than it has streams (the count ReplaySession set up, which
        // the personality's fork takes from).
        if followChildren, again == .value(-Int64(EAGAIN)) {
            traceError = .corruptEvent(index: index, why: "more processes at once than the trace has streams")
            return .halt
        }
        guard again == event.outcome else {
            return diverge(req, "\(req.name) ran again to \(again), recorded a fork")
        }
        recordedChild = child
        recordedStream = event.childStream
        // A vfork child's writes to the memory it shared: the parent's, once the fork is done.
        recordedChildWrites = event.writes
        if let path, recordedStream != 0, path.contains(recordedStream) {
            // A clone onto a stack of its own (posix_spawn's) would need the machine's fork.
            guard case .fork(0) = event.outcome else {
                return diverge(
                    req, "process \(recordedChild) started on a stack of its own: it cannot be followed alone")
            }
            becameChildInCall = true
            return .value(becomeChild(recordedChild, stream: recordedStream))
        }
        guard followChildren else {
            let pid = personality.forked(child: false, pid: recordedChild)
            return takeChildWrites() ? .value(pid) : .halt
        }
        return again
    }

    /// In the parent, after a recorded vfork: what the child wrote into the memory they shared.
    private func takeChildWrites() -> Bool {
        defer { recordedChildWrites = [] }
        for w in recordedChildWrites {
            do { try memory.write(w.bytes, at: w.address) } catch {
                traceError = .corruptEvent(
                    index: index, why: "a vfork child's write outside guest memory at 0x\(String(w.address, radix: 16))"
                )
                return false
            }
        }
        return true
    }

    /// The replay's VMM forked (pid: the host's): the child replays the recorded child's stream,
    /// as the recorded pid; the parent goes on with that pid.
    public func forked(child: Bool, pid: Int32) -> Int64 {
        let recorded = recordedChild
        guard pid > 0 else {
            chost_process_give()
            traceError = .io(path: "a fork for the replay of process \(recorded)", errno: -pid)
            return Int64(recorded)
        }
        guard child else {
            let pid = personality.forked(child: false, pid: recorded)
            _ = takeChildWrites()
            return pid
        }
        recordedChildWrites = []
        return becomeChild(recorded, stream: recordedStream)
    }

    /// From here on this replay is process `recorded`, the child of the fork just served: its
    /// own stream, its events numbered from 0.
    private func becomeChild(_ recorded: Int32, stream child: Int) -> Int64 {
        _ = personality.forked(child: true, pid: recorded)
        let parentStream = stream
        process = recorded
        stream = child
        index = 0
        recent = []
        do {
            let start: ProcessEvent
            (start, reader) = try ProcessTable.open(stream: child, in: trace, following: follow)
            guard start.pid == recorded, start.parentStream == parentStream else {
                traceError = .corruptEvent(
                    index: 0,
                    why: "events.\(child) does not start as process \(recorded), forked in stream \(parentStream)")
                return 0
            }
        } catch {
            traceError = error
        }
        onBecameChild?()
        return 0
    }

    func deliver(_ d: SignalDelivery, _ req: SyscallRequest) -> SyscallOutcome {
        guard let mine = personality.deliverLogged(d.signal, code: d.code, result: d.result), mine.handler == d.handler
        else {
            return diverge(
                req,
                "the recording delivered \(Signal.name(d.signal)) to a handler at 0x\(String(d.handler, radix: 16)); "
                    + "the program has none there now"
            )
        }
        return .deliver(mine)
    }

    func diverge(_ req: SyscallRequest, _ what: String) -> SyscallOutcome {
        if divergence == nil {
            let at = process.map { "event \(index) of process \($0)" } ?? "event \(index)"
            var r = "replay diverged at \(at): \(what)\n  at rip \(describeRIP(req.rip))"
            if !recent.isEmpty { r += "\n  last events:\n" + recent.map { "    " + $0 }.joined(separator: "\n") }
            divergence = r
        }
        return .halt
    }

    /// After the run: the end event's recorded status, if the log has one.
    public func readEnd() -> (status: Int32, nanoseconds: UInt64)? {
        while let e = try? reader.next(following: follow) {
            if e.kind == EventKind.end.rawValue, let end = EndEvent.decode(e.payload) {
                return (end.status, end.nanoseconds)
            }
        }
        return nil
    }
}

func hexList(_ a: [UInt64]) -> String { a.map { "0x" + String($0, radix: 16) }.joined(separator: ", ") }
