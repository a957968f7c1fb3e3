/* The guest stub's contract with the VMM: the numbers both sides use, defined once. stub.S
 * includes this header (the assembler sees only the #defines) and the Swift layers import it
 * (module CGuestStub), so a changed offset changes both. Docs/machine.md describes the stub. */
#ifndef REVENANT_STUB_H
#define REVENANT_STUB_H

/* A syscall number the PVM stub answers itself with 0 (no VMM involved): `make bench` uses it to
 * measure the hypervisor's own syscall trap. */
#define REVENANT_NR_PROBE 0x52560001

/* Where the MMIO window and the mailbox pages sit after the stub's code (GuestLayout.stubCode,
 * .mmioWindow and .mailbox: a test pins the three). */
#define REVENANT_STUB_WINDOW 0x2000
#define REVENANT_STUB_MAILBOX 0x3000

/* Offsets within the MMIO window page (guest virtual base+0x46000): what the exit's address
 * means. */
#define REVENANT_MMIO_SYSCALL 0   /* a syscall for the VMM (rax, rdi rsi rdx r10 r8 r9, rcx/r11) */
#define REVENANT_MMIO_EXCEPTION 8 /* a CPU exception: its frame is on the exception stack */
#define REVENANT_MMIO_WAIT 16     /* a mailbox request the spinner has not answered yet */

/* The mailbox page shared by the stub and the VMM's spinner thread: byte offsets. A call and its
 * reply travel in the first cache line alone (state, number, return address, arguments; the
 * result over the first argument): each line the other side wrote costs a transfer between cores,
 * the larger part of a call's round trip. The rest is read rarely or by one side only. */
#define REVENANT_MB_STATE 0         /* u32: one of the REVENANT_MB_* states below */
#define REVENANT_MB_NR 4            /* u32: the syscall number, from eax (as Linux takes it) */
#define REVENANT_MB_RCX 8           /* u64: the return address (rcx, as `syscall` sets it) */
#define REVENANT_MB_ARGS 16         /* six u64: rdi rsi rdx r10 r8 r9 */
#define REVENANT_MB_RESULT 16       /* u64: the reply, over rdi */
#define REVENANT_MB_R11 64          /* u64: the caller's rflags */
#define REVENANT_MB_SAVED_RSP 96    /* u64: the program's rsp while the stub uses its own stack */
#define REVENANT_MB_WAITER 128      /* u32: 1 while the vCPU thread futex-waits for the reply */
#define REVENANT_MB_STUB_STACK 4096 /* top of the stub's scratch stack (it uses 8 bytes below) */

/* Mailbox states. */
#define REVENANT_MB_IDLE 0    /* the spinner polls; the stub may post */
#define REVENANT_MB_POSTED 1  /* the stub posted a call */
#define REVENANT_MB_REPLIED 2 /* the result is in place */
#define REVENANT_MB_ASLEEP 3  /* the spinner sleeps (idle or parked): calls take the MMIO exit */
#define REVENANT_MB_TAKEN 4   /* the spinner is serving the call */
#define REVENANT_MB_OUTCOME 5 /* served, but the outcome is no plain value: the vCPU thread ends it */

/* How long the stub spins for a reply before it takes the wait exit (iterations of `pause`). */
#define REVENANT_STUB_SPIN 5000

#ifndef __ASSEMBLER__
/* The stub's machine code; *length receives its size. */
const unsigned char *revenant_stub_bytes(unsigned long *length);
/* Offset of the entry for exception vector 0..31 (for the IDT). */
unsigned long revenant_stub_vector_offset(unsigned vector);
/* LSTAR targets: the plain MMIO-exit entry (VMX/SVM, ring 0) and the mailbox entry (PVM). */
unsigned long revenant_stub_syscall_exit_offset(void);
unsigned long revenant_stub_syscall_mailbox_offset(void);
/* The trapless entry a rewritten syscall site's trampoline jumps to (PVM, user mode). */
unsigned long revenant_stub_syscall_fast_offset(void);
#endif

#endif
