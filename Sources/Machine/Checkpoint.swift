import CKVM
import Glibc
import CGuestStub
import GuestMemory
import KVM
import LinuxABI

/// Checkpoints by fork (rr does the same; measured exact on this host, Docs/machine.md "Costs"):
/// a paused VMM forks; the child holds the guest's memory copy-on-write and waits. Resumed, it
/// cannot use the parent's VM (KVM ties a VM to the process that made it), so it creates a new
/// VM over the inherited memory and a vCPU in the saved state, and the run loop goes on with it
/// from inside the same exit. Only for machines without the mailbox: the saved state is the
/// vCPU's at an exit, on the vCPU thread.
extension GuestMachine {
    /// What a vCPU is, at an exit: general registers (the synced copy), special registers
    /// (segments with FS base, control registers, EFER) and the XSAVE area (x87/SSE/AVX).
    public struct VCPUState {
        var regs: kvm_regs
        var sregs: kvm_sregs
        var xsave: [UInt8]
    }

    /// The vCPU's state, at an exit.
    public func saveVCPU() throws -> VCPUState {
        guard let vcpu, !useMailbox else { throw MachineError.notCheckpointable }
        do {
            return VCPUState(regs: vcpu.syncRegs.pointee, sregs: try vcpu.getSregs(), xsave: try vcpu.getXSAVE())
        } catch {
            throw MachineError.kvm(error)
        }
    }

    /// A guest fork, at the exit of its call, on the vCPU thread: the VMM process forks (the
    /// mailbox's spinner is stopped first, and each side starts its own: a thread does not
    /// survive fork), and the child rebuilds its VM over the copy-on-write memory. Returns
    /// whether this is the child, and the child's pid (a negative errno when the host refused).
    func forkProcess() throws -> (child: Bool, pid: Int32) {
        guard let vcpu else { throw MachineError.notStarted }
        let state: VCPUState
        do {
            state = VCPUState(regs: vcpu.syncRegs.pointee, sregs: try vcpu.getSregs(), xsave: try vcpu.getXSAVE())
        } catch { throw MachineError.kvm(error) }
        mailbox?.stop()
        mailbox = nil
        fflush(nil)
        let pid = fork()
        guard pid >= 0 else {
            // The host has no room for another process: the guest's fork fails as Linux's would.
            let e = errno
            startMailbox()
            return (false, -(e == ENOMEM ? ENOMEM : EAGAIN))
        }
        if pid == 0 {
            try rebuildAfterFork(state)
            startMailbox()
            return (true, getpid())
        }
        startMailbox()
        return (false, pid)
    }

    /// In a forked child: a new VM over the inherited guest memory (the same memory slots), and
    /// a vCPU in `state`. The next KVM_RUN continues the guest where the parent stopped it.
    public func rebuildAfterFork(_ state: VCPUState) throws {
        do {
            let fresh = try kvm.createVM()
            // The parent's VM and vCPU are unusable here (EIO); dropping them unmaps our copy
            // of its kvm_run page and closes the descriptors.
            vcpu = nil
            vm = fresh
            let registered = slots
            slots = [Bool](repeating: false, count: registered.count)
            for (i, on) in registered.enumerated() where on {
                let gpa = UInt64(i) * GuestMachine.slotChunk
                try back(physical: gpa..<(gpa + min(GuestMachine.slotChunk, space.layout.size - gpa)))
            }
            let v = try vm.createVCPU()
            try LongMode.configure(
                v, entry: state.regs.rip, stack: state.regs.rsp, cpuid: cpuid,
                lstar: GuestLayout.base + GuestLayout.stubCode
                    + UInt64(useMailbox ? revenant_stub_syscall_mailbox_offset() : revenant_stub_syscall_exit_offset()))
            try v.setSregs(state.sregs)
            try v.setXSAVE(state.xsave)
            v.enableSyncRegs()
            // The exit being served writes its result into the synced registers: start them
            // from the saved ones, and have KVM load them all on the next KVM_RUN.
            v.syncRegs.pointee = state.regs
            v.markRegsDirty()
            vcpu = v
        } catch let e as KVMError { throw MachineError.kvm(e) }
    }

    /// In a clone rebuilt inside a syscall exit: finish that call with `value` and run on (the
    /// guest continues in the clone, served by `kernel`).
    public func continueInClone(returning value: Int64, kernel: GuestKernel) throws -> Termination {
        guard let vcpu else { throw MachineError.notStarted }
        // As the run loop finishes a syscall exit (rax, and rip/rflags back to the caller).
        if let end = try finish(.value(value), vcpu: vcpu, alwaysReturn: false) { return end }
        return try run(kernel: kernel)
    }
}

/// A paused copy of this VMM process, forked at an exit (a checkpoint). The parent keeps the
/// write end of the copy's pipe; the copy waits for a message of words. Resumed (a message that
/// is not empty), it builds its own VM and goes on from the same exit; an empty message, or the
/// pipe's end, makes it exit quietly.
public enum PausedCopy {
    case taken(pid: pid_t, pipe: Int32)
    case resumed([UInt64])
}

extension GuestMachine {
    /// Fork a paused copy here (at an exit, without the mailbox). `whileWaiting` runs in the copy
    /// before it waits (to let go of what is not its own). nil when the host refused.
    public func forkPausedCopy(whileWaiting: () -> Void = {}) -> PausedCopy? {
        guard let state = try? saveVCPU() else { return nil }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return nil }
        fflush(nil)  // nothing buffered twice
        let pid = fork()
        if pid < 0 {
            close(fds[0])
            close(fds[1])
            return nil
        }
        guard pid == 0 else {
            close(fds[0])
            return .taken(pid: pid, pipe: fds[1])
        }
        close(fds[1])
        whileWaiting()
        let message = GuestMachine.receiveWords(fds[0])
        close(fds[0])
        guard let message, !message.isEmpty else { _exit(0) }
        do { try rebuildAfterFork(state) } catch {
            let line = "revenant: cannot resume a checkpoint: \(error)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            _exit(125)
        }
        return .resumed(message)
    }

    /// A message to a paused copy: its length, then its words.
    public static func sendWords(_ fd: Int32, _ words: [UInt64]) {
        ([UInt64(words.count)] + words).withUnsafeBytes { _ = writeAll(fd, $0) }
    }

    static func receiveWords(_ fd: Int32) -> [UInt64]? {
        func read(_ count: Int) -> [UInt64]? {
            var words = [UInt64](repeating: 0, count: count)
            return words.withUnsafeMutableBytes { readExactly(fd, $0) } ? words : nil
        }
        guard let count = read(1)?.first, count < 1 << 20 else { return nil }
        return read(Int(count))
    }
}
