/* What the Perl shim's two modes share: Shim.xs records a run, replay_*.c replay one (the fast
 * Perl-level replay; replay_internal.h is what those files share among themselves). Both override
 * the same PL_ppaddr entries and keep the same COP cache. */
#ifndef REVENANT_PERL_SHIM_H
#define REVENANT_PERL_SHIM_H

#include <stdint.h>
#include <stddef.h>

#include "revenant_channel_owner.h"
#include "revenant_encode.h"
#include "revenant_perl_introspect.h"

#define SHIM_FORMAT_VERSION REVENANT_SHIM_FORMAT_VERSION /* revenant_channel.h */

/* Everything below is the shim's own, shared among its files only: hidden, so that the statement
 * hook reaches these globals directly rather than through the GOT (one load fewer each, on a path
 * that runs at every statement; cachegrind counts in Docs/machine.md "Code that makes no syscall"). */
#pragma GCC visibility push(hidden)

extern struct revenant_channel_owner *g_owner;
extern PerlInterpreter *g_perl;    /* the interpreter we record or replay */
extern Perl_ppaddr_t g_orig[MAXO]; /* perl's own pp functions, before the shim's */
extern const int g_hooked_ops[];   /* the nondeterministic ops (OP_RAND and statements apart) */
extern const size_t g_hooked_count;
extern struct revenant_perl_introspect g_introspect; /* published through the channel */

/* COP cache: a COP's address -> (context or file id, line), open addressing. */
struct centry {
    const COP *key;
    uint32_t ctx;
    uint32_t line;
};
extern struct centry *g_tab;
extern size_t g_tmask, g_tcount;
extern unsigned g_tshift;
static inline size_t cop_hash(const COP *c) { return (size_t)(((uintptr_t)c * 0x9E3779B97F4A7C15ULL) >> g_tshift); }
void tab_init(unsigned bits);
void tab_insert(const COP *c, uint32_t ctx, uint32_t line);
void tab_grow(void);

/* How many stack arguments a mark-less op consumes (the recording's rule, which replay mirrors). */
SSize_t op_nargs(const OP *o);
/* SHA-256 of a regular file; 0 when it cannot be read. */
int file_digest(const char *path, uint8_t out[32]);

/* Replay mode (replay_boot.c): boot when REVENANT_SHIM_REPLAY names a feed; returns 0 when it does not. */
int replay_boot(pTHX);

#pragma GCC visibility pop

#endif
