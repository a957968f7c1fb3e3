/* perl's own debugger (perl -d) on the fast form: its code was never recorded, so its statements
 * and ops are told apart here and run as they are. */
#include "replay_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* perl's own debugger (perl -d on the fast form)                                               */

/* Whether the code running is the debugger's rather than the program's: a statement of package DB
 * (DB::DB, DB::sub, DB::postponed…), or anything called from DB::DB or another DB:: routine but
 * DB::sub (which wraps every call of the program's own subs). Its statements and ops were never
 * recorded: they run as they are. */
int in_debugger(pTHX_ const COP *c)
{
    PERL_SI *si;
    CV *dbsub;
    if (LIKELY(!PL_perldb) || !PL_debstash) return 0;
    if (c && CopSTASH(c) == PL_debstash) return 1;
    dbsub = PL_DBsub && GvCV(PL_DBsub) ? GvCV(PL_DBsub) : NULL;
    for (si = PL_curstackinfo; si; si = si->si_prev) {
        I32 i;
        for (i = si->si_cxix; i >= 0; i--) {
            const PERL_CONTEXT *cx = &si->si_cxstack[i];
            if (CxTYPE(cx) == CXt_SUB && cx->blk_sub.cv && CvSTASH(cx->blk_sub.cv) == PL_debstash
                && cx->blk_sub.cv != dbsub)
                return 1;
        }
    }
    return 0;
}
