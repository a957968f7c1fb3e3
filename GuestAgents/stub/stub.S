/*
 * The guest stub: the only code in the guest that is not the program's. The VMM copies the bytes
 * between revenant_stub_start and revenant_stub_end to GuestLayout.stubCode (guest virtual
 * base+0x44000); the MMIO window page sits 0x2000 after it and is mapped to a guest-physical
 * address with no memory slot, so a store there is a KVM_EXIT_MMIO whose address says why:
 *   window+0  a syscall (rax = number, args in rdi rsi rdx r10 r8 r9, rcx/r11 = return rip/rflags)
 *   window+8  a CPU exception (the frame is on the exception stack: vector, error code, rip, cs,
 *             rflags, rsp, ss)
 * Under PVM `syscall` stays at CPL3 and jumps here; the VMM answers and sets rip := rcx,
 * rflags := r11 itself, so the sysretq is never reached. On VMX/SVM (untested on hardware) the
 * stub runs at CPL0 and continues into sysretq.
 * The section is data for the host: these bytes only ever execute inside the guest.
 */
    .section .rodata.revenant_stub, "a"
    .globl revenant_stub_start
    .globl revenant_stub_end
    .globl revenant_stub_vectors
    .p2align 12
revenant_stub_start:
syscall_entry:
    movl %eax, revenant_stub_start+0x2000(%rip)
    sysretq

    .p2align 4
exception_common:
    movl %eax, revenant_stub_start+0x2008(%rip)
    addq $16, %rsp
    iretq

/* One 16-byte entry per vector 0..31; vectors with a CPU-pushed error code skip the push $0. */
.macro vector n, haserr
    .p2align 4
    .if \haserr == 0
    pushq $0
    .endif
    pushq $\n
    jmp exception_common
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
