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

/* ------------------------------------------------------------------------------------------ */
/* Reports                                                                                     */

static void report(int kind, uint64_t seq, const char *text, size_t len)
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

static int g_rp;          /* replaying (cleared while the shim evaluates an expression) */
static uint64_t g_seq;    /* statements replayed so far: the next one's number */

static void stop_run(int kind, int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
static void stop_run(int kind, int status, const char *fmt, ...)
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

/* ------------------------------------------------------------------------------------------ */
/* The feed: channel records (Docs/channel-format.md), Perl ones only                          */

static uint8_t *g_feed;
static size_t g_flen, g_fpos;
static uint64_t g_fctx, g_fline;      /* what statement deltas are relative to */

struct ffile { char *name; int kind; uint8_t dig[32]; int checked; int preloaded; };
static struct ffile *g_ffiles;        /* by id */
static size_t g_nffiles;
static uint32_t *g_fctxfile;          /* context id -> file id */
static size_t g_nfctx;

struct fval { int tag; int64_t i; uint64_t u; double d; const uint8_t *s; size_t n; };
enum { F_EOF, F_STMT, F_BEGIN, F_END, F_SEED };
struct frec { int kind; uint64_t op, err, ctx, line, seed; size_t nvals; };
static struct fval *g_vals;           /* the last END's values */
static size_t g_cvals;
static const char *g_opnames[MAXO];   /* from OPNAME records, for messages */
static char **g_preloaded;            /* perl -d: files compiled before the shim (by the debugger) */
static size_t g_npreloaded;
static int g_hash_done;

static void feed_bad(const char *why)
{
    stop_run(REVENANT_REPLAY_FAILED, 125, "the replay feed is unreadable at byte %zu: %s", g_fpos, why);
}

static uint64_t fu(void)
{
    uint64_t r = 0;
    unsigned sh = 0;
    while (g_fpos < g_flen) {
        uint8_t b = g_feed[g_fpos++];
        if (sh >= 64) feed_bad("a varint longer than 64 bits");
        r |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) return r;
        sh += 7;
    }
    feed_bad("the feed ends inside a record");
    return 0;
}

static const uint8_t *fbytes(size_t n)
{
    const uint8_t *p;
    if (n > g_flen - g_fpos) feed_bad("the feed ends inside a record");
    p = g_feed + g_fpos;
    g_fpos += n;
    return p;
}

static const uint8_t *fstr(size_t *n) { *n = (size_t)fu(); return fbytes(*n); }

static void fval(struct fval *v)
{
    const uint8_t *p = fbytes(1);
    uint64_t z;
    v->tag = *p;
    switch (v->tag) {
    case REVENANT_VAL_UNDEF: break;
    case REVENANT_VAL_INT: z = fu(); v->i = (int64_t)((z >> 1) ^ (0 - (z & 1))); break;
    case REVENANT_VAL_UINT: v->u = fu(); break;
    case REVENANT_VAL_DOUBLE: { uint64_t bits = 0; int k; p = fbytes(8); for (k = 0; k < 8; k++) bits |= (uint64_t)p[k] << (8 * k); memcpy(&v->d, &bits, 8); break; }
    case REVENANT_VAL_STRING: case REVENANT_VAL_UTF8: case REVENANT_VAL_BLOB: v->s = fstr(&v->n); break;
    case REVENANT_VAL_ZEROBLOB: v->u = fu(); break;
    default: feed_bad("an unknown value tag");
    }
}

static void *grow(void *a, size_t *cap, size_t need, size_t each)
{
    if (need <= *cap) return a;
    {
        size_t n = *cap ? *cap : 16;
        while (n < need) n *= 2;
        a = realloc(a, n * each);
        if (!a) stop_run(REVENANT_REPLAY_FAILED, 125, "out of memory");
        memset((char *)a + *cap * each, 0, (n - *cap) * each);
        *cap = n;
        return a;
    }
}

static int preloaded(uint64_t ctx)
{
    uint32_t f = ctx < g_nfctx ? g_fctxfile[ctx] : 0;
    return f && f < g_nffiles && g_ffiles[f].preloaded;
}

/* The next statement, op marker or seed; the records that only define names are taken in. */
static void feed_next(struct frec *r)
{
    for (;;) {
        uint8_t tag;
        size_t n, k;
        uint64_t id, c;
        const uint8_t *s;
        if (g_fpos >= g_flen) { r->kind = F_EOF; return; }
        tag = g_feed[g_fpos++];
        if (tag >= 0x80) {
            if (!g_fctx) feed_bad("a line delta before any statement");
            g_fline += (uint64_t)((int64_t)tag - 0xc0);
            r->kind = F_STMT; r->ctx = g_fctx; r->line = g_fline;
            if (UNLIKELY(g_npreloaded) && preloaded(g_fctx)) continue;
            return;
        }
        switch (tag) {
        case REVENANT_REC_START:
            if (fu() != SHIM_FORMAT_VERSION) feed_bad("another shim format version");
            (void)fstr(&n); (void)fstr(&n);
            continue;
        case REVENANT_REC_STR: (void)fu(); (void)fstr(&n); continue;
        case REVENANT_REC_FILE: {
            static size_t cap;
            int kind;
            id = fu();
            s = fstr(&n);
            kind = *fbytes(1);
            if (id == 0 || id > (1u << 24)) feed_bad("a file id out of range");
            g_ffiles = grow(g_ffiles, &cap, id + 1, sizeof *g_ffiles);
            if (id >= g_nffiles) g_nffiles = id + 1;
            if (!g_ffiles[id].name) {
                size_t j;
                g_ffiles[id].name = malloc(n + 1);
                memcpy(g_ffiles[id].name, s, n);
                g_ffiles[id].name[n] = 0;
                g_ffiles[id].kind = kind;
                for (j = 0; j < g_npreloaded; j++)
                    if (strcmp(g_preloaded[j], g_ffiles[id].name) == 0) g_ffiles[id].preloaded = 1;
            }
            if (kind == 1) memcpy(g_ffiles[id].dig, fbytes(32), 32);
            else if (kind != 0) feed_bad("an unknown digest kind");
            continue;
        }
        case REVENANT_REC_CONTEXT: {
            static size_t cap;
            id = fu(); c = fu(); (void)fu(); (void)fu();
            if (id == 0 || id > (1u << 24)) feed_bad("a context id out of range");
            g_fctxfile = grow(g_fctxfile, &cap, id + 1, sizeof *g_fctxfile);
            if (id >= g_nfctx) g_nfctx = id + 1;
            g_fctxfile[id] = (uint32_t)c;
            continue;
        }
        case REVENANT_REC_STMT:
            g_fctx = fu(); g_fline = fu();
            r->kind = F_STMT; r->ctx = g_fctx; r->line = g_fline;
            /* perl -d: code compiled before the shim has perl's own nextstate, never ours */
            if (UNLIKELY(g_npreloaded) && preloaded(g_fctx)) continue;
            return;
        case REVENANT_REC_OP_BEGIN: r->kind = F_BEGIN; r->op = fu(); return;
        case REVENANT_REC_OP_END:
            r->kind = F_END; r->op = fu(); r->err = fu(); r->nvals = (size_t)fu();
            if (r->nvals > g_flen - g_fpos) feed_bad("more values than bytes");
            g_vals = grow(g_vals, &g_cvals, r->nvals + 1, sizeof *g_vals);
            for (k = 0; k < r->nvals; k++) fval(&g_vals[k]);
            return;
        case REVENANT_REC_ENV:
            for (k = (size_t)fu(); k > 0; k--) { (void)fstr(&n); (void)fstr(&n); }
            continue;
        case REVENANT_REC_ARGV:
            for (k = (size_t)fu(); k > 0; k--) (void)fstr(&n);
            continue;
        case REVENANT_REC_HASH: {
            /* The hash state when the recording's first record after the load was written: the
             * same moment as now (the first hook to run). The seed itself came in through
             * PERL_HASH_SEED; what the load did to the iteration bits is undone here. */
            uint64_t bits = 0;
            int enabled;
            (void)fstr(&n);
            s = fbytes(8);
            for (k = 0; k < 8; k++) bits |= (uint64_t)s[k] << (8 * k);
            enabled = *fbytes(1);
            if (!g_hash_done) {
                dTHXa(g_perl);
                g_hash_done = 1;
                PL_hash_rand_bits = (UV)bits;
                PL_hash_rand_bits_enabled = (U8)enabled;
            }
            continue;
        }
        case REVENANT_REC_SEED: r->kind = F_SEED; r->seed = fu(); return;
        case REVENANT_REC_OPNAME:
            id = fu();
            s = fstr(&n);
            if (id < MAXO && !g_opnames[id]) {
                char *x = malloc(n + 1);
                memcpy(x, s, n); x[n] = 0;
                g_opnames[id] = x;
            }
            continue;
        default:
            feed_bad("a record that is not Perl's");
        }
    }
}

/* Where the feed is: kept to look ahead, and to go back. */
struct fmark { size_t pos; uint64_t ctx, line; };
static struct fmark feed_mark(void) { struct fmark m = { g_fpos, g_fctx, g_fline }; return m; }
static void feed_back(struct fmark m) { g_fpos = m.pos; g_fctx = m.ctx; g_fline = m.line; }

/* The kind of the next record, without taking it. */
static int feed_peek(void)
{
    struct fmark m = feed_mark();
    struct frec r;
    feed_next(&r);
    feed_back(m);
    return r.kind;
}

/* Move to just before the END of the op begun last, past the records of the code it ran inside;
 * `r` gets that END (F_EOF if there is none). */
static void seek_end(struct frec *r)
{
    int depth = 0;
    for (;;) {
        struct fmark m = feed_mark();
        feed_next(r);
        if (r->kind == F_EOF) return;
        if (r->kind == F_BEGIN) depth++;
        else if (r->kind == F_END && depth-- == 0) { feed_back(m); return; }
    }
}

static const char *file_name(uint64_t ctx)
{
    uint32_t f = ctx < g_nfctx ? g_fctxfile[ctx] : 0;
    return f && f < g_nffiles && g_ffiles[f].name ? g_ffiles[f].name : "?";
}

static const char *op_name(uint64_t op) { return op < MAXO ? (g_opnames[op] ? g_opnames[op] : PL_op_name[op]) : "?"; }

/* What the recording had next, for a divergence report. */
static const char *expected(const struct frec *r, char *buf, size_t cap)
{
    switch (r->kind) {
    case F_EOF: snprintf(buf, cap, "the recording had ended"); break;
    case F_STMT: snprintf(buf, cap, "the recording had statement %s:%llu", file_name(r->ctx), (unsigned long long)r->line); break;
    case F_BEGIN: snprintf(buf, cap, "the recording had op %s", op_name(r->op)); break;
    case F_END: snprintf(buf, cap, "the recording had the end of op %s", op_name(r->op)); break;
    default: snprintf(buf, cap, "the recording had a rand seed"); break;
    }
    return buf;
}

static const COP *g_last_cop;   /* the statement running, for messages */

static void diverge(const char *what, const struct frec *r) __attribute__((noreturn));
static void diverge(const char *what, const struct frec *r)
{
    char exp[1024];
    const COP *c = g_last_cop;
    stop_run(REVENANT_REPLAY_DIVERGED, 124, "%s:%u: %s, where %s", c ? CopFILE(c) : "?", c ? (unsigned)CopLINE(c) : 0,
             what, expected(r, exp, sizeof exp));
}

static void unsupported(const char *what) __attribute__((noreturn));
static void unsupported(const char *what)
{
    const COP *c = g_last_cop;
    stop_run(REVENANT_REPLAY_DIVERGED, 124, "%s:%u: %s cannot be replayed outside the VM", c ? CopFILE(c) : "?",
             c ? (unsigned)CopLINE(c) : 0, what);
}

/* ------------------------------------------------------------------------------------------ */
/* The request: what to evaluate where                                                         */

static SV *g_when;                    /* the compiled --when sub (package Revenant::Shim::When) */
struct wvar { char sigil; char *name; STRLEN len; GV *gv; };   /* name with its sigil */
static struct wvar *g_wvars;
static size_t g_nwvars, g_cwvars;
struct pexpr { char kind; char *display; char *code; };         /* kind: s(calar), a(rray) or h(ash) ref */
static struct pexpr *g_prints;
static size_t g_nprints, g_cprints;
static uint64_t *g_breaks;            /* statement numbers, ascending */
static size_t g_nbreaks, g_cbreaks, g_nextbreak;
static int g_first, g_every;
static int g_prev = -1;               /* the predicate's last answer (-1: none yet) */

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 1 << 16, n = 0;
    char *b;
    ssize_t r;
    if (fd < 0) return NULL;
    b = malloc(cap + 1);
    for (;;) {
        if (n == cap) { cap *= 2; b = realloc(b, cap + 1); }
        r = read(fd, b + n, cap - n);
        if (r < 0) { if (errno == EINTR) continue; close(fd); free(b); return NULL; }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = 0;
    *len = n;
    return b;
}

/* One line each: `when EXPR`, `var $name`, `need $Pkg::name`, `print KIND DISPLAY<TAB>CODE`, `break SEQ`, `every`,
 * `first`, `unsetenv NAME`. */
static void read_request(pTHX_ const char *path)
{
    size_t len;
    char *text = read_file(path, &len), *line, *save = NULL;
    const char *when = NULL;
    if (!text) stop_run(REVENANT_REPLAY_FAILED, 125, "cannot read the replay request %s: %s", path, strerror(errno));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "when ", 5) == 0) when = line + 5;
        else if ((strncmp(line, "var ", 4) == 0 && strlen(line) >= 6) || (strncmp(line, "need ", 5) == 0 && strlen(line) >= 7)) {
            /* var: aliased into the predicate's package; need: only has to exist (qualified and
             * special names, which the predicate reaches as they are) */
            struct wvar *v;
            int alias = line[0] == 'v';
            const char *name = line + (alias ? 4 : 5);
            char full[512];
            int svt = name[0] == '@' ? SVt_PVAV : name[0] == '%' ? SVt_PVHV : SVt_PV;
            g_wvars = grow(g_wvars, &g_cwvars, g_nwvars + 1, sizeof *g_wvars);
            v = &g_wvars[g_nwvars++];
            v->sigil = name[0];
            v->name = (char *)name;
            v->len = strlen(name);
            v->gv = NULL;
            if (alias) {
                snprintf(full, sizeof full, "Revenant::Shim::When::%s", name + 1);
                v->gv = (GV *)SvREFCNT_inc(gv_fetchpv(full, GV_ADD, svt));
            }
        } else if (strncmp(line, "print ", 6) == 0 && line[6] && line[7] == ' ') {
            char *tab = strchr(line + 8, '\t');
            if (!tab) continue;
            *tab = 0;
            g_prints = grow(g_prints, &g_cprints, g_nprints + 1, sizeof *g_prints);
            g_prints[g_nprints].kind = line[6];
            g_prints[g_nprints].display = line + 8;
            g_prints[g_nprints].code = tab + 1;
            g_nprints++;
        } else if (strncmp(line, "break ", 6) == 0) {
            g_breaks = grow(g_breaks, &g_cbreaks, g_nbreaks + 1, sizeof *g_breaks);
            g_breaks[g_nbreaks++] = strtoull(line + 6, NULL, 10);
        } else if (strcmp(line, "every") == 0) g_every = 1;
        else if (strcmp(line, "first") == 0) g_first = 1;
        else if (strncmp(line, "unsetenv ", 9) == 0) {
            (void)hv_delete(GvHVn(PL_envgv), line + 9, (I32)strlen(line + 9), G_DISCARD);
            unsetenv(line + 9);
        }
    }
    if (when) {
        /* `our` for the aliased names: this compiles inside Shim.pm's load, whose own lexicals
         * ($i among them) would otherwise capture the predicate's variables */
        SV *code = newSVpvs("package Revenant::Shim::When; sub { ");
        size_t i;
        for (i = 0; i < g_nwvars; i++) if (g_wvars[i].gv) sv_catpvf(code, "our %s; ", g_wvars[i].name);
        sv_catpvf(code, "%s }", when);
        U32 evalseq = PL_evalseq;   /* the program's own string evals keep their (eval N) names */
        SV *cv = eval_pv(SvPV_nolen(code), FALSE);
        PL_evalseq = evalseq;
        SvREFCNT_dec(code);
        if (SvTRUE(ERRSV) || !SvROK(cv)) stop_run(REVENANT_REPLAY_FAILED, 125, "--when %s: %s", when, SvPV_nolen(ERRSV));
        g_when = SvREFCNT_inc(cv);
        sv_setpvs(ERRSV, "");
    }
    /* the strings stay: the request's lines are referenced from here on */
}

/* A lexical visible at `cop` (perl's pad_findmy rule, as the VMM's PerlIntrospector reads it):
 * the running code's pad names in scope at this statement, then the enclosing code's at its
 * outside seq. `our` names and misses are NULL (the caller looks in the stash). */
static SV *find_lexical(pTHX_ const char *name, STRLEN len, const COP *cop)
{
    CV *cv = find_runcv(NULL);
    U32 seq = cop->cop_seq;
    SV **pad = PL_curpad;
    int depth;
    for (depth = 0; cv && depth < 64; depth++) {
        PADLIST *pl = CvPADLIST(cv);
        if (pl) {
            PADNAMELIST *pnl = PadlistNAMES(pl);
            SSize_t i;
            for (i = PadnamelistMAX(pnl); i >= 1; i--) {
                PADNAME *pn = PadnamelistARRAY(pnl)[i];
                if (!pn || PadnameLEN(pn) != len || !PadnamePV(pn) || memcmp(PadnamePV(pn), name, len) != 0) continue;
                if (PadnameOURSTASH(pn)) return NULL;
                if (PadnameOUTER(pn) || (COP_SEQ_RANGE_LOW(pn) != PERL_PADSEQ_INTRO
                                         && COP_SEQ_RANGE_LOW(pn) < seq && seq <= COP_SEQ_RANGE_HIGH(pn))) {
                    if (!pad) {
                        I32 d = CvDEPTH(cv) ? CvDEPTH(cv) : 1;
                        PAD *p = PadlistARRAY(pl)[d];
                        if (!p) return NULL;
                        pad = AvARRAY(p);
                    }
                    return pad[i];
                }
            }
        }
        seq = CvOUTSIDE_SEQ(cv);
        cv = CvOUTSIDE(cv);
        pad = NULL;
    }
    return NULL;
}

/* The variable `name` (with its sigil) as the statement at `cop` sees it: a lexical, else the
 * package variable (in the statement's package); NULL when neither exists. */
static SV *find_variable(pTHX_ const struct wvar *v, const COP *cop)
{
    SV *sv = find_lexical(aTHX_ v->name, v->len, cop);
    GV *gv;
    COP *saved;
    if (sv) return sv;
    saved = PL_curcop;
    PL_curcop = (COP *)cop;   /* unqualified names resolve in the statement's package */
    gv = gv_fetchpvn_flags(v->name + 1, v->len - 1, 0, v->sigil == '@' ? SVt_PVAV : v->sigil == '%' ? SVt_PVHV : SVt_PV);
    PL_curcop = saved;
    if (!gv || !isGV_with_GP(gv)) return NULL;
    return v->sigil == '@' ? (SV *)GvAV(gv) : v->sigil == '%' ? (SV *)GvHV(gv) : GvSV(gv);
}

static SV **slot(GV *gv, char sigil)
{
    return sigil == '@' ? (SV **)&GvAV(gv) : sigil == '%' ? (SV **)&GvHV(gv) : &GvSV(gv);
}

/* Undo the aliases of the first n variables. */
static void unalias(size_t n)
{
    dTHXa(g_perl);
    size_t i;
    for (i = 0; i < n; i++) {
        if (g_wvars[i].gv) {
            SV **s = slot(g_wvars[i].gv, g_wvars[i].sigil);
            SvREFCNT_dec(*s);
            *s = NULL;
        }
    }
}

/* The predicate at `cop`: 1 true, 0 false, -1 when one of its variables is not visible there.
 * Its variables are aliased into package Revenant::Shim::When for the call, and unaliased after:
 * the program's SVs keep their reference counts. */
static int when_value(pTHX_ const COP *cop)
{
    size_t i;
    int truth;
    SV *res;
    I32 n;
    for (i = 0; i < g_nwvars; i++) {
        SV *sv = find_variable(aTHX_ &g_wvars[i], cop);
        if (!sv) { unalias(i); return -1; }
        if (g_wvars[i].gv) {
            SV **s = slot(g_wvars[i].gv, g_wvars[i].sigil);
            *s = SvREFCNT_inc_simple_NN(sv);
        }
    }
    {
        dSP;
        ENTER;
        SAVETMPS;
        PUSHMARK(SP);
        PUTBACK;
        n = call_sv(g_when, G_SCALAR | G_EVAL | G_NOARGS);
        SPAGAIN;
        res = n > 0 ? POPs : &PL_sv_undef;
        truth = SvTRUE(ERRSV) ? 0 : SvTRUE(res);
        PUTBACK;
        FREETMPS;
        LEAVE;
    }
    unalias(g_nwvars);
    return truth;
}

/* --print's rendering, as the VM path's PerlValue shows values (Data::Dumper-like, one line). */
static void render(pTHX_ SV *out, SV *sv, int depth);

static void render_string(pTHX_ SV *out, const char *s, STRLEN n)
{
    STRLEN i, digits = n;
    const char *d = s;
    int integer;
    if (n && *d == '-') { d++; digits--; }
    integer = digits >= 1 && digits <= 15 && (d[0] != '0' || digits == 1);
    for (i = 0; integer && i < digits; i++) if (d[i] < '0' || d[i] > '9') integer = 0;
    if (integer) { sv_catpvn(out, s, n); return; }
    sv_catpvs(out, "'");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\'') sv_catpvs(out, "\\'");
        else if (c == '\\') sv_catpvs(out, "\\\\");
        else if (c == '\n') sv_catpvs(out, "\\n");
        else if (c == '\t') sv_catpvs(out, "\\t");
        else if (c < 0x20) sv_catpvf(out, "\\x%02x", c);
        else sv_catpvn(out, (const char *)&c, 1);
    }
    sv_catpvs(out, "'");
}

static void render_double(pTHX_ SV *out, NV d)
{
    if (Perl_isnan(d)) sv_catpvs(out, "NaN");
    else if (Perl_isinf(d)) sv_catpv(out, d < 0 ? "-Inf" : "Inf");
    else if (d == (NV)(IV)d && d < 1e15 && d > -1e15) sv_catpvf(out, "%" IVdf, (IV)d);
    else sv_catpvf(out, "%.15g", (double)d);
}

static const char *kind_name(SV *t)
{
    switch (SvTYPE(t)) {
    case SVt_PVAV: return "ARRAY";
    case SVt_PVHV: return "HASH";
    case SVt_PVCV: return "CODE";
    case SVt_PVGV: return "GLOB";
    case SVt_PVIO: return "IO";
    case SVt_REGEXP: return "Regexp";
    case SVt_PVLV: return "LVALUE";
    default: return SvROK(t) ? "REF" : "SCALAR";
    }
}

static int cmp_keys(const void *a, const void *b)
{
    const HE *x = *(HE *const *)a, *y = *(HE *const *)b;
    I32 lx = HeKLEN(x), ly = HeKLEN(y);
    int c = memcmp(HeKEY(x), HeKEY(y), (size_t)(lx < ly ? lx : ly));
    return c ? c : (lx > ly) - (lx < ly);
}

static void render_key(pTHX_ SV *out, const char *k, STRLEN n)
{
    STRLEN i;
    int bare = n > 0 && (isALPHA(k[0]) || k[0] == '_' || (unsigned char)k[0] >= 0x80);
    for (i = 0; bare && i < n; i++)
        if (!(isALNUM(k[i]) || (unsigned char)k[i] >= 0x80)) bare = 0;
    if (bare) sv_catpvn(out, k, n); else render_string(aTHX_ out, k, n);
}

static void render_items(pTHX_ SV *out, SV *agg, int depth, const char *open, const char *close)
{
    sv_catpv(out, open);
    if (SvTYPE(agg) == SVt_PVAV) {
        AV *av = (AV *)agg;
        SSize_t i, top = av_top_index(av), shown = top + 1 > 100 ? 100 : top + 1;
        for (i = 0; i < shown; i++) {
            SV **e = av_fetch(av, i, 0);
            if (i) sv_catpvs(out, ", ");
            render(aTHX_ out, e ? *e : NULL, depth - 1);
        }
        if (top + 1 > shown) sv_catpvs(out, ", ...");
    } else {
        HV *hv = (HV *)agg;
        HE **all, *he;
        size_t n = 0, cap = HvUSEDKEYS(hv) + 1, i;
        /* the program may be in the middle of an each() over this hash: keep its iterator */
        I32 riter = HvRITER_get(hv);
        HE *eiter = HvEITER_get(hv);
        all = malloc(cap * sizeof *all);
        hv_iterinit(hv);
        while ((he = hv_iternext(hv)) && n < cap) all[n++] = he;
        HvRITER_set(hv, riter);
        HvEITER_set(hv, eiter);
        qsort(all, n, sizeof *all, cmp_keys);
        for (i = 0; i < n && i < 100; i++) {
            if (i) sv_catpvs(out, ", ");
            render_key(aTHX_ out, HeKEY(all[i]), (STRLEN)HeKLEN(all[i]));
            sv_catpvs(out, " => ");
            render(aTHX_ out, HeVAL(all[i]), depth - 1);
        }
        if (n > 100) sv_catpvs(out, ", ...");
        free(all);
    }
    sv_catpv(out, close);
}

static void render(pTHX_ SV *out, SV *sv, int depth)
{
    U32 f;
    if (!sv) { sv_catpvs(out, "undef"); return; }
    if (SvTYPE(sv) == SVt_PVAV) { render_items(aTHX_ out, sv, depth, "[", "]"); return; }
    if (SvTYPE(sv) == SVt_PVHV) { render_items(aTHX_ out, sv, depth, "{", "}"); return; }
    f = SvFLAGS(sv);
    if (SvROK(sv)) {
        SV *t = SvRV(sv);
        const char *kind = kind_name(t);
        if (SvOBJECT(t) && HvNAME_get(SvSTASH(t))) sv_catpvf(out, "bless(%s) ", HvNAME_get(SvSTASH(t)));
        if (depth <= 0 || SvTYPE(t) == SVt_PVCV || SvTYPE(t) == SVt_PVGV || SvTYPE(t) == SVt_PVIO) {
            sv_catpvf(out, "%s(0x%" UVxf ")", kind, PTR2UV(t));
            return;
        }
        if (SvTYPE(t) != SVt_PVAV && SvTYPE(t) != SVt_PVHV) sv_catpvs(out, "\\");
        render(aTHX_ out, t, depth - 1);
        return;
    }
    if (f & (SVf_POK | SVp_POK)) render_string(aTHX_ out, SvPVX_const(sv), SvCUR(sv));
    else if (f & (SVf_IOK | SVp_IOK)) {
        if (SvIsUV(sv)) sv_catpvf(out, "%" UVuf, SvUVX(sv)); else sv_catpvf(out, "%" IVdf, SvIVX(sv));
    } else if (f & (SVf_NOK | SVp_NOK)) render_double(aTHX_ out, SvNVX(sv));
    else sv_catpvs(out, "undef");
}

/* Evaluate `code` in the scope of the statement at `cop` (a string eval sees its lexicals). */
static SV *eval_at(pTHX_ const COP *cop, const char *code)
{
    COP *saved = PL_curcop;
    SV *res;
    PL_curcop = (COP *)cop;
    res = eval_pv(code, FALSE);
    PL_curcop = saved;
    return res;
}

static void print_values(pTHX_ const COP *cop, SV *out)
{
    size_t i;
    for (i = 0; i < g_nprints; i++) {
        const struct pexpr *p = &g_prints[i];
        SV *v = eval_at(aTHX_ cop, p->code);
        if (i) sv_catpvs(out, "\n");
        if (SvTRUE(ERRSV)) {
            STRLEN n;
            const char *e = SvPV(ERRSV, n);
            while (n && (e[n - 1] == '\n' || e[n - 1] == '.')) n--;
            sv_catpvs(out, "<");
            sv_catpvn(out, e, n);
            sv_catpvs(out, ">");
            continue;
        }
        sv_catpvf(out, "%s = ", p->display);
        if ((p->kind == 'a' || p->kind == 'h') && SvROK(v)) { render_items(aTHX_ out, SvRV(v), 3, "(", ")"); continue; }
        render(aTHX_ out, v, 3);
    }
}

/* A stop at statement `seq` (before it runs): the predicate, then the report. */
static void stop_at(pTHX_ const COP *cop, uint64_t seq)
{
    int saved_errno = errno;
    SV *saved_err = newSVsv(ERRSV);
    I32 saved_status = PL_statusvalue;
    OP *saved_op = PL_op;         /* the statement's own nextstate runs after this */
    COP *saved_cop = PL_curcop;
    U32 saved_evalseq = PL_evalseq;   /* our evals must not renumber the program's (eval N) */
    g_rp = 0;
    *(volatile uint64_t *)&g_introspect.evaluating = seq + 1;   /* the VMM's watchdog: --timeout */
    /* A scope of our own: eval_sv saves PL_op on the save stack without one, and the enclosing
     * block's exit would restore it (the main program would start over from this statement). */
    ENTER;
    SAVETMPS;   /* the evaluation's own statements and ops are not the run's */
    if (g_when) {
        int v = when_value(aTHX_ cop);
        int prev = g_prev;
        if (v < 0) goto done;
        g_prev = v;
        if (!v || (!g_nbreaks && prev == 1)) goto done;
    }
    {
        SV *out = newSVpvs("");
        if (g_nprints) print_values(aTHX_ cop, out);
        report(REVENANT_REPLAY_HIT, seq, SvPVX_const(out), SvCUR(out));
        SvREFCNT_dec(out);
    }
    if (g_first) stop_run(REVENANT_REPLAY_STOPPED, 0, "--first");
done:
    FREETMPS;
    LEAVE;
    PL_op = saved_op;
    PL_curcop = saved_cop;
    sv_setsv(ERRSV, saved_err);
    SvREFCNT_dec(saved_err);
    PL_statusvalue = saved_status;
    PL_evalseq = saved_evalseq;
    *(volatile uint64_t *)&g_introspect.evaluating = 0;
    errno = saved_errno;
    g_rp = 1;
}

/* ------------------------------------------------------------------------------------------ */
/* perl's own debugger (perl -d on the fast form)                                               */

/* Whether the code running is the debugger's rather than the program's: a statement of package DB
 * (DB::DB, DB::sub, DB::postponed…), or anything called from DB::DB or another DB:: routine but
 * DB::sub (which wraps every call of the program's own subs). Its statements and ops were never
 * recorded: they run as they are. */
static int in_debugger(pTHX_ const COP *c)
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
            if (CxTYPE(cx) == CXt_SUB && cx->blk_sub.cv && CvSTASH(cx->blk_sub.cv) == PL_debstash && cx->blk_sub.cv != dbsub)
                return 1;
        }
    }
    return 0;
}

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
        if (g_ffiles[fid].kind == 1 && !is_shim_file(file) && !(file_digest(file, d) && memcmp(d, g_ffiles[fid].dig, 32) == 0))
            diverge("the source file changed since the recording (its SHA-256 differs)", r);
    }
    if ((g_tcount + 1) * 2 > g_tmask + 1) tab_grow();
    tab_insert(c, fid, (uint32_t)CopLINE(c));
    i = cop_hash(c);
    while (g_tab[i].key != c) i = (i + 1) & g_tmask;
    return &g_tab[i];
}

static uint32_t g_last_file, g_last_line;   /* the last statement checked */

static OP *replay_statement(pTHX_ int type)
{
    if (LIKELY(g_rp) && LIKELY(aTHX == g_perl) && !in_debugger(aTHX_ (const COP *)PL_op)) {
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
            if (!e->key) { e = replay_first_sight(aTHX_ c, &r); break; }
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

static OP *replay_nextstate(pTHX) { return replay_statement(aTHX_ OP_NEXTSTATE); }
static OP *replay_dbstate(pTHX) { return replay_statement(aTHX_ OP_DBSTATE); }

/* ------------------------------------------------------------------------------------------ */
/* Ops                                                                                         */

static void expect_begin(int type)
{
    struct frec r;
    char what[128];
    feed_next(&r);
    if (r.kind != F_BEGIN || r.op != (uint64_t)type) {
        snprintf(what, sizeof what, "op %s ran", PL_op_name[type]);
        diverge(what, &r);
    }
}

static void expect_end(int type, struct frec *r)
{
    char what[128];
    feed_next(r);
    if (r->kind != F_END || r->op != (uint64_t)type) {
        snprintf(what, sizeof what, "op %s ended", PL_op_name[type]);
        diverge(what, r);
    }
}

static void set_value(pTHX_ SV *sv, const struct fval *v)
{
    switch (v->tag) {
    case REVENANT_VAL_INT: sv_setiv(sv, (IV)v->i); break;
    case REVENANT_VAL_UINT: sv_setuv(sv, (UV)v->u); break;
    case REVENANT_VAL_DOUBLE: sv_setnv(sv, (NV)v->d); break;
    case REVENANT_VAL_STRING: case REVENANT_VAL_BLOB: sv_setpvn(sv, (const char *)v->s, v->n); break;
    case REVENANT_VAL_UTF8: sv_setpvn(sv, (const char *)v->s, v->n); SvUTF8_on(sv); break;
    default: sv_setsv(sv, &PL_sv_undef); break;
    }
}

static SV *new_value(pTHX_ const struct fval *v)
{
    SV *sv = sv_newmortal();
    if (v->tag != REVENANT_VAL_UNDEF) set_value(aTHX_ sv, v);
    return sv;
}

static int value_true(const struct fval *v)
{
    switch (v->tag) {
    case REVENANT_VAL_INT: return v->i != 0;
    case REVENANT_VAL_UINT: return v->u != 0;
    case REVENANT_VAL_DOUBLE: return v->d != 0;
    case REVENANT_VAL_STRING: case REVENANT_VAL_UTF8: return !(v->n == 0 || (v->n == 1 && v->s[0] == '0'));
    default: return 0;
    }
}

static IV value_iv(const struct fval *v)
{
    switch (v->tag) {
    case REVENANT_VAL_INT: return (IV)v->i;
    case REVENANT_VAL_UINT: return (IV)v->u;
    case REVENANT_VAL_DOUBLE: return (IV)v->d;
    case REVENANT_VAL_STRING: case REVENANT_VAL_UTF8: { char b[32]; size_t n = v->n < 31 ? v->n : 31; memcpy(b, v->s, n); b[n] = 0; return (IV)strtoll(b, NULL, 10); }
    default: return 0;
    }
}

/* Where an op's arguments start on the stack (the recording's rule: results go above it). */
static SSize_t args_base(pTHX_ const OP *o, int pop_mark)
{
    SSize_t sp0 = PL_stack_sp - PL_stack_base;
    if (PL_opargs[o->op_type] & OA_MARK) {
        SSize_t lo = *PL_markstack_ptr;
        if (pop_mark) PL_markstack_ptr--;
        return lo;
    }
    return sp0 - op_nargs(o);
}

/* The op's END: its logged results replace whatever is above `lo`; `dst` (if any) is the SV a
 * scalar result belongs in (the op's target). Returns the op's errno. */
static int push_results(pTHX_ int type, SSize_t lo, U8 gimme, SV *buf, SV *dst)
{
    struct frec r;
    size_t k, i;
    SV **sp;
    if (type != OP_OPEN && type != OP_SYSOPEN && type != OP_OPEN_DIR && type != OP_SRAND) {
        /* the recording ran Perl code inside this op (a PerlIO layer, a tie): fed, it cannot */
        int next = feed_peek();
        if (next == F_STMT || next == F_BEGIN) {
            char what[128];
            snprintf(what, sizeof what, "op %s running Perl code inside it (a PerlIO layer or a tie)", PL_op_name[type]);
            unsupported(what);
        }
    }
    expect_end(type, &r);
    k = r.nvals;
    if (buf && k) { k--; set_value(aTHX_ buf, &g_vals[k]); SvSETMAGIC(buf); }
    if ((type == OP_BACKTICK || type == OP_WAIT || type == OP_WAITPID) && k) { k--; PL_statusvalue = (I32)value_iv(&g_vals[k]); }
    if (type == OP_SYSTEM && k) PL_statusvalue = (I32)value_iv(&g_vals[0]);
    sp = PL_stack_base + lo;
    EXTEND(sp, (SSize_t)k);
    if (gimme == G_LIST) {
        for (i = 0; i < k; i++) *++sp = new_value(aTHX_ &g_vals[i]);
    } else if (k) {
        if (dst) { set_value(aTHX_ dst, &g_vals[0]); SvSETMAGIC(dst); *++sp = dst; }
        else *++sp = new_value(aTHX_ &g_vals[0]);
    }
    PL_stack_sp = sp;
    if (type == OP_RCATLINE && !k) unsupported("$x .= <FH> recorded without its line (an older shim)");
    if ((type == OP_READLINE || type == OP_RCATLINE) && PL_last_in_gv && isGV_with_GP(PL_last_in_gv) && GvIO(PL_last_in_gv)) {
        IV lines = 0;
        for (i = 0; i < k; i++) lines += g_vals[i].tag != REVENANT_VAL_UNDEF;
        IoLINES(GvIOp(PL_last_in_gv)) += lines;   /* $. as the real reads advanced it */
    }
    return (int)r.err;
}

static OP *replay_rand(pTHX)
{
    if (g_rp && aTHX == g_perl && !PL_srand_called && !in_debugger(aTHX_ PL_curcop)) {
        /* perl seeds itself on its first rand: with the recorded seed */
        struct frec r;
        expect_begin(OP_RAND);
        feed_next(&r);
        if (r.kind != F_SEED) diverge("rand seeded itself", &r);
        (void)seedDrand01((Rand_seed_t)r.seed);
        PL_srand_called = TRUE;
        expect_end(OP_RAND, &r);
        errno = (int)r.err;
    }
    return g_orig[OP_RAND](aTHX);
}

struct reqinfo { int type; };
static struct reqinfo g_reqinfo[2] = { { OP_REQUIRE }, { OP_DOFILE } };

static void require_done(pTHX_ void *p)
{
    struct frec r;
    int e = errno;
    if (g_rp && aTHX == g_perl) expect_end(((struct reqinfo *)p)->type, &r);
    errno = e;
}

/* perl -d: the debugger loaded some of the program's modules (strict, warnings…) before the
 * shim, so here their require returns at once. The recording's records of loading them are
 * passed over, up to this require's END; what the program does with them afterwards is checked. */
static void skip_load(void)
{
    struct frec r;
    seek_end(&r);   /* the END itself is the caller's */
}

/* require and do FILE run for real (the code they load is checked statement by statement). */
static OP *replay_require(pTHX_ int type)
{
    I32 oldcx = cxstack_ix;
    int ret;
    OP *next = NULL;
    struct frec r;
    dJMPENV;
    JMPENV_PUSH(ret);
    if (ret == 0) next = g_orig[type](aTHX);
    JMPENV_POP;
    if (ret != 0) {
        int e = errno;
        if (g_rp) expect_end(type, &r);
        errno = e;
        JMPENV_JUMP(ret);
    }
    if (cxstack_ix > oldcx && CxTYPE(&cxstack[cxstack_ix]) == CXt_EVAL) {
        SAVEDESTRUCTOR_X(require_done, &g_reqinfo[type == OP_DOFILE]);
        return next;
    }
    {
        int e = errno;
        if (PL_perldb) skip_load();
        expect_end(type, &r);
        errno = e;
    }
    return next;
}

/* The END record of the op just begun, without taking it (an open's success decides how it
 * runs; the records of code it runs inside come first). */
static int peek_success(int type)
{
    struct fmark m = feed_mark();
    struct frec r;
    int ok;
    seek_end(&r);
    ok = r.kind == F_END && r.op == (uint64_t)type && r.nvals > 0 && value_true(&g_vals[0]);
    feed_back(m);
    return ok;
}

/* Where opens that succeeded in the recording go instead: a read opens an empty regular file
 * (not /dev/null: a character device makes PerlIO layers such as :encoding run other Perl code),
 * a write or read-write opens a fresh file of its own. Both live in the sandbox's private /tmp. */
#define REPLAY_EMPTY "/tmp/.revenant-replay-empty"
static unsigned g_sinks;

static SV *sink_path(pTHX) { return sv_2mortal(newSVpvf("/tmp/.revenant-replay-sink-%u", ++g_sinks)); }

/* The handles opened that way: tell/seek/fileno on them would answer for the stand-in. */
static PerlIO **g_standins;
static size_t g_nstandins, g_cstandins;

static void note_standin(pTHX_ SV *handle)
{
    GV *gv = NULL;
    IO *io;
    if (handle && isGV_with_GP(handle)) gv = (GV *)handle;
    else if (handle && SvROK(handle) && isGV_with_GP(SvRV(handle))) gv = (GV *)SvRV(handle);
    io = gv ? GvIO(gv) : NULL;
    if (!io) return;
    if (IoIFP(io)) { g_standins = grow(g_standins, &g_cstandins, g_nstandins + 1, sizeof *g_standins); g_standins[g_nstandins++] = IoIFP(io); }
    if (IoOFP(io) && IoOFP(io) != IoIFP(io)) { g_standins = grow(g_standins, &g_cstandins, g_nstandins + 1, sizeof *g_standins); g_standins[g_nstandins++] = IoOFP(io); }
}

static int is_standin(PerlIO *f)
{
    size_t i;
    for (i = 0; f && i < g_nstandins; i++) if (g_standins[i] == f) return 1;
    return 0;
}

/* Rewrite an open's arguments (above `lo`) to open a stand-in, keeping mode and layers; 0 when
 * it runs as written (an in-memory file, a dup, STDIN/STDOUT). */
static int redirect_open(pTHX_ int type, SSize_t lo)
{
    SV **args = PL_stack_base + lo + 1;
    SSize_t items = (PL_stack_sp - PL_stack_base) - lo;
    if (type == OP_OPEN_DIR) {
        if (items >= 2) args[1] = sv_2mortal(newSVpvs("/"));
        return 0;
    }
    if (type == OP_SYSOPEN) {
        if (items >= 3) {
            IV mode = SvIV(args[2]);
            if ((mode & O_ACCMODE) == O_RDONLY) { args[1] = sv_2mortal(newSVpvs(REPLAY_EMPTY)); args[2] = sv_2mortal(newSViv(O_RDONLY)); }
            else { args[1] = sink_path(aTHX); args[2] = sv_2mortal(newSViv((mode & O_ACCMODE) | O_CREAT | O_TRUNC)); }
        }
        return 1;
    }
    if (items < 2) unsupported("open with no file name");
    if (items == 2) {
        STRLEN n;
        const char *s = SvPV(args[1], n), *e = s + n;
        while (s < e && isSPACE(*s)) s++;
        while (e > s && isSPACE(e[-1])) e--;
        if (memchr(s, '&', (size_t)(e - s)) && (*s == '<' || *s == '>' || *s == '+')) return 0;   /* a dup */
        if ((e - s == 1 && *s == '-') || (e - s == 2 && (s[0] == '<' || s[0] == '>') && s[1] == '-')) return 0;
        if (*s == '+' || *s == '>' || *s == '|') {
            const char *mode = *s == '+' ? "+>" : (s[0] == '>' && s[1] == '>') ? ">>" : ">";
            args[1] = sv_2mortal(newSVpvf("%s%s", mode, SvPV_nolen(sink_path(aTHX))));
        } else args[1] = sv_2mortal(newSVpvs("<" REPLAY_EMPTY));   /* a read, or a pipe from a command */
        return 1;
    }
    {
        STRLEN n;
        const char *m = SvPV(args[1], n);
        const char *layers;
        int writes;
        if (SvROK(args[2]) || memchr(m, '&', n)) return 0;   /* in memory, or a dup */
        layers = m;
        while (layers < m + n && strchr("+<>|- ", *layers)) layers++;
        writes = memchr(m, '>', (size_t)(layers - m)) || memchr(m, '+', (size_t)(layers - m))
                 || (n >= 2 && m[0] == '|' && m[1] == '-');
        if (memchr(m, '|', (size_t)(layers - m))) {
            /* a pipe: a command that never runs here; its end becomes a plain file */
            args[1] = sv_2mortal(newSVpvf("%s%s", writes ? ">" : "<", layers));
            PL_stack_sp = PL_stack_base + lo + 3;
        } else if (writes && memchr(m, '+', (size_t)(layers - m)) && memchr(m, '<', (size_t)(layers - m))) {
            args[1] = sv_2mortal(newSVpvf("+>%s", layers));   /* +< needs the file: a fresh one is empty */
        }
        args[2] = writes ? sink_path(aTHX) : sv_2mortal(newSVpvs(REPLAY_EMPTY));
        return 1;
    }
}

/* Stacked file tests (-f -r $x) pass the file name along on success and skip the rest of the
 * chain on failure, as perl's ft_return_true/ft_return_false do. */
static OP *filetest(pTHX_ OP *o, SSize_t lo, int *err)
{
    struct frec r;
    int truth, stacking = (o->op_private & OPpFT_STACKING) != 0;
    OP *next = o->op_next;
    SV **sp;
    if (stacking && (o->op_flags & OPf_REF)) unsupported("a stacked file test on a handle");
    expect_end(o->op_type, &r);
    *err = (int)r.err;
    truth = r.nvals > 0 && value_true(&g_vals[0]);
    if (truth && stacking) return next;   /* the file name stays for the next test */
    sp = PL_stack_base + lo;
    EXTEND(sp, 1);
    *++sp = r.nvals ? new_value(aTHX_ &g_vals[0]) : &PL_sv_undef;
    PL_stack_sp = sp;
    if (!truth && stacking)
        while (next && OP_IS_FILETEST(next->op_type) && (next->op_private & OPpFT_STACKED)) next = next->op_next;
    return next;
}

static OP *replay_op(pTHX)
{
    OP *const o = PL_op;
    const int type = o->op_type;
    SSize_t lo;
    U8 gimme;
    int err = 0;
    OP *next = o->op_next;

    if (!g_rp || aTHX != g_perl || in_debugger(aTHX_ PL_curcop)) return g_orig[type](aTHX);
    expect_begin(type);
    if (type == OP_REQUIRE || type == OP_DOFILE) return replay_require(aTHX_ type);
    gimme = GIMME_V;
    switch (type) {
    case OP_OPEN: case OP_SYSOPEN: case OP_OPEN_DIR: {
        lo = args_base(aTHX_ o, 0);
        if (peek_success(type)) {
            SV *handle = PL_stack_base[lo + 1];
            int standin = redirect_open(aTHX_ type, lo);
            next = g_orig[type](aTHX);
            if (standin) note_standin(aTHX_ handle);
        } else {
            (void)args_base(aTHX_ o, 1);   /* not run: take its mark */
        }
        err = push_results(aTHX_ type, lo, gimme, NULL, NULL);
        break;
    }
    case OP_READLINE: case OP_RCATLINE: {
        /* run on the handle (opened on a stand-in) so that perl keeps PL_last_in_gv, the target
         * and the ARGV state as it would; then the logged line(s) replace its result */
        SV *stacked = NULL, *top, *dst = NULL;
        GV *gv;
        lo = args_base(aTHX_ o, 0);
        gv = type == OP_READLINE ? (GV *)*PL_stack_sp : cGVOPo_gv;
        if (o->op_flags & OPf_STACKED) stacked = type == OP_READLINE ? PL_stack_sp[-1] : *PL_stack_sp;
        if ((!gv || gv == PL_argvgv) && PL_argvgv && GvAV(PL_argvgv) && av_count(GvAV(PL_argvgv)) > 0)
            unsupported("<> over the files in @ARGV");
        next = g_orig[type](aTHX);
        top = PL_stack_sp > PL_stack_base + lo ? *PL_stack_sp : NULL;
        if (top && (top == stacked || (o->op_targ && top == PAD_SV(o->op_targ)))) dst = top;
        if (type == OP_RCATLINE && dst == NULL) dst = stacked;
        err = push_results(aTHX_ type, lo, gimme, NULL, dst);
        break;
    }
    case OP_SRAND: {
        /* srand runs (it may take an argument); the seed it returned in the recording reseeds */
        lo = args_base(aTHX_ o, 0);
        next = g_orig[type](aTHX);
        err = push_results(aTHX_ type, lo, gimme, NULL, NULL);
        if (PL_stack_sp > PL_stack_base + lo) (void)seedDrand01((Rand_seed_t)SvUV(*PL_stack_sp));
        PL_srand_called = TRUE;
        break;
    }
    default: {
        SV *buf = NULL, *dst = NULL;
        lo = args_base(aTHX_ o, 1);
        if ((type == OP_READ || type == OP_SYSREAD || type == OP_RECV) && PL_stack_base + lo + 2 <= PL_stack_sp)
            buf = PL_stack_base[lo + 2];
        if (OP_IS_FILETEST(type)) { next = filetest(aTHX_ o, lo, &err); break; }
        if ((PL_opargs[type] & OA_TARGLEX) && (o->op_private & OPpTARGET_MY)) dst = PAD_SV(o->op_targ);
        err = push_results(aTHX_ type, lo, gimme, buf, dst);
        break;
    }
    }
    errno = err;
    return next;
}

/* seek/tell/fileno on a stand-in handle would answer for the stand-in, not the file. */
static OP *replay_handle_op(pTHX)
{
    if (g_rp && aTHX == g_perl && !in_debugger(aTHX_ PL_curcop)) {
        SV *top = NULL;
        GV *gv = NULL;
        IO *io;
        if (PL_op->op_flags & OPf_KIDS) {
            /* the handle is the first of the op's arguments */
            SSize_t n = PL_op->op_private & OPpARG4_MASK;
            if (n >= 1 && PL_stack_sp - (n - 1) > PL_stack_base) top = PL_stack_sp[1 - n];
            if (top && isGV_with_GP(top)) gv = (GV *)top;
            else if (top && SvROK(top) && isGV_with_GP(SvRV(top))) gv = (GV *)SvRV(top);
        } else gv = PL_last_in_gv;
        io = gv ? GvIO(gv) : NULL;
        if (io && (is_standin(IoIFP(io)) || is_standin(IoOFP(io)))) {
            char what[64];
            snprintf(what, sizeof what, "%s on a file handle", PL_op_desc[PL_op->op_type]);
            unsupported(what);
        }
    }
    return g_orig[PL_op->op_type](aTHX);
}

/* Whether the feed has nothing left to replay (looked at without taking anything). */
static int feed_at_end(void) { return feed_peek() == F_EOF; }

/* A process that signals itself may die of it, as the recording did: when the recording ends
 * here, say so first (if it lives on, the next statement reports a divergence). */
static OP *replay_kill(pTHX)
{
    if (g_rp && aTHX == g_perl && !in_debugger(aTHX_ PL_curcop) && feed_at_end()) {
        SV **p = PL_stack_base + *PL_markstack_ptr + 2;   /* after the signal: the pids */
        for (; p <= PL_stack_sp; p++)
            if (!(SvGMAGICAL(*p) && mg_find(*p, PERL_MAGIC_tiedscalar))) {   /* $$ has get-magic; a tie would see two FETCHes */
                if ((pid_t)SvIV(*p) == getpid()) {
                    report(REVENANT_REPLAY_DONE, g_seq, "", 0);
                    g_owner->flush();
                    break;
                }
            }
    }
    return g_orig[OP_KILL](aTHX);
}

/* ------------------------------------------------------------------------------------------ */
/* Boot                                                                                        */

static void replay_finish(void)
{
    struct frec r;
    if (!g_feed || !g_rp) return;
    {
        /* perl -d: the user may quit before the end (its q exits from code compiled before the
         * shim, out of reach); what ran was checked statement by statement */
        dTHXa(g_perl);
        if (PL_perldb && !feed_at_end()) {
            report(REVENANT_REPLAY_STOPPED, g_seq, "the debugger ended the program", 30);
            g_owner->flush();
            return;
        }
    }
    feed_next(&r);
    if (r.kind != F_EOF) diverge("the program ended", &r);
    report(REVENANT_REPLAY_DONE, g_seq, "", 0);
    g_owner->flush();
}

void shim_install_opfreehook(pTHX);

int replay_boot(pTHX)
{
    const char *feed = getenv("REVENANT_SHIM_REPLAY"), *request = getenv("REVENANT_SHIM_REQUEST");
    HV *env = GvHVn(PL_envgv);
    size_t i;
    if (!feed) return 0;
    g_perl = aTHX;
    if (g_owner->mode == REVENANT_CHANNEL_OFF) {
        /* revenant runs it in the VM; REVENANT_SHIM_LOG gives the reports a file (the tests) */
        fprintf(stderr, "Revenant::Shim: replay mode needs the Revenant channel (or REVENANT_SHIM_LOG)\n");
        _exit(125);
    }
    g_feed = (uint8_t *)read_file(feed, &g_flen);
    if (!g_feed) stop_run(REVENANT_REPLAY_FAILED, 125, "cannot read the replay feed %s: %s", feed, strerror(errno));
    (void)hv_delete(env, "REVENANT_SHIM_REPLAY", 20, G_DISCARD);
    unsetenv("REVENANT_SHIM_REPLAY");
    if (request) {
        char *copy = strdup(request);
        (void)hv_delete(env, "REVENANT_SHIM_REQUEST", 21, G_DISCARD);
        unsetenv("REVENANT_SHIM_REQUEST");
        read_request(aTHX_ copy);
    }
    if (PL_perldb) {
        /* the files perl -d compiled before the shim: their statements cannot be seen */
        HV *inc = GvHVn(PL_incgv);
        HE *he;
        hv_iterinit(inc);
        while ((he = hv_iternext(inc))) {
            SV *v = HeVAL(he);
            if (v && SvPOK(v)) {
                g_preloaded = realloc(g_preloaded, (g_npreloaded + 1) * sizeof *g_preloaded);
                g_preloaded[g_npreloaded++] = strdup(SvPVX(v));
            }
        }
    }
    /* The introspection block, for its `evaluating` word only: the VMM bounds each evaluation */
    g_introspect.magic = (uint32_t)REVENANT_PERL_INTROSPECT_MAGIC;
    g_introspect.version = REVENANT_PERL_INTROSPECT_VERSION;
    g_owner->ch->introspect = (uint64_t)(uintptr_t)&g_introspect;
    tab_init(12);
    shim_install_opfreehook(aTHX);
    atexit(replay_finish);
    g_orig[OP_NEXTSTATE] = PL_ppaddr[OP_NEXTSTATE];
    PL_ppaddr[OP_NEXTSTATE] = replay_nextstate;
    g_orig[OP_DBSTATE] = PL_ppaddr[OP_DBSTATE];
    PL_ppaddr[OP_DBSTATE] = replay_dbstate;
    g_orig[OP_RAND] = PL_ppaddr[OP_RAND];
    PL_ppaddr[OP_RAND] = replay_rand;
    for (i = 0; i < g_hooked_count; i++) {
        int t = g_hooked_ops[i];
        g_orig[t] = PL_ppaddr[t];
        PL_ppaddr[t] = replay_op;
    }
    {
        static const int handle_ops[] = { OP_TELL, OP_SEEK, OP_SYSSEEK, OP_FILENO };
        for (i = 0; i < sizeof handle_ops / sizeof handle_ops[0]; i++) {
            g_orig[handle_ops[i]] = PL_ppaddr[handle_ops[i]];
            PL_ppaddr[handle_ops[i]] = replay_handle_op;
        }
    }
    g_orig[OP_KILL] = PL_ppaddr[OP_KILL];
    PL_ppaddr[OP_KILL] = replay_kill;
    g_rp = 1;
    return 1;
}
