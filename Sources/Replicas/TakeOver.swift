import CHost
import Glibc
import LinuxABI
import Personality
import Replay
import Trace

/// A backup taking the primary's place (Docs/replicas.md "Taking over"). The supervisor sends it
/// a commit pipe and the outside world's stdin, stdout and stderr, then marks it promoted on the
/// shared page. It replays what the old primary logged as far as it can — to the log's end, once
/// the old primary is gone, or to the first entry it cannot replay — and there it cuts the log,
/// opens again what the guest has open, and goes on as the primary: live, recording into the
/// same log, its outputs waiting for commits. The other backups go back to the cut and follow it.
extension ReplicaKernel {
    /// Asked while a backup waits for the log (Follow), with whether its writer lives: whether
    /// to stop waiting — this backup was promoted, and the old primary is gone.
    public func shouldStopWaiting(writerAlive: Bool) -> Bool {
        guard case .backup = role else { return false }
        return !writerAlive && board.isPromoted(replica)
    }

    /// Asked before a backup reads what was appended to the log: whether a new primary cut it
    /// since (what follows the cut is the new primary's: the backup goes back to the cut first).
    public var logWasCut: Bool {
        guard case .backup = role else { return false }
        return board.cutGeneration != cutSeen
    }

    /// The recorder of a backup that took the primary's place (its run ends as the primary's).
    public var liveRecorder: Recorder? {
        if case .primary(let r) = role { return r }
        return nil
    }

    /// After a backup's call: a divergence is reported, then waits for the supervisor's word —
    /// the old primary may be the faulty one, and this backup is then asked to take its place or
    /// to go back to the new primary's cut. A wait for the log that was stopped gets the same.
    func settle(_ replayer: Replayer, _ req: SyscallRequest, _ first: SyscallOutcome) -> SyscallOutcome {
        var outcome = first
        while true {
            if let report = replayer.divergence {
                failed(report)
            } else if !replayer.endedEarly {
                return outcome
            }
            let waitedSince = chost_monotonic_ns()
            var pause: UInt32 = 50
            board.turns.leave(replica)
            while board.cutGeneration == cutSeen && !board.isPromoted(replica) {
                // Without a word (the log really ended, or nobody is left to give it): as before.
                if replayer.divergence == nil || chost_monotonic_ns() - waitedSince > 60_000_000_000
                    || board.supervisorIsGone
                {
                    return outcome
                }
                usleep(pause)
                pause = min(pause * 2, 5000)
            }
            board.turns.enter(replica)
            if board.cutGeneration == cutSeen { return goLive(replayer, req) }
            let (generation, cut) = board.cut()
            cutSeen = generation
            guard replayer.goBack(to: cut, inCall: true) else { return readPast(cut) }
            failureSent = false
            outcome = replayer.handle(req)
        }
    }

    /// This backup replayed what the new primary's cut dropped: it can follow it no more.
    func readPast(_ cut: StreamCut) -> SyscallOutcome {
        failed("replica \(replica) had replayed past event \(cut.event), where the new primary cut the log")
        return .halt
    }

    /// Take the primary's place at the call being served.
    private func goLive(_ replayer: Replayer, _ req: SyscallRequest) -> SyscallOutcome {
        func fail(_ why: String) -> SyscallOutcome {
            // The supervisor ends the run with it (nothing more can be verified).
            sendTookOver(Self.couldNotTakeOver, what: why)
            link.flush()
            return .halt
        }
        guard let ledger else { return fail("it kept no account of the guest's descriptors") }
        if let obstacle = ledger.obstacle() { return fail(obstacle) }
        guard let handed = receiveHandOver() else { return fail("the supervisor's descriptors did not come") }
        if let why = catchUpOnStdin(handed, ledger) {
            for fd in handed.stdio + [handed.commits] + handed.sockets.values { close(fd) }
            return fail(why)
        }
        let recorder: Recorder
        let cut: StreamCut
        do {
            let prefix: [Event]
            (cut, prefix) = try replayer.handOverCut()
            let writer = try EventWriter.continuing(replayer.trace.eventsPath, at: cut, prefix: prefix)
            let descriptors = try ledger.reopen(in: personality, stdio: handed.stdio, sockets: handed.sockets)
            do { try personality.goLive(descriptors: descriptors, cwd: ledger.cwd, umask: ledger.umask) } catch {
                throw TakeOverError("its working directory \(ledger.cwd): \(String(cString: strerror(error.code)))")
            }
            recorder = try Recorder(personality: personality, trace: replayer.trace, writer: writer)
            recorder.order.goOn(fromTicket: replayer.ticketsTaken)
        } catch {
            for fd in handed.sockets.values { close(fd) }
            return fail("\(error)")
        }
        for fd in handed.stdio { close(fd) }
        holdHandedSockets(handed.sockets, ledger)
        takeUpJournal(ledger)
        (personality.nondeterminism as? ReplayNondeterminism)?.live = true
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGURG, SIGCONT] {
            _ = chost_forward_signal(sig)
        }
        replayer.goneLive()
        board.publishCut(cut)
        cutSeen = board.cutGeneration
        link.commits = handed.commits
        role = .primary(recorder)
        inner = recorder
        QuietFlusher.start(recorder)
        // The output this call makes, if it leaves the run, was sent as a backup's frame: now
        // it waits for its commit as the primary's would.
        let waits = lastOutput == event && leavesTheRun(req)
        let number = waits ? UInt64(inheritedFrames + link.sent - 1) : UInt64.max
        sendTookOver(number, what: "took the primary's place")
        if waits {
            recorder.flush()
            board.setWaiting(replica, .commit)
            defer { board.setWaiting(replica, .none) }
            board.turns.leave(replica)
            switch link.awaitVerdict() {
            case .commit: break
            case .released: recorder.alreadyServed = .value(released(req))
            case .refused: return .halt
            }
            board.turns.enter(replica)
        }
        return handleLive(req, recorder)
    }

    /// In a tookOver frame: the backup could not take the primary's place (`what` says why).
    static let couldNotTakeOver = UInt64.max - 1

    private func sendTookOver(_ number: UInt64, what: String) {
        let digest = (0..<32).map { $0 < 8 ? UInt8(truncatingIfNeeded: number >> (8 * UInt64($0))) : 0 }
        link.send(ReplicaFrame(kind: .tookOver, event: event, digest: digest, what: what), counted: false)
    }

    /// The result of an output the old primary made before it died, unlogged: all of it written.
    private func released(_ req: SyscallRequest) -> Int64 {
        switch SyscallNames.byNumber[Int(req.number)] ?? "" {
        case "write", "pwrite64", "sendto": return Int64(req[2])
        case "writev", "pwritev", "pwritev2":
            // It was made: its iovecs were sound.
            let iov = try? personality.memory.iovecs(at: req[1], count: Int(min(req[2], 1024)), write: false)
            return Int64(iov?.reduce(0) { $0 + $1.iov_len } ?? 0)
        default: return 0
        }
    }

    /// `stdinFrom`: the offset a pumped stdin's new pipe starts at (nil: stdin is no pump's).
    typealias HandOver = (commits: Int32, stdio: [Int32], stdinFrom: UInt64?, sockets: [UInt64: Int32])

    /// The guest's sockets, then the commit pipe and stdin, stdout and stderr the supervisor sent
    /// (tagged OutsideSockets.held with the event that made each, then 3, 0, 1, 2; a stdin the
    /// supervisor reads and hands on from the first byte it still keeps, 4, with that byte's
    /// offset).
    private func receiveHandOver() -> HandOver? {
        guard let control else { return nil }
        var got: [UInt8: Int32] = [:]
        var sockets: [UInt64: Int32] = [:]
        var stdinFrom: UInt64 = 0
        func give() {
            for fd in Array(got.values) + Array(sockets.values) { close(fd) }
        }
        while got.count < 4 {
            var tag: UInt8 = 0, made: UInt64 = 0, fd: Int32 = -1
            guard chost_receive_fd_word(control, 1, &tag, &made, &fd) == 0, fd >= 0 else { break }
            if tag == OutsideSockets.held {
                sockets[made] = fd
            } else if got[tag] == nil {
                got[tag] = fd
                if tag == 4 { stdinFrom = made }
            } else {
                close(fd)
                break
            }
        }
        guard let commits = got[3], let a = got[0] ?? got[4], let b = got[1], let c = got[2] else {
            give()
            return nil
        }
        return (commits, [a, b, c], got[4] != nil ? stdinFrom : nil, sockets)
    }

    /// Revenant's stdin where the log says the guest left it: a pipe the supervisor starts again
    /// at the first byte it still keeps loses the bytes from there that the guest consumed; a
    /// regular file is sought there (the old primary may have read past what it logged). Nil, or
    /// why not.
    private func catchUpOnStdin(_ handed: HandOver, _ ledger: DescriptorLedger) -> String? {
        let offset = ledger.stdinOffset
        if let from = handed.stdinFrom {
            guard offset >= Int64(from) else {
                return "its stdin's pipe starts at byte \(from), after the \(offset) bytes the guest had read"
            }
            var left = Int(offset - Int64(from))
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while left > 0 {
                let n = buffer.withUnsafeMutableBytes { read(handed.stdio[0], $0.baseAddress, min(left, $0.count)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return "its stdin ended before the \(offset) bytes the guest had read" }
                left -= n
            }
        } else if board.stdinStart != nil, lseek(handed.stdio[0], off_t(offset), SEEK_SET) < 0 {
            return "its stdin cannot go back to offset \(offset): \(String(cString: strerror(errno)))"
        }
        return nil
    }
}

extension DescriptorLedger {
    /// The guest's descriptors opened again on the host: files by path at their offsets (once
    /// per description: duplicates share it again), Revenant's stdin, stdout and stderr from
    /// `stdio`, sockets from the supervisor's copies (by the event that made them).
    func reopen(
        in personality: LinuxPersonality, stdio: [Int32], sockets: [UInt64: Int32] = [:]
    ) throws(TakeOverError) -> [(
        fd: Int, entry: FDTable.Entry
    )] {
        var opened: [Int: FDTable.Entry] = [:]
        var out: [(fd: Int, entry: FDTable.Entry)] = []
        do throws(TakeOverError) {
            for fd in slots.keys.sorted() {
                let slot = slots[fd]!
                let entry: FDTable.Entry
                if let first = opened[slot.description] {
                    entry = try duplicate(first, fd: fd)
                } else {
                    entry = try open(descriptions[slot.description]!, fd: fd, personality, stdio, sockets)
                    opened[slot.description] = entry
                }
                var e = entry
                e.cloexec = slot.cloexec
                out.append((fd, e))
            }
        } catch {
            for o in out { close(o.entry.host) }
            throw error
        }
        return out
    }

    private func duplicate(_ e: FDTable.Entry, fd: Int) throws(TakeOverError) -> FDTable.Entry {
        var copy = e
        copy.host = fcntl(e.host, F_DUPFD_CLOEXEC, 1000)
        guard copy.host >= 0 else { throw TakeOverError("fd \(fd): \(String(cString: strerror(errno)))") }
        return copy
    }

    private func open(
        _ d: Description, fd: Int, _ personality: LinuxPersonality, _ stdio: [Int32], _ sockets: [UInt64: Int32]
    )
        throws(TakeOverError) -> FDTable.Entry
    {
        switch d.kind {
        case .console(let k):
            let host = fcntl(stdio[Int(k)], F_DUPFD_CLOEXEC, 1000)
            guard host >= 0 else { throw TakeOverError("fd \(fd): \(String(cString: strerror(errno)))") }
            return FDTable.Entry(
                host: host, path: nil, cloexec: false, writableMount: true, console: k,
                fromOutside: k == 0 && isatty(host) == 1)
        case .socket(let made):
            guard let copy = sockets[made] else {
                throw TakeOverError("its fd \(fd) is a socket made at event \(made) that the supervisor does not hold")
            }
            let host = fcntl(copy, F_DUPFD_CLOEXEC, 1000)
            guard host >= 0 else { throw TakeOverError("fd \(fd): \(String(cString: strerror(errno)))") }
            return FDTable.Entry(host: host, path: nil, cloexec: false, writableMount: true, fromOutside: true)
        case .other(let what): throw TakeOverError("its fd \(fd) is \(what), which cannot be opened again")
        case .file(let path, let flags):
            let e: FDTable.Entry
            do { e = try personality.reopen(path, flags: flags) } catch {
                throw TakeOverError(
                    "fd \(fd) (\(path)) cannot be opened again: \(String(cString: strerror(error.code)))")
            }
            let moved: off_t
            if d.atEnd {
                moved = lseek(e.host, 0, SEEK_END)
            } else if let cookie = d.directoryCookie {
                moved = lseek(e.host, off_t(cookie), SEEK_SET)
            } else {
                moved = lseek(e.host, off_t(d.offset), SEEK_SET)
            }
            guard moved >= 0 else {
                close(e.host)
                throw TakeOverError("fd \(fd) (\(path)): cannot go back to its offset")
            }
            return e
        }
    }
}

/// Why a backup cannot take the primary's place, in one line.
struct TakeOverError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
