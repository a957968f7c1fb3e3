import CHost
import Glibc
import GuestMemory
import LinuxABI
import Personality
import Replay

/// The guest's reads of a stream socket, and of a terminal on stdin, are the supervisor's to
/// make (Docs/replicas.md "Inputs"): the primary peeks at the socket (MSG_PEEK: the kernel's own
/// rules on blocking, timeouts and signals) or waits for the terminal (poll), and the supervisor
/// consumes what there is from its copy of the socket, or its own stdin, into the journal
/// (SocketJournal) before the guest gets it. The backups check the bytes
/// the primary logged against the journal, so a fault in the primary's input buffer is found
/// there; and a new primary reads first what the journal holds beyond its log, so the bytes the
/// old primary took but did not log reach it.
extension ReplicaKernel {
    private static func number(_ name: String) -> UInt64 { UInt64(SyscallNames.byName[name]!) }
    static let readCall = number("read"), readvCall = number("readv"), recvfromCall = number("recvfrom")

    /// Whether a call (its number and flags, its fourth argument) is a read of a socket the
    /// journal serves: read, readv, recvfrom (Perl's `recv` asks for the sender's address, which
    /// a stream socket does not give: its length comes back 0) — not a peek, nor a read whose
    /// result is not the bytes it gives (MSG_TRUNC) or that reads something else (MSG_OOB,
    /// MSG_ERRQUEUE): those the primary makes alone, and the ledger does not count them.
    static func readsAStream(_ number: UInt64, _ flags: UInt64) -> Bool {
        switch number {
        case readCall, readvCall: return true
        case recvfromCall: return Int32(truncatingIfNeeded: flags) & notJournaled == 0
        default: return false
        }
    }
    private static let notJournaled = Int32(MSG_PEEK | MSG_TRUNC | MSG_OOB | MSG_ERRQUEUE)

    /// A recvfrom that asked for the sender's address, of a stream socket: none, as Linux says
    /// (an address length of 0), once the call took something or found the end.
    private static func noAddress(_ req: SyscallRequest, _ memory: AddressSpace, _ result: Int64) -> SyscallOutcome {
        guard req.number == recvfromCall, req[4] != 0, req[5] != 0 else { return .value(result) }
        do { try memory.store(UInt32(0), at: req[5]) } catch { return .value(-Int64(EFAULT)) }
        return .value(result)
    }

    /// The primary: what a read is of that the supervisor makes — a stream or datagram socket
    /// it holds (by the event that made it), or Revenant's stdin when it is a terminal
    /// (SocketJournal.terminal) — or nil.
    func journaledInput(_ req: SyscallRequest) -> (made: UInt64, datagram: Bool)? {
        guard board.socketJournal != nil, control != nil, Self.readsAStream(req.number, req[3]),
            let e = try? personality.fds.entry(req[0]), e.fromOutside
        else { return nil }
        if isatty(e.host) == 1 {
            return board.terminalJournaled && req.number != Self.recvfromCall ? (SocketJournal.terminal, false) : nil
        }
        guard let inode = OutsideSockets.inode(e.host), let made = heldSockets.first(where: { $0.value == inode })?.key
        else { return nil }
        switch OutsideSockets.type(e.host) {
        case Int32(SOCK_STREAM.rawValue): return (made, false)
        case Int32(SOCK_DGRAM.rawValue): return (made, true)
        default: return nil
        }
    }

    /// A recvfrom that asked for the sender's address, of a datagram socket: `sender` (the
    /// address the supervisor's own recvfrom gave), cut to the room the guest gave, and its length.
    private static func giveSender(
        _ req: SyscallRequest, _ memory: AddressSpace, _ sender: [UInt8], _ result: Int64
    ) -> SyscallOutcome {
        guard req.number == recvfromCall, req[4] != 0, req[5] != 0 else { return .value(result) }
        do {
            let room = Int32(bitPattern: try memory.load(UInt32.self, at: req[5]))
            guard room >= 0 else { return .value(-Int64(EINVAL)) }
            if room > 0, !sender.isEmpty { try memory.write(Array(sender.prefix(Int(room))), at: req[4]) }
            try memory.store(UInt32(sender.count), at: req[5])
        } catch { return .value(-Int64(EFAULT)) }
        return .value(result)
    }

    /// Serve the read (inside the recorder, which logs what it wrote): what a new primary has
    /// from the journal beyond its log first; else the primary peeks at the socket (or waits for
    /// the terminal: readTerminal), and the supervisor consumes what there is.
    func readJournaled(_ req: SyscallRequest, from made: UInt64, datagram: Bool) -> SyscallOutcome {
        let memory = personality.memory
        var buffers: [iovec]
        do { buffers = try ReadBuffers.of(req, count: Int(clamping: req[2]), memory: memory) } catch {
            return .value(-Int64(EFAULT))
        }
        if datagram, var waiting = datagramPushback[made], !waiting.isEmpty {
            // One datagram per read, as the socket gives them.
            let (payload, sender) = waiting.removeFirst()
            datagramPushback[made] = waiting
            return Self.giveSender(req, memory, sender, Int64(ReadBuffers.fill(buffers, with: payload)))
        }
        if let waiting = pushback[made], !waiting.isEmpty {
            let given = ReadBuffers.fill(buffers, with: waiting)
            pushback[made] = Array(waiting.dropFirst(given))
            return Self.noAddress(req, memory, Int64(given))
        }
        guard let host = try? personality.fds.host(req[0]) else { return .value(-Int64(EBADF)) }
        if made == SocketJournal.terminal { return readTerminal(host, buffers) }
        let flags = req.number == Self.recvfromCall ? Int32(truncatingIfNeeded: req[3]) : 0
        let peeked = buffers.withUnsafeMutableBufferPointer { iov -> Int in
            var msg = msghdr()
            msg.msg_iov = iov.baseAddress
            msg.msg_iovlen = iov.count
            return recvmsg(host, &msg, flags | Int32(MSG_PEEK))
        }
        guard peeked > 0 else {
            guard peeked == 0 else { return .value(-Int64(errno)) }
            // A datagram without bytes (which the read consumes) the primary reads alone.
            return datagram ? personality.handle(req) : Self.noAddress(req, memory, 0)
        }
        guard let consumed = askToConsume(made, count: peeked) else { return .halt }
        // What the supervisor consumed is what the guest gets (the peeked bytes are a prefix of
        // it: a stream's, or the same datagram, cut as the guest's buffer cuts it).
        let got = Int(min(consumed, Int64(peeked)))
        guard got > 0 else { return .value(-Int64(EIO)) }
        flipInput(buffers, count: got, read: &socketBytesRead) {
            if case .flipSocket(let byte, let bit) = $0 { (byte, bit) } else { nil }
        }
        guard datagram else { return Self.noAddress(req, memory, Int64(got)) }
        let key = SocketJournal.senders(made)
        guard catchUpJournal(), let sender = journal!.record(of: key, journal!.records(of: key) - 1) else {
            return .value(-Int64(EIO))
        }
        // The room the guest gave for the address (the call overwrites it with the length).
        let room = req.number == Self.recvfromCall && req[4] != 0 ? try? memory.load(UInt32.self, at: req[5]) : nil
        let outcome = Self.giveSender(req, memory, sender, Int64(got))
        // `--inject 'flip replica=0 sender=N bit=B'`: in the address as the guest got it.
        if case .value(let n) = outcome, n >= 0, let room, case let given = Int(min(room, UInt32(sender.count))),
            given > 0, let address = try? memory.pointer(req[4], given, write: true)
        {
            flipInput([iovec(iov_base: address, iov_len: given)], count: sender.count, read: &senderBytesRead) {
                if case .flipSender(let byte, let bit) = $0 { (byte, bit) } else { nil }
            }
        }
        return outcome
    }

    /// Revenant's stdin, a terminal: wait, as the read would, until it has something to read
    /// (poll: a line, in canonical mode); then the supervisor reads it into the journal, and the
    /// guest gets what it read from there. The terminal stays the program's (isatty, its modes).
    private func readTerminal(_ host: Int32, _ buffers: [iovec]) -> SyscallOutcome {
        let room = buffers.reduce(0) { $0 + $1.iov_len }
        guard room > 0 else { return .value(0) }
        let waits = fcntl(host, F_GETFL) & O_NONBLOCK == 0
        while true {
            var ready = pollfd(fd: host, events: Int16(POLLIN), revents: 0)
            let n = poll(&ready, 1, waits ? -1 : 0)
            if n < 0 { return .value(-Int64(errno)) }
            if n == 0 { return .value(-Int64(EAGAIN)) }
            guard let got = askToConsume(SocketJournal.terminal, count: min(room, 1 << 16)) else { return .halt }
            // Another reader of the terminal took what there was first.
            if got == -Int64(EAGAIN), waits { continue }
            guard got > 0 else { return .value(got) }
            guard let bytes = lastJournaled(SocketJournal.terminal, count: Int(got)) else { return .value(-Int64(EIO)) }
            _ = ReadBuffers.fill(buffers, with: bytes)
            // `--inject 'flip replica=0 stdin=N bit=B'`, with a terminal on stdin.
            flipInput(buffers, count: bytes.count, read: &terminalBytesRead) {
                if case .flipStdin(let byte, let bit) = $0 { (byte, bit) } else { nil }
            }
            return .value(got)
        }
    }

    /// This replica's view of the journal, made when first needed and caught up with what is
    /// written whole; false without a journal.
    @discardableResult
    func catchUpJournal() -> Bool {
        guard let fd = board.socketJournal else { return false }
        if journal == nil { journal = SocketJournal(fd: fd) }
        journal!.catchUp(to: board.journalLength)
        return true
    }

    /// The primary: the last `count` bytes the supervisor put in the journal under `key`.
    func lastJournaled(_ key: UInt64, count: Int) -> [UInt8]? {
        guard catchUpJournal() else { return nil }
        return journal!.bytes(of: key, from: journal!.total(of: key) - Int64(count), count: count)
    }

    /// Ask the supervisor to consume `count` bytes from the input `made` into the journal: what
    /// it consumed, or -errno; nil when it is gone.
    private func askToConsume(_ made: UInt64, count: Int) -> Int64? {
        guard let control else { return nil }
        let seen = board.consumeAnswers
        guard chost_send_fd_word(control, -1, OutsideSockets.consume, made) == 0,
            chost_send_fd_word(control, -1, OutsideSockets.consumeCount, UInt64(count)) == 0
        else { return nil }
        while board.consumeAnswers == seen {
            guard !board.supervisorIsGone else { return nil }
            board.awaitConsumeAnswer(after: seen, timeout: 100_000_000)
        }
        return board.consumed
    }

    /// `--inject 'flip replica=0 …=N bit=B'`: byte N of what the guest reads from one kind of
    /// input (`pick` names the injections of that kind; `read` counts its bytes so far), flipped
    /// as the primary gets it; the journal keeps it right.
    func flipInput(
        _ buffers: [iovec], count: Int, read: inout Int, _ pick: (FaultInjection.Action) -> (Int, Int)?
    ) {
        let start = read
        read += count
        for i in injections {
            guard let (byte, bit) = pick(i.action), byte >= start, byte < start + count else { continue }
            ReadBuffers.flip(buffers, at: byte - start, bit: bit)
        }
    }

    /// A backup: the bytes of a stream socket, or of a terminal on stdin, the primary logged for
    /// a read are the ones the supervisor consumed (the journal): else the log is not believed
    /// there (why).
    func vetSocket(_ event: SyscallEvent) -> String? {
        guard event.result > 0, board.socketJournal != nil, Self.readsAStream(event.number, event.args[3]), let ledger
        else { return nil }
        let guestFD = Int(Int32(truncatingIfNeeded: event.args[0]))
        let made: UInt64, offset: Int64, what: String
        if board.terminalJournaled, ledger.isStdin(guestFD) {
            (made, offset, what) = (SocketJournal.terminal, ledger.stdinOffset, "the terminal on stdin")
        } else if let slot = ledger.slots[guestFD], let d = ledger.descriptions[slot.description],
            case .socket(let socket) = d.kind
        {
            (made, offset, what) = (socket, d.offset, "the socket made at event \(socket)")
        } else {
            return nil
        }
        catchUpJournal()
        let count = Int(event.result)
        // Not in the journal (a socket the supervisor does not read): not checked.
        let expected = journal!.bytes(of: made, from: offset, count: count)
        if expected == nil, made != SocketJournal.terminal { return nil }
        guard Array(event.writes.flatMap(\.bytes).prefix(count)) == expected else {
            return "the \(count) bytes of \(what) the primary logged (from byte \(offset)) "
                + "differ from those the supervisor read"
        }
        // A datagram's sender, where the guest asked for it.
        let senders = SocketJournal.senders(made)
        guard event.number == Self.recvfromCall, event.args[4] != 0, journal!.records(of: senders) > 0,
            let logged = event.writes.first(where: { $0.address == event.args[4] })
        else { return nil }
        guard let k = journal!.recordIndex(of: made, at: offset), let sender = journal!.record(of: senders, k),
            Array(sender.prefix(logged.bytes.count)) == Array(logged.bytes.prefix(sender.count))
        else {
            return "the sender of the datagram of \(what) the primary logged differs from the one the supervisor got"
        }
        return nil
    }

    /// How much the guest read, as `ledger` says, of each input in the journal: the sockets it
    /// holds, and a terminal on stdin.
    func journalOffsets(_ ledger: DescriptorLedger) -> [UInt64: Int64] {
        var offsets: [UInt64: Int64] = [:]
        for d in ledger.openDescriptions {
            if case .socket(let made) = d.kind { offsets[made] = d.offset }
        }
        if board.terminalJournaled { offsets[SocketJournal.terminal] = ledger.stdinOffset }
        return offsets
    }

    /// A new primary: for each socket its guest holds, and a terminal on stdin, what the journal
    /// has beyond its log is read first.
    func takeUpJournal(_ ledger: DescriptorLedger) {
        guard catchUpJournal() else { return }
        for (made, offset) in journalOffsets(ledger) {
            let senders = SocketJournal.senders(made)
            if made != SocketJournal.terminal, journal!.records(of: senders) > 0 {
                // A datagram socket: the datagrams the old primary received beyond its log, whole.
                guard var k = journal!.recordIndex(of: made, at: offset) else { continue }
                while let payload = journal!.record(of: made, k), let sender = journal!.record(of: senders, k) {
                    datagramPushback[made, default: []].append((payload, sender))
                    k += 1
                }
                continue
            }
            let left = journal!.total(of: made) - offset
            if left > 0, let bytes = journal!.bytes(of: made, from: offset, count: Int(left)) {
                pushback[made] = bytes
            }
        }
    }
}

extension Supervisor {
    /// The primary peeked `count` bytes of the socket made at `made`, or its terminal on stdin
    /// has something to read: they are consumed from the supervisor's copy (its own stdin) into
    /// the journal, and the primary told how many, or -errno.
    func consume(_ made: UInt64, count: Int) {
        let terminal = made == SocketJournal.terminal && board.terminalJournaled
        guard let fd = terminal ? 0 : outsideSockets[made], let journal = board.socketJournal, count > 0 else {
            board.answerConsume(-Int64(EBADF))
            return
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        var sender: [UInt8]?
        if terminal {
            // What the primary saw may be gone (another reader): the supervisor does not wait.
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 0) == 1 else { return board.answerConsume(-Int64(EAGAIN)) }
            got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
            guard got >= 0 else { return board.answerConsume(-Int64(errno)) }
        } else if OutsideSockets.type(fd) == Int32(SOCK_DGRAM.rawValue) {
            // One datagram, the one the primary peeked at (cut as its buffer cuts it), and who sent it.
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &address) { a in
                a.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                    bytes.withUnsafeMutableBytes {
                        recvfrom(fd, $0.baseAddress, count, Int32(MSG_DONTWAIT), p, &length)
                    }
                }
            }
            guard n > 0 else { return board.answerConsume(n < 0 ? -Int64(errno) : -Int64(EIO)) }
            got = n
            sender = withUnsafeBytes(of: &address) { Array($0.prefix(Int(min(length, socklen_t($0.count))))) }
        } else {
            while got < count {
                let n = bytes.withUnsafeMutableBytes {
                    recv(fd, $0.baseAddress! + got, count - got, Int32(MSG_DONTWAIT))
                }
                if n > 0 {
                    got += n
                } else if !(n < 0 && errno == EINTR) {
                    break
                }
            }
        }
        if got > 0 {
            guard
                var end = SocketJournal.append(
                    journal, at: board.journalLength, made: made, bytes: Array(bytes[..<got]))
            else {
                board.answerConsume(-Int64(EIO))
                return
            }
            if let sender {
                guard
                    let after = SocketJournal.append(journal, at: end, made: SocketJournal.senders(made), bytes: sender)
                else { return board.answerConsume(-Int64(EIO)) }
                end = after
            }
            board.journalLength = end
        }
        board.answerConsume(Int64(got))
    }
}
