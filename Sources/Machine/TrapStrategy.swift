import Glibc

/// How the guest's `syscall` reaches the VMM. Chosen by probing the hypervisor at start-up.
public enum TrapStrategy: String, Sendable, Equatable {
    /// PVM (software virtualization): `syscall` jumps to LSTAR but stays at CPL3; the stub's MMIO
    /// store exits, and the VMM itself returns to the caller (rip := rcx, rflags := r11).
    /// Measured on the development machines (Docs/machine.md "Trap strategies" and "Costs").
    case pvmUserStub = "pvm-user-stub"
    /// VMX/SVM: `syscall` enters the stub at CPL0; the VMM only sets rax and the stub's sysretq
    /// returns. UNTESTED ON HARDWARE: no machine here has VMX or SVM; exercised against a fake.
    case ring0Sysret = "ring0-sysret"

    /// Which kernel module serves /dev/kvm.
    public static func probe(sysModule: String = "/sys/module") -> (TrapStrategy, hypervisor: String) {
        func has(_ m: String) -> Bool { access("\(sysModule)/\(m)", F_OK) == 0 }
        if has("kvm_pvm") { return (.pvmUserStub, "kvm_pvm (PVM, software virtualization)") }
        if has("kvm_intel") { return (.ring0Sysret, "kvm_intel (VMX)") }
        if has("kvm_amd") { return (.ring0Sysret, "kvm_amd (SVM)") }
        return (.pvmUserStub, "unknown (assuming PVM-like behaviour)")
    }

    /// The register changes that return from a syscall with `result`.
    public func complete(_ regs: inout SyscallRegisters, result: UInt64) {
        regs.rax = result
        if self == .pvmUserStub {
            regs.rip = regs.rcx
            regs.rflags = regs.r11
        }
    }
}

/// The registers a syscall return touches (a plain struct so strategies are testable without KVM).
public struct SyscallRegisters: Equatable, Sendable {
    public var rax: UInt64, rip: UInt64, rflags: UInt64, rcx: UInt64, r11: UInt64
    public init(rax: UInt64, rip: UInt64, rflags: UInt64, rcx: UInt64, r11: UInt64) {
        self.rax = rax
        self.rip = rip
        self.rflags = rflags
        self.rcx = rcx
        self.r11 = r11
    }
}
