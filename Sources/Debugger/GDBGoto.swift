import Machine

/// `revenant gdb --at POS`: a position named as the other commands name one (`event:E`, as `when`
/// prints `event #E`: right after event E's call returned; `start`; `end`), reached by a replay
/// from the start before gdb is told where the program is.
extension GDBServer {
    /// What `--at` accepts.
    public enum Goto: Equatable, Sendable {
        case start
        case afterEvent(Int)
        case end

        /// `start`, `end` or `event:E`; nil for anything else.
        public init?(_ text: String) {
            switch text {
            case "start": self = .start
            case "end": self = .end
            default:
                guard text.hasPrefix("event:"), let e = Int(text.dropFirst(6)), e >= 0 else { return nil }
                self = .afterEvent(e)
            }
        }

        public static let syntax = "start, end or event:E (E an event number, as `revenant when` prints it)"
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
