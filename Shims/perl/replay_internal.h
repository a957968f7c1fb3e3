/* What the files of the Perl shim's replay mode share (shim.h is what replay mode shares with the
 * recording, Shim.xs). Every replay_*.c includes it first. Its declarations are hidden: the module
 * is built without -fvisibility=hidden, and the pragma below keeps these names out of Shim.so's
 * exported symbols (and the loads and calls across the files direct).
 *
 * The files, by concern (each is one section of what was replay.c):
 *   replay_reports.c     reports (REPLAY records) and stopping the run
 *   replay_feed.c        the feed: the recording's Perl records, read one at a time
 *   replay_request.c     the request: what to evaluate where (--when, --print, breaks)
 *   replay_debugger.c    perl's own debugger (perl -d on the fast form)
 *   replay_statements.c  statements: each one checked against the feed
 *   replay_ops.c         ops: the nondeterministic ones given their logged results
 *   replay_boot.c        boot: replay mode installed, and the end of the run checked
 */
/* The Perl shim's replay mode: the fast Perl-level replay (Docs/perl-replay.md, "The fast form").
 *
 * `revenant perl` runs the recorded script again under perl, in a fresh sandbox, with
 * REVENANT_SHIM_REPLAY naming the run's Perl records (the regenerated channel stream, Perl
 * records only: the feed). Instead of recording, the hooks
 *  - check every statement against the feed's next statement (file and line), and each source
 *    file's digest on first sight: any difference ends the run with a DIVERGE report;
 *  - give every nondeterministic op its logged result. Ops that only read the world are not run:
 *    their arguments are popped and the logged values pushed. open/sysopen/opendir run for real
 *    on a stand-in (an empty file, a fresh file for writes, "/") so that the handle exists, with
 *    its mode and layers; readline runs on that handle (perl keeps
 *    its targets and $. bookkeeping) and its results are replaced; require and do FILE run for
 *    real, their statements checked as they go;
 *  - at the statements the request names, evaluate --when and --print in the program's scope and
 *    report them.
 * Reports are REPLAY records in the channel (revenant_channel.h), which the VMM collects.
 *
 * Never silently wrong: what this mode cannot reproduce (<> over files, stacked file tests on a
 * handle, seek/tell on a replayed handle) ends the run with a DIVERGE report too, and revenant
 * takes the VM path.
 */
#ifndef REVENANT_PERL_REPLAY_INTERNAL_H
#define REVENANT_PERL_REPLAY_INTERNAL_H

#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revenant_channel.h"
#include "shim.h"

#pragma GCC visibility push(hidden)

/* ------------------------------------------------------------------------------------------ */
/* Reports (replay_reports.c)                                                                  */

void report(int kind, uint64_t seq, const char *text, size_t len);

extern int g_rp;       /* replaying (cleared while the shim evaluates an expression) */
extern uint64_t g_seq; /* statements replayed so far: the next one's number */

void stop_run(int kind, int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

/* ------------------------------------------------------------------------------------------ */
/* The feed (replay_feed.c)                                                                    */

extern uint8_t *g_feed;
extern size_t g_flen, g_fpos;
extern uint64_t g_fctx, g_fline; /* what statement deltas are relative to */

struct ffile {
    char *name;
    int kind;
    uint8_t dig[32];
    int checked;
    int preloaded;
};
extern struct ffile *g_ffiles; /* by id */
extern size_t g_nffiles;
extern uint32_t *g_fctxfile; /* context id -> file id */
extern size_t g_nfctx;

struct fval {
    int tag;
    int64_t i;
    uint64_t u;
    double d;
    const uint8_t *s;
    size_t n;
};
enum { F_EOF, F_STMT, F_BEGIN, F_END, F_SEED };
struct frec {
    int kind;
    uint64_t op, err, ctx, line, seed;
    size_t nvals;
};
extern struct fval *g_vals; /* the last END's values */
extern char **g_preloaded;  /* perl -d: files compiled before the shim (by the debugger) */
extern size_t g_npreloaded;

void *grow(void *a, size_t *cap, size_t need, size_t each);

/* The next statement, op marker or seed; the records that only define names are taken in. */
void feed_next(struct frec *r);

/* Where the feed is: kept to look ahead, and to go back. */
struct fmark {
    size_t pos;
    uint64_t ctx, line;
};
static inline struct fmark feed_mark(void)
{
    struct fmark m = { g_fpos, g_fctx, g_fline };
    return m;
}
static inline void feed_back(struct fmark m)
{
    g_fpos = m.pos;
    g_fctx = m.ctx;
    g_fline = m.line;
}

/* The kind of the next record, without taking it. */
int feed_peek(void);
/* Move to just before the END of the op begun last, past the records of the code it ran inside;
 * `r` gets that END (F_EOF if there is none). */
void seek_end(struct frec *r);

extern const COP *g_last_cop; /* the statement running, for messages */

void diverge(const char *what, const struct frec *r) __attribute__((noreturn));
void unsupported(const char *what) __attribute__((noreturn));

/* ------------------------------------------------------------------------------------------ */
/* The request (replay_request.c)                                                              */

extern uint64_t *g_breaks; /* statement numbers, ascending */
extern size_t g_nbreaks, g_nextbreak;
extern int g_every;

char *read_file(const char *path, size_t *len);
void read_request(pTHX_ const char *path);
/* A stop at statement `seq` (before it runs): the predicate, then the report. */
void stop_at(pTHX_ const COP *cop, uint64_t seq);

/* ------------------------------------------------------------------------------------------ */
/* perl's own debugger (replay_debugger.c)                                                     */

int in_debugger(pTHX_ const COP *c);

/* ------------------------------------------------------------------------------------------ */
/* Statements (replay_statements.c)                                                            */

OP *replay_nextstate(pTHX);
OP *replay_dbstate(pTHX);

/* ------------------------------------------------------------------------------------------ */
/* Ops (replay_ops.c)                                                                          */

OP *replay_rand(pTHX);
OP *replay_op(pTHX);
OP *replay_handle_op(pTHX);
/* Whether the feed has nothing left to replay (looked at without taking anything). */
int feed_at_end(void);
OP *replay_kill(pTHX);

#pragma GCC visibility pop

#endif
