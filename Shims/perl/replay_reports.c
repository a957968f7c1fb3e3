/* Replay mode's reports: REPLAY records into the channel (a HIT at each stop, DIVERGE, DONE,
 * FAILED, STOPPED), and stop_run, which ends the run with a last report. */
#include "replay_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Reports                                                                                     */

void report(int kind, uint64_t seq, const char *text, size_t len)
{
    size_t sz = 1 + 1 + usize(seq) + strsize(len);
    uint8_t *p = g_owner->reserve(sz), *q = p;
    if (!p) return;
    *q++ = REVENANT_REC_REPLAY;
    *q++ = (uint8_t)kind;
    q = uput(q, seq);
    q = strput(q, text, len);
    g_owner->commit(sz);
}

int g_rp;       /* replaying (cleared while the shim evaluates an expression) */
uint64_t g_seq; /* statements replayed so far: the next one's number */

void stop_run(int kind, int status, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    g_rp = 0;
    report(kind, g_seq, buf, (size_t)n);
    g_owner->flush();
    if (g_perl) {
        /* what the program printed up to here, as a run that stopped here would have */
        dTHXa(g_perl);
        PerlIO_flush(PerlIO_stdout());
        PerlIO_flush(PerlIO_stderr());
    }
    _exit(status);
}
