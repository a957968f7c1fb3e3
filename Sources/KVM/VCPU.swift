import CKVM
import Glibc
import SystemPackage

/// A handle on one vCPU fd (rust-vmm's `VcpuFd`). Only ever used from the thread that runs it.
public final class VCPU: @unchecked Sendable {
    public let fd: Int32
    /// The kvm_run page shared with the kernel; valid until deinit.
    public let run: UnsafeMutablePointer<kvm_run>
    let mmapSize: Int

    init(fd: Int32, run: UnsafeMutablePointer<kvm_run>, mmapSize: Int) {
        self.fd = fd
        self.run = run
        self.mmapSize = mmapSize
    }

    deinit {
        munmap(run, mmapSize)
        close(fd)
    }

    /// KVM_RUN until the next exit, decoded from the kvm_run page (Firecracker's `VcpuExit`):
    /// the run loop switches on what happened, never on kvm_run's raw fields.
    public func runOnce() throws(KVMError) -> VcpuExit {
        // Safe: KVM_RUN takes no argument; results land in the kvm_run page we mapped.
        let r = ckvm_ioctl_int(fd, CKVM_RUN, 0)
        if r == -EINTR { return .interrupted }
        if r == -EFAULT { return .hostFault }
        _ = try check(r, "KVM_RUN")
        switch Int32(run.pointee.exit_reason) {
        case KVM_EXIT_MMIO: return .mmio(address: ckvm_mmio_addr(run), write: ckvm_mmio_is_write(run) != 0)
        case KVM_EXIT_SHUTDOWN: return .shutdown
        case KVM_EXIT_INTERNAL_ERROR: return .internalError(suberror: ckvm_internal_suberror(run))
        case KVM_EXIT_FAIL_ENTRY: return .failEntry(reason: ckvm_fail_entry_reason(run))
        default: return .other(reason: run.pointee.exit_reason)
        }
    }

    /// Why KVM_RUN returned.
    public enum VcpuExit: Equatable, Sendable {
        /// An access to guest-physical memory with no slot (the guest stub's window).
        case mmio(address: UInt64, write: Bool)
        /// A triple fault.
        case shutdown
        /// An instruction the hypervisor could not emulate.
        case internalError(suberror: UInt32)
        /// The hardware refused to enter the guest.
        case failEntry(reason: UInt64)
        /// A host signal (EINTR).
        case interrupted
        /// KVM could not fault in a host page (e.g. a guest write to a read-only host mapping).
        case hostFault
        /// Any other exit reason (KVM_EXIT_*), unexpected here.
        case other(reason: UInt32)
    }

    /// Ask KVM to keep the general registers in kvm_run (KVM_CAP_SYNC_REGS): no GET/SET_REGS per exit.
    public func enableSyncRegs() {
        run.pointee.kvm_valid_regs = UInt64(CKVM_SYNC_X86_REGS)
    }

    /// The synced general registers (valid after an exit when sync regs are enabled).
    public var syncRegs: UnsafeMutablePointer<kvm_regs> { ckvm_sync_regs(run) }

    /// Mark the synced registers as changed so KVM loads them on the next KVM_RUN.
    public func markRegsDirty() {
        run.pointee.kvm_dirty_regs |= UInt64(CKVM_SYNC_X86_REGS)
    }

    public func getRegs() throws(KVMError) -> kvm_regs {
        var regs = kvm_regs()
        // Safe: regs is a kvm_regs on our stack, the ioctl fills it.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_GET_REGS, &regs), "KVM_GET_REGS")
        return regs
    }

    public func setRegs(_ regs: kvm_regs) throws(KVMError) {
        var r = regs
        // Safe: r is a complete kvm_regs on our stack, read by the ioctl.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_SET_REGS, &r), "KVM_SET_REGS")
    }

    public func getSregs() throws(KVMError) -> kvm_sregs {
        var s = kvm_sregs()
        // Safe: s is a kvm_sregs on our stack, the ioctl fills it.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_GET_SREGS, &s), "KVM_GET_SREGS")
        return s
    }

    public func setSregs(_ sregs: kvm_sregs) throws(KVMError) {
        var s = sregs
        // Safe: s is a complete kvm_sregs on our stack, read by the ioctl.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_SET_SREGS, &s), "KVM_SET_SREGS")
    }

    /// KVM_SET_MSRS for a list of (index, value).
    public func setMSRs(_ msrs: [(UInt32, UInt64)]) throws(KVMError) {
        guard let buf = ckvm_msrs_alloc(UInt32(msrs.count)) else {
            throw .ioctl(name: "KVM_SET_MSRS", errno: .noMemory)
        }
        defer { free(buf) }
        let e = ckvm_msrs_entries(buf)!
        for (i, m) in msrs.enumerated() { e[i] = kvm_msr_entry(index: m.0, reserved: 0, data: m.1) }
        // Safe: buf is a kvm_msrs header with nmsrs entries filled above.
        let n = try check(ckvm_ioctl_ptr(fd, CKVM_SET_MSRS, buf), "KVM_SET_MSRS")
        if n != msrs.count { throw .ioctl(name: "KVM_SET_MSRS (set \(n) of \(msrs.count))", errno: .invalidArgument) }
    }

    public func setFPU(_ fpu: kvm_fpu) throws(KVMError) {
        var f = fpu
        // Safe: f is a complete kvm_fpu on our stack, read by the ioctl.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_SET_FPU, &f), "KVM_SET_FPU")
    }

    public func setCPUID(_ entries: [kvm_cpuid_entry2]) throws(KVMError) {
        guard let buf = ckvm_cpuid2_alloc(UInt32(entries.count)) else {
            throw .ioctl(name: "KVM_SET_CPUID2", errno: .noMemory)
        }
        defer { free(buf) }
        let e = ckvm_cpuid2_entries(buf)!
        for (i, x) in entries.enumerated() { e[i] = x }
        // Safe: buf is a kvm_cpuid2 header with nent entries filled above.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_SET_CPUID2, buf), "KVM_SET_CPUID2")
    }

    /// KVM_SET_XCRS with XCR0 = value (which state components XSAVE manages: x87, SSE, AVX…).
    public func setXCR0(_ value: UInt64) throws(KVMError) {
        var x = kvm_xcrs()
        x.nr_xcrs = 1
        x.xcrs.0 = kvm_xcr(xcr: 0, reserved: 0, value: value)
        // Safe: x is a complete kvm_xcrs on our stack, read by the ioctl.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_SET_XCRS, &x), "KVM_SET_XCRS")
    }

    /// KVM_GET_XSAVE: the FPU/SSE/AVX state (a checkpoint must carry the vector registers).
    public func getXSAVE() throws(KVMError) -> [UInt8] {
        var area = [UInt8](repeating: 0, count: Int(CKVM_XSAVE_SIZE))
        // Safe: area is exactly sizeof(struct kvm_xsave) bytes, filled by the ioctl.
        let r = area.withUnsafeMutableBytes { ckvm_ioctl_ptr(fd, CKVM_GET_XSAVE, $0.baseAddress) }
        _ = try check(r, "KVM_GET_XSAVE")
        return area
    }

    public func setXSAVE(_ area: [UInt8]) throws(KVMError) {
        guard area.count == Int(CKVM_XSAVE_SIZE) else { throw .ioctl(name: "KVM_SET_XSAVE", errno: .invalidArgument) }
        var a = area
        // Safe: a is exactly sizeof(struct kvm_xsave) bytes, read by the ioctl.
        let r = a.withUnsafeMutableBytes { ckvm_ioctl_ptr(fd, CKVM_SET_XSAVE, $0.baseAddress) }
        _ = try check(r, "KVM_SET_XSAVE")
    }

    /// KVM_GET_STATS_FD: a descriptor on the vCPU's binary statistics (exits, page faults…).
    public func statsFD() -> Int32? {
        // Safe: no argument; returns a new fd.
        let r = ckvm_ioctl_int(fd, CKVM_GET_STATS_FD, 0)
        return r < 0 ? nil : r
    }
}
