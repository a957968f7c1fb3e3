import CHost
import Glibc
import GuestMemory
import LinuxABI
import Personality
import Replay

/// The guest's reads of a stream socket are the supervisor's to make (Docs/replicas.md
/// "Inputs"): the primary peeks at the socket (MSG_PEEK: the kernel's own rules on blocking,
/// timeouts and signals), and the supervisor consumes what was peeked from its copy of the
/// socket into the journal (SocketJournal) before the guest gets it. The backups check the bytes
/// the primary logged against the journal, so a fault in the primary's input buffer is found
/// there; and a new primary reads first what the journal holds beyond its log, so the bytes the
/// old primary took but did not log reach it.
extension ReplicaKernel {
    private static func number(_ name: String) -> UInt64 { UInt64(SyscallNames.byName[name]!) }
    static let readCall = number("read"), readvCall = number("readv"), recvfromCall = number("recvfrom")

    /// Whether a call (its number, fourth and fifth arguments) is a read of a socket the
    /// journal serves: read, readv, recvfrom without MSG_PEEK (Perl's `recv` asks for the
    /// sender's address, which a stream socket does not give: its length comes back 0).
    static func readsAStream(_ number: UInt64, _ flags: UInt64, _ address: UInt64) -> Bool {
        switch number {
        case readCall, readvCall: return true
        case recvfromCall: return Int32(truncatingIfNeeded: flags) & Int32(MSG_PEEK) == 0
        default: return false
        }
    }

    /// A recvfrom that asked for the sender's address, of a stream socket: none, as Linux says
    /// (an address length of 0), once the call took something or found the end.
    private static func noAddress(_ req: SyscallRequest, _ memory: AddressSpace, _ result: Int64) -> SyscallOutcome {
        guard req.number == recvfromCall, req[4] != 0, req[5] != 0 else { return .value(result) }
        do { try memory.store(UInt32(0), at: req[5]) } catch { return .value(-Int64(EFAULT)) }
        return .value(result)
    }

    /// The primary: the socket (by the event that made it) a read of which the supervisor
    /// consumes, or nil (no journal, or no stream socket the supervisor holds).
    func journaledSocket(_ req: SyscallRequest) -> UInt64? {
        guard !heldSockets.isEmpty, Self.readsAStream(req.number, req[3], req[4]), board.socketJournal != nil,
            control != nil,
            let e = try? personality.fds.entry(req[0]), e.fromOutside, let inode = OutsideSockets.inode(e.host),
            let made = heldSockets.first(where: { $0.value == inode })?.key
        else { return nil }
        var type: Int32 = 0
        var size = socklen_t(4)
        guard getsockopt(e.host, SOL_SOCKET, SO_TYPE, &type, &size) == 0, type == Int32(SOCK_STREAM.rawValue) else {
            return nil
        }
        return made
    }

    /// Serve the read (inside the recorder, which logs what it wrote): what a new primary has
    /// from the journal beyond its log first; else peek, have the supervisor consume what was
    /// peeked, and hand it to the guest.
    func readSocket(_ req: SyscallRequest, made: UInt64) -> SyscallOutcome {
        let memory = personality.memory
        var buffers: [iovec]
        do { buffers = try ReadBuffers.of(req, count: Int(clamping: req[2]), memory: memory) } catch {
            return .value(-Int64(EFAULT))
        }
        if let waiting = pushback[made], !waiting.isEmpty {
            var given = 0
            for b in buffers where given < waiting.count {
                let n = min(b.iov_len, waiting.count - given)
                waiting.withUnsafeBytes { b.iov_base.copyMemory(from: $0.baseAddress! + given, byteCount: n) }
                given += n
            }
            pushback[made] = Array(waiting.dropFirst(given))
            return Self.noAddress(req, memory, Int64(given))
        }
        guard let host = try? personality.fds.host(req[0]), let control else { return .value(-Int64(EBADF)) }
        let flags = req.number == Self.recvfromCall ? Int32(truncatingIfNeeded: req[3]) : 0
        let peeked = buffers.withUnsafeMutableBufferPointer { iov -> Int in
            var msg = msghdr()
            msg.msg_iov = iov.baseAddress
            msg.msg_iovlen = iov.count
            return recvmsg(host, &msg, flags | Int32(MSG_PEEK))
        }
        guard peeked > 0 else { return peeked < 0 ? .value(-Int64(errno)) : Self.noAddress(req, memory, 0) }
        let seen = board.consumeAnswers
        guard chost_send_fd_word(control, -1, OutsideSockets.consume, made) == 0,
            chost_send_fd_word(control, -1, OutsideSockets.consumeCount, UInt64(peeked)) == 0
        else { return .halt }
        while board.consumeAnswers == seen {
            guard !board.supervisorIsGone else { return .halt }
            board.awaitConsumeAnswer(after: seen, timeout: 100_000_000)
        }
        // What the supervisor consumed is what the guest gets (the peeked bytes are a prefix of it).
        let got = Int(min(board.consumed, Int64(peeked)))
        guard got > 0 else { return .value(-Int64(EIO)) }
        flipSocketInput(buffers, count: got)
        return Self.noAddress(req, memory, Int64(got))
    }

    /// `--inject 'flip replica=0 socket=N bit=B'`: byte N of what the guest reads from its
    /// sockets (counted over all of them), as the primary gets it; the journal keeps it right.
    private func flipSocketInput(_ buffers: [iovec], count: Int) {
        let start = socketBytesRead
        socketBytesRead += count
        for i in injections {
            guard case .flipSocket(let byte, let bit) = i.action, byte >= start, byte < start + count else { continue }
            ReadBuffers.flip(buffers, at: byte - start, bit: bit)
        }
    }

    /// A backup: the bytes of a stream socket the primary logged for a read are the ones the
    /// supervisor consumed (the journal): else the log is not believed there (why).
    func vetSocket(_ event: SyscallEvent) -> String? {
        guard event.result > 0, let fd = board.socketJournal,
            Self.readsAStream(event.number, event.args[3], event.args[4]), let ledger,
            let slot = ledger.slots[Int(Int32(truncatingIfNeeded: event.args[0]))],
            let d = ledger.descriptions[slot.description], case .socket(let made) = d.kind
        else { return nil }
        if journal == nil { journal = SocketJournal(fd: fd) }
        journal!.catchUp(to: board.journalLength)
        let count = Int(event.result)
        // Not in the journal (a socket the supervisor does not read: not a stream): not checked.
        guard let expected = journal!.bytes(of: made, from: d.offset, count: count) else { return nil }
        guard Array(event.writes.flatMap(\.bytes).prefix(count)) != expected else { return nil }
        return "the \(count) bytes of the socket made at event \(made) the primary logged (from byte \(d.offset)) "
            + "differ from those the supervisor read"
    }

    /// A new primary: for each socket its guest holds, what the journal has beyond its log is
    /// read first.
    func takeUpJournal(_ ledger: DescriptorLedger) {
        guard let fd = board.socketJournal else { return }
        if journal == nil { journal = SocketJournal(fd: fd) }
        journal!.catchUp(to: board.journalLength)
        for d in ledger.descriptions.values {
            guard case .socket(let made) = d.kind else { continue }
            let left = journal!.total(of: made) - d.offset
            if left > 0, let bytes = journal!.bytes(of: made, from: d.offset, count: Int(left)) {
                pushback[made] = bytes
            }
        }
    }
}

extension Supervisor {
    /// The primary peeked `count` bytes of the socket made at `made`: they are consumed from the
    /// supervisor's copy into the journal, and the primary told how many.
    func consume(_ made: UInt64, count: Int) {
        guard let fd = outsideSockets[made], let journal = board.socketJournal, count > 0 else {
            board.answerConsume(-Int64(EBADF))
            return
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                got += n
            } else if !(n < 0 && errno == EINTR) {
                break
            }
        }
        if got > 0 {
            guard
                let end = SocketJournal.append(
                    journal, at: board.journalLength, made: made, bytes: Array(bytes[..<got]))
            else {
                board.answerConsume(-Int64(EIO))
                return
            }
            board.journalLength = end
        }
        board.answerConsume(Int64(got))
    }
}
