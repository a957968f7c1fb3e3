import CGuestStub
import CHost
import CKVM
import Glibc
import GuestMemory
import KVM
import LinuxABI

/// The operating system side the vCPU loop calls for each syscall (Personality in `run`; the
/// recorder and replayer later).
public protocol GuestKernel: AnyObject {
    func handle(_ request: SyscallRequest) -> SyscallOutcome
    /// A CPU exception in the program raised `signal`: the delivery into its handler, or nil when
    /// the fault ends the program.
    func deliverFault(_ signal: Int32, code: Int32, fault: SignalDelivery.Fault) -> SignalDelivery?
}

/// How a guest run ended.
public enum Termination: Equatable {
    case exited(Int32)
    /// Killed by a signal (exit status 128+signal), with a one-line report; `fault` when the CPU
    /// raised it (a crash, always reported) rather than a signal the program sent itself.
    case killed(signal: Int32, report: String, fault: Bool)

    public var exitStatus: Int32 {
        switch self {
        case .exited(let s): return s
        case .killed(let sig, _, _): return 128 + sig
        }
    }
}

public enum MachineError: Error, CustomStringConvertible {
    case kvm(KVMError)
    case setup(String)
    public var description: String {
        switch self {
        case .kvm(let e): return "KVM: \(e)"
        case .setup(let s): return s
        }
    }
}

/// One VM running one program: the guest address space, the vCPU, and the run loop.
/// The loop is a small state machine (Firecracker-style): run → exit → serve → run, until the
/// kernel says exit or the guest faults.
public final class GuestMachine: PhysicalBacking {
    public let kvm: KVMSystem
    public internal(set) var vm: VirtualMachine
    public let space: AddressSpace
    public let strategy: TrapStrategy
    public let hypervisor: String
    let cpuid: [kvm_cpuid_entry2]
    var vcpu: VCPU?
    var slots: [Bool]
    public static let slotChunk: UInt64 = 64 << 20
    public private(set) var exits = 0
    private var interruptedWithPending = false
    private var takesAtInterrupt: UInt32 = 0
    /// Time inside KVM_RUN (guest execution plus the hypervisor's own exit handling).
    public private(set) var runNanoseconds: UInt64 = 0
    public private(set) var startupNanoseconds: UInt64 = 0

    /// What XSAVE holds for the guest (the components LongMode enables in XCR0).
    var xstate: SignalFrame.XState {
        SignalFrame.XState(features: cpuid.first { $0.function == 0xd && $0.index == 0 }
                                         .map { UInt64($0.eax) & 7 } ?? 3)
    }

    /// Serve syscalls through the mailbox and spinner (PVM only); false: every syscall exits.
    public let useMailbox: Bool
    private var mailbox: SyscallMailbox?
    public var mailboxStats: (served: Int, fallbacks: Int)? { mailbox.map { ($0.servedBySpinner, $0.fallbacks) } }

    /// Software breakpoints (Breakpoints.swift): the original byte under each int3, and the one
    /// being stepped over.
    var breakpoints: [UInt64: UInt8] = [:]
    var steppingOver: UInt64?
    /// Called on the vCPU thread when the guest reaches a breakpoint, before its instruction runs.
    public var onBreakpoint: ((UInt64) -> Void)?

    public init(memory: UInt64, kvmPath: String = "/dev/kvm", mailbox: Bool = true) throws {
        let t0 = GuestMachine.now()
        (strategy, hypervisor) = TrapStrategy.probe()
        useMailbox = mailbox && strategy == .pvmUserStub
        do {
            kvm = try KVMSystem(path: kvmPath)
            guard kvm.checkExtension(KVM_CAP_SYNC_REGS) != 0 else { throw KVMError.missingCapability("KVM_CAP_SYNC_REGS") }
            vm = try kvm.createVM()
            cpuid = try kvm.supportedCPUID()
        } catch let e as KVMError { throw MachineError.kvm(e) }
        let layout = GuestLayout(memory: memory)
        space = try AddressSpace(layout: layout)
        slots = [Bool](repeating: false, count: Int((layout.size + GuestMachine.slotChunk - 1) / GuestMachine.slotChunk))
        space.backing = self
        PageTables.build(space)
        LongMode.writeSystemTables(space)
        try back(physical: 0..<GuestLayout.systemSize)
        startupNanoseconds = GuestMachine.now() - t0
    }

    static func now() -> UInt64 { chost_monotonic_ns() }

    /// Register memory slots lazily, in 64 MiB chunks, as the guest's mappings reach them:
    /// slot registration under PVM costs in proportion to size (a 4 GiB slot ~3 ms).
    public func back(physical range: Range<UInt64>) throws {
        guard !range.isEmpty else { return }
        let first = Int(range.lowerBound / GuestMachine.slotChunk)
        let last = Int((range.upperBound - 1) / GuestMachine.slotChunk)
        for i in first...last where i < slots.count && !slots[i] {
            let gpa = UInt64(i) * GuestMachine.slotChunk
            let size = min(GuestMachine.slotChunk, space.layout.size - gpa)
            try vm.setMemoryRegion(slot: UInt32(i), guestPhysical: gpa, size: size, host: space.layout.virtual(physical: gpa))
            slots[i] = true
        }
    }

    public var cpuSignature: CPUSignature { CPUSignature.captureHost() }

    /// AT_HWCAP (CPUID.1:EDX) from KVM's table: no CPUID instruction here, which traps to the
    /// outer hypervisor on nested machines (tens of µs each).
    public var hwcap: UInt64 { UInt64(cpuid.first { $0.function == 1 }?.edx ?? 0) }

    /// The vCPU's KVM statistics (exits, page faults…), when the kernel offers them.
    public func vcpuStats() -> KVMStats? {
        guard let fd = vcpu?.statsFD() else { return nil }
        defer { close(fd) }
        return KVMStats(fd: fd)
    }

    /// Create the vCPU in the state the loaded program expects.
    public func start(_ program: LoadedProgram) throws {
        let t0 = GuestMachine.now()
        do {
            let v = try vm.createVCPU()
            let entry = useMailbox ? revenant_stub_syscall_mailbox_offset() : revenant_stub_syscall_exit_offset()
            try LongMode.configure(v, entry: program.entry, stack: program.stackPointer, cpuid: cpuid,
                                   lstar: GuestLayout.base + GuestLayout.stubCode + UInt64(entry))
            v.enableSyncRegs()
            vcpu = v
        } catch { throw MachineError.kvm(error) }
        startupNanoseconds += GuestMachine.now() - t0
    }

    /// Run until the program ends.
    public func run(kernel: GuestKernel) throws -> Termination {
        guard var vcpu else { throw MachineError.setup("run before start") }
        let windowGPA = GuestLayout.mmioBase
        if useMailbox {
            let mb = SyscallMailbox(page: space.systemArea + Int(GuestLayout.mailbox), kernel: kernel)
            mb.start()
            mailbox = mb
        }
        defer { mailbox?.stop() }
        while true {
            let result: VCPU.RunResult
            let tRun = GuestMachine.now()
            do { result = try vcpu.runOnce() } catch { throw MachineError.kvm(error) }
            runNanoseconds += GuestMachine.now() - tRun
            exits += 1
            switch result {
            case .interrupted:
                // A signal from outside waits for the guest's next syscall. A second one while the
                // first is still waiting (a guest computing without syscalls) stops the run.
                let pending = chost_signal_pending() != 0, takes = chost_signal_takes()
                if pending && interruptedWithPending && takes == takesAtInterrupt {
                    let sig = [SIGINT, SIGTERM, SIGHUP].first { chost_signal_count($0) > 0 } ?? SIGINT
                    return .killed(signal: sig, report: "revenant: \(Signal.name(sig)) twice while the guest made no syscall to receive the first: stopped", fault: false)
                }
                interruptedWithPending = pending
                takesAtInterrupt = takes
                continue
            case .hostFault:
                let regs = (try? vcpu.getRegs()) ?? kvm_regs()
                return .killed(signal: Signal.sigbus, report: crashReport(signal: Signal.sigbus, what: "memory the host cannot provide (a write to a read-only mapping, or past the end of a mapped file)", rip: regs.rip, address: nil), fault: true)
            case .exited(let reason):
                switch Int32(reason) {
                case KVM_EXIT_MMIO:
                    let addr = ckvm_mmio_addr(vcpu.run)
                    let regs = vcpu.syncRegs
                    if addr == windowGPA + UInt64(REVENANT_MMIO_WAIT), let mb = mailbox {
                        let (outcome, rcx, r11) = mb.completeWait()
                        // The stub used rcx as its spin counter: the caller's rip and rflags are in the mailbox.
                        regs.pointee.rcx = rcx
                        regs.pointee.r11 = r11
                        if let end = try finish(outcome, vcpu: vcpu, alwaysReturn: true) { return end }
                    } else if addr == windowGPA + UInt64(REVENANT_MMIO_SYSCALL) {
                        mailbox?.noteExitPath()
                        let req = SyscallRequest(number: regs.pointee.rax,
                                                 args: (regs.pointee.rdi, regs.pointee.rsi, regs.pointee.rdx,
                                                        regs.pointee.r10, regs.pointee.r8, regs.pointee.r9),
                                                 rip: regs.pointee.rcx, rsp: regs.pointee.rsp)
                        let outcome = kernel.handle(req)
                        // A checkpoint resumed inside the call runs on a new vCPU (Checkpoint.swift).
                        if let current = self.vcpu, current !== vcpu { vcpu = current }
                        if let end = try finish(outcome, vcpu: vcpu, alwaysReturn: false) { return end }
                    } else if addr == windowGPA + UInt64(REVENANT_MMIO_EXCEPTION) {
                        if let end = try exception(vcpu, kernel: kernel) { return end }
                    } else {
                        let va = addr < space.layout.size ? space.layout.virtual(physical: addr) : addr
                        return .killed(signal: Signal.sigsegv, report: crashReport(signal: Signal.sigsegv,
                            what: "access to unmapped memory", rip: regs.pointee.rip, address: va), fault: true)
                    }
                case KVM_EXIT_SHUTDOWN:
                    let regs = (try? vcpu.getRegs()) ?? kvm_regs()
                    return .killed(signal: Signal.sigsegv, report: crashReport(signal: Signal.sigsegv, what: "triple fault (the guest's exception stack is unusable)", rip: regs.rip, address: nil), fault: true)
                case KVM_EXIT_INTERNAL_ERROR:
                    let regs = (try? vcpu.getRegs()) ?? kvm_regs()
                    return .killed(signal: Signal.sigill, report: crashReport(signal: Signal.sigill, what: "KVM internal error \(ckvm_internal_suberror(vcpu.run)) (an instruction the hypervisor cannot emulate)", rip: regs.rip, address: nil), fault: true)
                case KVM_EXIT_FAIL_ENTRY:
                    throw MachineError.setup("KVM refused to enter the guest (hardware reason 0x\(String(ckvm_fail_entry_reason(vcpu.run), radix: 16)))")
                default:
                    let regs = (try? vcpu.getRegs()) ?? kvm_regs()
                    return .killed(signal: Signal.sigsegv, report: crashReport(signal: Signal.sigsegv, what: "unexpected VM exit \(reason)", rip: regs.rip, address: nil), fault: true)
                }
            }
        }
    }

    /// Complete a syscall: the registers as the program sees them after it. `alwaysReturn`: the
    /// VMM returns to the caller itself (the mailbox's wait exit), whatever the strategy.
    /// Returns a termination when the call ended the program.
    func finish(_ outcome: SyscallOutcome, vcpu: VCPU, alwaysReturn: Bool) throws -> Termination? {
        let regs = vcpu.syncRegs
        let userRIP = regs.pointee.rcx, userFlags = regs.pointee.r11
        func returnValue(_ v: UInt64) {
            var r = SyscallRegisters(rax: regs.pointee.rax, rip: regs.pointee.rip, rflags: regs.pointee.rflags,
                                     rcx: userRIP, r11: userFlags)
            (alwaysReturn ? TrapStrategy.pvmUserStub : strategy).complete(&r, result: v)
            regs.pointee.rax = r.rax
            regs.pointee.rip = r.rip
            regs.pointee.rflags = r.rflags
        }
        switch outcome {
        case .value(let v):
            returnValue(UInt64(bitPattern: v))
        case .setFSBase(let b):
            do {
                var s = try vcpu.getSregs()
                s.fs.base = b
                try vcpu.setSregs(s)
            } catch { throw MachineError.kvm(error) }
            returnValue(0)
        case .exit(let status):
            return .exited(status)
        case .killed(let sig, let reason):
            return .killed(signal: sig, report: crashReport(signal: sig, what: reason, rip: userRIP, address: nil), fault: false)
        case .deliver(let d):
            // The state the handler returns to: just after the syscall, with its result.
            var r = regs.pointee
            r.rax = UInt64(bitPattern: d.result)
            r.rip = userRIP
            r.rflags = userFlags
            if let end = enterHandler(d, regs: &r, vcpu: vcpu, rip: userRIP) { return end }
            regs.pointee = r
        case .signalReturn(let frame):
            var r = regs.pointee
            do {
                let current = try vcpu.getXSAVE()
                if let area = try SignalFrame.restore(frame: frame, regs: &r, current: current, xstate: xstate,
                                                      space: space) {
                    try vcpu.setXSAVE(area)
                }
            } catch {
                return .killed(signal: Signal.sigsegv, report: crashReport(signal: Signal.sigsegv,
                    what: "bad signal frame in rt_sigreturn", rip: userRIP, address: frame), fault: true)
            }
            regs.pointee = r
        }
        vcpu.markRegsDirty()
        return nil
    }

    /// Build the frame for `d` on the guest's stack and point `regs` at the handler; a
    /// termination when there is no room for it (Linux kills with SIGSEGV then).
    func enterHandler(_ d: SignalDelivery, regs r: inout kvm_regs, vcpu: VCPU, rip: UInt64) -> Termination? {
        do {
            try SignalFrame.deliver(d, regs: &r, xsave: try vcpu.getXSAVE(), xstate: xstate, space: space)
        } catch {
            return .killed(signal: Signal.sigsegv, report: crashReport(signal: Signal.sigsegv,
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
        guard rsp >= GuestLayout.base + GuestLayout.exceptionStackBottom, rsp <= GuestLayout.base + GuestLayout.exceptionStackTop - 56 else {
            return .killed(signal: Signal.sigsegv, report: "revenant: guest exception with a corrupt frame (rsp 0x\(String(rsp, radix: 16)))", fault: true)
        }
        let frameOff = Int(rsp - GuestLayout.base)
        func word(_ i: Int) -> UInt64 { space.systemArea.load(fromByteOffset: frameOff + 8 * i, as: UInt64.self) }
        let vector = word(0), error = word(1), rip = word(2)
        if vector == 3 || vector == 1, case .some(let handled) = breakpointFrame(vector: vector, rip: rip, at: frameOff) { return handled }
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
            let kind = (error & 2 != 0 ? "write" : (error & 16 != 0 ? "instruction fetch" : "read")) + (error & 1 != 0 ? ", protection" : ", not present")
            (sig, name) = (Signal.sigsegv, "page fault (#PF, \(kind))")
        case 16, 19: (sig, name) = (Signal.sigfpe, "floating-point exception (vector \(vector))")
        case 17: (sig, name) = (Signal.sigbus, "alignment check (#AC)")
        default: (sig, name) = (Signal.sigsegv, "CPU exception \(vector) (error 0x\(String(error, radix: 16)))")
        }
        // `int 0x80`, the 32-bit system call gate, which Linux has and Revenant does not: said so,
        // and no handler runs (the program meant a system call, not a fault).
        if vector == 6 || vector == 13, (try? space.bytes(at: rip, count: 2)) == [0xcd, 0x80] {
            return .killed(signal: sig, report: crashReport(signal: sig,
                what: "int 0x80 (the 32-bit system call gate is not supported)",
                rip: rip, address: nil), fault: true)
        }
        // The program's own handler, as Linux would run it: the registers at the fault in the
        // frame, the handler's entry in the exception frame the stub's iretq returns through.
        let (code, address) = GuestMachine.siginfo(vector: vector, error: error, rip: rip, cr2: cr2)
        if let d = kernel.deliverFault(sig, code: code,
                                       fault: .init(address: address, trapNumber: vector, errorCode: error)) {
            var r = vcpu.syncRegs.pointee
            r.rip = rip
            r.rflags = word(4)
            r.rsp = word(5)
            if let end = enterHandler(d, regs: &r, vcpu: vcpu, rip: rip) { return end }
            let regs = vcpu.syncRegs
            regs.pointee.rdi = r.rdi
            regs.pointee.rsi = r.rsi
            regs.pointee.rdx = r.rdx
            regs.pointee.rax = r.rax
            vcpu.markRegsDirty()
            for (i, v) in [(2, r.rip), (4, r.rflags), (5, r.rsp)] {
                space.systemArea.storeBytes(of: v, toByteOffset: frameOff + 8 * i, as: UInt64.self)
            }
            return nil
        }
        return .killed(signal: sig, report: crashReport(signal: sig, what: name, rip: rip, address: vector == 14 ? cr2 : nil), fault: true)
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

    /// Names to show for mapped files, by the path they were mapped from (replay maps blobs:
    /// this gives their recorded paths back).
    public var displayNames: [String: String] = [:]

    /// An address as "0x… (file: symbol+0x…)" when it lies in a mapped file.
    public func describe(rip: UInt64) -> String {
        var s = "0x\(String(rip, radix: 16))"
        if let m = space.mapping(containing: rip), let path = m.path {
            let fileOffset = rip - m.start + m.offset
            var file = displayNames[path] ?? path
            file = file.split(separator: "/").last.map(String.init) ?? file
            if file.count == 64, file.allSatisfy(\.isHexDigit) { file = "blob " + file.prefix(12) }
            s += " (\(file)" + (Symbolizer.symbol(inFile: path, fileOffset: fileOffset).map { ": " + $0 } ?? "+0x\(String(fileOffset, radix: 16))") + ")"
        }
        return s
    }

    /// "revenant: guest killed by SIGSEGV: page fault (…) at address 0x…, rip 0x… (libc.so.6: strlen+0x11)"
    public func crashReport(signal: Int32, what: String, rip: UInt64, address: UInt64?) -> String {
        var s = "revenant: guest killed by \(Signal.name(signal)): \(what)"
        if let address { s += " at address 0x\(String(address, radix: 16))" }
        return s + ", rip " + describe(rip: rip)
    }
}
