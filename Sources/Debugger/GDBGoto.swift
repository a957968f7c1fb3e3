import Glibc
import Machine

/// Going to a position in the shared syntax (Docs/positions.md): `revenant gdb --at POS` before
/// gdb is told where the program is, and `monitor goto POS` while gdb waits for the command.
extension GDBServer {
    /// A position as the server goes to it: the first instruction, right after event E's call
    /// returned and then `inside` (arrivals and steps counted from that return), the end.
    public enum Goto: Equatable, Sendable {
        case start
        case afterEvent(Int, inside: [ReplayPosition.Segment] = [])
        case end
    }

    /// The plan that goes there.
    func plan(_ goto: Goto, viaMonitor: Bool = false) -> Plan {
        let far = ReplayPosition(returns: Int.max)
        let reply = stepReply
        switch goto {
        case .start:
            let reply = viaMonitor ? begin : reply
            return Plan(target: viaMonitor ? startPosition : nil, purpose: .report(reply), viaMonitor: viaMonitor)
        case .afterEvent(let e, let inside):
            return Plan(target: far, purpose: .afterEvent(e, inside, reply), viaMonitor: viaMonitor)
        case .end:
            return Plan(target: far, purpose: .runEnd(reply + "replaylog:end;"), viaMonitor: viaMonitor)
        }
    }

    /// Where the run first starts: `--at`.
    public func start(at goto: Goto) { firstPlan = plan(goto) }

    /// The replay's next event (the one whose call comes next) in the process gdb is shown; -1
    /// while the replay is still one of its ancestors.
    var nextEvent: Int {
        guard let r = session?.replayer else { return 0 }
        return r.isTarget ? Int(r.index) : -1
    }

    /// While going to an event or the end: whether this pause is it (nil: not this kind of plan).
    func goingTo(_ why: DebugPause, machine: GuestMachine) -> DebugResume? {
        guard var nav = navigation else { return nil }
        switch nav.plan.purpose {
        case .afterEvent(let e, let inside, let reply):
            switch why {
            case .returned, .stepped(returned: true):
                // The replayer's index is the next event's: past E once E's call is served.
                guard nextEvent > e else { return .proceed }
                if inside.isEmpty { return arrived(machine) }
                // The parts inside the interval, from this return, as any position is followed.
                nav.target = ReplayPosition(returns: position.returns, path: inside)
                nav.plan = Plan(target: nav.target, purpose: .report(reply), viaMonitor: nav.plan.viaMonitor)
                nav.next = 0
                navigation = nav
                return beginSegment(nav.target)
            case .faulted, .exiting:
                console("revenant gdb: event \(e) is past the end of the recording; stopped at its end\n")
                position.path.append(.end)
                return arrived(machine)
            default: return .proceed
            }
        case .runEnd:
            guard why.isEnd else { return .proceed }
            position.path.append(.end)
            return arrived(machine)
        default:
            return nil
        }
    }

    /// `monitor goto POS`: go there, then answer the command (the plan's stop becomes `?`'s). Going
    /// forward goes on from here; going back resumes the latest checkpoint before the position.
    func goto(_ text: String) -> DebugResume? {
        guard let resolve = resolvePosition else { return monitorReply("monitor goto: no positions here\n") }
        let goto: Goto
        do { goto = try resolve(text) } catch { return monitorReply("monitor goto: \(error)\n") }
        let plan = plan(goto, viaMonitor: true)
        guard let machine = session?.machine else { return monitorReply("monitor goto: the program is not running\n") }
        monitorWaiting = true
        lastKeepalive = Self.now
        (stepping, watchBase) = (false, nil)
        let atEnd = position.path.last == .end
        switch goto {
        case .start:
            return goBack(plan)
        case .end:
            if atEnd { return monitorReply(whereText) }
            return startNavigation(plan, machine: machine)
        case .afterEvent(let e, let inside):
            if !atEnd, nextEvent <= e { return startNavigation(plan, machine: machine) }
            // In E's own return interval, with the parts still ahead: on from here.
            let here = ReplayPosition(returns: position.returns, path: inside)
            if !atEnd, nextEvent == e + 1, position.returns == eventReturn, position.leads(to: here) {
                return startNavigation(
                    Plan(target: here, purpose: .report(stepReply), viaMonitor: true), machine: machine)
            }
            return goBack(plan)
        }
    }

    /// Answer `monitor` with text and OK; the program stays where it is.
    func monitorReply(_ text: String) -> DebugResume? {
        connection.send("O" + RemoteConnection.hex(Array(text.utf8)))
        connection.send("OK")
        return nil
    }

    /// While gdb waits for a long `monitor goto`: an empty console line now and then, so that gdb
    /// knows the server works (gdb's remote timeout is 2 s).
    func keepAlive() {
        let now = Self.now
        guard monitorWaiting, now - lastKeepalive > 500_000_000 else { return }
        lastKeepalive = now
        connection.send("O")
    }

    /// gdb went away while the replay ran (a search may run for long without a stop): every
    /// replay ends. Looked at twice a second.
    func gdbGone() -> Bool {
        let now = Self.now
        guard now - lastPeerCheck > 500_000_000 else { return false }
        lastPeerCheck = now
        if connection.peerGone() { quit = true }
        return quit
    }

    static var now: UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// The current position in the shared syntax, when it has one: right after an event's return
    /// with only breakpoint arrivals and steps since (a call of the shims' channel in between
    /// has no event, so a position after it has no such form).
    var pastable: String? {
        let process = isChild ? "\(pid)/" : ""
        if startEvent == nil, position == .start(entry: entry) { return "start" }
        if position.path.last == .end { return process + "end" }
        guard position.returns == eventReturn, nextEvent > 0 else { return nil }
        return process + "event:\(nextEvent - 1)"
            + position.path.map { segment in
                switch segment {
                case .arrive(let a, let k): return "@0x\(String(a, radix: 16)):\(k)"
                case .steps(let n): return "+\(n)"
                case .end: return ""
                }
            }.joined()
    }

    /// `monitor where`: the position at every level.
    var whereText: String {
        let event = nextEvent
        // The event is the next one to come (as `when --symbol` places its hits).
        return (describeEvent?(event) ?? "event #\(event)") + "\n"
            + "machine: \(position) (syscall returns, then breakpoint arrivals and single steps)\n"
            + "at: "
            + (pastable.map { "\($0) (as --at and monitor goto take it)" }
                ?? "no position form (a call of Revenant's shims since event \(event - 1))") + "\n"
    }
}
