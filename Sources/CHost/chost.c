#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include "chost.h"
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

int64_t chost_syscall6(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    long r = syscall(nr, a0, a1, a2, a3, a4, a5);
    return r < 0 ? -(int64_t)errno : (int64_t)r;
}

#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>

/* FUTEX_WAIT (op: its private or shared form) while *p == v, for at most timeout_ns (0: forever). */
static int futex_wait_op(volatile uint32_t *p, int op, uint32_t v, uint64_t timeout_ns)
{
    struct timespec ts = { (time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull) };
    long r = syscall(SYS_futex, p, op, v, timeout_ns ? &ts : NULL, NULL, 0);
    return r < 0 ? -errno : 0;
}

int chost_futex_wait(volatile uint32_t *p, uint32_t v, uint64_t timeout_ns)
{
    return futex_wait_op(p, FUTEX_WAIT_PRIVATE, v, timeout_ns);
}

void chost_futex_wake(volatile uint32_t *p) { syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0); }

int chost_futex_wait_shared(volatile uint32_t *p, uint32_t v, uint64_t timeout_ns)
{
    return futex_wait_op(p, FUTEX_WAIT, v, timeout_ns);
}

void chost_futex_wake_shared(volatile uint32_t *p) { syscall(SYS_futex, p, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0); }

struct chost_thread_start_args {
    void (*fn)(void *);
    void *arg;
};

static void *chost_thread_main(void *p)
{
    struct chost_thread_start_args a = *(struct chost_thread_start_args *)p;
    free(p);
    a.fn(a.arg);
    return NULL;
}

int chost_thread_start(void (*fn)(void *), void *arg)
{
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

#include <signal.h>

static volatile uint64_t chost_pending_signals;
static volatile unsigned chost_counts[65];
static uint64_t chost_forwarded;

static void chost_forwarder(int sig)
{
    __atomic_or_fetch(&chost_pending_signals, 1ull << (sig - 1), __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&chost_counts[sig], 1, __ATOMIC_SEQ_CST);
}

int chost_forward_signal(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = chost_forwarder;
    sigemptyset(&sa.sa_mask);
    chost_forwarded |= 1ull << (sig - 1);
    return sigaction(sig, &sa, NULL);
}

/* No handler: a handler would cut short whichever host call the thread it lands on is making
   for the guest (a select is never restarted). SIGCHLD stays blocked and pending instead, and is
   taken at syscall boundaries. */
int chost_watch_children(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

unsigned chost_take_child_events(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    struct timespec zero = { 0, 0 };
    return sigtimedwait(&set, NULL, &zero) == SIGCHLD ? 1 : 0;
}

#include <sys/prctl.h>

int chost_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

#include <fcntl.h>

int chost_process_runs(int pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH) return 0;
    /* kill() finds a zombie too: a process that ended, not yet reaped by its parent (which may be
       waiting for a pipe that the asker holds open). Its state in /proc says so. */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 1;
    buf[n] = 0;
    const char *end = strrchr(buf, ')');
    return !(end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'));
}

static volatile unsigned chost_takes;

uint64_t chost_take_signals(void)
{
    uint64_t s = __atomic_exchange_n(&chost_pending_signals, 0, __ATOMIC_SEQ_CST);
    if (s) __atomic_add_fetch(&chost_takes, 1, __ATOMIC_SEQ_CST);
    return s;
}

unsigned chost_signal_takes(void) { return __atomic_load_n(&chost_takes, __ATOMIC_SEQ_CST); }

unsigned chost_signal_count(int sig)
{
    return sig > 0 && sig < 65 ? __atomic_load_n(&chost_counts[sig], __ATOMIC_SEQ_CST) : 0;
}

void chost_block_forwarded_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (int s = 1; s < 65; s++)
        if (chost_forwarded & (1ull << (s - 1))) sigaddset(&set, s);
    /* A child's end too: it must not cut short a host call the guest made (a select, a read) that
       Linux would not interrupt; the vCPU thread notes it. */
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int chost_signal_pending(void) { return __atomic_load_n(&chost_pending_signals, __ATOMIC_SEQ_CST) != 0; }

/* Kicking a thread out of a blocking host call: a real-time signal with an empty handler and no
   SA_RESTART, so the call returns EINTR. */
static void chost_kick_handler(int sig) { (void)sig; }
static pthread_t chost_kickable;
static int chost_kickable_set;

void chost_make_kickable(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = chost_kick_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGRTMIN, &sa, NULL);
    chost_kickable = pthread_self();
    __atomic_store_n(&chost_kickable_set, 1, __ATOMIC_SEQ_CST);
}

void chost_kick(void)
{
    if (__atomic_load_n(&chost_kickable_set, __ATOMIC_SEQ_CST)) pthread_kill(chost_kickable, SIGRTMIN);
}

static int chost_remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : 0; /* keep going: remove what we can */
}

int chost_remove_tree(const char *path)
{
    return nftw(path, chost_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

const char *chost_errno_name(int e) { return strerrorname_np(e); }

uint64_t chost_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#include <sys/mman.h>

/* Zeroed memory every VMM forked from this one shares (NULL when the host refuses). */
static void *chost_shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

struct chost_order *chost_order_create(void) { return chost_shared(sizeof(struct chost_order)); }

/* A lock shared between processes (Drepper's "Futexes are tricky", mutex 2): 0 free, 1 held,
 * 2 held with waiters. */
void chost_order_lock(struct chost_order *o)
{
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(&o->lock, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    if (c != 2) c = __atomic_exchange_n(&o->lock, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        syscall(SYS_futex, &o->lock, FUTEX_WAIT, 2, NULL, NULL, 0);
        c = __atomic_exchange_n(&o->lock, 2, __ATOMIC_ACQUIRE);
    }
}

void chost_order_unlock(struct chost_order *o)
{
    if (__atomic_exchange_n(&o->lock, 0, __ATOMIC_RELEASE) == 2)
        syscall(SYS_futex, &o->lock, FUTEX_WAKE, 1, NULL, NULL, 0);
}

uint32_t chost_order_take_and_unlock(struct chost_order *o)
{
    uint32_t t = o->next++;
    chost_order_unlock(o);
    return t;
}

uint64_t chost_order_stamp(struct chost_order *o) { return __atomic_fetch_add(&o->stamps, 1, __ATOMIC_SEQ_CST); }

int chost_order_wait(struct chost_order *o, uint32_t ticket, uint64_t timeout_ns)
{
    uint64_t deadline = chost_monotonic_ns() + timeout_ns;
    for (;;) {
        if (__atomic_load_n(&o->broken, __ATOMIC_SEQ_CST)) return -1;
        uint32_t now = __atomic_load_n(&o->next, __ATOMIC_SEQ_CST);
        if (now == ticket) return 0;
        uint64_t t = chost_monotonic_ns();
        if (t >= deadline) return -ETIMEDOUT;
        uint64_t left = deadline - t;
        if (left > 100000000ull) left = 100000000ull; /* look at `broken` ten times a second */
        struct timespec ts = { (time_t)(left / 1000000000ull), (long)(left % 1000000000ull) };
        syscall(SYS_futex, &o->next, FUTEX_WAIT, now, &ts, NULL, 0);
    }
}

void chost_order_advance(struct chost_order *o)
{
    __atomic_add_fetch(&o->next, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &o->next, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
}

uint32_t chost_order_next_stream(struct chost_order *o) { return __atomic_add_fetch(&o->streams, 1, __ATOMIC_SEQ_CST); }

void chost_order_break(struct chost_order *o)
{
    __atomic_store_n(&o->broken, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &o->next, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
}

/* The run's processes alive at once: a counter in a page shared by its VMMs. */
static uint32_t *chost_processes;
static uint32_t chost_processes_limit;

int chost_processes_init(uint32_t limit)
{
    uint32_t *p = chost_shared(sizeof(uint32_t));
    if (!p) return -errno;
    chost_processes = p;
    *chost_processes = 1;
    chost_processes_limit = limit;
    return 0;
}

void chost_processes_end(void)
{
    if (!chost_processes) return;
    munmap(chost_processes, sizeof(uint32_t));
    chost_processes = NULL;
}

int chost_process_take(void)
{
    if (!chost_processes) return 1;
    uint32_t n = __atomic_load_n(chost_processes, __ATOMIC_SEQ_CST);
    do {
        if (n >= chost_processes_limit) return 0;
    } while (!__atomic_compare_exchange_n(chost_processes, &n, n + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return 1;
}

void chost_process_give(void)
{
    if (chost_processes) __atomic_sub_fetch(chost_processes, 1, __ATOMIC_SEQ_CST);
}

/* `len` bytes in one message, with descriptor fd attached when fd >= 0. 0 or -errno. */
static int chost_send_message(int socket, int fd, const void *body, size_t len)
{
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = { .iov_base = (void *)body, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do n = sendmsg(socket, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EPIPE;
}

int chost_send_fd(int socket, int fd, uint8_t byte) { return chost_send_message(socket, fd, &byte, 1); }

int chost_receive_fd(int socket, uint8_t *byte)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = byte, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n;
    do n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != 1) return n < 0 ? -errno : -EPIPE;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

/* A tag byte and a 64-bit word in one message (9 bytes), with a descriptor when fd >= 0. */
int chost_send_fd_word(int socket, int fd, uint8_t byte, uint64_t word)
{
    unsigned char body[9];
    body[0] = byte;
    memcpy(body + 1, &word, 8);
    return chost_send_message(socket, fd, body, sizeof body);
}

int chost_receive_fd_word(int socket, int wait, uint8_t *byte, uint64_t *word, int *fd)
{
    unsigned char body[9];
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = body, .iov_len = sizeof body };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n;
    do n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT));
    while (n < 0 && errno == EINTR);
    if (n <= 0) return n < 0 ? -errno : -EPIPE;
    *fd = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(fd, CMSG_DATA(c), sizeof(int));
    /* The rest of a message split by the stream follows at once: it was sent whole. */
    while (n < (ssize_t)sizeof body) {
        ssize_t m = recv(socket, body + n, sizeof body - n, 0);
        if (m < 0 && errno == EINTR) continue;
        if (m <= 0) {
            if (*fd >= 0) close(*fd);
            return m < 0 ? -errno : -EPIPE;
        }
        n += m;
    }
    *byte = body[0];
    memcpy(word, body + 1, 8);
    return 0;
}

static volatile int chost_relay_pid;
static volatile sig_atomic_t chost_relayed;

/* A signal the terminal sent (Ctrl-C: SI_KERNEL) reached the primary's process group already. */
static void chost_relay(int sig, siginfo_t *info, void *context)
{
    (void)context;
    int saved = errno;
    chost_relayed = sig;
    if (chost_relay_pid > 0 && info->si_code != SI_KERNEL) kill(chost_relay_pid, sig);
    errno = saved;
}

int chost_take_relayed_signal(void)
{
    int sig = chost_relayed;
    chost_relayed = 0;
    return sig;
}

int chost_relay_signals_to(int pid)
{
    chost_relay_pid = pid;
    int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = chost_relay;
        sa.sa_flags = SA_RESTART | SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(signals[i], &sa, NULL) != 0) return -errno;
    }
    return 0;
}

#include <fcntl.h>
#include <spawn.h>

extern char **environ;

int chost_spawn_piped(char *const argv[], int with_stderr, int *to_child, int *from_child, pid_t *pid)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return errno;
    if (pipe2(out, O_CLOEXEC) != 0) {
        int e = errno;
        close(in[0]);
        close(in[1]);
        return e;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (with_stderr) posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    int rc = posix_spawnp(pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        return rc;
    }
    *to_child = in[1];
    *from_child = out[0];
    return 0;
}

int chost_memfd(const char *name)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int chost_punch_hole(int fd, int64_t offset, int64_t length)
{
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0 ? 0 : -errno;
}
