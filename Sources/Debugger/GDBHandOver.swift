import CHost
import Glibc
import Machine

/// Going backwards from a checkpoint (ReplayCheckpoints.swift): this server hands gdb's state and
/// the plan to the copy it resumes, in words through the copy's pipe, and ends.
extension GDBServer {
    /// Go to `plan`'s target: from the latest checkpoint that leads there (this process then
    /// ends), else by a new replay from the start (.abort ends this one).
    func goBack(_ plan: Plan) -> DebugResume {
        restart = plan
        let copy: ReplayCheckpoints.Entry?
        if case .afterEvent(let e, _, _) = plan.purpose {
            copy = checkpoints.latest(beforeEvent: e)
        } else {
            copy = checkpoints.latest(for: plan.target ?? startPosition, strictly: plan.isSearch)
        }
        guard let copy else { return .abort }
        // The copy inherited the copies before it that existed when it was taken: which of them
        // still live (resume ends those after it) is in the message.
        let alive = checkpoints.entries.prefix { $0.pid != copy.pid }.map { UInt64($0.pid) }
        checkpoints.resume(copy, message: [UInt64(alive.count)] + alive + handOverWords(plan))
        handOver()
    }

    /// This process is done: the first one waits for every other (it is their subreaper) and
    /// ends with the worst status among them; the others end at once.
    func handOver() -> Never {
        fflush(nil)
        guard getpid() == firstProcess else { _exit(0) }
        // gdb's connection belongs to the copy now, and so do the copies before it: should it
        // fail, they see their pipes end and exit, and this wait ends.
        close(connection.input)
        if connection.output != connection.input { close(connection.output) }
        checkpoints.letGo()
        var code: Int32 = 0
        var status: Int32 = 0
        while true {
            if wait(&status) < 0 {
                if errno == EINTR { continue }
                break
            }
            let c = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 125
            if c != 0 { code = c }
        }
        exit(code)
    }

    /// In a resumed copy: take the state the server had and go to the plan's target from here.
    func adopt(_ words: [UInt64], machine: GuestMachine) -> DebugResume {
        var reader = WordReader(words)
        guard let n = reader.next(), n < 1 << 16, let alive = reader.next(Int(n)) else {
            console("revenant gdb: a checkpoint got a damaged message; going back from the start\n")
            return goBack(Plan(target: startPosition, purpose: .report(begin)))
        }
        checkpoints.keep(Set(alive.map { pid_t(truncatingIfNeeded: $0) }))
        guard let ack = reader.next(), let plan = readHandOver(&reader, acknowledging: ack) else {
            console("revenant gdb: a checkpoint got a damaged message; going back from the start\n")
            return goBack(Plan(target: startPosition, purpose: .report(begin)))
        }
        gdbWaiting = !plan.viaMonitor
        monitorWaiting = plan.viaMonitor
        lastKeepalive = Self.now
        stepping = false
        watchBase = nil
        restart = nil
        return startNavigation(plan, machine: machine)
    }

    /// What a resumed copy needs: acknowledgements on or off, gdb's breakpoints and watchpoints,
    /// the plan, and any bytes gdb sent that this process has not read.
    func handOverWords(_ plan: Plan) -> [UInt64] {
        var w: [UInt64] = [connection.acknowledging ? 1 : 0, UInt64(gdbBreakpoints.count)] + gdbBreakpoints.sorted()
        w.append(UInt64(watchpoints.count))
        for (a, n) in watchpoints.sorted(by: { $0.key < $1.key }) { w += [a, UInt64(n)] }
        w += Self.words(plan.target)
        switch plan.purpose {
        case .report(let reply): w += [0] + Self.words(Array(reply.utf8))
        case .lastHitBefore: w += [1]
        case .stepBefore(let goal): w += [2] + Self.words(goal)
        case .firstChange: w += [3]
        case .lastChangeIn(let goal): w += [4] + Self.words(goal)
        case .afterEvent(let e, let inside, let reply):
            w += [5, UInt64(e)] + Self.words(ReplayPosition(returns: 0, path: inside)) + Self.words(Array(reply.utf8))
        case .runEnd(let reply): w += [6] + Self.words(Array(reply.utf8))
        case .callBefore: w += [7]
        }
        w.append(plan.viaMonitor ? 1 : 0)
        w += Self.words(connection.unread)
        w.append(UInt64(openFiles.count))
        for (h, f) in openFiles.sorted(by: { $0.key < $1.key }) { w += [UInt64(h)] + Self.words(Array(f.path.utf8)) }
        return w + caughtWords
    }

    private func readHandOver(_ r: inout WordReader, acknowledging: UInt64) -> Plan? {
        guard let nb = r.next(), nb < 1 << 16, let bps = r.next(Int(nb)), let nw = r.next(), nw < 1 << 16 else {
            return nil
        }
        var watches: [UInt64: Int] = [:]
        for _ in 0..<nw {
            guard let a = r.next(), let n = r.next() else { return nil }
            watches[a] = Int(n)
        }
        guard let target = r.position(), let tag = r.next() else { return nil }
        let purpose: Purpose
        switch tag {
        case 0:
            guard let reply = r.bytes() else { return nil }
            purpose = .report(String(decoding: reply, as: UTF8.self))
        case 1: purpose = .lastHitBefore
        case 2:
            guard let goal = r.position(), let g = goal else { return nil }
            purpose = .stepBefore(g)
        case 3: purpose = .firstChange
        case 4:
            guard let goal = r.position(), let g = goal else { return nil }
            purpose = .lastChangeIn(goal: g)
        case 5:
            guard let e = r.next(), let inside = r.position(), let reply = r.bytes() else { return nil }
            purpose = .afterEvent(Int(e), inside?.path ?? [], String(decoding: reply, as: UTF8.self))
        case 6:
            guard let reply = r.bytes() else { return nil }
            purpose = .runEnd(String(decoding: reply, as: UTF8.self))
        case 7: purpose = .callBefore
        default: return nil
        }
        guard let viaMonitor = r.next(), let unread = r.bytes(), let nf = r.next(), nf < 1 << 16 else { return nil }
        var files: [Int32: String] = [:]
        for _ in 0..<nf {
            guard let h = r.next(), let path = r.bytes() else { return nil }
            files[Int32(truncatingIfNeeded: h)] = String(decoding: path, as: UTF8.self)
        }
        // gdb's open files, by the same handles (these are the host's blobs, opened again).
        for f in openFiles.values { close(f.fd) }
        openFiles = [:]
        for (h, path) in files {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { openFiles[h] = (fd, path) }
        }
        guard let on = r.next() else { return nil }
        caughtSyscalls = nil
        if on != 0 {
            guard let n = r.next(), n < 1 << 16, let numbers = r.next(Int(n)) else { return nil }
            caughtSyscalls = Set(numbers)
        }
        connection.acknowledging = acknowledging != 0
        connection.unread = unread
        // The copy's int3s are those of when it was taken: gdb's now instead.
        let machine = session?.machine
        for a in gdbBreakpoints.union(ownBreakpoints) { machine?.removeBreakpoint(at: a) }
        ownBreakpoints = []
        gdbBreakpoints = Set(bps)
        // Before the program's start they go in there (an ancestor's memory may hold anything).
        if !beforeOrigin { for a in gdbBreakpoints { machine?.insertBreakpoint(at: a) } }
        watchpoints = watches
        return Plan(target: target, purpose: purpose, viaMonitor: viaMonitor != 0)
    }

    static func words(_ p: ReplayPosition?) -> [UInt64] {
        guard let p else { return [0] }
        var w: [UInt64] = [1, UInt64(p.returns), UInt64(p.path.count)]
        for s in p.path {
            switch s {
            case .arrive(let a, let k): w += [0, a, UInt64(k)]
            case .steps(let n): w += [1, UInt64(n), 0]
            case .end: w += [2, 0, 0]
            }
        }
        return w
    }

    static func words(_ bytes: [UInt8]) -> [UInt64] {
        var w: [UInt64] = [UInt64(bytes.count)]
        for i in stride(from: 0, to: bytes.count, by: 8) {
            w.append(bytes[i..<min(i + 8, bytes.count)].enumerated().reduce(0) { $0 | UInt64($1.1) << (8 * $1.0) })
        }
        return w
    }
}

/// Words read in order; nil past the end.
struct WordReader {
    let words: [UInt64]
    var at = 0
    init(_ w: [UInt64]) { words = w }

    mutating func next() -> UInt64? {
        guard at < words.count else { return nil }
        defer { at += 1 }
        return words[at]
    }

    mutating func next(_ n: Int) -> [UInt64]? {
        guard n >= 0, at + n <= words.count else { return nil }
        defer { at += n }
        return Array(words[at..<(at + n)])
    }

    /// A position (the outer nil: damaged; the inner: none was sent).
    mutating func position() -> ReplayPosition?? {
        guard let present = next() else { return nil }
        if present == 0 { return .some(nil) }
        guard let returns = next(), let count = next(), count < 1 << 16 else { return nil }
        var p = ReplayPosition(returns: Int(returns))
        for _ in 0..<count {
            guard let tag = next(), let a = next(), let b = next() else { return nil }
            switch tag {
            case 0: p.path.append(.arrive(a, count: Int(b)))
            case 1: p.path.append(.steps(Int(a)))
            case 2: p.path.append(.end)
            default: return nil
            }
        }
        return .some(p)
    }

    mutating func bytes() -> [UInt8]? {
        guard let n = next(), n < 1 << 24, let w = next((Int(n) + 7) / 8) else { return nil }
        var out: [UInt8] = []
        for word in w { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(i)))) } }
        return Array(out.prefix(Int(n)))
    }
}
