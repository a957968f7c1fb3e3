/* Replay mode's statements: the nextstate and dbstate overrides check every statement against the
 * feed's next one (and each source file's digest on first sight), and stop where the request says. */
#include "replay_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Statements                                                                                  */

static int is_shim_file(const char *name)
{
    static const char shim[] = "/Revenant/Shim.pm";
    size_t n = strlen(name), s = sizeof shim - 1;
    return n >= s && strcmp(name + n - s, shim) == 0;
}

static int same_file(const char *running, const char *recorded)
{
    /* The shim's own file may live elsewhere now (another build): its statements still count. */
    return strcmp(running, recorded) == 0 || (is_shim_file(running) && is_shim_file(recorded));
}

static __attribute__((noinline)) struct centry *replay_first_sight(pTHX_ const COP *c, const struct frec *r)
{
    const char *file = CopFILE(c);
    uint32_t fid = 0, want = r->kind == F_STMT && r->ctx < g_nfctx ? g_fctxfile[r->ctx] : 0;
    size_t i;
    if (!file) file = "";
    /* usually the file the feed expects; else any file of that name seen so far */
    if (want && want < g_nffiles && g_ffiles[want].name && same_file(file, g_ffiles[want].name)) fid = want;
    for (i = 1; !fid && i < g_nffiles; i++)
        if (g_ffiles[i].name && same_file(file, g_ffiles[i].name)) fid = (uint32_t)i;
    if (fid && !g_ffiles[fid].checked) {
        uint8_t d[32];
        g_ffiles[fid].checked = 1;
        if (g_ffiles[fid].kind == 1 && !is_shim_file(file)
            && !(file_digest(file, d) && memcmp(d, g_ffiles[fid].dig, 32) == 0))
            diverge("the source file changed since the recording (its SHA-256 differs)", r);
    }
    if ((g_tcount + 1) * 2 > g_tmask + 1) tab_grow();
    tab_insert(c, fid, (uint32_t)CopLINE(c));
    i = cop_hash(c);
    while (g_tab[i].key != c) i = (i + 1) & g_tmask;
    return &g_tab[i];
}

static uint32_t g_last_file, g_last_line; /* the last statement checked */

static OP *replay_statement(pTHX_ int type)
{
    if (LIKELY(g_rp) && LIKELY(aTHX == g_perl) && !in_debugger(aTHX_ cCOPx(PL_op))) {
        const COP *c = (const COP *)PL_op;
        struct frec r;
        struct centry *e;
        size_t i;
        struct fmark before = feed_mark();
        int saved = errno;
        feed_next(&r);
        g_last_cop = c;
        i = cop_hash(c);
        for (;;) {
            e = &g_tab[i];
            if (LIKELY(e->key == c)) break;
            if (!e->key) {
                e = replay_first_sight(aTHX_ c, &r);
                break;
            }
            i = (i + 1) & g_tmask;
        }
        if (UNLIKELY(r.kind != F_STMT) || UNLIKELY(e->line != r.line) || UNLIKELY(r.ctx >= g_nfctx)
            || UNLIKELY(g_fctxfile[r.ctx] != e->ctx)) {
            /* perl -d compiles some lines with one statement more (a `use` gets three): one on
             * the line of the statement just checked is no new statement */
            if (PL_perldb && e->ctx == g_last_file && e->line == g_last_line) {
                feed_back(before);
                errno = saved;
                return g_orig[type](aTHX);
            }
            diverge("this statement ran", &r);
        }
        g_last_file = e->ctx;
        g_last_line = e->line;
        if (UNLIKELY(g_every) || UNLIKELY(g_nextbreak < g_nbreaks && g_breaks[g_nextbreak] == g_seq)) {
            if (g_nextbreak < g_nbreaks && g_breaks[g_nextbreak] == g_seq) g_nextbreak++;
            stop_at(aTHX_ c, g_seq);
        }
        g_seq++;
        errno = saved;
    }
    return g_orig[type](aTHX);
}

OP *replay_nextstate(pTHX) { return replay_statement(aTHX_ OP_NEXTSTATE); }
OP *replay_dbstate(pTHX) { return replay_statement(aTHX_ OP_DBSTATE); }
