import CHost
import Glibc
import LinuxABI
import Personality
import Replay

/// The guest's sockets (`--net`) are the outside world's, so the supervisor holds them too
/// (Docs/replicas.md "Inputs"): the primary hands it a copy of each socket its guest makes
/// (socket, accept, accept4) before the call is logged, and says when the guest closed its last
/// descriptor of one. A backup that takes the primary's place is handed every copy, and puts each
/// where the log says the guest has it (DescriptorLedger's `.socket(created:)`). And what the
/// primary reads from outside — a socket, or a terminal on stdin — is logged before its guest
/// goes on, so a successor finds in the log every byte the old primary took from there.
enum OutsideSockets {
    /// Messages on a replica's socket (chost_send_fd_word): a copy of the socket made at event
    /// `word` (the descriptor attached), from the primary, or to a new primary before its commit
    /// pipe and stdio (TakeOver); the guest closed its last descriptor of it, from the primary.
    static let held: UInt8 = 5
    static let forgotten: UInt8 = 6
    /// From the primary: consume from the socket made at event `word` (SocketReads) the number
    /// of bytes in the next message's word.
    static let consume: UInt8 = 7
    static let consumeCount: UInt8 = 8

    private static func numbers(_ names: [String]) -> Set<UInt64> {
        Set(names.compactMap { SyscallNames.byName[$0] }.map(UInt64.init))
    }
    static let makeSocket = numbers(["socket", "accept", "accept4"])
    /// Calls that take input from the descriptor in their first argument.
    static let takeInput = numbers(["read", "readv", "recvfrom", "recvmsg", "recvmmsg", "accept", "accept4"])
    /// Calls after which a descriptor of a socket may be gone.
    static let mayClose = numbers(["close", "close_range", "dup2", "dup3", "execve"])

    /// The socket's type (SOCK_STREAM, SOCK_DGRAM…), or -1.
    static func type(_ fd: Int32) -> Int32 {
        var type: Int32 = 0
        var size = socklen_t(4)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 ? type : -1
    }

    /// The socket's inode (sockets are told apart by it), or nil.
    static func inode(_ fd: Int32) -> UInt64? {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return UInt64(st.st_ino)
    }
}

extension ReplicaKernel {
    /// The primary's call, made live: a socket it makes is handed to the supervisor before the
    /// call is logged, and input from outside is logged before the guest goes on.
    func handleLive(_ req: SyscallRequest, _ recorder: Recorder) -> SyscallOutcome {
        if let (made, datagram) = journaledInput(req) {
            recorder.serveInstead = { [unowned self] in self.readJournaled(req, from: made, datagram: datagram) }
        } else if readsAWritableFile(req) {
            recorder.serveInstead = { [unowned self] in self.readWritableFile(req) }
        } else {
            flipFileReads(req, recorder)
        }
        let makesSocket = OutsideSockets.makeSocket.contains(req.number) && control != nil
        if makesSocket {
            // What came before goes out first: an accept may wait long, the log held meanwhile.
            recorder.flush()
            recorder.holdLog()
        }
        let outcome = inner.handle(req)
        if makesSocket {
            if case .value(let fd) = outcome, fd >= 0, let host = try? personality.fds.host(UInt64(fd)),
                let control, chost_send_fd_word(control, host, OutsideSockets.held, event) == 0
            {
                heldSockets[event] = OutsideSockets.inode(host)
            }
            recorder.releaseLog()
        }
        // (A read that took nothing — EAGAIN, the end — needs no hurry: a program polling a
        // socket would write a chunk per try.)
        if OutsideSockets.takeInput.contains(req.number), case .value(let n) = outcome, n > 0 || makesSocket && n >= 0,
            (try? personality.fds.entry(req[0]))?.fromOutside == true
        {
            recorder.flush()
        }
        if !heldSockets.isEmpty, OutsideSockets.mayClose.contains(req.number) { forgetClosedSockets(recorder) }
        return outcome
    }

    /// Sockets the guest has no descriptor of any more: the supervisor closes its copy (a
    /// connection ends once nobody holds it). The close is logged first: a successor whose log
    /// still had the socket open would look for it in vain.
    func forgetClosedSockets(_ recorder: Recorder) {
        let open = Set(personality.fds.hostDescriptors.compactMap(OutsideSockets.inode))
        let closed = heldSockets.filter { $0.value.map { !open.contains($0) } ?? true }.keys
        guard !closed.isEmpty else { return }
        recorder.flush()
        for made in closed {
            heldSockets[made] = nil
            if let control { _ = chost_send_fd_word(control, -1, OutsideSockets.forgotten, made) }
        }
    }

    /// A new primary, live: the sockets the supervisor handed it are now its own to account for
    /// (the ones the guest closed meanwhile are forgotten at once).
    func holdHandedSockets(_ sockets: [UInt64: Int32], _ ledger: DescriptorLedger) {
        let kept = Set(
            ledger.slots.values.compactMap { slot -> UInt64? in
                guard case .socket(let made)? = ledger.descriptions[slot.description]?.kind else { return nil }
                return made
            })
        for (made, fd) in sockets {
            if kept.contains(made) {
                heldSockets[made] = OutsideSockets.inode(fd)
            } else if let control {
                _ = chost_send_fd_word(control, -1, OutsideSockets.forgotten, made)
            }
            close(fd)
        }
    }
}

extension Supervisor {
    /// What replica r said of its guest's sockets. Only the primary's word counts: what a
    /// replica that was the primary sent after its successor was handed the sockets (a send the
    /// kill did not stop) is of a process that is gone, and its log cannot hold it.
    func hearSockets(from r: Int) {
        guard let control = members[r].control else { return }
        while true {
            var tag: UInt8 = 0, made: UInt64 = 0, fd: Int32 = -1
            guard chost_receive_fd_word(control, 0, &tag, &made, &fd) == 0 else { return }
            switch tag {
            case _ where r != primary:
                if fd >= 0 { close(fd) }
            case OutsideSockets.held where fd >= 0:
                if let old = outsideSockets.updateValue(fd, forKey: made) { close(old) }
            case OutsideSockets.forgotten:
                // The end of a connection is an output too: closed once a majority is past it.
                forgetting.append((made, after: board.progress(primary)))
                if fd >= 0 { close(fd) }
            case OutsideSockets.consume: consuming = made
            case OutsideSockets.consumeCount:
                if let input = consuming { consume(input, count: Int(clamping: made)) }
                consuming = nil
            default:
                if fd >= 0 { close(fd) }
            }
        }
    }

    /// The copies of sockets the primary's guest closed, once a majority of the replicas in the
    /// run went past the primary's event when it said so — each had made the same `close`, as
    /// its replay checks — so the peer sees the connection end only where a majority ends it.
    func closeForgottenSockets() {
        guard !forgetting.isEmpty else { return }
        let passed = members.indices.filter { members[$0].inRun }.map { board.progress($0) }.sorted(by: >)
        guard passed.count >= majority else { return }
        let agreed = passed[majority - 1]
        forgetting.removeAll { socket in
            guard agreed > socket.after else { return false }
            if let fd = outsideSockets.removeValue(forKey: socket.made) { close(fd) }
            return true
        }
    }

    /// A run that cannot go on ends every connection it holds with a reset (SO_LINGER of 0), not
    /// the clean end a program's close gives: a peer cannot take it for one the replicas agreed on.
    func resetSockets() {
        var reset = linger(l_onoff: 1, l_linger: 0)
        for fd in outsideSockets.values {
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
            close(fd)
        }
        outsideSockets = [:]
        forgetting = []
    }

    /// A copy of every socket the guest holds, to a new primary (before its commit pipe).
    func sendSockets(on control: Int32) -> Bool {
        outsideSockets.allSatisfy { chost_send_fd_word(control, $0.value, OutsideSockets.held, $0.key) == 0 }
    }
}
