import CKVM
import GuestMemory
import KVM
import LinuxABI

/// The frame of a CPU exception on the exception stack, as the CPU pushed it and the stub's vector
/// entry completed it: a word each for the vector, the error code, rip, cs, rflags, rsp and ss.
/// The stub's iretq returns through the words from rip on, so what is stored there is what the
/// program resumes with.
struct ExceptionFrame {
    enum Word: Int { case vector = 0, error, rip, cs, rflags, rsp, ss }
    let area: UnsafeMutableRawPointer
    /// The frame's offset in the system area.
    let offset: Int

    subscript(_ w: Word) -> UInt64 {
        get { area.load(fromByteOffset: offset + 8 * w.rawValue, as: UInt64.self) }
        nonmutating set { area.storeBytes(of: newValue, toByteOffset: offset + 8 * w.rawValue, as: UInt64.self) }
    }
}

/// CPU exceptions from the program (the stub's exception exit): our own breakpoints, the
/// program's handler for the signal Linux would send (SignalFrame.swift builds its frame), or the
/// end of the run with a crash report.
extension GuestMachine {
    /// Build the frame for `d` on the guest's stack and point `regs` at the handler; a
    /// termination when there is no room for it (Linux kills with SIGSEGV then).
    func enterHandler(_ d: SignalDelivery, regs r: inout kvm_regs, vcpu: VCPU, rip: UInt64) -> Termination? {
        do {
            try SignalFrame.deliver(d, regs: &r, xsave: try vcpu.getXSAVE(), xstate: xstate, space: space)
        } catch {
            return .killed(
                signal: Signal.sigsegv,
                report: crashReport(
                    signal: Signal.sigsegv,
                    what: "no room for the \(Signal.name(d.signal)) frame on the stack",
                    rip: rip, address: r.rsp), fault: true)
        }
        return nil
    }

    /// A CPU exception from the program: the frame the CPU pushed is on the exception stack.
    /// nil: one of our breakpoints, handled, or the program's own handler for the signal entered;
    /// the guest resumes through the stub's iretq.
    func exception(_ vcpu: VCPU, kernel: GuestKernel) throws -> Termination? {
        let rsp = vcpu.syncRegs.pointee.rsp
        guard rsp >= GuestLayout.base + GuestLayout.exceptionStackBottom,
            rsp <= GuestLayout.base + GuestLayout.exceptionStackTop - 56
        else {
            return .killed(
                signal: Signal.sigsegv,
                report: "revenant: guest exception with a corrupt frame (rsp 0x\(String(rsp, radix: 16)))", fault: true)
        }
        let frame = ExceptionFrame(area: space.systemArea, offset: Int(rsp - GuestLayout.base))
        let vector = frame[.vector], error = frame[.error], rip = frame[.rip]
        if vector == 3 || vector == 1, case .some(let handled) = breakpointFrame(vector: vector, rip: rip, at: frame) {
            return handled
        }
        let cr2 = (try? vcpu.getSregs().cr2) ?? 0
        let (sig, name): (Int32, String)
        switch vector {
        case 0: (sig, name) = (Signal.sigfpe, "divide error (#DE)")
        case 1: (sig, name) = (Signal.sigtrap, "debug exception (#DB)")
        case 3: (sig, name) = (Signal.sigtrap, "breakpoint (#BP)")
        case 6: (sig, name) = (Signal.sigill, "invalid opcode (#UD)")
        case 7: (sig, name) = (Signal.sigfpe, "device not available (#NM)")
        case 13: (sig, name) = (Signal.sigsegv, "general protection fault (#GP, error 0x\(String(error, radix: 16)))")
        case 14:
            let kind =
                (error & 2 != 0 ? "write" : (error & 16 != 0 ? "instruction fetch" : "read"))
                + (error & 1 != 0 ? ", protection" : ", not present")
            (sig, name) = (Signal.sigsegv, "page fault (#PF, \(kind))")
        case 16, 19: (sig, name) = (Signal.sigfpe, "floating-point exception (vector \(vector))")
        case 17: (sig, name) = (Signal.sigbus, "alignment check (#AC)")
        default: (sig, name) = (Signal.sigsegv, "CPU exception \(vector) (error 0x\(String(error, radix: 16)))")
        }
        // `int 0x80`, the 32-bit system call gate, which Linux has and Revenant does not: said so,
        // and no handler runs (the program meant a system call, not a fault).
        if vector == 6 || vector == 13, (try? space.bytes(at: rip, count: 2)) == [0xcd, 0x80] {
            return .killed(
                signal: sig,
                report: crashReport(
                    signal: sig,
                    what: "int 0x80 (the 32-bit system call gate is not supported)",
                    rip: rip, address: nil), fault: true)
        }
        // The program's own handler, as Linux would run it: the registers at the fault in the
        // frame, the handler's entry in the exception frame the stub's iretq returns through.
        let (code, address) = GuestMachine.siginfo(vector: vector, error: error, rip: rip, cr2: cr2)
        if let d = kernel.deliverFault(
            sig, code: code,
            fault: .init(address: address, trapNumber: vector, errorCode: error))
        {
            var r = vcpu.syncRegs.pointee
            r.rip = rip
            r.rflags = frame[.rflags]
            r.rsp = frame[.rsp]
            if let end = enterHandler(d, regs: &r, vcpu: vcpu, rip: rip) { return end }
            let regs = vcpu.syncRegs
            regs.pointee.rdi = r.rdi
            regs.pointee.rsi = r.rsi
            regs.pointee.rdx = r.rdx
            regs.pointee.rax = r.rax
            vcpu.markRegsDirty()
            frame[.rip] = r.rip
            frame[.rflags] = r.rflags
            frame[.rsp] = r.rsp
            return nil
        }
        pauseForDebugger(.faulted(signal: sig), frame: frame)
        return .killed(
            signal: sig, report: crashReport(signal: sig, what: name, rip: rip, address: vector == 14 ? cr2 : nil),
            fault: true)
    }

    /// siginfo's si_code and si_addr for a CPU exception, as Linux's traps.c sets them.
    static func siginfo(vector: UInt64, error: UInt64, rip: UInt64, cr2: UInt64) -> (Int32, UInt64) {
        switch vector {
        case 14: return (error & 1 != 0 ? 2 /* SEGV_ACCERR */ : 1 /* SEGV_MAPERR */, cr2)
        case 0: return (1 /* FPE_INTDIV */, rip)
        case 6: return (2 /* ILL_ILLOPN */, rip)
        case 17: return (1 /* BUS_ADRALN */, cr2)
        case 16, 19: return (0, rip)
        default: return (0x80 /* SI_KERNEL */, 0)
        }
    }
}
