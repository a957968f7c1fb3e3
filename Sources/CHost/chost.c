#define _GNU_SOURCE
#include "chost.h"
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

int64_t chost_syscall6(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) {
    long r = syscall(nr, a0, a1, a2, a3, a4, a5);
    return r < 0 ? -(int64_t)errno : (int64_t)r;
}
