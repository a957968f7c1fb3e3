/* The process's channel, shared by every shim in the process (Docs/channel-format.md).
 *
 * Each shim compiles this file in (it is small), but a process has one channel: the first shim
 * to open it becomes its owner and exports `revenant_channel_process`; a shim loaded later finds
 * that symbol with dlsym(RTLD_DEFAULT) and appends to the same buffer, so Perl and SQLite
 * records interleave in true order. The SQLite shim (LD_PRELOAD, loaded first, global) owns it
 * whenever it is present; the Perl shim (loaded RTLD_LOCAL by perl) owns it otherwise.
 *
 * Modes: VM (the REGISTER hypercall answers REVENANT_CHANNEL_MAGIC, or REVENANT_CHANNEL_QUIET
 * while recording), native log file ($REVENANT_SHIM_LOG; quiet as while recording with
 * REVENANT_SHIM_QUIET=1, to measure and test that mode natively), or off. Records are never split
 * across a flush; a record larger than the buffer is handed over in a struct of its own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "revenant_channel.h"
#include "revenant_channel_owner.h"

#define CHANNEL_CAPACITY (256 * 1024)

static uint64_t rc_storage[(sizeof(struct revenant_channel) + CHANNEL_CAPACITY) / 8 + 1];
static int rc_fd = -1;
static struct revenant_channel *rc_big;
static size_t rc_bigcap;
static int rc_inbig;

/* The owner this copy created (exported only from a globally loaded shim). */
__attribute__((visibility("default"))) struct revenant_channel_owner revenant_channel_process;

static void rc_write_all(const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(rc_fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void rc_flush(void)
{
    struct revenant_channel *ch = revenant_channel_process.ch;
    int e;
    if (revenant_channel_process.mode == REVENANT_CHANNEL_OFF || ch->used == 0) return;
    e = errno;
    long r = 0;
    if (revenant_channel_process.mode == REVENANT_CHANNEL_VM)
        r = syscall(REVENANT_NR_CHANNEL, (long)REVENANT_CHANNEL_FLUSH, ch);
    else
        rc_write_all(ch->data, (size_t)ch->used);
    ch->flushed += ch->used;
    ch->used = 0;
    /* Only a throw-away clone of a paused replay answers this (revenant_channel.h). */
    if (r == REVENANT_CHANNEL_EVAL_REQUEST && revenant_channel_process.eval) revenant_channel_process.eval();
    errno = e;
}

static uint8_t *rc_reserve(size_t n)
{
    struct revenant_channel *ch = revenant_channel_process.ch;
    if (revenant_channel_process.mode == REVENANT_CHANNEL_OFF) return NULL;
    if (ch->used + n <= ch->capacity) return ch->data + ch->used;
    rc_flush();
    if (n <= ch->capacity) return ch->data;
    if (n > rc_bigcap) {
        void *p = realloc(rc_big, sizeof(struct revenant_channel) + n);
        if (!p) return NULL;
        rc_big = p;
        rc_bigcap = n;
    }
    rc_inbig = 1;
    return rc_big->data;
}

static void rc_commit(size_t n)
{
    struct revenant_channel *ch = revenant_channel_process.ch;
    int e;
    if (!rc_inbig) {
        ch->used += n;
        if (ch->used > ch->watch) rc_flush(); /* a replaying VMM asked to stop here */
        return;
    }
    rc_inbig = 0;
    e = errno;
    if (revenant_channel_process.mode == REVENANT_CHANNEL_VM) {
        rc_big->magic = (uint32_t)REVENANT_CHANNEL_MAGIC;
        rc_big->version = REVENANT_CHANNEL_VERSION;
        rc_big->capacity = n;
        rc_big->used = n;
        rc_big->flushed = ch->flushed;
        rc_big->watch = n;
        rc_big->introspect = ch->introspect;
        (void)syscall(REVENANT_NR_CHANNEL, (long)REVENANT_CHANNEL_FLUSH, rc_big);
    } else {
        rc_write_all(rc_big->data, n);
    }
    ch->flushed += n;
    errno = e;
}

static void rc_off(void) { revenant_channel_process.mode = REVENANT_CHANNEL_OFF; }

/* A forked child. In a VM its records go on in a stream of its own that starts as its parent's up
 * to the fork: the VMM took the records still in the buffer at the fork, which stay the parent's to
 * flush, so the child moves `flushed` past them (its stream offsets go on from there). A log file
 * is the parent's: the child stops writing. Idempotent (each shim's atfork handler calls it). */
static void rc_forked(void)
{
    struct revenant_channel *ch = revenant_channel_process.ch;
    if (revenant_channel_process.mode != REVENANT_CHANNEL_VM) {
        revenant_channel_process.mode = REVENANT_CHANNEL_OFF;
        return;
    }
    ch->flushed += ch->used;
    ch->used = 0;
}

struct revenant_channel_owner *revenant_channel_open(void)
{
    struct revenant_channel_owner *other;
    struct revenant_channel *ch = (struct revenant_channel *)rc_storage;
    const char *log, *quiet;
    long r;
    int e = errno;

    if (revenant_channel_process.version) return &revenant_channel_process;
    other = dlsym(RTLD_DEFAULT, "revenant_channel_process");
    if (other && other != &revenant_channel_process && other->version == REVENANT_CHANNEL_VERSION) {
        errno = e;
        return other;
    }
    ch->magic = (uint32_t)REVENANT_CHANNEL_MAGIC;
    ch->version = REVENANT_CHANNEL_VERSION;
    ch->capacity = CHANNEL_CAPACITY;
    ch->used = 0;
    ch->flushed = 0;
    ch->watch = CHANNEL_CAPACITY;
    ch->introspect = 0;
    revenant_channel_process.ch = ch;
    revenant_channel_process.reserve = rc_reserve;
    revenant_channel_process.commit = rc_commit;
    revenant_channel_process.flush = rc_flush;
    revenant_channel_process.off = rc_off;
    revenant_channel_process.forked = rc_forked;
    revenant_channel_process.eval = NULL;
    revenant_channel_process.mode = REVENANT_CHANNEL_OFF;
    revenant_channel_process.quiet = 0;
    log = getenv("REVENANT_SHIM_LOG");
    quiet = getenv("REVENANT_SHIM_QUIET");
    r = syscall(REVENANT_NR_CHANNEL, (long)REVENANT_CHANNEL_REGISTER, ch);
    if (r == REVENANT_CHANNEL_MAGIC || r == REVENANT_CHANNEL_QUIET) {
        revenant_channel_process.mode = REVENANT_CHANNEL_VM;
        revenant_channel_process.quiet = r == REVENANT_CHANNEL_QUIET;
    } else if (log && *log) {
        rc_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (rc_fd >= 0) revenant_channel_process.mode = REVENANT_CHANNEL_FILE;
        revenant_channel_process.quiet = quiet && quiet[0] == '1' && !quiet[1];
    }
    if (log) unsetenv("REVENANT_SHIM_LOG");
    if (quiet) unsetenv("REVENANT_SHIM_QUIET");
    revenant_channel_process.version = REVENANT_CHANNEL_VERSION;
    errno = e;
    return &revenant_channel_process;
}
