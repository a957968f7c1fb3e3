#include "ckvm.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <cpuid.h>

int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg)
{
    int r;
    do {
        r = ioctl(fd, request, arg);
    } while (r < 0 && errno == EINTR && request != KVM_RUN);
    return r < 0 ? -errno : r;
}

int ckvm_ioctl_int(int fd, unsigned long request, unsigned long arg)
{
    int r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}

struct kvm_cpuid2 *ckvm_cpuid2_alloc(unsigned n)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    if (c) c->nent = n;
    return c;
}

struct kvm_msrs *ckvm_msrs_alloc(unsigned n)
{
    struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
    if (m) m->nmsrs = n;
    return m;
}

void ckvm_host_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    __cpuid_count(leaf, subleaf, out[0], out[1], out[2], out[3]);
}
