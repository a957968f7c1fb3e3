import CKVM
import Glibc
import SystemPackage

/// A handle on one VM fd (rust-vmm's `VmFd`): memory slots and vCPU creation.
public final class VirtualMachine: @unchecked Sendable {
    public let fd: Int32
    let system: KVMSystem

    init(fd: Int32, system: KVMSystem) {
        self.fd = fd
        self.system = system
    }

    deinit { close(fd) }

    /// KVM_SET_USER_MEMORY_REGION: guest physical [gpa, gpa+size) is backed by host [host, host+size).
    public func setMemoryRegion(slot: UInt32, guestPhysical gpa: UInt64, size: UInt64, host: UInt64) throws(KVMError) {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: 0, guest_phys_addr: gpa,
            memory_size: size, userspace_addr: host)
        // Safe: region is a fully initialised kvm_userspace_memory_region on our stack; the host range
        // is owned by the caller's reservation for the life of the VM.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION")
    }

    /// KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP): each vCPU gets a local APIC in the kernel (and no
    /// PIC or IOAPIC). The guest never uses it, and takes no interrupt. Why anyway: without one,
    /// KVM counts the vCPU in a static key (`kvm_has_noapic_vcpu`) whose first increment and last
    /// decrement patch the host kernel's code, with an interrupt to every CPU: ~0.5 ms of every
    /// run's start and end on the AMD host (Docs/machine.md "Start-up"). Before any vCPU.
    public func enableSplitIRQChip() throws(KVMError) {
        var cap = kvm_enable_cap()
        cap.cap = CKVM_CAP_SPLIT_IRQCHIP
        cap.args.0 = 0  // no IOAPIC routes
        // Safe: cap is a fully initialised kvm_enable_cap on our stack.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_ENABLE_CAP, &cap), "KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)")
    }

    /// KVM_CREATE_VCPU, and the mapping of its shared kvm_run page.
    public func createVCPU(id: UInt32 = 0) throws(KVMError) -> VCPU {
        // Safe: the argument is the vCPU id.
        let raw = try check(ckvm_ioctl_int(fd, CKVM_CREATE_VCPU, UInt(id)), "KVM_CREATE_VCPU")
        let vfd = VMMDescriptor.moveHigh(raw)
        guard let map = mmap(nil, system.vcpuMmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, vfd, 0),
            map != MAP_FAILED
        else {
            let e = Errno(rawValue: errno)
            close(vfd)
            throw .ioctl(name: "mmap(kvm_run)", errno: e)
        }
        return VCPU(fd: vfd, run: map.assumingMemoryBound(to: kvm_run.self), mmapSize: system.vcpuMmapSize)
    }
}
