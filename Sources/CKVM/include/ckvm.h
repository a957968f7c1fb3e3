// C view of <linux/kvm.h> for Swift: the _IO/_IOW request macros do not import, so each request
// is re-exported as a constant, and ioctl (variadic) is wrapped in non-variadic functions.
#ifndef CKVM_H
#define CKVM_H
#include <linux/kvm.h>
#include <stdint.h>
#include <stddef.h>

static const unsigned long CKVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long CKVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long CKVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long CKVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long CKVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long CKVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long CKVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long CKVM_RUN = KVM_RUN;
static const unsigned long CKVM_GET_REGS = KVM_GET_REGS;
static const unsigned long CKVM_SET_REGS = KVM_SET_REGS;
static const unsigned long CKVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long CKVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long CKVM_SET_MSRS = KVM_SET_MSRS;
static const unsigned long CKVM_SET_FPU = KVM_SET_FPU;
static const unsigned long CKVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long CKVM_GET_XCRS = KVM_GET_XCRS;
static const unsigned long CKVM_SET_XCRS = KVM_SET_XCRS;
static const unsigned long CKVM_GET_STATS_FD = KVM_GET_STATS_FD;
static const unsigned long CKVM_GET_XSAVE = KVM_GET_XSAVE;
static const unsigned long CKVM_SET_XSAVE = KVM_SET_XSAVE;
static const unsigned long CKVM_XSAVE_SIZE = sizeof(struct kvm_xsave);
static const unsigned long CKVM_ENABLE_CAP = KVM_ENABLE_CAP;
static const uint32_t CKVM_CAP_SPLIT_IRQCHIP = KVM_CAP_SPLIT_IRQCHIP;

static const unsigned long CKVM_SYNC_X86_REGS = KVM_SYNC_X86_REGS;

/// ioctl with a pointer argument; returns -errno on failure.
int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg);
/// ioctl with an integer argument; returns -errno on failure.
int ckvm_ioctl_int(int fd, unsigned long request, unsigned long arg);

/// A kvm_cpuid2 with room for `n` entries (caller frees with free()).
struct kvm_cpuid2 *ckvm_cpuid2_alloc(unsigned n);
/// kvm_msrs with `n` entries (caller frees with free()).
struct kvm_msrs *ckvm_msrs_alloc(unsigned n);

/// Flexible array members do not import into Swift.
static inline struct kvm_cpuid_entry2 *ckvm_cpuid2_entries(struct kvm_cpuid2 *c) { return c->entries; }
static inline struct kvm_msr_entry *ckvm_msrs_entries(struct kvm_msrs *m) { return m->entries; }

/// Accessors into kvm_run's unions (Swift sees C unions awkwardly).
static inline struct kvm_regs *ckvm_sync_regs(struct kvm_run *run) { return &run->s.regs.regs; }
static inline uint64_t ckvm_mmio_addr(struct kvm_run *run) { return run->mmio.phys_addr; }
static inline uint32_t ckvm_mmio_len(struct kvm_run *run) { return run->mmio.len; }
static inline uint8_t ckvm_mmio_is_write(struct kvm_run *run) { return run->mmio.is_write; }
static inline uint32_t ckvm_internal_suberror(struct kvm_run *run) { return run->internal.suberror; }
static inline uint64_t ckvm_fail_entry_reason(struct kvm_run *run)
{
    return run->fail_entry.hardware_entry_failure_reason;
}
static inline uint16_t ckvm_io_port(struct kvm_run *run) { return run->io.port; }

/// The CPUID instruction on the host (the CPU signature the guest will see natively under PVM).
void ckvm_host_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
#endif
