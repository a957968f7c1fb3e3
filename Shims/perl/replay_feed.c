/* Replay mode's feed: the recording's Perl records (REVENANT_SHIM_REPLAY), read one statement,
 * op marker or seed at a time, with the look-ahead the ops need and the divergence reports that
 * say what the recording had instead. */
#include "replay_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The feed: channel records (Docs/channel-format.md), Perl ones only                          */

uint8_t *g_feed;
size_t g_flen, g_fpos;
uint64_t g_fctx, g_fline; /* what statement deltas are relative to */

struct ffile *g_ffiles; /* by id */
size_t g_nffiles;
uint32_t *g_fctxfile; /* context id -> file id */
size_t g_nfctx;

struct fval *g_vals; /* the last END's values */
static size_t g_cvals;
static const char *g_opnames[MAXO]; /* from OPNAME records, for messages */
char **g_preloaded;                 /* perl -d: files compiled before the shim (by the debugger) */
size_t g_npreloaded;
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

static const uint8_t *fstr(size_t *n)
{
    *n = (size_t)fu();
    return fbytes(*n);
}

static void fval(struct fval *v)
{
    const uint8_t *p = fbytes(1);
    uint64_t z;
    v->tag = *p;
    switch (v->tag) {
    case REVENANT_VAL_UNDEF: break;
    case REVENANT_VAL_INT:
        z = fu();
        v->i = (int64_t)((z >> 1) ^ (0 - (z & 1)));
        break;
    case REVENANT_VAL_UINT: v->u = fu(); break;
    case REVENANT_VAL_DOUBLE: {
        uint64_t bits = 0;
        int k;
        p = fbytes(8);
        for (k = 0; k < 8; k++) bits |= (uint64_t)p[k] << (8 * k);
        memcpy(&v->d, &bits, 8);
        break;
    }
    case REVENANT_VAL_STRING:
    case REVENANT_VAL_UTF8:
    case REVENANT_VAL_BLOB: v->s = fstr(&v->n); break;
    case REVENANT_VAL_ZEROBLOB: v->u = fu(); break;
    default: feed_bad("an unknown value tag");
    }
}

void *grow(void *a, size_t *cap, size_t need, size_t each)
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
void feed_next(struct frec *r)
{
    for (;;) {
        uint8_t tag;
        size_t n, k;
        uint64_t id, c;
        const uint8_t *s;
        if (g_fpos >= g_flen) {
            r->kind = F_EOF;
            return;
        }
        tag = g_feed[g_fpos++];
        if (tag >= 0x80) {
            if (!g_fctx) feed_bad("a line delta before any statement");
            g_fline += (uint64_t)((int64_t)tag - 0xc0);
            r->kind = F_STMT;
            r->ctx = g_fctx;
            r->line = g_fline;
            if (UNLIKELY(g_npreloaded) && preloaded(g_fctx)) continue;
            return;
        }
        switch (tag) {
        case REVENANT_REC_START:
            if (fu() != SHIM_FORMAT_VERSION) feed_bad("another shim format version");
            (void)fstr(&n);
            (void)fstr(&n);
            continue;
        case REVENANT_REC_STR:
            (void)fu();
            (void)fstr(&n);
            continue;
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
            if (kind == 1)
                memcpy(g_ffiles[id].dig, fbytes(32), 32);
            else if (kind != 0)
                feed_bad("an unknown digest kind");
            continue;
        }
        case REVENANT_REC_CONTEXT: {
            static size_t cap;
            id = fu();
            c = fu();
            (void)fu();
            (void)fu();
            if (id == 0 || id > (1u << 24)) feed_bad("a context id out of range");
            g_fctxfile = grow(g_fctxfile, &cap, id + 1, sizeof *g_fctxfile);
            if (id >= g_nfctx) g_nfctx = id + 1;
            g_fctxfile[id] = (uint32_t)c;
            continue;
        }
        case REVENANT_REC_STMT:
            g_fctx = fu();
            g_fline = fu();
            r->kind = F_STMT;
            r->ctx = g_fctx;
            r->line = g_fline;
            /* perl -d: code compiled before the shim has perl's own nextstate, never ours */
            if (UNLIKELY(g_npreloaded) && preloaded(g_fctx)) continue;
            return;
        case REVENANT_REC_OP_BEGIN:
            r->kind = F_BEGIN;
            r->op = fu();
            return;
        case REVENANT_REC_OP_END:
            r->kind = F_END;
            r->op = fu();
            r->err = fu();
            r->nvals = (size_t)fu();
            if (r->nvals > g_flen - g_fpos) feed_bad("more values than bytes");
            g_vals = grow(g_vals, &g_cvals, r->nvals + 1, sizeof *g_vals);
            for (k = 0; k < r->nvals; k++) fval(&g_vals[k]);
            return;
        case REVENANT_REC_ENV:
            for (k = (size_t)fu(); k > 0; k--) {
                (void)fstr(&n);
                (void)fstr(&n);
            }
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
        case REVENANT_REC_SEED:
            r->kind = F_SEED;
            r->seed = fu();
            return;
        case REVENANT_REC_OPNAME:
            id = fu();
            s = fstr(&n);
            if (id < MAXO && !g_opnames[id]) {
                char *x = malloc(n + 1);
                memcpy(x, s, n);
                x[n] = 0;
                g_opnames[id] = x;
            }
            continue;
        default: feed_bad("a record that is not Perl's");
        }
    }
}

/* The kind of the next record, without taking it. */
int feed_peek(void)
{
    struct fmark m = feed_mark();
    struct frec r;
    feed_next(&r);
    feed_back(m);
    return r.kind;
}

/* Move to just before the END of the op begun last, past the records of the code it ran inside;
 * `r` gets that END (F_EOF if there is none). */
void seek_end(struct frec *r)
{
    int depth = 0;
    for (;;) {
        struct fmark m = feed_mark();
        feed_next(r);
        if (r->kind == F_EOF) return;
        if (r->kind == F_BEGIN)
            depth++;
        else if (r->kind == F_END && depth-- == 0) {
            feed_back(m);
            return;
        }
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
    case F_STMT:
        snprintf(buf, cap, "the recording had statement %s:%llu", file_name(r->ctx), (unsigned long long)r->line);
        break;
    case F_BEGIN: snprintf(buf, cap, "the recording had op %s", op_name(r->op)); break;
    case F_END: snprintf(buf, cap, "the recording had the end of op %s", op_name(r->op)); break;
    default: snprintf(buf, cap, "the recording had a rand seed"); break;
    }
    return buf;
}

const COP *g_last_cop; /* the statement running, for messages */

void diverge(const char *what, const struct frec *r)
{
    char exp[1024];
    const COP *c = g_last_cop;
    stop_run(REVENANT_REPLAY_DIVERGED, 124, "%s:%u: %s, where %s", c ? CopFILE(c) : "?", c ? (unsigned)CopLINE(c) : 0,
             what, expected(r, exp, sizeof exp));
}

void unsupported(const char *what)
{
    const COP *c = g_last_cop;
    stop_run(REVENANT_REPLAY_DIVERGED, 124, "%s:%u: %s cannot be replayed outside the VM", c ? CopFILE(c) : "?",
             c ? (unsigned)CopLINE(c) : 0, what);
}
