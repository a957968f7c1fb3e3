/* Syscall sites the trapless path must get right (Docs/machine.md "Trapless syscalls"). Prints
 * the same natively and under revenant with every --syscall-path:
 *   - after a rewritten `mov $nr,%eax; syscall`, rcx is the return address, r11 the flags before
 *     the call, and the red zone below rsp is untouched, on the first (trapping) call and after;
 *   - a site that a branch jumps into, and one after a rip-relative load, keep working (they must
 *     be left trapping: a patch there would break them);
 *   - with the argument `crash`: a fault in an instruction moved into a trampoline is reported at
 *     the program's own instruction.
 * Built with -mno-red-zone, so that the pattern below rsp is the test's alone. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* getpid through `mov $39,%eax; syscall` with the arithmetic flags set to `flags` (CF ZF SF OF
 * from a known comparison); the red zone filled with a pattern before and checked after. */
static int plain_site(long *rcx, long *r11, long *expected_rcx, int *red_zone_kept) {
    long pid, kept;
    register long r11v __asm__("r11");
    __asm__ volatile(
        "movq $0x5a5a5a5a5a5a5a5a, %%rdx\n\t"
        "movq %%rdx, -8(%%rsp)\n\t"
        "movq %%rdx, -64(%%rsp)\n\t"
        "movq %%rdx, -128(%%rsp)\n\t"
        "movl $1, %%edx\n\t"
        "cmpl $2, %%edx\n\t" /* CF and SF set, ZF and OF clear */
        "movl $39, %%eax\n\t"
        "syscall\n\t"
        "1:\n\t"
        "leaq 1b(%%rip), %%rdx\n\t"
        "movq %%rdx, %3\n\t"
        "movq $0x5a5a5a5a5a5a5a5a, %%rdx\n\t"
        "xorl %%esi, %%esi\n\t"
        "cmpq %%rdx, -8(%%rsp)\n\t"
        "jne 2f\n\t"
        "cmpq %%rdx, -64(%%rsp)\n\t"
        "jne 2f\n\t"
        "cmpq %%rdx, -128(%%rsp)\n\t"
        "jne 2f\n\t"
        "movl $1, %%esi\n\t"
        "2:\n\t"
        : "=a"(pid), "=c"(*rcx), "=r"(r11v), "=m"(*expected_rcx), "=S"(kept)
        :
        : "rdx", "memory", "cc");
    *r11 = r11v;
    *red_zone_kept = (int)kept;
    return (int)pid;
}

/* A branch lands on the `syscall` itself: getpid when `which` is 0, else getppid. */
static long branch_into(long which) {
    long r;
    __asm__ volatile(
        "movl $110, %%eax\n\t"
        "testq %1, %1\n\t"
        "jnz 1f\n\t"
        "movl $39, %%eax\n\t"
        "1: syscall\n\t"
        : "=&a"(r)
        : "r"(which)
        : "rcx", "r11", "memory", "cc");
    return r;
}

__attribute__((used)) static volatile int number_of_getpid = 39;

/* The instruction before the site reads rip-relative: it cannot move to a trampoline. */
static long after_rip_relative(void) {
    long r;
    __asm__ volatile("movl number_of_getpid(%%rip), %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
    return r;
}

/* The instruction before this site loads the syscall number through `p`: in a trampoline, it
 * faults there once `p` is bad, and the crash report must name this function, not the trampoline. */
__attribute__((noinline)) static long load_then_syscall(const int *p) {
    long r;
    __asm__ volatile("movl 16(%1), %%eax\n\tsyscall" : "=a"(r) : "r"(p) : "rcx", "r11", "memory");
    return r;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "crash") == 0) {
        int numbers[5] = {0, 0, 0, 0, 39};
        printf("load then syscall: %s\n", load_then_syscall(numbers) == getpid() ? "right" : "wrong");
        fflush(stdout);
        return (int)load_then_syscall((const int *)8);
    }
    int pid = getpid(), ppid = getppid();
    int bad_pid = 0, bad_rcx = 0, bad_r11 = 0, bad_red = 0;
    for (int i = 0; i < 2000; i++) {
        long rcx, r11, expected, flagsMask = 0x8d5; /* CF PF AF ZF SF OF */
        int kept;
        if (plain_site(&rcx, &r11, &expected, &kept) != pid) bad_pid++;
        if (rcx != expected) bad_rcx++;
        /* cmp 1,2: CF=1 SF=1 ZF=0 OF=0 PF (of 0xff) = 1, AF = 1. */
        if ((r11 & flagsMask) != 0x95) bad_r11++;
        if (!kept) bad_red++;
    }
    printf("plain site: pid %s, rcx %s, r11 %s, red zone %s\n", bad_pid ? "wrong" : "right",
           bad_rcx ? "wrong" : "right", bad_r11 ? "wrong" : "right", bad_red ? "written" : "kept");
    int bad_branch = 0, bad_rip = 0;
    for (int i = 0; i < 200; i++) {
        if (branch_into(i & 1) != ((i & 1) ? ppid : pid)) bad_branch++;
        if (after_rip_relative() != pid) bad_rip++;
    }
    printf("branch into a site: %s\n", bad_branch ? "wrong" : "right");
    printf("after a rip-relative load: %s\n", bad_rip ? "wrong" : "right");
    return 0;
}
