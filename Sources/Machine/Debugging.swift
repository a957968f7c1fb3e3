import CKVM
import GuestMemory
import KVM

/// Why the guest paused for a debugger (`revenant gdb`, Sources/Debugger). Every pause is on the
/// vCPU thread, inside an exit: the machine must run without the mailbox (every call an exit).
public enum DebugPause: Equatable {
    /// One of the breakpoints reached, before its instruction runs.
    case breakpoint(UInt64)
    /// The single step the last `.step` asked for is over (one instruction ran; a `syscall`
    /// instruction's step ends as the call returns, and so is also counted as a return).
    case stepped(returned: Bool)
    /// A syscall returned (every call, the shims' channel included: positions count them).
    case returned
    /// The program faults with `signal` and has no handler: the run ends after this pause.
    case faulted(signal: Int32)
    /// The program calls exit or exit_group with `status`: the run ends after this pause.
    case exiting(status: Int32)
}

/// What the debugger asks for as the guest goes on.
public enum DebugResume: Equatable {
    case proceed
    /// One instruction, then `.stepped`.
    case step
    /// End the run here: `run` throws `MachineError.aborted` (the debugger starts another replay).
    case abort
}

/// A debugger of the guest: told of every pause, it answers how the guest goes on.
public protocol GuestDebugger: AnyObject {
    func paused(_ why: DebugPause, machine: GuestMachine) -> DebugResume
}

/// The program's registers at a pause, as it has them (not the stub's): general registers,
/// segments with the FS and GS bases, and the XSAVE area (x87, SSE, AVX).
public struct ProgramRegisters {
    public var regs: kvm_regs
    public var sregs: kvm_sregs
    public var xsave: [UInt8]
}

extension GuestMachine {
    /// Pause for the debugger; `frame`: the exception frame when the pause is inside a CPU
    /// exception (the program's rip, rflags and rsp are there).
    func pauseForDebugger(_ why: DebugPause, frame: ExceptionFrame?) {
        guard let debugger else { return }
        pausedFrame = frame
        let resume = debugger.paused(why, machine: self)
        pausedFrame = nil
        switch resume {
        case .proceed: stepOverBreakpointAtResume(frame: frame)
        case .step:
            debugStepping = true
            setTrapFlag(true, frame: frame)
            stepOverBreakpointAtResume(frame: frame)
        case .abort:
            debugAbort = true
        }
    }

    /// A resume never hits a breakpoint at the instruction it resumes at (as gdb's own step-over
    /// would not): that instruction runs once with TF, and its #DB arms the int3 again. So where
    /// breakpoints are armed does not change what counts as an arrival (ReplayPosition).
    func stepOverBreakpointAtResume(frame: ExceptionFrame?) {
        guard let vcpu else { return }
        let pc = frame?[.rip] ?? vcpu.syncRegs.pointee.rip
        guard let original = breakpoints[pc], steppingOver != pc else { return }
        try? space.write([original], at: pc)
        steppingOver = pc
        setTrapFlag(true, frame: frame)
    }

    /// TF in the flags the program resumes with: in the exception frame the stub's iretq pops, or
    /// in the registers a syscall returns with.
    func setTrapFlag(_ on: Bool, frame: ExceptionFrame?) {
        if let frame {
            frame[.rflags] = on ? frame[.rflags] | GuestMachine.trapFlag : frame[.rflags] & ~GuestMachine.trapFlag
        } else if let vcpu {
            let flags = vcpu.syncRegs.pointee.rflags
            vcpu.syncRegs.pointee.rflags = on ? flags | GuestMachine.trapFlag : flags & ~GuestMachine.trapFlag
            vcpu.markRegsDirty()
        }
    }

    /// A syscall's return, with the registers the program gets back: ends a step that was over a
    /// `syscall` instruction (or through a trampoline), else is a plain return.
    func debugReturn() {
        guard debugger != nil else { return }
        // A breakpoint on the `syscall` instruction itself was stepped over: the call is its #DB.
        if let at = steppingOver {
            steppingOver = nil
            if breakpoints[at] != nil { _ = try? space.write([0xCC], at: at) }
            setTrapFlag(false, frame: nil)
        }
        let stepping = debugStepping
        if stepping {
            debugStepping = false
            setTrapFlag(false, frame: nil)
        }
        pauseForDebugger(stepping ? .stepped(returned: true) : .returned, frame: nil)
    }

    /// The #DB of a debugger's step (not a breakpoint's step-over): a pause, unless the step went
    /// into code that is not the program's (the stub, a syscall trampoline), which then runs on
    /// without TF to the call's return, where the step ends.
    func debugStepTrap(rip: UInt64, frame: ExceptionFrame) {
        debugStepping = false
        setTrapFlag(false, frame: frame)
        if isRevenantCode(rip) {
            debugStepping = true
            return
        }
        pauseForDebugger(.stepped(returned: false), frame: frame)
    }

    /// The stub's code or a syscall trampoline.
    func isRevenantCode(_ rip: UInt64) -> Bool {
        let stub = GuestLayout.base + GuestLayout.stubCode
        if rip >= stub && rip < stub + GuestLayout.stubCodeSize { return true }
        return rewriter.map { $0.originalAddress(rip) != rip } ?? false
    }

    /// The program's rip at the current pause, as `programRegisters` gives it, without the
    /// ioctls for the other registers (a pause per single step asks for it).
    public func programCounter() -> UInt64? {
        guard let vcpu else { return nil }
        let rip = pausedFrame?[.rip] ?? vcpu.syncRegs.pointee.rip
        return rewriter?.originalAddress(rip) ?? rip
    }

    /// The program's registers at the current pause (nil outside one). rip inside a trampoline
    /// is the original instruction's; TF, which only a step sets, is not shown.
    public func programRegisters() -> ProgramRegisters? {
        guard let vcpu, let sregs = try? vcpu.getSregs(), let xsave = try? vcpu.getXSAVE() else { return nil }
        var r = vcpu.syncRegs.pointee
        if let frame = pausedFrame {
            r.rflags = frame[.rflags]
            r.rsp = frame[.rsp]
        }
        r.rip = programCounter() ?? r.rip
        r.rflags &= ~GuestMachine.trapFlag
        return ProgramRegisters(regs: r, sregs: sregs, xsave: xsave)
    }

    /// Where the program arrives last before a call that returned to `rip`: its `syscall` (0f 05)
    /// at rip - 2, or, at a rewritten site (whose `syscall` runs in a trampoline, where no
    /// breakpoint is met), the site's start, a few steps before the return. nil when the bytes
    /// before are something else. The caller knows the return was a plain one (no signal
    /// handler entered, no new program, no sigreturn).
    public func callInstruction(returningTo rip: UInt64) -> (address: UInt64, rewritten: Bool)? {
        if let start = rewriter?.siteStart(endingAt: rip) { return (start, true) }
        guard rip >= 2, programBytes(at: rip - 2, count: 2) == [0x0f, 0x05] else { return nil }
        return (rip - 2, false)
    }

    /// Guest memory as the program's code and data hold it: our int3s and the rewritten syscall
    /// sites show their original bytes. nil where it is not mapped.
    public func programBytes(at address: UInt64, count: Int) -> [UInt8]? {
        guard var bytes = try? space.bytes(at: address, count: count) else { return nil }
        let end = address &+ UInt64(count)
        for (at, original) in breakpoints where at >= address && at < end {
            bytes[Int(at - address)] = original
        }
        // After the int3s: one inside a patch gives back the patched byte.
        rewriter?.restoreOriginals(&bytes, at: address)
        return bytes
    }

    /// Disarm one breakpoint (the one being stepped over stays out; its #DB will not re-arm it).
    public func removeBreakpoint(at address: UInt64) {
        guard let original = breakpoints.removeValue(forKey: address) else { return }
        if address != steppingOver { try? space.write([original], at: address) }
    }
}
