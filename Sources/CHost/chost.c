#define _GNU_SOURCE
#include "chost.h"
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

int64_t chost_syscall6(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) {
    long r = syscall(nr, a0, a1, a2, a3, a4, a5);
    return r < 0 ? -(int64_t)errno : (int64_t)r;
}

#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

int chost_futex_wait(volatile uint32_t *p, uint32_t v, uint64_t timeout_ns) {
    struct timespec ts = { (time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull) };
    long r = syscall(SYS_futex, p, FUTEX_WAIT_PRIVATE, v, timeout_ns ? &ts : NULL, NULL, 0);
    return r < 0 ? -errno : 0;
}

void chost_futex_wake(volatile uint32_t *p) {
    syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

struct chost_thread_start_args { void (*fn)(void *); void *arg; };

static void *chost_thread_main(void *p) {
    struct chost_thread_start_args a = *(struct chost_thread_start_args *)p;
    free(p);
    a.fn(a.arg);
    return NULL;
}

int chost_thread_start(void (*fn)(void *), void *arg) {
    struct chost_thread_start_args *a = malloc(sizeof *a);
    if (!a) return -1;
    a->fn = fn;
    a->arg = arg;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&t, &attr, chost_thread_main, a);
    pthread_attr_destroy(&attr);
    if (r != 0) free(a);
    return r;
}
