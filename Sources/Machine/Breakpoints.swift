/// Software breakpoints, as many as wanted, not the CPU's four (Docs/architecture.md "Looking without
/// touching"). Under PVM the hypervisor's own debug support does not work (Docs/architecture.md "The guest
/// and the VMM"): an int3 reaches the guest's IDT, whose vector 3 entry in the stub exits
/// to the VMM with the CPU's frame. The VMM reports the hit, puts the original byte back, rewinds
/// rip and sets TF, so that exactly the original instruction runs; its #DB (vector 1) exits
/// again, and the VMM re-inserts the int3 and clears TF. The program's registers and memory are
/// as if nothing happened (the code byte is ours while armed; programs do not read their code).
extension GuestMachine {
    static let trapFlag: UInt64 = 0x100

    /// Arm an int3 at `address` (guest code). False if it is not readable and writable here or
    /// is armed already.
    @discardableResult
    public func insertBreakpoint(at address: UInt64) -> Bool {
        guard breakpoints[address] == nil, let original = try? space.bytes(at: address, count: 1) else { return false }
        // The instruction being stepped over runs first: its #DB arms this one.
        guard address == steppingOver || (try? space.write([0xCC], at: address)) != nil else { return false }
        breakpoints[address] = original[0]
        return true
    }

    /// Disarm every breakpoint (the one being stepped over is not re-armed).
    public func removeAllBreakpoints() {
        for (address, original) in breakpoints where address != steppingOver {
            try? space.write([original], at: address)
        }
        breakpoints.removeAll()
    }

    public var breakpointCount: Int { breakpoints.count }

    /// The exception `frame` is one of ours: handle it and return nil-termination (resume); nil
    /// if it is the program's own.
    func breakpointFrame(vector: UInt64, rip: UInt64, at frame: ExceptionFrame) -> Termination?? {
        if vector == 3, rip > 0, let original = breakpoints[rip - 1] {
            let at = rip - 1
            frame[.rip] = at
            // The hook sees the program's registers at the breakpoint (programRegisters).
            pausedFrame = frame
            onBreakpoint?(at)
            pausedFrame = nil
            // Run the original instruction once, then re-arm on its #DB.
            _ = try? space.write([original], at: at)
            frame[.rflags] |= Self.trapFlag
            steppingOver = at
            // A debugger's step from here ends at the step-over's #DB (TF is already set).
            pauseForDebugger(.breakpoint(at), frame: frame)
            return .some(nil)
        }
        if vector == 1, let at = steppingOver {
            steppingOver = nil
            if breakpoints[at] != nil { _ = try? space.write([0xCC], at: at) }
            frame[.rflags] &= ~Self.trapFlag
            if debugStepping { debugStepTrap(rip: rip, frame: frame) }
            return .some(nil)
        }
        if vector == 1, debugStepping {
            debugStepTrap(rip: rip, frame: frame)
            return .some(nil)
        }
        return nil
    }
}
