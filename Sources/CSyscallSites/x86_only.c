// Capstone's cs.c names every architecture's init and option functions, and Debian's
// libcapstone.a holds them all. Defining the other architectures' here keeps their modules out of
// the executables: a linker takes an archive member only for a symbol still undefined. Their
// tables (1.3 MB of pointers, M68K's alone 1 MiB) would otherwise be relocated at every start of
// revenant, ~300 page faults of a static PIE (Docs/machine.md "Start-up"). Revenant opens x86 only;
// these answer as Capstone does for an architecture it was built without.
#include <capstone/capstone.h>
#include <stddef.h>

#define REVENANT_ABSENT_ARCH(name) \
    cs_err name##_global_init(void *ud); \
    cs_err name##_option(void *handle, cs_opt_type type, size_t value); \
    cs_err name##_global_init(void *ud) \
    { \
        (void)ud; \
        return CS_ERR_ARCH; \
    } \
    cs_err name##_option(void *handle, cs_opt_type type, size_t value) \
    { \
        (void)handle; \
        (void)type; \
        (void)value; \
        return CS_ERR_OPTION; \
    }

REVENANT_ABSENT_ARCH(ARM)
REVENANT_ABSENT_ARCH(AArch64)
REVENANT_ABSENT_ARCH(Mips)
REVENANT_ABSENT_ARCH(PPC)
REVENANT_ABSENT_ARCH(Sparc)
REVENANT_ABSENT_ARCH(SystemZ)
REVENANT_ABSENT_ARCH(XCore)
REVENANT_ABSENT_ARCH(M68K)
REVENANT_ABSENT_ARCH(TMS320C64x)
REVENANT_ABSENT_ARCH(M680X)
REVENANT_ABSENT_ARCH(EVM)
