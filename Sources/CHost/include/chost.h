// Non-variadic wrappers for host calls Swift cannot call directly (syscall(2) and ioctl(2) are variadic).
#ifndef CHOST_H
#define CHOST_H
#include <stdint.h>
#include <sys/types.h>
/// syscall(2) with six arguments; returns the result or -errno.
int64_t chost_syscall6(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
#endif

#ifndef CHOST_ATOMICS
#define CHOST_ATOMICS
/// Sequentially consistent operations on a u32 shared with the guest or another thread.
static inline uint32_t chost_load_u32(const volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline uint32_t chost_load_acquire_u32(const volatile uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void chost_store_u32(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline void chost_store_release_u32(volatile uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline int chost_cas_u32(volatile uint32_t *p, uint32_t expected, uint32_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
/// The same for a u64 (the replicas' progress counters).
static inline uint64_t chost_load_u64(const volatile uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void chost_store_u64(volatile uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline void chost_pause(void) { __builtin_ia32_pause(); }
/// futex(FUTEX_WAIT) while *p == v, for at most timeout_ns (0: forever). Returns 0 or -errno.
int chost_futex_wait(volatile uint32_t *p, uint32_t v, uint64_t timeout_ns);
/// futex(FUTEX_WAKE) of every waiter on p.
void chost_futex_wake(volatile uint32_t *p);
/// The same two on a word in memory shared between processes (the replicas' board).
int chost_futex_wait_shared(volatile uint32_t *p, uint32_t v, uint64_t timeout_ns);
void chost_futex_wake_shared(volatile uint32_t *p);
/// Atomically set or clear bits of *p (the replicas waiting for a turn).
static inline void chost_or_u32(volatile uint32_t *p, uint32_t bits) { __atomic_fetch_or(p, bits, __ATOMIC_SEQ_CST); }
static inline void chost_and_u32(volatile uint32_t *p, uint32_t bits) { __atomic_fetch_and(p, bits, __ATOMIC_SEQ_CST); }
static inline void chost_add_u32(volatile uint32_t *p, uint32_t v) { __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
/// Forward a host signal to the guest: the handler only records it (no SA_RESTART, so the
/// VMM's blocking calls return EINTR); chost_take_signals() collects the set.
int chost_forward_signal(int sig);
/* Child processes (a guest fork forks the VMM): block SIGCHLD in the calling thread (every thread
 * of a VMM blocks it: the first blocks it before it runs the guest, the spinner when it starts),
 * so that it cuts no host call short; and take it, if one is pending (1), at a syscall boundary. */
int chost_watch_children(void);
unsigned chost_take_child_events(void);
/* This process becomes the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER). */
int chost_become_subreaper(void);
/* Whether process `pid` exists and has not ended (a zombie has). */
int chost_process_runs(int pid);
/// The signals recorded since the last call (bit sig-1), cleared.
uint64_t chost_take_signals(void);
/// How many times chost_take_signals() collected something.
unsigned chost_signal_takes(void);
/// Whether any forwarded signal is waiting to be taken.
int chost_signal_pending(void);
/// How many times `sig` arrived in all.
unsigned chost_signal_count(int sig);
/// Block the forwarded signals and SIGCHLD in the calling thread (so they reach the vCPU thread).
void chost_block_forwarded_signals(void);
/// Let chost_kick() interrupt the calling thread's blocking host calls (EINTR).
void chost_make_kickable(void);
/// Interrupt the kickable thread's blocking host call.
void chost_kick(void);
/// "ENOENT" for ENOENT (strerrorname_np), NULL when unknown.
const char *chost_errno_name(int e);
/// CLOCK_MONOTONIC in nanoseconds.
uint64_t chost_monotonic_ns(void);
/// rm -rf PATH without following symlinks; 0 or -errno.
int chost_remove_tree(const char *path);
/// Start a detached thread running fn(arg).
int chost_thread_start(void (*fn)(void *), void *arg);
/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory; the descriptor or -errno.
int chost_memfd(const char *name);
/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): the file's pages in [offset, offset +
/// length) are let go, its size stays; 0 or -errno.
int chost_punch_hole(int fd, int64_t offset, int64_t length);
/* The run's processes in one order (Docs/trace-format.md "Processes"): a page shared by every VMM
 * of a run, made before its first fork. Recording, a process takes the lock, writes to the console,
 * and takes the next ticket as it lets go; replaying, it waits for its recorded ticket to come up
 * before writing, and advances the counter after. `broken` ends every wait (a process whose replay
 * failed); `failed` tells the first VMM that a child's recording failed. */
struct chost_order {
    uint32_t lock;
    uint32_t next;
    uint32_t broken;
    uint32_t failed;
    uint32_t streams; /* the child streams numbered so far (events.1, events.2, …) */
    uint64_t stamps;  /* the calls stamped so far, every process's (Docs/trace-format.md "Processes") */
};
/// A new shared page (NULL when the host refuses).
struct chost_order *chost_order_create(void);
void chost_order_lock(struct chost_order *o);
/// The next ticket, and the lock let go.
uint32_t chost_order_take_and_unlock(struct chost_order *o);
/// The lock let go, no ticket taken.
void chost_order_unlock(struct chost_order *o);
/// The next stamp: a call's place among every process's calls.
uint64_t chost_order_stamp(struct chost_order *o);
/// 0 once `ticket` is next; -1 when the order is broken; -ETIMEDOUT after timeout_ns.
int chost_order_wait(struct chost_order *o, uint32_t ticket, uint64_t timeout_ns);
void chost_order_advance(struct chost_order *o);
void chost_order_break(struct chost_order *o);
/// The number of the next child's stream (1, 2, …).
uint32_t chost_order_next_stream(struct chost_order *o);
/* The run's processes alive at once (`--max-processes`), counted in a page shared by its VMMs
 * (made by the first, before any fork). take: 1 when there is room for one more (counted), 0 at
 * the limit; without init, always 1 (a replay makes the processes the recording made). give: one
 * ended (or its fork failed). */
int chost_processes_init(uint32_t limit);
/* The counter is no longer this process's to keep (a session that made it is gone): forks are
 * not counted until the next chost_processes_init. */
void chost_processes_end(void);
int chost_process_take(void);
void chost_process_give(void);
#endif

#ifndef CHOST_PASS_FD
#define CHOST_PASS_FD
/* A descriptor passed over a Unix socket (SCM_RIGHTS), with one byte: the supervisor of
 * `run --replicas` hands a backup the pipe of the replica it is about to fork. 0 or -errno;
 * chost_receive_fd returns the descriptor (close-on-exec) or -errno. */
int chost_send_fd(int socket, int fd, uint8_t byte);
int chost_receive_fd(int socket, uint8_t *byte);
/* The same with a 64-bit word (a socket's creating event), and the descriptor optional (fd < 0:
 * none). chost_receive_fd_word sets *fd to the descriptor or -1; 0, or -errno (-EAGAIN: nothing
 * waiting, when not told to wait; -EPIPE: the other end is closed). */
int chost_send_fd_word(int socket, int fd, uint8_t byte, uint64_t word);
int chost_receive_fd_word(int socket, int wait, uint8_t *byte, uint64_t *word, int *fd);
#endif

#ifndef CHOST_STATM
#define CHOST_STATM
#include <stdio.h>
/* Two numbers from a /proc file (statm: size and resident pages); 2 when both were read. */
static inline int chost_read_two_longs(FILE *f, long *a, long *b) { return fscanf(f, "%ld %ld", a, b); }
#endif

#ifndef CHOST_RELAY
#define CHOST_RELAY
/* `run --replicas`: the supervisor passes SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to it on to
 * the primary's process (whose VMM forwards them to the guest, as `run` does) — not those the
 * terminal sent, which the primary, in the same process group, has already; 0 or -errno. */
int chost_relay_signals_to(int pid);
/* The last signal its handler got since the last call (0: none). */
int chost_take_relayed_signal(void);
#endif

/* Start a program with a pipe on its stdin and one on its stdout, and its stderr too with
 * `with_stderr` (`revenant monitor`): our ends are close-on-exec, and the child gets no other
 * descriptor of ours (the KVM handles, the trace). 0, or an errno (not found: ENOENT). */
int chost_spawn_piped(char *const argv[], int with_stderr, int *to_child, int *from_child, pid_t *pid);
