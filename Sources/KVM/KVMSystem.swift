import CKVM
import Glibc
import SystemPackage

/// A handle on /dev/kvm (rust-vmm's `Kvm`): capabilities, the supported CPUID, and VM creation.
public final class KVMSystem: @unchecked Sendable {
    public let fd: Int32
    public let vcpuMmapSize: Int

    public init(path: String = "/dev/kvm") throws(KVMError) {
        let raw = open(path, O_RDWR | O_CLOEXEC)
        if raw < 0 { throw .unavailable(path: path, errno: Errno(rawValue: errno)) }
        // Keep the VMM's own descriptors out of the range guests use (see Personality.FDTable).
        fd = VMMDescriptor.moveHigh(raw)
        // Safe: KVM_GET_API_VERSION takes no argument.
        let version = ckvm_ioctl_int(fd, CKVM_GET_API_VERSION, 0)
        guard version == 12 else {
            close(fd)
            throw .apiVersion(version)
        }
        // Safe: KVM_GET_VCPU_MMAP_SIZE takes no argument and returns a size.
        let size = ckvm_ioctl_int(fd, CKVM_GET_VCPU_MMAP_SIZE, 0)
        guard size > 0 else {
            close(fd)
            throw .ioctl(name: "KVM_GET_VCPU_MMAP_SIZE", errno: Errno(rawValue: -size))
        }
        vcpuMmapSize = Int(size)
    }

    deinit { close(fd) }

    /// KVM_CHECK_EXTENSION: 0 when absent, else a capability-specific value.
    public func checkExtension(_ cap: Int32) -> Int32 {
        // Safe: the argument is a plain integer.
        max(0, ckvm_ioctl_int(fd, CKVM_CHECK_EXTENSION, UInt(cap)))
    }

    /// KVM_GET_SUPPORTED_CPUID: the CPUID entries KVM can present to a guest.
    public func supportedCPUID() throws(KVMError) -> [kvm_cpuid_entry2] {
        let n: UInt32 = 256
        guard let buf = ckvm_cpuid2_alloc(n) else { throw .ioctl(name: "KVM_GET_SUPPORTED_CPUID", errno: .noMemory) }
        defer { free(buf) }
        // Safe: buf holds a kvm_cpuid2 header followed by nent entries, as the ioctl expects.
        _ = try check(ckvm_ioctl_ptr(fd, CKVM_GET_SUPPORTED_CPUID, buf), "KVM_GET_SUPPORTED_CPUID")
        return Array(UnsafeBufferPointer(start: ckvm_cpuid2_entries(buf), count: Int(buf.pointee.nent)))
    }

    /// KVM_CREATE_VM with the default machine type, and a local APIC in the kernel for its vCPUs
    /// (`enableSplitIRQChip`: a saving only, so a kernel without it still runs the guest).
    public func createVM() throws(KVMError) -> VirtualMachine {
        // Safe: the argument is the machine type, 0.
        let vmfd = try check(ckvm_ioctl_int(fd, CKVM_CREATE_VM, 0), "KVM_CREATE_VM")
        let vm = VirtualMachine(fd: VMMDescriptor.moveHigh(vmfd), system: self)
        try? vm.enableSplitIRQChip()
        return vm
    }
}

/// The VMM keeps its descriptors at 1000 and above so they never collide with a guest's.
public enum VMMDescriptor {
    public static let floor: Int32 = 1000
    public static func moveHigh(_ fd: Int32) -> Int32 {
        guard fd >= 0, fd < floor else { return fd }
        let high = fcntl(fd, F_DUPFD_CLOEXEC, floor)
        if high < 0 { return fd }
        close(fd)
        return high
    }
}
