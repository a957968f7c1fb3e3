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
    /// After a `.fork` outcome, in each of the two VMM processes: `child` in the new one; `pid` is
    /// the child's (its VMM's host pid). Returns the value the call returns there.
    func forked(child: Bool, pid: Int32) -> Int64
    /// False while the process shares its parent's memory (a vfork child before it execs): a
    /// syscall site rewritten there would reach the parent without its trampoline.
    var mayRewriteSyscalls: Bool { get }
    /// Asked by the mailbox's spinner between calls, from its own thread: false sends it to
    /// sleep, so that the next call exits and the vCPU thread serves it (replicas without a turn
    /// at the host's cores keep their threads off them).
    var spinnerMayPoll: Bool { get }
    /// After `forked`, in either process: true to fork again from the same state — a checkpoint
    /// of `run --replicas` stays as it was taken and makes copies of itself when asked, blocking
    /// here meanwhile (each copy goes through `forked` as a child).
    func forkAgain() -> Bool
}

extension GuestKernel {
    public var mayRewriteSyscalls: Bool { true }
    public var spinnerMayPoll: Bool { true }
    public func forkAgain() -> Bool { false }
}

/// How a guest run ended.
public enum Termination: Equatable {
    case exited(Int32)
    /// Killed by a signal (exit status 128+signal), with a one-line report; `fault` when the CPU
    /// raised it (a crash, always reported) rather than a signal the program sent itself.
    case killed(signal: Int32, report: String, fault: Bool)
    /// The kernel ended the run (SyscallOutcome.halt): not the program's doing; its caller reports
    /// why (a divergence, a bad trace, a failed recording).
    case halted

    /// The program's exit status; a halted run has none of its own and says Revenant failed.
    public var exitStatus: Int32 {
        switch self {
        case .exited(let s): return s
        case .killed(let sig, _, _): return 128 + sig
        case .halted: return 125
        }
    }
}

/// What can go wrong running a machine, one case per operation.
public enum MachineError: Error, CustomStringConvertible {
    case kvm(KVMError)
    /// `run` (or a checkpoint's continuation) before `start` made the vCPU.
    case notStarted
    /// A checkpoint needs the vCPU stopped at an exit, which the mailbox's spinner does not give.
    case notCheckpointable
    /// The hardware refused to enter the guest.
    case failEntry(reason: UInt64)
    /// A debugger ended the run (DebugResume.abort).
    case aborted
    public var description: String {
        switch self {
        case .kvm(let e): return "KVM: \(e)"
        case .notStarted: return "the machine was run before its vCPU was made"
        case .notCheckpointable: return "a checkpoint needs a stopped vCPU without the mailbox"
        case .failEntry(let reason):
            return "KVM refused to enter the guest (hardware reason 0x\(String(reason, radix: 16)))"
        case .aborted: return "the debugger ended the run"
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
    var initialXSAVE: [UInt8]?
    /// The kernel of the run in progress (a forked child's mailbox serves it too).
    weak var currentKernel: GuestKernel?
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
        SignalFrame.XState(
            features: cpuid.first { $0.function == 0xd && $0.index == 0 }
                .map { UInt64($0.eax) & 7 } ?? 3)
    }

    /// Serve syscalls through the mailbox and spinner (PVM only); false: every syscall exits.
    public let useMailbox: Bool
    var mailbox: SyscallMailbox?
    public var mailboxStats: (served: Int, fallbacks: Int)? { mailbox.map { ($0.servedBySpinner, $0.fallbacks) } }
    /// Rewrites the program's `syscall` instructions into jumps to the stub's trapless entry
    /// (SyscallRewriter); nil: every syscall traps.
    let rewriter: SyscallRewriter?
    /// The version of the rewriter in use, for the trace header; nil when syscalls trap.
    public var rewriterVersion: Int? { rewriter.map { _ in SyscallRewriter.version } }
    /// Sites rewritten, calls that came through them and calls that trapped, and why sites were
    /// left trapping.
    public var rewriterStats: (rewritten: Int, fast: Int, trapped: Int, refused: [String: Int], nanoseconds: UInt64)? {
        rewriter.map {
            (
                $0.stats.rewritten, $0.stats.fastCalls, $0.stats.trappedCalls, $0.stats.refusedByReason,
                $0.stats.nanoseconds
            )
        }
    }

    /// Software breakpoints (Breakpoints.swift): the original byte under each int3, and the one
    /// being stepped over.
    var breakpoints: [UInt64: UInt8] = [:]
    var steppingOver: UInt64?
    /// Called on the vCPU thread when the guest reaches a breakpoint, before its instruction runs.
    public var onBreakpoint: ((UInt64) -> Void)?
    /// A debugger told of every pause (Debugging.swift; a machine without the mailbox).
    public weak var debugger: GuestDebugger?
    /// A debugger's step is under way: the next #DB, or the next syscall return, ends it.
    var debugStepping = false
    /// The debugger asked to end the run (at the end of the current exit).
    var debugAbort = false
    /// During a pause inside a CPU exception: its frame.
    var pausedFrame: ExceptionFrame?
    /// The loaded program's first instruction (ld.so's, for a dynamic program), and its initial
    /// stack (argc, argv, envp, auxv).
    public private(set) var entryPoint: UInt64 = 0
    public private(set) var initialStack: UInt64 = 0

    /// `rewriteSyscalls`: the trapless path (PVM only; the stub's fast entry is user-mode code).
    public init(
        memory: UInt64, kvmPath: String = "/dev/kvm", mailbox: Bool = true, rewriteSyscalls: Bool = false
    )
        throws
    {
        let t0 = GuestMachine.now()
        (strategy, hypervisor) = TrapStrategy.probe()
        useMailbox = mailbox && strategy == .pvmUserStub
        do {
            kvm = try KVMSystem(path: kvmPath)
            guard kvm.checkExtension(KVM_CAP_SYNC_REGS) != 0 else {
                throw KVMError.missingCapability("KVM_CAP_SYNC_REGS")
            }
            vm = try kvm.createVM()
            cpuid = try kvm.supportedCPUID()
        } catch let e as KVMError { throw MachineError.kvm(e) }
        let layout = GuestLayout(memory: memory)
        space = try AddressSpace(layout: layout)
        rewriter = rewriteSyscalls && strategy == .pvmUserStub ? SyscallRewriter(space: space) : nil
        slots = [Bool](
            repeating: false, count: Int((layout.size + GuestMachine.slotChunk - 1) / GuestMachine.slotChunk))
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
            try vm.setMemoryRegion(
                slot: UInt32(i), guestPhysical: gpa, size: size, host: space.layout.virtual(physical: gpa))
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
        entryPoint = program.entry
        initialStack = program.stackPointer
        do {
            let v = try vm.createVCPU()
            let entry = useMailbox ? revenant_stub_syscall_mailbox_offset() : revenant_stub_syscall_exit_offset()
            try LongMode.configure(
                v, entry: program.entry, stack: program.stackPointer, cpuid: cpuid,
                lstar: GuestLayout.base + GuestLayout.stubCode + UInt64(entry))
            v.enableSyncRegs()
            // The FPU/SSE/AVX state a new program starts with (execve puts it back).
            initialXSAVE = try v.getXSAVE()
            vcpu = v
        } catch { throw MachineError.kvm(error) }
        startupNanoseconds += GuestMachine.now() - t0
    }

    /// The mailbox and its spinner thread (a forked VMM starts its own: threads do not survive fork).
    func startMailbox() {
        let page = space.systemArea + Int(GuestLayout.mailbox)
        // Without a spinner the fast entry must find the mailbox asleep: its post fails and exits.
        guard useMailbox, let kernel = currentKernel else {
            chost_store_u32(page.assumingMemoryBound(to: UInt32.self), UInt32(REVENANT_MB_ASLEEP))
            return
        }
        let mb = SyscallMailbox(
            page: page, serveCall: { [unowned self, unowned kernel] in self.serve($0, kernel: kernel) },
            mayPoll: { [unowned kernel] in kernel.spinnerMayPoll },
            idleWork: { [space] in space.copyDeferredStep() })
        mb.start()
        mailbox = mb
    }

    /// What one step of the run loop did: the guest goes on, or the run is over.
    enum Step {
        case handled
        case stopped(Termination)
    }

    /// Run until the program ends: a loop over one step (Firecracker's vCPU loop), each a
    /// KVM_RUN and the handling of the exit it returned.
    public func run(kernel: GuestKernel) throws -> Termination {
        guard vcpu != nil else { throw MachineError.notStarted }
        currentKernel = kernel
        defer { currentKernel = nil }
        startMailbox()
        defer { mailbox?.stop() }
        while true {
            // A checkpoint resumed inside a call runs on a new vCPU (Checkpoint.swift): each
            // step takes the current one.
            guard let vcpu else { throw MachineError.notStarted }
            if case .stopped(let end) = try step(vcpu, kernel: kernel) { return end }
            if debugAbort {
                debugAbort = false
                throw MachineError.aborted
            }
        }
    }

    /// One KVM_RUN and its exit.
    func step(_ vcpu: VCPU, kernel: GuestKernel) throws -> Step {
        let exit: VCPU.VcpuExit
        let t0 = GuestMachine.now()
        do { exit = try vcpu.runOnce() } catch { throw MachineError.kvm(error) }
        runNanoseconds += GuestMachine.now() - t0
        exits += 1
        switch exit {
        case .interrupted: return handleInterrupt()
        case .mmio(let address, _): return try handleMMIO(address, vcpu: vcpu, kernel: kernel)
        case .failEntry(let reason): throw MachineError.failEntry(reason: reason)
        case .hostFault:
            return crash(
                vcpu, Signal.sigbus,
                "memory the host cannot provide (a write to a read-only mapping, "
                    + "or past the end of a mapped file)")
        case .shutdown: return crash(vcpu, Signal.sigsegv, "triple fault (the guest's exception stack is unusable)")
        case .internalError(let suberror):
            return crash(
                vcpu, Signal.sigill,
                "KVM internal error \(suberror) (an instruction the hypervisor cannot emulate)")
        case .other(let reason): return crash(vcpu, Signal.sigsegv, "unexpected VM exit \(reason)")
        }
    }

    /// A signal from outside waits for the guest's next syscall. A second one while the first is
    /// still waiting (a guest computing without syscalls) stops the run.
    func handleInterrupt() -> Step {
        let pending = chost_signal_pending() != 0, takes = chost_signal_takes()
        if pending && interruptedWithPending && takes == takesAtInterrupt {
            let sig = [SIGINT, SIGTERM, SIGHUP].first { chost_signal_count($0) > 0 } ?? SIGINT
            return .stopped(
                .killed(
                    signal: sig,
                    report: "revenant: \(Signal.name(sig)) twice while the guest made no "
                        + "syscall to receive the first: stopped", fault: false))
        }
        interruptedWithPending = pending
        takesAtInterrupt = takes
        return .handled
    }

    /// A store to the stub's window: a syscall, a mailbox wait, a CPU exception; anywhere else an
    /// access to memory with no slot behind it.
    func handleMMIO(_ address: UInt64, vcpu: VCPU, kernel: GuestKernel) throws -> Step {
        let window = GuestLayout.mmioBase
        let regs = vcpu.syncRegs
        func done(_ end: Termination?) -> Step { end.map { .stopped($0) } ?? .handled }
        switch address {
        case window + UInt64(REVENANT_MMIO_WAIT) where mailbox != nil:
            let (outcome, rcx, r11) = mailbox!.completeWait()
            // The stub used rcx as its spin counter: the caller's rip and rflags are in the mailbox.
            regs.pointee.rcx = rcx
            regs.pointee.r11 = r11
            return done(try finish(outcome, vcpu: vcpu, alwaysReturn: true))
        case window + UInt64(REVENANT_MMIO_SYSCALL):
            mailbox?.noteExitPath()
            // Linux takes the number from eax (do_syscall_64's int nr), and so does the mailbox.
            let req = SyscallRequest(
                number: UInt64(UInt32(truncatingIfNeeded: regs.pointee.rax)),
                args: (
                    regs.pointee.rdi, regs.pointee.rsi, regs.pointee.rdx,
                    regs.pointee.r10, regs.pointee.r8, regs.pointee.r9
                ),
                rip: regs.pointee.rcx, rsp: regs.pointee.rsp)
            let outcome = serve(req, kernel: kernel)
            // A checkpoint resumed inside the call runs on a new vCPU: the call finishes there.
            return done(try finish(outcome, vcpu: self.vcpu ?? vcpu, alwaysReturn: false))
        case window + UInt64(REVENANT_MMIO_EXCEPTION):
            return done(try exception(vcpu, kernel: kernel))
        default:
            let va = address < space.layout.size ? space.layout.virtual(physical: address) : address
            return .stopped(
                .killed(
                    signal: Signal.sigsegv,
                    report: crashReport(
                        signal: Signal.sigsegv,
                        what: "access to unmapped memory", rip: regs.pointee.rip, address: va), fault: true))
        }
    }

    /// Every syscall, whichever thread serves it: the rewriter sees it first (a site's first trap
    /// rewrites it), then the kernel. Mappings whose copy was deferred are released first (the
    /// spinner copies them between calls; without one, they are copied here), unless the call
    /// maps over them (ld.so mapping a library's segments over its span).
    func serve(_ request: SyscallRequest, kernel: GuestKernel) -> SyscallOutcome {
        space.releaseDeferred(unlessMapping: GuestMachine.fixedMapping(request), copyNow: mailbox == nil)
        rewriter?.sawCall(
            returnAddress: request.rip, breakpoints: &breakpoints, allowed: kernel.mayRewriteSyscalls)
        return kernel.handle(request)
    }

    /// The range an mmap with MAP_FIXED maps (what `AddressSpace.releaseDeferred` waits for), else nil.
    static func fixedMapping(_ r: SyscallRequest) -> Range<UInt64>? {
        guard r.number == mmapNumber, r[3] & UInt64(MAP_FIXED) != 0, r[1] > 0, r[0] <= UInt64.max - r[1] else {
            return nil
        }
        return r[0]..<r[0] + r[1]
    }
    static let mmapNumber = UInt64(SyscallNames.byName["mmap"]!)

    /// The run ends with `signal`, reported with the guest's rip.
    func crash(_ vcpu: VCPU, _ signal: Int32, _ what: String) -> Step {
        let rip = (try? vcpu.getRegs())?.rip ?? 0
        return .stopped(
            .killed(
                signal: signal, report: crashReport(signal: signal, what: what, rip: rip, address: nil),
                fault: true))
    }

    /// Complete a syscall: the registers as the program sees them after it. `alwaysReturn`: the
    /// VMM returns to the caller itself (the mailbox's wait exit), whatever the strategy.
    /// Returns a termination when the call ended the program.
    func finish(_ outcome: SyscallOutcome, vcpu: VCPU, alwaysReturn: Bool) throws -> Termination? {
        let regs = vcpu.syncRegs
        let userRIP = regs.pointee.rcx, userFlags = regs.pointee.r11
        func returnValue(_ v: UInt64) {
            var r = SyscallRegisters(
                rax: regs.pointee.rax, rip: regs.pointee.rip, rflags: regs.pointee.rflags,
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
            if debugger != nil {
                regs.pointee.rip = userRIP
                regs.pointee.rflags = userFlags
                pauseForDebugger(.exiting(status: status), frame: nil)
            }
            return .exited(status)
        case .halt:
            return .halted
        case .killed(let sig, let reason):
            return .killed(
                signal: sig, report: crashReport(signal: sig, what: reason, rip: userRIP, address: nil), fault: false)
        case .deliver(let d):
            // The state the handler returns to: just after the syscall, with its result.
            var r = regs.pointee
            r.rax = UInt64(bitPattern: d.result)
            r.rip = userRIP
            r.rflags = userFlags
            if let end = enterHandler(d, regs: &r, vcpu: vcpu, rip: userRIP) { return end }
            regs.pointee = r
        case .exec(let entry, let stack):
            // Linux's start_thread: the new program starts with every register cleared but rip,
            // rsp and rflags (IF), no FS or GS base, and the FPU state of a fresh process.
            do {
                var s = try vcpu.getSregs()
                s.fs.base = 0
                s.gs.base = 0
                try vcpu.setSregs(s)
                if let initialXSAVE { try vcpu.setXSAVE(initialXSAVE) }
            } catch { throw MachineError.kvm(error) }
            // The breakpoints were in the old program's memory, which is gone with their int3s.
            breakpoints.removeAll()
            steppingOver = nil
            rewriter?.reset()
            var r = kvm_regs()
            r.rip = entry
            r.rsp = stack
            r.rflags = 0x202
            regs.pointee = r
        case .fork(let childStack):
            var (child, pid) = try forkProcess()
            guard let kernel = currentKernel else { throw MachineError.notStarted }
            // A host fork that failed (pid -errno) is the call's result: the kernel hears of it too
            // (the recorder logs it).
            var result = kernel.forked(child: child, pid: pid)
            while kernel.forkAgain() {
                (child, pid) = try forkProcess()
                result = kernel.forked(child: child, pid: pid)
            }
            // In the child the vCPU is a new one (forkProcess): its synced registers hold the call.
            let v = self.vcpu ?? vcpu
            if child, childStack != 0 { v.syncRegs.pointee.rsp = childStack }
            return try finish(.value(result), vcpu: v, alwaysReturn: alwaysReturn)
        case .signalReturn(let frame):
            var r = regs.pointee
            do {
                let current = try vcpu.getXSAVE()
                if let area = try SignalFrame.restore(
                    frame: frame, regs: &r, current: current, xstate: xstate,
                    space: space)
                {
                    try vcpu.setXSAVE(area)
                }
            } catch {
                return .killed(
                    signal: Signal.sigsegv,
                    report: crashReport(
                        signal: Signal.sigsegv,
                        what: "bad signal frame in rt_sigreturn", rip: userRIP, address: frame), fault: true)
            }
            regs.pointee = r
        }
        vcpu.markRegsDirty()
        debugReturn()
        return nil
    }

    /// Names to show for mapped files, by the path they were mapped from (replay maps blobs:
    /// this gives their recorded paths back).
    public var displayNames: [String: String] = [:]
}
