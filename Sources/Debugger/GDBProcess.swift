import Machine

/// gdb shows one program: the last one the process ran (`--pid` picks a child). A process that
/// loaded it by an execve, or a child, starts part-way through the replay: the ancestors' part
/// (replayed in the same VM, up to the fork that made the child) and the process's earlier
/// programs run unseen, and gdb's breakpoints go in at the program's start.
extension GDBServer {
    /// Where gdb's program starts: its first instruction, or the return of the call after which
    /// it runs (`startEvent`'s, or the child's fork).
    var startPosition: ReplayPosition { origin ?? .start(entry: entry) }

    /// The replay has not reached the program gdb is shown.
    var beforeOrigin: Bool {
        guard startEvent != nil else { return false }
        return origin.map { position.returns < $0.returns } ?? true
    }

    /// At a return, with `startEvent`: the program's start, once found in the first replay, then
    /// passed again in each replay from the beginning (gdb's breakpoints go in there).
    func passReturn(_ machine: GuestMachine) {
        if origin == nil, let s = startEvent, nextEvent > s {
            origin = position
            entry = machine.programCounter() ?? 0
            // The new program's initial stack is where its rsp points at its first instruction.
            if let rsp = machine.programRegisters()?.regs.rsp { auxv = readAuxv(machine, stack: rsp) }
        }
        guard position == origin else { return }
        for a in gdbBreakpoints { machine.insertBreakpoint(at: a) }
    }
}
