import Machine

/// gdb's write watchpoints (Z2). The VMM sees the program only at its pauses, so a watched range
/// is read at every syscall return and stop; a change found there is narrowed to the instruction
/// that wrote it by replaying that stretch again in single steps. Forwards the stop is after the
/// write; backwards, at the writing instruction (the value before it), as gdb expects.
extension GDBServer {
    /// The watched ranges' bytes, by address (nil where unmapped).
    func watchedValues(_ machine: GuestMachine) -> [[UInt8]?] {
        watchpoints.keys.sorted().map { machine.programBytes(at: $0, count: watchpoints[$0] ?? 0) }
    }

    /// The address of the first range that differs between two readings.
    func firstDifference(_ a: [[UInt8]?], _ b: [[UInt8]?]) -> UInt64? {
        let addresses = watchpoints.keys.sorted()
        for i in 0..<min(a.count, b.count, addresses.count) where a[i] != b[i] { return addresses[i] }
        return nil
    }

    /// While running: the range that changed since the last reading, if one did.
    func watchChange(_ machine: GuestMachine) -> UInt64? {
        guard let base = watchBase, !watchpoints.isEmpty else { return nil }
        return firstDifference(base.values, watchedValues(machine))
    }

    /// The bytes as gdb resumes the program (c, s): what a change is measured against.
    func noteResume() {
        guard !watchpoints.isEmpty, let machine = session?.machine else {
            watchBase = nil
            return
        }
        watchBase = (position, watchedValues(machine))
    }

    /// A change since the last reading: replay to that reading and single-step to the write.
    func narrowWatch() -> DebugResume {
        guard let base = watchBase else { return .proceed }
        return goBack(Plan(target: base.position, purpose: .firstChange))
    }

    /// reverse-continue with watchpoints: the values at each return, and where the last interval
    /// in which they changed began.
    func noteWatched(_ nav: inout Navigation, _ machine: GuestMachine) {
        guard case .lastHitBefore = nav.plan.purpose, let watched = nav.watched else { return }
        let now = watchedValues(machine)
        if now != watched.values { nav.changeFrom = watched.position }
        nav.watched = (position, now)
    }

    /// reverse-continue's answer: the last breakpoint hit, unless a watched range changed after
    /// the interval it is in began (then single steps through that interval decide).
    func lastHitPlan(_ nav: Navigation) -> Plan {
        let hitPlan =
            nav.candidate.map { Plan(target: $0, purpose: .report(nav.candidateReply ?? "T05thread:\(tid);swbreak:;")) }
            ?? Plan(target: startPosition, purpose: .report(begin))
        // Nothing since the checkpoint this search started from: the stretch before it next,
        // unless it started at the program's start (or before it).
        if nav.candidate == nil, nav.changeFrom == nil, nav.origin != startPosition, startPosition.leads(to: nav.origin)
        {
            return Plan(target: nav.origin, purpose: .lastHitBefore)
        }
        guard let from = nav.changeFrom else { return hitPlan }
        if let c = nav.candidate, c.returns > from.returns { return hitPlan }
        let goal = from.returns == nav.target.returns ? nav.target : ReplayPosition(returns: from.returns + 1)
        return Plan(target: from, purpose: .lastChangeIn(goal: goal))
    }
}
