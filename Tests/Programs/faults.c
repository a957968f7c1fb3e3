/* CPU faults a program handles itself (Tests/RevenantTests/HostileInputTests.swift runs it natively,
 * under `run`, and recorded then replayed, and compares every byte): SIGSEGV and SIGFPE left with
 * siglongjmp, SIGILL skipped by moving the saved rip (rt_sigreturn must load the frame's registers,
 * vector registers included: the handler clobbers them), a program's own int3, and a crash with no
 * handler left, reported as before. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile int zero = 0;

static void jump(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    printf("caught %s code %d addr %s\n", strsignal(sig), si->si_code, si->si_addr == 0 ? "0" : "set");
    siglongjmp(back, 1);
}

/* SIGILL: skip the 2-byte ud2 and return; the handler clobbers every vector register first. */
static void skip(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    (void)si;
    printf("caught %s, trapno %lld, skipping\n", strsignal(sig), (long long)uc->uc_mcontext.gregs[REG_TRAPNO]);
    __asm__ volatile("pxor %%xmm8, %%xmm8\n\tpxor %%xmm0, %%xmm0\n\tvpxor %%ymm9, %%ymm9, %%ymm9"
                     ::: "xmm8", "xmm0", "xmm9");
    uc->uc_mcontext.gregs[REG_RIP] += 2;
}

static void trap(int sig) { printf("caught %s\n", strsignal(sig)); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = jump;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    if (!sigsetjmp(back, 1)) { volatile int *p = (int *)8; printf("read %d\n", *p); }
    if (!sigsetjmp(back, 1)) { printf("quotient %d\n", 10 / zero); }
    if (!sigsetjmp(back, 1)) { volatile int *p = (int *)16; *p = 1; }
    sa.sa_sigaction = skip;
    sigaction(SIGILL, &sa, NULL);
    double kept[4] = {1.5, 2.5, 0, 0};
    __asm__ volatile(
        "movupd (%0), %%xmm8\n\t"
        "vbroadcastsd 8(%0), %%ymm9\n\t"
        "ud2\n\t"
        "movupd %%xmm8, 16(%0)\n\t"
        "vextractf128 $1, %%ymm9, %%xmm9\n\t"
        "movsd %%xmm9, 16(%0)\n\t"
        :: "r"(kept) : "xmm8", "xmm9", "memory");
    printf("after ud2: xmm8 kept %s, ymm9's upper half kept %s\n", kept[3] == 2.5 ? "yes" : "no",
           kept[2] == 2.5 ? "yes" : "no");
    signal(SIGTRAP, trap);
    __asm__ volatile("int3");
    printf("after int3\n");
    /* A system call with no usable stack: Linux never touches the user stack for one. */
    long pid;
    __asm__ volatile("movq %%rsp, %%r12\n\txorl %%esp, %%esp\n\tmovl $39, %%eax\n\tsyscall\n\tmovq %%r12, %%rsp"
                     : "=a"(pid) :: "rcx", "r11", "r12", "memory");
    printf("getpid with rsp 0: %s\n", pid > 0 ? "a pid" : "an error");
    /* No handler: the crash is reported as before. */
    signal(SIGSEGV, SIG_DFL);
    volatile int *q = (int *)24;
    return *q;
}
