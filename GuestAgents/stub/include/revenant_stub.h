// The guest stub's bytes, for the VMM to copy into the guest (see stub.S).
#ifndef REVENANT_STUB_H
#define REVENANT_STUB_H
/// The stub's machine code; *length receives its size.
const unsigned char *revenant_stub_bytes(unsigned long *length);
/// Offset of the entry for exception vector 0..31 (for the IDT).
unsigned long revenant_stub_vector_offset(unsigned vector);
/// LSTAR targets: the plain MMIO-exit entry (VMX/SVM, ring 0) and the mailbox entry (PVM).
unsigned long revenant_stub_syscall_exit_offset(void);
unsigned long revenant_stub_syscall_mailbox_offset(void);

/// A syscall number the PVM stub answers itself with 0 (no VMM involved): `make bench` uses it to
/// measure the hypervisor's own syscall trap. Must match stub.S.
enum { REVENANT_NR_PROBE = 0x52560001 };

/// Offsets within the MMIO window page: what the exit's address means.
enum { REVENANT_MMIO_SYSCALL = 0, REVENANT_MMIO_EXCEPTION = 8, REVENANT_MMIO_WAIT = 16 };

/// The mailbox page shared by the stub and the VMM's spinner thread.
enum {
    REVENANT_MB_STATE = 0,    // u32: see REVENANT_MB_* states
    REVENANT_MB_WAITER = 4,   // u32: 1 while the vCPU thread futex-waits for the reply
    REVENANT_MB_NR = 8,
    REVENANT_MB_ARGS = 16,    // six u64: rdi rsi rdx r10 r8 r9
    REVENANT_MB_RCX = 64,
    REVENANT_MB_R11 = 72,
    REVENANT_MB_RESULT = 80,
    REVENANT_MB_SAVED_RSP = 96,   // u64: the program's rsp while the stub uses its own stack
    REVENANT_MB_STUB_STACK = 4096, // top of the stub's scratch stack (it uses 8 bytes below)
};
enum {
    REVENANT_MB_IDLE = 0,     // the spinner polls; the stub may post
    REVENANT_MB_POSTED = 1,   // the stub posted a call
    REVENANT_MB_REPLIED = 2,  // the result is in place
    REVENANT_MB_ASLEEP = 3,   // the spinner sleeps (idle or parked): calls take the MMIO exit
    REVENANT_MB_TAKEN = 4,    // the spinner is serving the call
};
#endif
