import CHost
import Glibc
import Sessions
import Trace

/// `run --replicas N`: the process that owns the replicas and the gate to the outside world
/// (Docs/replicas.md). It forks the primary, which runs and records, and N − 1 backups, which
/// replay the primary's log as it is written; reads every replica's frames and compares them in
/// order; lets the primary's write to stdout or stderr happen once a majority of replicas made
/// the same one (output commit); and, where a replica differs, is outvoted, stalls or dies,
/// reports it in one line and discards it. With N ≥ 3 the run goes on as long as a majority
/// remains; when none does, or the primary is the one outvoted, nothing unverified is released
/// and the run ends, exit 125.
public final class Supervisor {
    public static let committed: UInt8 = 0x79  // "y"
    /// To a backup that took the primary's place, for an output it made as a backup: the old
    /// primary released it already (it must not go out twice).
    public static let released: UInt8 = 0x64  // "d"

    public struct Options {
        public var replicas: Int
        public var settings: ReplicaKernel.Settings
        public var stallTimeout: Double
        public var injections: [FaultInjection]
        /// `--ksm`: the kernel's same-page merging on for the run (settings.mergeable follows).
        public var ksm = false
        /// `-v`: the summary also gives the replicas' resident memory at its peak.
        public var verbose = false
        /// `--turns`: how many replicas serve calls at a time (nil: CoreTurns.slots for the
        /// host's cores; 0: all, without turns).
        public var turnSlots: Int?
        public init(
            replicas: Int, settings: ReplicaKernel.Settings, stallTimeout: Double, injections: [FaultInjection]
        ) {
            self.replicas = replicas
            self.settings = settings
            self.stallTimeout = stallTimeout
            self.injections = injections
        }
    }

    /// What a replica's process is handed.
    public struct Replica {
        public let index: Int
        public let link: FrameLink
        public let board: ReplicaBoard
        public let settings: ReplicaKernel.Settings
        public let injections: [FaultInjection]
        /// The replica's socket to the supervisor (recovery asks a backup to fork a replacement on
        /// it; the primary hands on its guest's sockets).
        public let control: Int32?
    }

    /// The supervisor's view of one replica.
    struct Member {
        var pid: pid_t
        var frames: Int32
        var commits: Int32?
        var pending: [UInt8] = []
        var received: [ReplicaFrame] = []
        /// In the vote: not discarded. `exited`: its process has ended (and its pipe is drained).
        var inRun = true
        var exited = false
        var status: Int32 = 0
        var lastProgress: UInt64 = 0
        var progressSince: UInt64 = 0
        /// The primary: since when it has been at its event in no call and no wait.
        var idleSince: UInt64 = 0
        /// Its socket; a replacement forked by a backup (not our child: its end is its
        /// pipe's end), and until it joins, the donor asked to fork it.
        var control: Int32?
        var adopted = false
        var donor: Int?
        /// A copy of the checkpoint in this board slot, until it joins (Checkpoints).
        var fromCheckpoint: Int?
        var heldTookOver: ReplicaFrame?
    }

    let options: Options
    let board: ReplicaBoard
    /// The replica that is the primary: 0, until a backup takes its place (promote()).
    var primary = 0
    var members: [Member] = []
    /// Frames before this sequence number are settled (every replica still in the run agreed).
    var settled = 0
    /// The primary's frame at this sequence number was committed.
    var committedUpTo = -1
    /// A majority of the replicas in the run made each of the primary's frames up to this one
    /// (the next commit check starts after it; a discard, which shrinks the majority's pool,
    /// takes it back to what is settled).
    var agreedUpTo = -1
    /// Every fault and recovery, for the summary and the trace (`replicas`, `info`).
    public internal(set) var record: ReplicaRecord
    var faults: [ReplicaRecord.Fault] {
        get { record.faults }
        set { record.faults = newValue }
    }
    public internal(set) var recoveries = 0
    /// When each discarded replica was discarded (for `-v`: how long its replacement took).
    var discardedAt: [Int: UInt64] = [:]
    var replacing: [Int: Int] = [:]
    let report: (String) -> Void
    var majority: Int { options.replicas / 2 + 1 }

    var ksm: KSM?
    /// The replicas' resident memory together, at its peak (bytes).
    var peakResident = 0

    public init(options: Options, report: @escaping (String) -> Void) {
        var options = options
        if options.ksm {
            switch KSM.switchOn() {
            case .success(let k): ksm = k
            case .failure(let why):
                report("--ksm: \(why); going on without it")
                options.ksm = false
            }
        }
        options.settings.mergeable = options.ksm
        // Two replicas recover from verified checkpoints; three or more by vote.
        options.settings.checkpoints = options.replicas == 2 && options.settings.compareEvery > 0
        self.options = options
        record = ReplicaRecord(replicas: options.replicas)
        self.report = report
        board = ReplicaBoard(
            count: options.replicas,
            turnSlots: options.turnSlots
                ?? CoreTurns.slots(replicas: options.replicas, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// Fork the replicas, supervise them to the end; the exit status `run` should have.
    /// `primary` and `backup` run in the forked processes and never return.
    public func run(primary: (Replica) -> Never, backup: (Replica) -> Never) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // Replacements are forked by backups: orphaned, they become ours to reap.
        _ = chost_become_subreaper()
        // The outside stdin: a pipe or socket is read here and handed to the primary (StdinPump);
        // a regular file's start is noted for a new primary to seek from.
        var st = stat()
        if fstat(0, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: board.stdinStart = Int64(lseek(0, 0, SEEK_CUR))
            case S_IFIFO, S_IFSOCK: pump = StdinPump()
            default: break
            }
        }
        board.stdinCopy = pump?.copy
        // What the supervisor consumes from the guest's stream sockets (SocketJournal).
        let journal = chost_memfd("revenant-sockets")
        board.socketJournal = journal >= 0 ? journal : nil
        // A terminal on stdin is read here too, when the primary's guest reads it (SocketReads).
        board.terminalJournaled = journal >= 0 && isatty(0) == 1
        for i in options.injections {
            guard case .flipStdin(let byte, let bit) = i.action else { continue }
            // (A terminal's bytes are flipped by the primary, as it gets them from the journal.)
            guard !board.terminalJournaled else { continue }
            guard let pump else {
                return fatal("--inject '\(i)': stdin is neither a pipe nor a terminal: the primary reads it itself")
            }
            pump.flip = (byte, bit)
        }
        for r in 0..<options.replicas {
            // Close-on-exec: not inherited by what the replica starts (a program the primary runs
            // is a VMM's child).
            var control: [Int32] = [-1, -1]
            guard let frames = closeOnExecPipe(), let commits = r > 0 ? (read: -1, write: -1) : closeOnExecPipe(),
                socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &control) == 0
            else {
                return fatal("cannot make the replicas' pipes: \(String(cString: strerror(errno)))")
            }
            let framePipe = [frames.read, frames.write], commitPipe = [commits.read, commits.write]
            fflush(nil)
            let pid = fork()
            if pid == 0 {
                // The replica keeps its own ends only (the others' are close-on-exec at most).
                for m in members {
                    close(m.frames)
                    if let c = m.commits { close(c) }
                    if let c = m.control { close(c) }
                }
                close(framePipe[0])
                if r == 0 { close(commitPipe[1]) }
                close(control[0])
                if let pump {
                    for fd in pump.supervisorEnds { close(fd) }
                    if r == 0 { dup2(pump.first, 0) }
                    close(pump.first)
                }
                let link = FrameLink(frames: framePipe[1], commits: r == 0 ? commitPipe[0] : nil)
                let replica = Replica(
                    index: r, link: link, board: board, settings: options.settings,
                    injections: options.injections, control: control[1])
                if r == 0 { primary(replica) }
                // A backup reads nothing from the outside, and a signal from outside (Ctrl-C
                // reaches the whole process group) is the primary's guest's: the log says what
                // it did with it.
                let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
                if null >= 0 { dup2(null, 0) }
                for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { signal(sig, SIG_IGN) }
                backup(replica)
            }
            guard pid > 0 else { return fatal("cannot fork replica \(r): \(String(cString: strerror(errno)))") }
            close(framePipe[1])
            if r == 0 { close(commitPipe[0]) }
            close(control[1])
            _ = fcntl(framePipe[0], F_SETFL, fcntl(framePipe[0], F_GETFL) | O_NONBLOCK)
            members.append(
                Member(
                    pid: pid, frames: framePipe[0], commits: r == 0 ? commitPipe[1] : nil,
                    progressSince: chost_monotonic_ns(), control: control[0]))
        }
        if let pump {
            close(pump.first)
            pump.start()
        }
        // A signal sent to revenant itself goes on to the primary, whose guest gets it as under
        // `run`; the supervisor ends when the replicas do (and puts KSM back as it was).
        _ = chost_relay_signals_to(members[0].pid)
        return supervise()
    }

    func supervise() -> Int32 {
        while true {
            var fds = members.filter { !$0.exited }.map { pollfd(fd: $0.frames, events: Int16(POLLIN), revents: 0) }
            // The primary's requests to consume from a socket are answered at once.
            if let c = members[primary].control, !members[primary].exited {
                fds.append(pollfd(fd: c, events: Int16(POLLIN), revents: 0))
            }
            // A backup's progress sends nothing: a connection's end waiting for it is looked at
            // again soon.
            if !fds.isEmpty { _ = poll(&fds, nfds_t(fds.count), forgetting.isEmpty ? 100 : 2) }
            // First: the primary may be waiting for an answer.
            hearSockets(from: primary)
            for r in members.indices where !members[r].exited { drain(r) }
            releaseInputs()
            reapEnded()
            if let why = cannotGoOn { return fatal(why + " — nothing unverified was released") }
            if let end = vote() { return end }
            closeForgottenSockets()
            if let end = findStalls() { return end }
            if let end = stoppedBySignal() { return end }
            measureMemory()
            checkCheckpoints()
            if members.allSatisfy({ $0.exited || !$0.inRun }), settled >= maxReceived(),
                !members.contains(where: { $0.fromCheckpoint != nil })
            {
                break
            }
        }
        // A replacement still being forked when the run ended has nothing left to do.
        for m in members where !m.exited && m.pid > 0 { kill(m.pid, SIGKILL) }
        freeCheckpoints()
        let primary = members[self.primary]
        // A fault meant for an event the run never reached was not tested: say so. One that
        // made no replica differ was masked.
        let end = primary.received.last.map(\.event) ?? 0
        if let missed = options.injections.first(where: { $0.event >= end }) {
            summary()
            report("--inject '\(missed)': the run ended at event \(end), before it")
            return 125
        }
        // One for a replacement (numbered from --replicas on, in the order they are made) that
        // was never made, or made after the fault's event, was not tested either.
        if let missed = options.injections.first(where: {
            $0.replica >= options.replicas && board.injected($0.replica) == nil
        }) {
            summary()
            report("--inject '\(missed)': replica \(missed.replica) took no part in the run at that event")
            return 125
        }
        if let missed = missedCheckpointInjection() {
            summary()
            report(missed)
            return 125
        }
        for i in options.injections
        where !i.inCheckpoint && members.indices.contains(i.replica) && members[i.replica].inRun {
            report("--inject '\(i)': masked (no output or state of replica \(i.replica) differed)")
        }
        summary()
        // The program's exit status, as the primary's end frame says (a backup that took the
        // primary's place after the run ended exits 0 itself).
        if let end = primary.received.last, end.kind == .end {
            return Int32(bitPattern: UInt32(truncatingIfNeeded: end.leadingWord))
        }
        return primary.status
    }

    func maxReceived() -> Int { members.filter(\.inRun).map(\.received.count).max() ?? 0 }

    /// Read what replica r sent; at the end of its pipe, nothing more will come.
    func drain(_ r: Int) {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var atEnd = false
        while true {
            let n = chunk.withUnsafeMutableBytes { read(members[r].frames, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            atEnd = n == 0
            guard n > 0 else { break }
            members[r].pending += chunk[0..<n]
        }
        var offset = 0
        while true {
            let decoded: (ReplicaFrame, Int)?
            do { decoded = try ReplicaFrame.decode(members[r].pending[offset...]) } catch {
                discard(r, "sent something that is no frame")
                break
            }
            guard let (frame, used) = decoded else { break }
            offset += used
            if frame.kind == .tookOver {
                // A copy of a checkpoint that has not joined yet lacks the frames its number
                // counts: it is heard once it has them (adoptCopies).
                if members[r].fromCheckpoint != nil {
                    members[r].heldTookOver = frame
                } else {
                    tookOver(r, frame)
                }
                continue
            }
            members[r].received.append(frame)
        }
        members[r].pending.removeFirst(offset)
        // A replacement is not our child: the end of its pipe is its end.
        if atEnd && members[r].adopted && members[r].donor == nil { ended(r, status: 0, signaled: false) }
    }

    /// Replicas whose process ended: their last frames read, then an end before their last frame
    /// (killed, or gone without a word) counts against them.
    func reapEnded() {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { break }
            // A replacement orphaned by its donor is reaped here; its pipe's end said it ended.
            guard let r = members.firstIndex(where: { $0.pid == pid && !$0.adopted }) else { continue }
            drain(r)
            ended(
                r, status: (status & 0x7f) != 0 ? status & 0x7f : (status >> 8) & 0xff, signaled: (status & 0x7f) != 0)
        }
        adoptReplacements()
    }

    /// Replica r's process ended (a replacement's: its pipe ended, status unknown).
    func ended(_ r: Int, status: Int32, signaled: Bool) {
        guard !members[r].exited else { return }
        members[r].exited = true
        board.turns.forget(r)
        close(members[r].frames)
        hearSockets(from: r)
        // A backup's checkpoints share its socket: it stays open for them.
        if let c = members[r].control, !options.settings.checkpoints { close(c) }
        members[r].status = signaled ? 128 + status : status
        // A replica that said it failed is judged by the vote on that frame.
        let last = members[r].received.last?.kind
        if members[r].inRun && last != .end && last != .failed {
            let how = signaled ? "was killed by signal \(status)" : "ended"
            discard(r, "\(how) at event \(board.progress(r)), before the run's end")
        }
    }

    /// Recovery, with three replicas or more: the discarded replica's place is taken by a fork of
    /// the most advanced healthy backup, made at its next call (ReplicaKernel.forked). Its
    /// frames up to the fork are its donor's; the rest it sends itself.
    func recover(replacing lost: Int) {
        guard options.replicas >= 3, lost != primary, members.count < board.slots else { return }
        let healthy = members.indices.filter { r in
            r != primary && r != lost && members[r].inRun && !members[r].exited && members[r].control != nil
                && !members.contains { $0.donor == r }
        }
        guard let donor = healthy.max(by: { board.progress($0) < board.progress($1) }) else { return }
        let index = members.count
        guard var m = newMember(index, sentOn: members[donor].control!) else { return }
        m.donor = donor
        replacing[index] = lost
        members.append(m)
        board.requestFork(donor, index: index)
    }

    /// Replacements whose fork is done join the vote, with their donor's frames before it.
    func adoptReplacements() {
        adoptCopies()
        for r in members.indices {
            guard let donor = members[r].donor else { continue }
            guard let (pid, base, forkedAt) = board.joined(r) else {
                // A donor that is gone before it forked leaves nothing to wait for.
                if !members[donor].inRun || members[donor].exited {
                    members[r].donor = nil
                    members[r].exited = true
                    close(members[r].frames)
                    if let c = members[r].control { close(c) }
                    recover(replacing: r)
                }
                continue
            }
            drain(donor)
            guard members[donor].received.count >= base else { continue }
            members[r].donor = nil
            members[r].pid = pid
            // What it sent itself may be in already: its donor's frames come before.
            members[r].received = Array(members[donor].received.prefix(base)) + members[r].received
            members[r].inRun = true
            members[r].progressSince = chost_monotonic_ns()
            recoveries += 1
            record.recoveries.append(.init(replica: r, donor: donor, event: forkedAt))
            var timing = ""
            if options.verbose, let lost = replacing[r], let t = discardedAt[lost] {
                timing = " (\(fmtMs(chost_monotonic_ns() &- t)) after replica \(lost) was discarded)"
            }
            report(
                "replica \(r): recovered: forked from replica \(donor) at event \(forkedAt), joins the vote\(timing)")
            drain(r)
        }
    }

    /// Settle what can be settled: commit the primary's outputs a majority agrees with, find the
    /// replicas outvoted. Non-nil: the run cannot go on (its exit status).
    func vote() -> Int32? {
        while true {
            // Two copies of a checkpoint are on their way: they vote once both are in.
            if members.contains(where: { $0.fromCheckpoint != nil }) { return nil }
            let inRun = members.indices.filter { members[$0].inRun }
            if (!members[primary].inRun || inRun.count < majority) && restore() { continue }
            if !members[primary].inRun {
                let why =
                    options.replicas >= 3
                    ? "no healthy backup could take its place"
                    : "with two replicas, no verified checkpoint was left to start again from"
                return fatal(
                    "the primary (replica \(primary)) was discarded and \(why) — nothing unverified was released")
            }
            if inRun.count < majority {
                return fatal(
                    "\(inRun.count) of \(options.replicas) replicas remain: no majority can be formed — "
                        + "nothing unverified was released")
            }
            let k = settled
            // A replica that ended with fewer frames than this will never give its k-th.
            let longest = inRun.map { members[$0].received.count }.max() ?? 0
            for r in inRun where members[r].exited && members[r].received.count <= k && longest > k {
                discard(r, "ended at event \(board.progress(r)) while the others went on")
            }
            guard members[primary].inRun, members.filter(\.inRun).count >= majority else { continue }
            let votes = inRun.compactMap { r in members[r].received.count > k ? (r, members[r].received[k]) : nil }
            guard !votes.isEmpty else { return nil }
            var groups: [ReplicaFrame.Vote: [Int]] = [:]
            for (r, f) in votes { groups[f.vote, default: []].append(r) }
            let winner = groups.first { $0.value.count >= majority }
            commitAgreed(inRun: inRun)
            // Settled once every replica in the run has its k-th frame in (the slower may still
            // be on their way: a majority was enough for the commit).
            guard votes.count == inRun.count else { return nil }
            guard let w = winner else {
                let sides = groups.values.sorted { $0[0] < $1[0] }.map { rs in
                    let f = members[rs[0]].received[k]
                    let who =
                        rs.count == 1 ? "replica \(rs[0])" : "replicas " + rs.map(String.init).joined(separator: ", ")
                    return "\(who): \(Self.made(f)) at event \(f.event)"
                }
                faults.append(
                    .init(replica: 0, event: votes[0].1.event, what: "no majority: " + sides.joined(separator: "; ")))
                if restore(differing: sides.joined(separator: "; ")) { continue }
                return fatal(
                    "replicas differ with no majority (\(sides.joined(separator: "; "))) — "
                        + "nothing unverified was released")
            }
            for (r, f) in votes where !w.value.contains(r) {
                let against = "outvoted \(w.value.count) to \(groups[f.vote]?.count ?? 1)"
                discard(r, "at event \(f.event): \(Self.difference(f)); \(against)", event: f.event)
            }
            settled += 1
        }
    }

    /// What a replica's frame says where it differs from the others'.
    static func difference(_ f: ReplicaFrame) -> String {
        switch f.kind {
        case .output: return "its \(f.what) differs"
        case .state: return "its state (writable memory and the call) differs"
        case .failed: return "its replay failed (\(f.what))"
        case .end: return "it ended (or with another status) where the others did not"
        case .call: return "it made \(f.what), no write, where the others did not"
        case .tookOver: return "it took the primary's place"
        }
    }

    /// What a frame stands for, for a report.
    static func made(_ f: ReplicaFrame) -> String {
        switch f.kind {
        case .output: return f.what
        case .state: return "a state digest"
        case .failed: return "a replay failure (\(f.what))"
        case .end: return "the end"
        case .call, .tookOver: return f.what
        }
    }

    /// Output commit: the primary's writes go out, in order, as soon as a majority of replicas
    /// made each — and agreed with the primary on every frame before it — without waiting for
    /// the slower ones (a stalled backup holds nothing up while a majority stands).
    func commitAgreed(inRun: [Int]) {
        let primary = members[self.primary].received
        // From the first frame not yet known agreed: starting at what is settled each time made
        // the supervisor's work grow with the backups' lag (a third of the CPU of three replicas
        // of syscall-heavy Perl). A backup that took the primary's place takes it back to the
        // output it made as a backup (tookOver); a discard, to what is settled.
        var k = agreedUpTo + 1
        while k < primary.count {
            var agreeing = 0
            for r in inRun where members[r].received.count > k && members[r].received[k].vote == primary[k].vote {
                agreeing += 1
            }
            guard agreeing >= majority else { return }
            agreedUpTo = k
            if primary[k].commit, k > committedUpTo {
                var yes = Self.committed
                if let c = members[self.primary].commits { _ = write(c, &yes, 1) }
                committedUpTo = k
            }
            k += 1
        }
    }

    /// A backup that is behind the primary and has not moved for --stall-timeout while the
    /// primary did (or waited for it) is discarded. A backup behind a primary that is itself
    /// blocked (reading a terminal) is only waiting for the log.
    func findStalls() -> Int32? {
        let now = chost_monotonic_ns()
        for r in members.indices where !members[r].exited {
            let p = board.progress(r)
            if p != members[r].lastProgress || (r == primary && board.waiting(primary) != .none) {
                members[r].lastProgress = p
                members[r].progressSince = now
            }
            if members[r].progressSince == now || board.inCall(r) { members[r].idleSince = now }
        }
        findPrimaryStall(now)
        // A primary that ended the run leaves nothing to wait for: a backup still behind it is
        // stalled once the timeout passes. (The poll that saw a backup's last call may also have
        // seen the primary's last, at the same instant: waiting for the primary to move after it
        // waited forever, a stall just before the end hung the run.)
        let primaryDone = members[primary].exited && members[primary].received.last?.kind == .end
        let primaryMoved = primaryDone ? now : members[primary].progressSince
        // A backup waiting for the log has replayed all the primary flushed (it flushes a quiet
        // log within a chunk's delay): it is not the one stalling.
        for r in members.indices where r != primary && members[r].inRun && !members[r].exited {
            let p = members[r].lastProgress
            let since = members[r].progressSince
            // (Level with a primary that waits for a commit there: it is what the primary waits for.)
            let behind =
                p < board.progress(primary) || (p == board.progress(primary) && board.waiting(primary) == .commit)
            if behind, primaryMoved > since, board.waiting(r) != .log,
                Double(now - since) / 1e9 >= options.stallTimeout
            {
                discard(r, "made no progress for \(options.stallTimeout) s at event \(p) (stalled)")
            }
        }
        return nil
    }

    /// A primary that stayed at its event for --stall-timeout in no call and no wait (a call may
    /// block on a terminal, or sleep), while every backup had replayed its log up to there and
    /// waited for more, is stalling the run: it is discarded, and a backup takes its place. (A
    /// primary whose last calls are still in its buffer keeps its backups behind it: not this.)
    func findPrimaryStall(_ now: UInt64) {
        let p = board.progress(primary)
        guard members[primary].inRun, !members[primary].exited, members[primary].received.last?.kind != .end,
            Double(now - members[primary].idleSince) / 1e9 >= options.stallTimeout
        else { return }
        let backups = members.indices.filter { $0 != primary && members[$0].inRun && !members[$0].exited }
        guard !backups.isEmpty, backups.allSatisfy({ board.waiting($0) == .log && board.progress($0) >= p }) else {
            return
        }
        discard(
            primary,
            "made no progress for \(options.stallTimeout) s at event \(p) while its backups waited for its log "
                + "(stalled)")
    }

    func discard(_ r: Int, _ why: String, event: UInt64? = nil) {
        guard members[r].inRun else { return }
        members[r].inRun = false
        agreedUpTo = min(agreedUpTo, settled - 1)
        board.discard(r)
        let who = r == primary ? "replica \(r) (the primary)" : "replica \(r)"
        faults.append(.init(replica: r, event: event ?? board.progress(r), what: why))
        discardedAt[r] = chost_monotonic_ns()
        report("\(who): fault: \(why); discarded\(injectionTiming(r))")
        if !members[r].exited && members[r].pid > 0 { kill(members[r].pid, SIGKILL) }
        board.turns.forget(r)
        if r == primary { promote() }
        recover(replacing: r)
    }

    /// For `-v`: how long after a fault injected into replica r it was found (empty: none was).
    func injectionTiming(_ r: Int) -> String {
        guard options.verbose, let (t, event) = board.injected(r) else { return "" }
        return " (\(board.progress(primary) &- event) events of the primary and \(fmtMs(chost_monotonic_ns() &- t)) "
            + "after the injection at event \(event))"
    }

    /// The primary is lost: with three replicas or more, the most advanced healthy backup takes
    /// its place (Docs/replicas.md "Taking over"). It is sent a commit pipe and the outside
    /// world's stdin, stdout and stderr (tagged 3, 0, 1, 2) and marked promoted; it replays what
    /// the old primary logged, cuts the log there and goes on live (ReplicaKernel.goLive).
    func promote() {
        guard options.replicas >= 3 else { return }
        // A backup that ended the run already (a fault found at the end, in the last state
        // digest) has nothing left to do live: every output was made; its end stands.
        if let ended = members.indices.first(where: { r in
            r != primary && members[r].inRun && members[r].received.last?.kind == .end
        }) {
            report("replica \(ended): takes the place of the primary (replica \(primary)): it ended the run already")
            primary = ended
            board.primary = ended
            return
        }
        let healthy = members.indices.filter { r in
            r != primary && members[r].inRun && !members[r].exited && members[r].control != nil
                && !members.contains { $0.donor == r }
        }
        guard let next = healthy.max(by: { board.progress($0) < board.progress($1) }) else { return }
        let old = primary
        guard handOver(to: next) else { return }
        takingOverFrom = old
        promotedAt = board.progress(next)
    }

    /// Replica `next` is to take the primary's place: it is sent a commit pipe and stdin, stdout
    /// and stderr, and marked promoted. False when they could not be sent.
    func handOver(to next: Int) -> Bool {
        // What the old primary said of its sockets before it was lost; which of them stay open
        // the new primary decides again from its own log (holdHandedSockets), so closes the old
        // one's log may have held beyond it are not made.
        hearSockets(from: primary)
        forgetting = []
        guard let control = members[next].control, let commitPipe = closeOnExecPipe() else { return false }
        // A pumped stdin starts again at its first byte (tag 4: the new primary skips what the
        // guest consumed).
        let (stdin, from) = pump.map { $0.restart() } ?? (0, 0)
        let sent =
            stdin >= 0 && sendSockets(on: control)
            && [(commitPipe.read, UInt8(3), UInt64(0)), (stdin, pump == nil ? 0 : 4, from), (1, 1, 0), (2, 2, 0)]
                .allSatisfy { chost_send_fd_word(control, $0.0, $0.1, $0.2) == 0 }
        if pump != nil && stdin >= 0 { close(stdin) }
        if options.verbose && pump != nil && sent {
            report("replica \(next): its stdin starts again at byte \(from), the first the supervisor still keeps")
        }
        close(commitPipe.read)
        guard sent else {
            close(commitPipe.write)
            return false
        }
        members[next].commits = commitPipe.write
        primary = next
        agreedUpTo = min(agreedUpTo, settled - 1)
        board.primary = next
        board.promote(next)
        // The backups waited for the old primary: their stall timing starts again with the new.
        let now = chost_monotonic_ns()
        for r in members.indices {
            members[r].progressSince = now
            members[r].idleSince = now
        }
        if members[next].pid > 0 { _ = chost_relay_signals_to(members[next].pid) }
        return true
    }

    /// The new primary went live at `frame.event`; the output it made there as a backup, if it
    /// leaves the run, waits for its commit — or was released by the old primary already.
    func tookOver(_ r: Int, _ frame: ReplicaFrame) {
        guard r == primary else {
            discard(r, "took the primary's place unasked")
            return
        }
        let number = frame.leadingWord
        if number == ReplicaKernel.couldNotTakeOver {
            cannotGoOn =
                "the primary (replica \(takingOverFrom)) was lost and replica \(r) could not take its place at event "
                + "\(frame.event): \(frame.what)"
            return
        }
        record.takeOvers.append(.init(replica: r, from: takingOverFrom, event: frame.event))
        var timing = ""
        if options.verbose, let t = discardedAt[takingOverFrom] {
            timing =
                " (\(frame.event &- min(frame.event, promotedAt)) events rolled forward, "
                + "\(fmtMs(chost_monotonic_ns() &- t)) after replica \(takingOverFrom) was discarded)"
        }
        report(
            "replica \(r): took the place of the primary (replica \(takingOverFrom)) at event \(frame.event): "
                + "it replayed the old primary's log to there and goes on live\(timing)")
        guard number != .max, Int(exactly: number).map({ $0 < members[r].received.count }) == true else { return }
        let k = Int(number)
        if k <= committedUpTo {
            var answer = Self.released
            if let c = members[r].commits { _ = write(c, &answer, 1) }
            return
        }
        members[r].received[k].commit = true
        agreedUpTo = min(agreedUpTo, k - 1)
        // The vote may have settled it already: nothing else may come to ask again.
        commitAgreed(inRun: members.indices.filter { members[$0].inRun })
    }
    /// Two replicas' checkpoints by board slot, and the events of those that verified or not
    /// (Checkpoints).
    var checkpoints: [Int: KnownCheckpoint] = [:]
    /// A signal sent to revenant (or the terminal's), and when, while the primary waited for a
    /// commit: it cannot reach the guest before the commit comes.
    var signalled: (signal: Int32, at: UInt64)?
    /// How long a signal may wait for a primary that waits for a commit.
    static let signalGrace: UInt64 = 3_000_000_000

    /// A signal reaches the primary's guest once its call is served; a primary that waits for a
    /// commit that does not come (no majority forms, nor a fault is found) would keep it from
    /// it for good: the run ends after `signalGrace`, nothing unverified released, with the
    /// status the signal gives (128 + it).
    func stoppedBySignal() -> Int32? {
        let now = chost_monotonic_ns()
        let sig = chost_take_relayed_signal()
        let waits = members[primary].inRun && !members[primary].exited && board.waiting(primary) == .commit
        if sig != 0 && waits { signalled = (sig, now) }
        guard waits else {
            signalled = nil
            return nil
        }
        guard let s = signalled, now &- s.at >= Self.signalGrace else { return nil }
        _ = fatal(
            "stopped by signal \(s.signal): the primary (replica \(primary)) was still waiting for a commit at event "
                + "\(board.progress(primary)) \(Self.signalGrace / 1_000_000_000) s after it — "
                + "nothing unverified was released")
        return 128 + s.signal
    }

    /// A backup to take the primary's place once the checkpoint's copy has joined (Checkpoints).
    var handOverAfterCopies: Int?
    /// The outside stdin when it is a pipe or socket: read here, handed to the primary.
    var pump: StdinPump?
    /// A copy of each socket the guest holds, by the event that made it (OutsideSockets).
    var outsideSockets: [UInt64: Int32] = [:]
    /// Sockets the primary's guest closed, by the event that made them, and the primary's event
    /// when it said so: closed once a majority is past it (closeForgottenSockets).
    var forgetting: [(made: UInt64, after: UInt64)] = []
    /// The socket the primary asked to consume from, until the count comes (SocketReads); the
    /// journal's bytes before this one were let go.
    var consuming: UInt64?
    var journalReleased: UInt64 = 0
    /// The most the journal held at once (bytes).
    var journalPeak: UInt64 = 0
    var checkpointOutcomes: [UInt64: Bool] = [:]
    /// Why the run cannot go on, found while reading a replica's frames (a failed take-over).
    var cannotGoOn: String?
    /// The primary a backup is taking the place of, and the event the backup was at when asked.
    var takingOverFrom = 0
    var promotedAt: UInt64 = 0

    /// The run cannot go on: every replica is stopped, nothing more is committed.
    func fatal(_ why: String) -> Int32 {
        resetSockets()
        for m in members where !m.exited && m.pid > 0 { kill(m.pid, SIGKILL) }
        freeCheckpoints()
        for m in members where !m.exited && m.pid > 0 && !m.adopted { waitpid(m.pid, nil, 0) }
        report(why)
        summary()
        return 125
    }

    /// KSM's pages shared and the replicas' resident size, sampled as the run goes.
    var lastSample: UInt64 = 0
    func measureMemory() {
        let now = chost_monotonic_ns()
        guard options.verbose || ksm != nil, now - lastSample >= 100_000_000 else { return }
        lastSample = now
        ksm?.sample()
        var total = 0
        for m in members where !m.exited && m.pid > 0 {
            // statm's second field: resident pages.
            guard let f = fopen("/proc/\(m.pid)/statm", "r") else { continue }
            var size = 0, resident = 0
            withUnsafeMutablePointer(to: &size) { s in
                withUnsafeMutablePointer(to: &resident) { r in _ = chost_read_two_longs(f, s, r) }
            }
            fclose(f)
            total += resident * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        peakResident = max(peakResident, total)
    }

    var summarized = false
    func summary() {
        guard !summarized else { return }
        summarized = true
        ksm?.sample()
        ksm?.restore()
        let remaining = members.filter(\.inRun).count
        var line =
            "replicas: \(options.replicas), faults detected: \(faults.count), recoveries: \(recoveries), "
            + (record.takeOvers.isEmpty ? "" : "primaries replaced: \(record.takeOvers.count), ")
            + "replicas left: \(remaining)"
        if let ksm { line += ", KSM: \(ksm.peakSharing) pages shared at the peak (\(ksm.peakSharing >> 8) MiB saved)" }
        if options.verbose {
            line += ", resident at the peak: \(peakResident >> 20) MiB together"
            if let pump {
                line += ", piped stdin: \(pump.read >> 20) MiB read, \(pump.peakHeld >> 20) MiB kept at the peak"
            }
            if board.journalLength > 0 {
                line += ", socket journal: \(board.journalLength >> 20) MiB written, "
                line += "\(journalPeak >> 20) MiB kept at the peak"
            }
            let turns = board.turns
            if turns.slots > 0 {
                line += ", \(turns.slots) at a time at the host's cores (\(turns.handOvers) hand-overs)"
            }
        }
        report(line)
    }
}
