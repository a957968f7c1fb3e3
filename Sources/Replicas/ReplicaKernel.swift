import CHost
import Glibc
import GuestMemory
import LinuxABI
import Machine
import Personality
import Replay
import Trace

/// What a replica runs instead of its recorder or replayer alone: the same kernel, wrapped so
/// that at every call it reports its progress, sends the supervisor the points replicas compare
/// (ReplicaFrame), injects the faults it was told to, and — the primary — stays within
/// `--max-lag` events of its backups and lets no write to Revenant's stdout or stderr happen
/// before a majority of replicas made the same one (output commit).
public final class ReplicaKernel: GuestKernel {
    public enum Role {
        case primary(Recorder)
        case backup(Replayer)
    }
    public struct Settings {
        public var compareEvery: UInt64
        public var maxLag: UInt64
        /// Guest memory marked mergeable (`--ksm`).
        public var mergeable = false
        /// Two replicas: the backup takes a checkpoint at a state comparison (Checkpoints), at
        /// most one per `checkpointInterval` ns of its time.
        public var checkpoints = false
        public var checkpointInterval: UInt64 = 250_000_000
        public init(compareEvery: UInt64, maxLag: UInt64, mergeable: Bool = false) {
            self.compareEvery = compareEvery
            self.maxLag = maxLag
            self.mergeable = mergeable
        }
    }

    var role: Role
    var inner: GuestKernel
    /// A backup's: what the guest has open, for taking the primary's place (DescriptorLedger).
    var ledger: DescriptorLedger?
    /// The generation of the last cut of the log this replica went back to (ReplicaBoard).
    var cutSeen: UInt32 = 0
    /// The last event an output frame was sent at.
    var lastOutput: UInt64?
    var replica: Int
    var link: FrameLink
    /// The replica's socket to the supervisor: a backup gets the pipes of a replica it is asked
    /// to fork on it, a new primary its descriptors; the primary hands on its guest's sockets.
    var control: Int32?
    /// The primary: the sockets the supervisor holds a copy of, by the event that made them
    /// (their inode: nil, unknown) (OutsideSockets).
    var heldSockets: [UInt64: UInt64?] = [:]
    /// A new primary: per socket (and the terminal), what the journal held beyond its log,
    /// which its guest reads first; the primary: how many bytes its guest read from sockets and
    /// from a terminal (SocketReads).
    var pushback: [UInt64: [UInt8]] = [:]
    /// The same for a datagram socket: its datagrams, each with its sender's address.
    var datagramPushback: [UInt64: [(payload: [UInt8], sender: [UInt8])]] = [:]
    var socketBytesRead = 0
    var senderBytesRead = 0
    var terminalBytesRead = 0
    /// What the primary's guest read from files the backups check (FileReads), for `file=N`.
    var fileBytesRead = 0
    /// A backup: the files it reads again to check the primary's log, by guest path (FileReads).
    var checkedFiles: [ByteString: Int32] = [:]
    /// This replica's view of the socket journal, scanned as it grows (catchUpJournal): a
    /// backup's, to check the primary's log; the primary's, to give its guest what it read.
    var journal: SocketJournal?
    /// A replacement's frames before its own (its donor's, which the supervisor counts as its
    /// first ones): a replacement that donates in turn hands on those and its own.
    var inheritedFrames = 0
    /// The call's result and the new replica's pipe and socket, while it forks (recovery).
    var pendingFork: (value: Int64, index: Int, frames: Int32, control: Int32)?
    /// The call's result and the board's slot, while this backup forks a checkpoint; in a
    /// checkpoint, its slot and the result its copies return (Checkpoints).
    var pendingCheckpoint: (value: Int64, slot: Int)?
    var checkpoint: (value: Int64, slot: Int)?
    /// When this backup last took one (monotonic ns; 0: never).
    var checkpointTakenAt: UInt64 = 0
    let board: ReplicaBoard
    let settings: Settings
    var injections: [FaultInjection]
    let personality: LinuxPersonality
    /// The event the next call is (syscalls counted from 0, the shims' channel not counted).
    public internal(set) var event: UInt64 = 0
    /// The call being served, and the last event an output or call frame was sent at.
    var current: SyscallRequest?
    var lastFramed: UInt64?

    public init(
        role: Role, replica: Int, link: FrameLink, board: ReplicaBoard, settings: Settings,
        injections: [FaultInjection], control: Int32? = nil
    ) {
        self.control = control
        self.role = role
        switch role {
        case .primary(let r): (inner, personality) = (r, r.personality)
        case .backup(let r): (inner, personality) = (r, r.personality)
        }
        self.replica = replica
        self.link = link
        self.board = board
        self.settings = settings
        self.injections = Self.injections(injections, for: replica)
        allInjections = injections
        if settings.mergeable { markMergeable() }
        if case .primary(let recorder) = role { QuietFlusher.start(recorder) }
        if case .backup(let replayer) = role {
            // The umask the primary's guest started with: the one revenant inherited, as here.
            let mask = Glibc.umask(0)
            Glibc.umask(mask)
            ledger = DescriptorLedger(
                cwd: replayer.personality.sandbox.cwd, umask: UInt32(mask), stdinOffset: board.stdinStart ?? 0)
            replayer.vetLogged = { [unowned self] _, event in
                self.vetStdin(event) ?? self.vetSocket(event) ?? self.vetFile(event)
            }
            let previous = replayer.onServed
            replayer.onServed = { [unowned self] index, req, event in
                previous?(index, req, event)
                self.ledger?.apply(event, at: self.event)
                self.publishStdinRead()
                if self.journal != nil,
                    Self.readsAStream(event.number, event.args[3])
                        || OutsideSockets.mayClose.contains(event.number) || FileReads.positioned.contains(event.number)
                {
                    self.publishJournalNeeded()
                }
            }
        }
    }
    let allInjections: [FaultInjection]
    /// Replica r's own (a flip in a checkpoint is the checkpoint's).
    static func injections(_ all: [FaultInjection], for r: Int) -> [FaultInjection] {
        all.filter { $0.replica == r && !$0.inCheckpoint }
    }

    /// The primary's log reaches its backups within a chunk's delay even while the program
    /// computes without a call (its last calls would wait in the buffer for the next): so
    /// backups that wait for the log have seen all of it, and a primary that keeps them waiting
    /// while it makes no call is stalling (Supervisor.findPrimaryStall).
    enum QuietFlusher {
        static func start(_ recorder: Recorder) {
            _ = chost_thread_start(
                { ctx in
                    let recorder = Unmanaged<Recorder>.fromOpaque(ctx!).takeRetainedValue()
                    // Signals from outside go to the vCPU thread.
                    chost_block_forwarded_signals()
                    while true {
                        usleep(25_000)
                        recorder.flushIfQuiet()
                    }
                }, Unmanaged.passRetained(recorder).toOpaque())
        }
    }

    /// The whole guest area, again after each call that maps memory: each guest mapping is a
    /// host mapping of its own (MAP_FIXED), which does not inherit the mark (with the mark made
    /// once, before the program ran, KSM shared 266 pages of three replicas' 245 MiB).
    private func markMergeable() {
        let memory = personality.memory
        _ = KSM.markMergeable(memory.systemArea, Int(memory.layout.size))
    }
    private static let mapsMemory: Set<UInt64> = Set(
        ["mmap", "brk", "mremap"].compactMap { SyscallNames.byName[$0] }.map(UInt64.init))

    public var mayRewriteSyscalls: Bool { inner.mayRewriteSyscalls }
    public var spinnerMayPoll: Bool { checkpoint == nil && board.turns.holds(replica) }
    public func deliverFault(_ signal: Int32, code: Int32, fault: SignalDelivery.Fault) -> SignalDelivery? {
        inner.deliverFault(signal, code: code, fault: fault)
    }
    public func forked(child: Bool, pid: Int32) -> Int64 {
        if let taken = pendingCheckpoint {
            pendingCheckpoint = nil
            if child { becomeCheckpoint(taken) }
            return taken.value
        }
        guard let fork = pendingFork else { return inner.forked(child: child, pid: pid) }
        pendingFork = nil
        if child {
            // The new replica: the donor's state, its own pipe, socket and number from here on.
            // Its frames so far: its donor's, which for a replacement include its own donor's.
            let base = inheritedFrames + link.sent
            inheritedFrames = base
            link.close()
            if let control { close(control) }
            link = FrameLink(frames: fork.frames, commits: nil)
            control = fork.control
            replica = fork.index
            injections = Self.injections(allInjections, for: fork.index)
            if checkpoint != nil {
                startFromCheckpoint()
            } else {
                publishStdinRead()
                publishJournalNeeded()
            }
            board.setProgress(replica, event)
            board.join(replica, pid: getpid(), frames: base, event: event)
        } else {
            close(fork.frames)
            close(fork.control)
            if let checkpoint { board.copyMade(checkpoint.slot) } else { board.requestFork(replica, index: nil) }
        }
        return fork.value
    }

    public func handle(_ req: SyscallRequest) -> SyscallOutcome {
        // The shims' channel is no event (neither recorded nor replayed).
        if req.number == ChannelPort.number { return inner.handle(req) }
        guard !link.broken else { return .halt }
        board.turns.enter(replica)
        defer { event += 1 }
        board.setProgress(replica, event)
        current = req
        for i in injections where i.event == event {
            board.noteInjection(replica, event: event)
            switch i.action {
            case .kill:
                link.flush()
                kill(getpid(), SIGKILL)
            case .stall:
                // As a machine that stops: what it logged and said so far is out.
                link.flush()
                if case .primary(let recorder) = role { recorder.flush() }
                while true { sleep(3600) }
            case .flipResult, .flipMemory, .flipStdin, .flipSocket, .flipSender, .flipFile: break
            }
        }
        let memory = personality.memory
        if case .primary(let recorder) = role { keepWithinLag(recorder) }
        if case .backup(let replayer) = role, board.cutGeneration != cutSeen {
            // A backup that took the primary's place cut the log: read on from there.
            let (generation, cut) = board.cut()
            cutSeen = generation
            guard replayer.goBack(to: cut, inCall: false) else { return readPast(cut) }
        }
        if let frame = GuestDigest.outputFrame(req, event: event, memory: memory) {
            var frame = frame
            if case .primary(let recorder) = role, leavesTheRun(req) {
                frame.commit = true
                send(frame)
                // The backups replay up to this call from what is logged so far.
                recorder.flush()
                board.setWaiting(replica, .commit)
                defer { board.setWaiting(replica, .none) }
                board.turns.leave(replica)
                guard link.awaitCommit() else { return .halt }
            } else {
                send(frame)
            }
        }
        let isPrimary: Bool
        if case .primary = role { isPrimary = true } else { isPrimary = false }
        if isPrimary { board.setInCall(replica, true) }
        var outcome: SyscallOutcome
        if case .primary(let recorder) = role {
            outcome = handleLive(req, recorder)
        } else {
            outcome = inner.handle(req)
        }
        if isPrimary { board.setInCall(replica, false) }
        if case .backup(let replayer) = role { outcome = settle(replayer, req, outcome) }
        if !isPrimary { board.setWaiting(replica, .none) }
        if settings.mergeable, Self.mapsMemory.contains(req.number) { markMergeable() }
        // The state after the call (before a fault injected at it), as a checkpoint taken here
        // holds it.
        var compared = false
        if settings.compareEvery > 0, event % settings.compareEvery == 0, !outcome.halts {
            compared = true
            send(
                ReplicaFrame(
                    kind: .state, event: event, digest: GuestDigest.state(req, memory: memory),
                    what: "the state (memory and call) after \(req.name)"))
        }
        if case .backup = role, let index = board.forkRequest(replica), case .value(let v) = outcome,
            let fork = receivePipes(index)
        {
            // Recovery: this healthy backup forks the replacement of a discarded replica here,
            // at the end of this call (the machine forks the VMM as for a guest fork; forked()
            // gives both sides the call's own result).
            pendingFork = (v, index, fork.frames, fork.control)
            link.flush()
            return .fork(childStack: 0)
        }
        for i in injections where i.event == event {
            switch i.action {
            case .flipResult(let bit):
                if case .value(let v) = outcome { outcome = .value(v ^ (1 << Int64(bit))) }
            case .flipMemory(let address, let bit):
                if let byte = try? memory.load(UInt8.self, at: address) {
                    try? memory.store(byte ^ UInt8(1 << bit), at: address)
                }
            case .kill, .stall, .flipStdin, .flipSocket, .flipSender, .flipFile: break
            }
        }
        if compared, let fork = takeCheckpoint(outcome) { return fork }
        return outcome
    }

    /// A backup: the bytes of a piped stdin the primary logged for a read are the ones the
    /// supervisor read (its copy, StdinPump): else the log is not believed there (why).
    func vetStdin(_ event: SyscallEvent) -> String? {
        guard let copy = board.stdinCopy, let ledger, event.result > 0, Self.readsStdin.contains(event.number),
            ledger.isStdin(Int(Int32(truncatingIfNeeded: event.args[0])))
        else { return nil }
        let count = Int(event.result), offset = ledger.stdinOffset
        let logged = Array(event.writes.flatMap(\.bytes).prefix(count))
        guard logged != StdinPump.copied(copy, offset: offset, count: count) else { return nil }
        return
            "the \(count) bytes of stdin the primary logged (from byte \(offset)) differ from those the supervisor read"
    }
    /// A backup: how much of a piped stdin its guest read, on the board when it changed.
    func publishStdinRead() {
        guard board.stdinCopy != nil, let read = ledger.map({ UInt64($0.stdinOffset) }),
            read != board.stdinRead(replica)
        else { return }
        board.setStdinRead(replica, read)
    }
    /// A backup: the first byte of the socket journal it may still need (SocketJournal.needed),
    /// nil without a journal.
    func journalNeeded() -> UInt64? {
        guard journal != nil, let ledger else { return nil }
        return UInt64(journal!.needed(journalOffsets(ledger), at: event))
    }
    func publishJournalNeeded() {
        if let at = journalNeeded(), at != board.journalNeeded(replica) { board.setJournalNeeded(replica, at) }
    }
    private static let readsStdin: Set<UInt64> = Set(["read", "readv"].map { UInt64(SyscallNames.byName[$0]!) })

    /// The replacement's pipe and socket, from the supervisor.
    func receivePipes(_ index: Int) -> (frames: Int32, control: Int32)? {
        guard let control else { return nil }
        var first: UInt8 = 0, second: UInt8 = 0
        let frames = chost_receive_fd(control, &first)
        guard frames >= 0 else { return nil }
        let own = chost_receive_fd(control, &second)
        guard own >= 0, Int(first) == index, Int(second) == index else {
            close(frames)
            if own >= 0 { close(own) }
            return nil
        }
        return (frames, own)
    }

    /// Whether what the primary's call does reaches the outside world, and must wait for a
    /// majority: a write to Revenant's stdout or stderr, to a pipe or socket (`--net`), or to a
    /// file in a writable mount, or a change of a path (its own mount decides whether it
    /// succeeds; waiting costs only time).
    func leavesTheRun(_ req: SyscallRequest) -> Bool {
        guard let fdIndex = SyscallTable.row(req.number)?.output else { return true }
        guard let entry = try? personality.fds.entry(req[fdIndex]) else { return false }
        // Moving a file position is seen outside only where the descriptor is shared with the
        // outside (Revenant's stdout or stderr as a file): perl moves every file it opens.
        if req.number == Self.lseek { return entry.console != 0 }
        return entry.console != 0 || entry.path == nil || entry.writableMount
    }

    private static let lseek = UInt64(SyscallNames.byName["lseek"]!)

    /// The primary waits while it is more than `--max-lag` events ahead of its slowest backup
    /// (one the supervisor discarded is not waited for): what it logged so far is flushed for
    /// them first.
    private func keepWithinLag(_ recorder: Recorder) {
        guard settings.maxLag > 0, let slowest = board.slowestBackup(), event > slowest + settings.maxLag else {
            return
        }
        recorder.flush()
        link.flush()
        board.turns.leave(replica)
        board.setWaiting(replica, .lag)
        defer { board.setWaiting(replica, .none) }
        var pause: UInt32 = 50
        while let slowest = board.slowestBackup(), event > slowest + settings.maxLag, !link.broken {
            usleep(pause)
            pause = min(pause * 2, 2000)
        }
    }

    func send(_ frame: ReplicaFrame) {
        // Once a backup answered for this event (its write, or its call), it does not again.
        if frame.kind == .output || frame.kind == .call { lastFramed = frame.event }
        if frame.kind == .output { lastOutput = frame.event }
        link.send(frame)
    }

    /// The guest ended with `status`: the last frame, then everything is sent.
    public func finish(status: Int32) {
        board.turns.leave(replica)
        board.setProgress(replica, event)
        send(
            ReplicaFrame(
                kind: .end, event: event,
                // 32 bytes: a shorter digest is sent as zeros (ReplicaFrame.encoded).
                digest: GuestDigest.words([UInt64(UInt32(bitPattern: status)), 0, 0, 0]),
                what: "the exit status"))
        link.flush()
    }

    /// A backup cannot replay the log here (`report`, the divergence report): the supervisor is
    /// told once; two backups that fail alike agree with each other, against the log.
    public func failed(_ report: String) {
        guard !failureSent else { return }
        failureSent = true
        send(
            ReplicaFrame(
                kind: .failed, event: event, digest: SHA256.digest(Array(report.utf8)),
                what: String(report.split(separator: "\n").first ?? "")))
        link.flush()
    }
    var failureSent = false

    /// A backup waits for the log to grow: what it has to say is sent. When the primary waits
    /// too, for a commit at this very event, and this backup's call here wrote nothing, the two
    /// would wait for each other: the backup's call is its frame (the supervisor's vote decides).
    public func aboutToWait() {
        let primary = board.primary
        if let req = current, lastFramed != event, board.waiting(primary) == .commit, board.progress(primary) == event {
            let digest = SHA256.digest(GuestDigest.words([req.number] + (0..<6).map { req[$0] }))
            send(ReplicaFrame(kind: .call, event: event, digest: digest, what: "\(req.name)"))
        }
        link.flush()
        board.setWaiting(replica, .log)
        board.turns.leave(replica)
    }
}
