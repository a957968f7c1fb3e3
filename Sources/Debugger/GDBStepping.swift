import Machine

/// Past a navigation's target, single steps (~50 µs each here): to the position one instruction
/// before another (reverse-stepi), to a watched range's write (watch, forwards and backwards).
extension GDBServer {
    /// Single steps from a position to a goal in the same return interval (the goal's segments
    /// past it followed step by step), or to the next return, or (no goal) on until stopped.
    struct Stepper {
        var remaining: [ReplayPosition.Segment] = []
        var untilReturn = false
        var hasGoal = false
        var segment = 0
        var count = 0
        var steps = 0
        /// The watched bytes now, and the step after which they last changed (and where).
        var values: [[UInt8]?]
        var lastChange: Int?
        var changedAddress: UInt64?
        /// The last step that stopped at one of gdb's breakpoints.
        var lastHit: Int?

        init(from: ReplayPosition, to goal: ReplayPosition?, values: [[UInt8]?]) {
            self.values = values
            guard let goal else { return }
            hasGoal = true
            if goal.returns == from.returns {
                // From a stop part-way through a run of steps, that run's steps made count.
                let (next, done) = from.remaining(to: goal) ?? (goal.path.count, 0)
                remaining = Array(goal.path[next...])
                count = done
            } else {
                untilReturn = true
            }
        }

        /// One step made, to `pc`: whether the goal is reached (nil: it was passed, which an exact
        /// replay never does).
        mutating func advance(pc: UInt64, returned: Bool) -> Bool? {
            guard hasGoal else { return false }
            if returned { return untilReturn ? true : nil }
            guard !untilReturn, segment < remaining.count else { return untilReturn ? false : nil }
            switch remaining[segment] {
            case .arrive(let a, let k):
                if pc == a { count += 1 }
                if count == k { (segment, count) = (segment + 1, 0) }
            case .steps(let n):
                count += 1
                if count == n { (segment, count) = (segment + 1, 0) }
            case .end:
                break
            }
            return segment == remaining.count
        }

        /// At the end of the run: whether that is the goal.
        var endIsGoal: Bool { segment == remaining.count - 1 && remaining.last == .end }
    }

    func stepping(_ why: DebugPause, pc: UInt64, machine: GuestMachine) -> DebugResume {
        guard var nav = navigation, var st = nav.stepper else { return .proceed }
        let reached: Bool
        switch why {
        case .breakpoint: return .step  // an int3 at the start of a step: the step goes on
        case .returned: return lost("a syscall returned inside a single step")
        case .stepped(let returned):
            st.steps += 1
            let now = watchedValues(machine)
            if now != st.values {
                st.lastChange = st.steps
                st.changedAddress = firstDifference(st.values, now)
                st.values = now
            }
            if gdbBreakpoints.contains(pc) { st.lastHit = st.steps }
            if case .firstChange = nav.plan.purpose, let address = st.changedAddress {
                navigation = nil
                return stop("T05thread:\(tid);watch:\(String(address, radix: 16));")
            }
            guard let r = st.advance(pc: pc, returned: returned) else { return lost("a single step passed it") }
            reached = r
        case .faulted, .exiting:
            st.steps += 1
            guard st.endIsGoal else { return lost("the run ended first") }
            reached = true
        }
        nav.stepper = st
        navigation = nav
        guard reached else { return .step }
        return goBack(afterStepping(nav, st, fault: why.isFault))
    }

    /// The replay that goes where the steps found.
    func afterStepping(_ nav: Navigation, _ st: Stepper, fault: Bool) -> Plan {
        let from = nav.target
        switch nav.plan.purpose {
        case .stepBefore:
            // At a fault the program stands at the faulting instruction: one step before the end.
            let back = st.steps - (fault ? 2 : 1)
            guard back >= 0 else { return reverseStep(from: from) ?? Plan(target: from, purpose: .report(begin)) }
            return Plan(target: from.adding(steps: back), purpose: .report(stepReply))
        case .lastChangeIn(let goal):
            // The writing instruction is one step before the change; a hit at the goal itself is
            // not before it, unless the goal is a return (then the hit is that return).
            var hit = st.lastHit
            if hit == st.steps, !st.untilReturn { hit = nil }
            if let change = st.lastChange, hit == nil || change - 1 >= hit! {
                let address = String(st.changedAddress ?? 0, radix: 16)
                return Plan(
                    target: from.adding(steps: change - 1), purpose: .report("T05thread:\(tid);watch:\(address);"))
            }
            guard let hit else { return Plan(target: startPosition, purpose: .report(begin)) }
            let at = hit == st.steps ? ReplayPosition(returns: goal.returns) : from.adding(steps: hit)
            return Plan(target: at, purpose: .report("T05thread:\(tid);swbreak:;"))
        case .report, .lastHitBefore, .firstChange, .afterEvent, .runEnd, .callBefore:
            return Plan(target: startPosition, purpose: .report(begin))
        }
    }
}

extension DebugPause {
    var isFault: Bool {
        if case .faulted = self { return true }
        return false
    }

    /// The run ends after this pause (a fatal fault, or the exit call).
    var isEnd: Bool {
        switch self {
        case .faulted, .exiting: return true
        default: return false
        }
    }
}
