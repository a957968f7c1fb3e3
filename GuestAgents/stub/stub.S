/*
 * The guest stub: the only code in the guest that is not the program's. The VMM copies the bytes
 * between revenant_stub_start and revenant_stub_end to GuestLayout.stubCode (guest virtual
 * base+0x44000). Two pages follow it in the guest:
 *   +0x2000  the MMIO window, mapped to a guest-physical address with no memory slot, so a store
 *            there is a KVM_EXIT_MMIO whose offset says why:
 *              +0   a syscall for the VMM (rax = number, rdi rsi rdx r10 r8 r9, rcx/r11 = rip/rflags)
 *              +8   a CPU exception (frame on the exception stack: vector, error, rip, cs, rflags, rsp, ss)
 *              +16  "wait": a mailbox request the spinner has not answered yet
 *   +0x3000  the mailbox shared with the VMM's spinner thread (layout in revenant_stub.h).
 *
 * Under PVM `syscall` stays at CPL3 and jumps to LSTAR. LSTAR = syscall_mailbox: post the call
 * in the mailbox and spin for the answer (no VM exit: ~3 µs instead of ≥ 22 µs per exit), with the
 * MMIO exit as fallback when the spinner is asleep or slow. Only rax, rcx and r11 change, as with
 * Linux; the user stack is never touched (popfq runs on a scratch stack in the mailbox page).
 * syscall_fast is the same without the trap, for rewritten sites (user mode, under PVM only).
 * On VMX/SVM (untested on hardware) LSTAR = syscall_exit: the stub runs at CPL0, the VMM sets
 * rax during the exit, and sysretq returns.
 * The section is data for the host: these bytes only ever execute inside the guest.
 */
#include "revenant_stub.h"

#define WINDOW (.Lbase + REVENANT_STUB_WINDOW)
#define MB     (.Lbase + REVENANT_STUB_MAILBOX)

    .section .rodata.revenant_stub, "a"
    .globl revenant_stub_start
    .globl revenant_stub_end
    .globl revenant_stub_vectors
    .globl revenant_stub_syscall_exit
    .globl revenant_stub_syscall_mailbox
    .globl revenant_stub_syscall_fast
    .p2align 12
revenant_stub_start:
.Lbase:
revenant_stub_syscall_exit:
    movl %eax, WINDOW+REVENANT_MMIO_SYSCALL(%rip)
    sysretq

    .p2align 4
.Lexception_common:
    movl %eax, WINDOW+REVENANT_MMIO_EXCEPTION(%rip)
    addq $16, %rsp
    iretq

    .p2align 4
revenant_stub_syscall_fast:
    /* The trapless path (Docs/machine.md "Trapless syscalls"): a rewritten site's trampoline jumps
       here in user mode with the call's registers and rcx = the return address, as `syscall` leaves
       them. r11 := rflags, as `syscall` sets it (pushfq on the stub's own stack: the program's is
       never written), then the same as through LSTAR. */
    movq %rsp, MB+REVENANT_MB_SAVED_RSP(%rip)
    leaq MB+REVENANT_MB_STUB_STACK(%rip), %rsp
    pushfq
    popq %r11
    movq MB+REVENANT_MB_SAVED_RSP(%rip), %rsp
    /* falls through */
revenant_stub_syscall_mailbox:
    /* The probe call: answered right here, it measures what the hypervisor's own `syscall` trap
       costs (the floor of any syscall path), for `make bench`. */
    cmpl $REVENANT_NR_PROBE, %eax
    je .Lprobe
    /* arch_prctl and rt_sigreturn need the vCPU's registers, exit/exit_group end the run: the vCPU
       thread serves them. */
    cmpl $15, %eax
    je .Lexit_path
    cmpl $158, %eax
    je .Lexit_path
    cmpl $60, %eax
    je .Lexit_path
    cmpl $231, %eax
    je .Lexit_path
    movq %rcx, MB+REVENANT_MB_RCX(%rip)
    movq %r11, MB+REVENANT_MB_R11(%rip)
    movl %eax, MB+REVENANT_MB_NR(%rip)
    movq %rdi, MB+REVENANT_MB_ARGS(%rip)
    movq %rsi, MB+REVENANT_MB_ARGS+8(%rip)
    movq %rdx, MB+REVENANT_MB_ARGS+16(%rip)
    movq %r10, MB+REVENANT_MB_ARGS+24(%rip)
    movq %r8, MB+REVENANT_MB_ARGS+32(%rip)
    movq %r9, MB+REVENANT_MB_ARGS+40(%rip)
    xorl %eax, %eax
    movl $REVENANT_MB_POSTED, %ecx
    lock cmpxchgl %ecx, MB+REVENANT_MB_STATE(%rip)  /* IDLE (eax 0) -> POSTED, or the spinner sleeps */
    jne .Lpost_failed
    movl $REVENANT_STUB_SPIN, %ecx
1:  cmpl $REVENANT_MB_REPLIED, MB+REVENANT_MB_STATE(%rip)
    je .Lreplied
    cmpl $REVENANT_MB_OUTCOME, MB+REVENANT_MB_STATE(%rip)
    je .Lwait                            /* not a plain value (a signal, a fork…): the vCPU thread ends it */
    pause
    decl %ecx
    jnz 1b
.Lwait:
    movl %eax, WINDOW+REVENANT_MMIO_WAIT(%rip)           /* wait exit: the VMM completes the call and returns for us */
    ud2
.Lreplied:
    movq MB+REVENANT_MB_RESULT(%rip), %rax
    movl $REVENANT_MB_IDLE, MB+REVENANT_MB_STATE(%rip)
    movq MB+REVENANT_MB_RCX(%rip), %rcx
    movq MB+REVENANT_MB_R11(%rip), %r11
.Lreturn:                                /* rflags := r11, rip := rcx */
    /* popfq needs a stack: the stub's own, at the top of the mailbox page, so that the program's
       stack is never written (as with Linux, and as on the exit path: a syscall made with any
       rsp returns alike). */
    movq %rsp, MB+REVENANT_MB_SAVED_RSP(%rip)
    leaq MB+REVENANT_MB_STUB_STACK(%rip), %rsp
    pushq %r11
    popfq
    movq MB+REVENANT_MB_SAVED_RSP(%rip), %rsp
    jmp *%rcx
.Lprobe:
    xorl %eax, %eax
    jmp .Lreturn
.Lpost_failed:
    movl MB+REVENANT_MB_NR(%rip), %eax
    movq MB+REVENANT_MB_RCX(%rip), %rcx
.Lexit_path:
    movl %eax, WINDOW+REVENANT_MMIO_SYSCALL(%rip)
    sysretq

/* One 16-byte entry per vector 0..31; vectors with a CPU-pushed error code skip the push $0. */
.macro vector n, haserr
    .p2align 4
    .if \haserr == 0
    pushq $0
    .endif
    pushq $\n
    jmp .Lexception_common
.endm

    .p2align 4
revenant_stub_vectors:
    vector 0, 0
    vector 1, 0
    vector 2, 0
    vector 3, 0
    vector 4, 0
    vector 5, 0
    vector 6, 0
    vector 7, 0
    vector 8, 1
    vector 9, 0
    vector 10, 1
    vector 11, 1
    vector 12, 1
    vector 13, 1
    vector 14, 1
    vector 15, 0
    vector 16, 0
    vector 17, 1
    vector 18, 0
    vector 19, 0
    vector 20, 0
    vector 21, 1
    vector 22, 0
    vector 23, 0
    vector 24, 0
    vector 25, 0
    vector 26, 0
    vector 27, 0
    vector 28, 0
    vector 29, 1
    vector 30, 1
    vector 31, 0
revenant_stub_end:

    .section .note.GNU-stack,"",@progbits
