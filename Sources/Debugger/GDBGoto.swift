import Machine

/// `revenant gdb --at POS`: a position (Docs/positions.md) as the syscall return it follows,
/// reached by a replay from the start before gdb is told where the program is.
extension GDBServer {
    /// Where `--at` starts: the first instruction, right after event E's call returned, the end.
    public enum Goto: Equatable, Sendable {
        case start
        case afterEvent(Int)
        case end
    }

    /// The plan that goes there (the run's start: a replay from the beginning).
    func plan(_ goto: Goto) -> Plan {
        let far = ReplayPosition(returns: Int.max)
        switch goto {
        case .start: return Plan(target: nil, purpose: .report("T05thread:\(tid);"))
        case .afterEvent(let e): return Plan(target: far, purpose: .afterEvent(e, "T05thread:\(tid);"))
        case .end: return Plan(target: far, purpose: .runEnd("T05thread:\(tid);replaylog:end;"))
        }
    }

    /// Where the run first starts: `--at`.
    public func start(at goto: Goto) { firstPlan = plan(goto) }

    /// While going to an event or the end: whether this pause is it (nil: not this kind of plan).
    func goingTo(_ why: DebugPause, machine: GuestMachine) -> DebugResume? {
        guard let nav = navigation else { return nil }
        switch nav.plan.purpose {
        case .afterEvent(let e, _):
            switch why {
            case .returned:
                // The replayer's index is the next event's: past E once E's call is served.
                guard let index = session?.replayer.index, index > UInt64(e) else { return .proceed }
                return arrived(machine)
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
}
