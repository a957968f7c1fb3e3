/* Revenant::Shim — records a Perl program's statements and nondeterministic op results into the
 * Revenant channel (GuestAgents/include/revenant_channel.h, Docs/channel-format.md).
 *
 * Loaded by lib/Revenant/Shim.pm without XSLoader/DynaLoader.pm. The boot function (BOOT: below)
 * decides the mode: VM (the REGISTER hypercall answers the magic), native log file
 * (REVENANT_SHIM_LOG=path), or off (nothing installed). When on, it overrides PL_ppaddr entries:
 * nextstate/dbstate append one statement record per statement (not while recording, when the
 * channel is quiet), and a list of nondeterministic ops are bracketed by OP_BEGIN/OP_END records
 * carrying their results.
 *
 * Rules the hooks keep: never allocate SVs, never call magic or change an SV's flags, save and
 * restore errno around the shim's own work, call the original pp function exactly once.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "revenant_channel.h"
#include "revenant_channel_owner.h"
#include "revenant_perl_introspect.h"
#include "revenant_sha256.h"
#include "shim.h"

/* ------------------------------------------------------------------------------------------ */
/* The channel buffer                                                                          */

/* The process's channel (GuestAgents/channel/revenant_channel.c): this shim's own, or the one
 * the SQLite shim (preloaded) already owns, so that Perl and SQL records interleave. */
struct revenant_channel_owner *g_owner;
static struct revenant_channel *g_ch;
#define CH g_ch

static int g_mode;            /* REVENANT_CHANNEL_OFF / _VM / _FILE */
static volatile int g_on;     /* recording (cleared in a forked child) */
PerlInterpreter *g_perl;  /* the interpreter we record (others pass through) */

static void chan_flush(void) { if (g_on) g_owner->flush(); }

/* Room for a record of exactly n bytes; commit(n) after writing it. */
static int g_hash_pending;   /* the HASH record waits for the first event after the load */
static void emit_hash(pTHX);

static uint8_t *reserve(size_t n)
{
    if (UNLIKELY(g_hash_pending)) {
        dTHX;
        g_hash_pending = 0;
        emit_hash(aTHX);
    }
    return g_owner->reserve(n);
}

static void commit(size_t n) { g_owner->commit(n); }

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                    */

/* A value's encoding, from the SV's current flags only: no magic, no conversion. */
static size_t val_size(pTHX_ SV *sv)
{
    U32 f;
    if (!sv) return 1;
    if (sv == &PL_sv_no) return 2;                  /* perl's false: STRING "" */
    f = SvFLAGS(sv);
    if (SvTYPE(sv) >= SVt_PVAV && SvTYPE(sv) != SVt_PVLV && SvTYPE(sv) != SVt_PVGV) return 1;
    if ((f & SVp_POK) && !(f & (SVp_IOK | SVp_NOK))) return 1 + strsize(SvCUR(sv));
    if (f & SVp_IOK) return 1 + (SvIsUV(sv) && SvUVX(sv) > (UV)IV_MAX ? usize(SvUVX(sv)) : usize(zz(SvIVX(sv))));
    if (f & SVp_NOK) return 9;
    if (f & SVp_POK) return 1 + strsize(SvCUR(sv));
    return 1;
}

static uint8_t *val_put(pTHX_ uint8_t *p, SV *sv)
{
    U32 f;
    if (!sv) { *p++ = REVENANT_VAL_UNDEF; return p; }
    if (sv == &PL_sv_no) { *p++ = REVENANT_VAL_STRING; *p++ = 0; return p; }
    f = SvFLAGS(sv);
    if (SvTYPE(sv) >= SVt_PVAV && SvTYPE(sv) != SVt_PVLV && SvTYPE(sv) != SVt_PVGV) {
        *p++ = REVENANT_VAL_UNDEF; return p;
    }
    if (((f & SVp_POK) && !(f & (SVp_IOK | SVp_NOK))) || (!(f & (SVp_IOK | SVp_NOK)) && (f & SVp_POK))) {
        *p++ = SvUTF8(sv) ? REVENANT_VAL_UTF8 : REVENANT_VAL_STRING;
        return strput(p, SvPVX_const(sv), SvCUR(sv));
    }
    if (f & SVp_IOK) {
        if (SvIsUV(sv) && SvUVX(sv) > (UV)IV_MAX) { *p++ = REVENANT_VAL_UINT; return uput(p, SvUVX(sv)); }
        *p++ = REVENANT_VAL_INT;
        return uput(p, zz(SvIVX(sv)));
    }
    if (f & SVp_NOK) {
        NV nv = SvNVX(sv);
        double d = (double)nv;
        uint64_t bits;
        int i;
        memcpy(&bits, &d, 8);
        *p++ = REVENANT_VAL_DOUBLE;
        for (i = 0; i < 8; i++) *p++ = (uint8_t)(bits >> (8 * i));
        return p;
    }
    *p++ = REVENANT_VAL_UNDEF;
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Interning: files, strings (packages, subs), contexts. Only touched on first sight of a COP.  */

struct intern { char *key; size_t len; uint32_t id; struct intern *next; };
struct itab { struct intern **b; size_t nb; uint32_t count; };
static struct itab g_files, g_strs;

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    while (n--) { h ^= (uint8_t)*s++; h *= 1099511628211ULL; }
    return h;
}

static uint32_t intern_find(struct itab *t, const char *s, size_t n, int *isnew)
{
    struct intern *e;
    uint64_t h;
    if (!t->b) { t->nb = 256; t->b = calloc(t->nb, sizeof *t->b); }
    if (t->count > t->nb) {
        size_t nb = t->nb * 4, i;
        struct intern **b = calloc(nb, sizeof *b);
        for (i = 0; i < t->nb; i++) {
            struct intern *x = t->b[i], *nx;
            for (; x; x = nx) { nx = x->next; h = fnv(x->key, x->len) & (nb - 1); x->next = b[h]; b[h] = x; }
        }
        free(t->b); t->b = b; t->nb = nb;
    }
    h = fnv(s, n) & (t->nb - 1);
    for (e = t->b[h]; e; e = e->next)
        if (e->len == n && memcmp(e->key, s, n) == 0) { *isnew = 0; return e->id; }
    e = malloc(sizeof *e);
    e->key = malloc(n + 1); memcpy(e->key, s, n); e->key[n] = 0;
    e->len = n; e->id = ++t->count;
    e->next = t->b[h]; t->b[h] = e;
    *isnew = 1;
    return e->id;
}

static uint32_t str_id(const char *s, size_t n)
{
    int isnew;
    uint32_t id = intern_find(&g_strs, s, n, &isnew);
    if (isnew) {
        size_t sz = 1 + usize(id) + strsize(n);
        uint8_t *p = reserve(sz), *q = p;
        if (!p) return id;
        *q++ = REVENANT_REC_STR; q = uput(q, id); q = strput(q, s, n);
        commit(sz);
    }
    return id;
}

int file_digest(const char *path, uint8_t out[32])
{
    struct stat st;
    revenant_sha256 c;
    char buf[65536];
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return 0; }
    revenant_sha256_init(&c);
    for (;;) {
        r = read(fd, buf, sizeof buf);
        if (r < 0) { if (errno == EINTR) continue; close(fd); return 0; }
        if (r == 0) break;
        revenant_sha256_update(&c, buf, (size_t)r);
    }
    close(fd);
    revenant_sha256_final(&c, out);
    return 1;
}

static uint32_t file_id(const char *name)
{
    int isnew;
    size_t n = strlen(name);
    uint32_t id = intern_find(&g_files, name, n, &isnew);
    if (isnew) {
        uint8_t dig[32];
        int kind = 0;
        if (n > 0 && name[0] != '(' && strcmp(name, "-e") != 0 && strcmp(name, "-") != 0)
            kind = file_digest(name, dig);
        {
            size_t sz = 1 + usize(id) + strsize(n) + 1 + (kind ? 32 : 0);
            uint8_t *p = reserve(sz), *q = p;
            if (!p) return id;
            *q++ = REVENANT_REC_FILE; q = uput(q, id); q = strput(q, name, n);
            *q++ = (uint8_t)kind;
            if (kind) { memcpy(q, dig, 32); q += 32; }
            commit(sz);
        }
    }
    return id;
}

/* contexts: (file, package, sub) -> dense id */
struct ctxe { uint32_t file, pkg, sub, id; struct ctxe *next; };
static struct ctxe *g_ctxb[4096];
static uint32_t g_nctx;

static uint32_t ctx_id(uint32_t file, uint32_t pkg, uint32_t sub)
{
    size_t h = (size_t)((file * 2654435761u) ^ (pkg * 40503u) ^ (sub * 2246822519u)) & 4095;
    struct ctxe *e;
    for (e = g_ctxb[h]; e; e = e->next)
        if (e->file == file && e->pkg == pkg && e->sub == sub) return e->id;
    e = malloc(sizeof *e);
    e->file = file; e->pkg = pkg; e->sub = sub; e->id = ++g_nctx;
    e->next = g_ctxb[h]; g_ctxb[h] = e;
    {
        size_t sz = 1 + usize(e->id) + usize(file) + usize(pkg) + usize(sub);
        uint8_t *p = reserve(sz), *q = p;
        if (p) {
            *q++ = REVENANT_REC_CONTEXT; q = uput(q, e->id); q = uput(q, file); q = uput(q, pkg); q = uput(q, sub);
            commit(sz);
        }
    }
    return e->id;
}

/* ------------------------------------------------------------------------------------------ */
/* COP cache: open addressing (linear probing), keyed by the COP's address.                    */

struct centry *g_tab;
size_t g_tmask;       /* size - 1 */
unsigned g_tshift;    /* 64 - log2(size) */
size_t g_tcount;

void tab_init(unsigned bits)
{
    g_tab = calloc((size_t)1 << bits, sizeof *g_tab);
    g_tmask = ((size_t)1 << bits) - 1;
    g_tshift = 64 - bits;
    g_tcount = 0;
}

void tab_insert(const COP *c, uint32_t ctx, uint32_t line)
{
    size_t i = cop_hash(c);
    while (g_tab[i].key) i = (i + 1) & g_tmask;
    g_tab[i].key = c; g_tab[i].ctx = ctx; g_tab[i].line = line;
    g_tcount++;
}

void tab_grow(void)
{
    struct centry *old = g_tab;
    size_t n = g_tmask + 1, i;
    unsigned bits = 64 - g_tshift + 1;
    tab_init(bits);
    for (i = 0; i < n; i++) if (old[i].key) tab_insert(old[i].key, old[i].ctx, old[i].line);
    free(old);
}

/* backward-shift deletion, so probes never need tombstones */
static void tab_delete(const COP *c)
{
    size_t i = cop_hash(c), j, k;
    for (;;) {
        if (!g_tab[i].key) return;
        if (g_tab[i].key == c) break;
        i = (i + 1) & g_tmask;
    }
    g_tcount--;
    j = i;
    for (;;) {
        j = (j + 1) & g_tmask;
        if (!g_tab[j].key) break;
        k = cop_hash(g_tab[j].key);
        /* move j into the hole at i if its home k is not cyclically in (i, j] */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            g_tab[i] = g_tab[j];
            i = j;
        }
    }
    g_tab[i].key = NULL;
}

static Perl_ophook_t g_prev_opfreehook;

/* A freed COP's address can be reused by a later one (string evals): forget it. */
static void shim_opfreehook(pTHX_ OP *o)
{
    if ((o->op_type == OP_NEXTSTATE || o->op_type == OP_DBSTATE) && g_tab && aTHX == g_perl)
        tab_delete((const COP *)o);
    if (g_prev_opfreehook) g_prev_opfreehook(aTHX_ o);
}

/* Replay mode keeps the same COP cache. */
void shim_install_opfreehook(pTHX)
{
    g_prev_opfreehook = PL_opfreehook;
    PL_opfreehook = shim_opfreehook;
}

/* The enclosing sub's name, "Pkg::name", into buf; 0 length for file scope / eval / main. */
static size_t sub_name(pTHX_ char *buf, size_t cap)
{
    CV *cv = find_runcv(NULL);
    const char *pkg = NULL, *name = NULL;
    STRLEN plen = 0, nlen = 0;
    size_t n;
    if (!cv || cv == PL_main_cv || CvEVAL(cv)) return 0;
    if (CvNAMED(cv)) {
        HEK *h = CvNAME_HEK(cv);
        name = HEK_KEY(h); nlen = HEK_LEN(h);
        if (CvSTASH(cv) && HvNAME_get(CvSTASH(cv))) { pkg = HvNAME_get(CvSTASH(cv)); plen = HvNAMELEN_get(CvSTASH(cv)); }
    } else {
        GV *gv = CvGV(cv);
        if (!gv) return 0;
        name = GvNAME(gv); nlen = GvNAMELEN(gv);
        if (GvSTASH(gv) && HvNAME_get(GvSTASH(gv))) { pkg = HvNAME_get(GvSTASH(gv)); plen = HvNAMELEN_get(GvSTASH(gv)); }
    }
    if (!pkg) { pkg = "__ANON__"; plen = 8; }
    n = 0;
    if (plen + 2 + nlen + 1 > cap) { if (nlen + 1 > cap) return 0; plen = 0; }
    if (plen) { memcpy(buf, pkg, plen); buf[plen] = ':'; buf[plen + 1] = ':'; n = plen + 2; }
    memcpy(buf + n, name, nlen);
    return n + nlen;
}

static uint32_t g_last_ctx, g_last_line;

static __attribute__((noinline)) struct centry *cop_first_sight(pTHX_ const COP *c)
{
    int e = errno;
    const char *file = CopFILE(c);
    const char *pkg = CopSTASHPV(c);
    char sbuf[1024];
    size_t slen;
    uint32_t fid, pid, sid, ctx;
    size_t i;
    fid = file_id(file ? file : "");
    pid = pkg ? str_id(pkg, strlen(pkg)) : 0;
    slen = sub_name(aTHX_ sbuf, sizeof sbuf);
    sid = slen ? str_id(sbuf, slen) : 0;
    ctx = ctx_id(fid, pid, sid);
    if ((g_tcount + 1) * 2 > g_tmask + 1) tab_grow();
    tab_insert(c, ctx, (uint32_t)CopLINE(c));
    i = cop_hash(c);
    while (g_tab[i].key != c) i = (i + 1) & g_tmask;
    errno = e;
    return &g_tab[i];
}

/* A statement's two encodings (channel-format.md "Statements"): one byte for a line within
 * -64..+63 of the previous statement's in the same context, else a full STMT. */
static inline int stmt_near(uint32_t line, uint32_t last) { return (uint32_t)(line - last + 64) < 128; }
static inline uint8_t stmt_delta(uint32_t line, uint32_t last) { return (uint8_t)(0xc0 + (int32_t)(line - last)); }
static inline uint8_t *put_stmt(uint8_t *q, uint32_t ctx, uint32_t line)
{
    *q++ = REVENANT_REC_STMT;
    q = uput(q, ctx);
    return uput(q, line);
}

static __attribute__((noinline)) void stmt_slow(uint32_t ctx, uint32_t line)
{
    if (ctx == g_last_ctx && stmt_near(line, g_last_line)) {
        uint8_t *p;
        int e = errno;
        p = reserve(1);
        if (p) { *p = stmt_delta(line, g_last_line); commit(1); }
        errno = e;
    } else {
        size_t sz = 1 + usize(ctx) + usize(line);
        uint8_t *p;
        int e = errno;
        p = reserve(sz);
        if (p) { put_stmt(p, ctx, line); commit(sz); }
        errno = e;
    }
}

Perl_ppaddr_t g_orig[MAXO];
static int g_quiet; /* the channel is quiet (recording): statements are seen, not recorded */

/* A statement: its record, then perl's own op. Every case the hook's fast path leaves out. */
static __attribute__((noinline)) OP *stmt_record(pTHX_ int optype)
{
    const COP *c = (const COP *)PL_op;
    size_t i = cop_hash(c);
    struct centry *e;
    uint32_t ctx, line;
    for (;;) {
        e = &g_tab[i];
        if (LIKELY(e->key == c)) break;
        if (!e->key) { e = cop_first_sight(aTHX_ c); break; }
        i = (i + 1) & g_tmask;
    }
    if (UNLIKELY(g_quiet)) {
        /* Seen: perl's own op from now on (what it points to is the one thing a quiet run leaves
         * different in perl's memory; nothing the program does reads it). */
        ((OP *)c)->op_ppaddr = g_orig[optype];
        return g_orig[optype](aTHX);
    }
    ctx = e->ctx; line = e->line;
    if (LIKELY(ctx == g_last_ctx) && LIKELY(stmt_near(line, g_last_line))
        && LIKELY(CH->used < CH->capacity))
        CH->data[CH->used++] = stmt_delta(line, g_last_line);
    else if (LIKELY(CH->used + 11 <= CH->capacity) && LIKELY(!g_hash_pending))
        /* a full STMT (sub calls and returns: a quarter of all statements), in place */
        CH->used = (uint64_t)(put_stmt(CH->data + CH->used, ctx, line) - CH->data);
    else
        stmt_slow(ctx, line);
    g_last_ctx = ctx; g_last_line = line;
    if (UNLIKELY(CH->used > CH->watch)) chan_flush(); /* a replaying VMM stops here */
    return g_orig[optype](aTHX);
}

/* The hook on every statement. Its fast path (a COP found at its first slot, room for a whole
 * record before the channel's watch mark, no HASH record waiting) writes what stmt_record would,
 * the one-byte delta or a full STMT, and makes no call, so it needs no saved register
 * (cachegrind: 58 instructions a statement before, ~32 on this path; Docs/machine.md "Code that
 * makes no syscall"). */
#define STMT_HOOK(name, optype)                                                                  \
static OP *name(pTHX)                                                                            \
{                                                                                                \
    if (LIKELY(g_on) && LIKELY(aTHX == g_perl)) {                                                \
        const COP *c = (const COP *)PL_op;                                                       \
        const struct centry *e = &g_tab[cop_hash(c)];                                            \
        uint64_t used = CH->used;                                                                \
        if (UNLIKELY(e->key != c) || UNLIKELY(used + 11 > CH->watch)                             \
            || UNLIKELY(used + 11 > CH->capacity))                                               \
            return stmt_record(aTHX_ optype);                                                    \
        if (LIKELY(e->ctx == g_last_ctx) && LIKELY(stmt_near(e->line, g_last_line))) {           \
            CH->data[used] = stmt_delta(e->line, g_last_line);                                   \
            CH->used = used + 1;                                                                 \
        } else {                                                                                 \
            if (UNLIKELY(g_hash_pending)) return stmt_record(aTHX_ optype);                      \
            CH->used = (uint64_t)(put_stmt(CH->data + used, e->ctx, e->line) - CH->data);        \
            g_last_ctx = e->ctx;                                                                 \
        }                                                                                        \
        g_last_line = e->line;                                                                   \
    }                                                                                            \
    return g_orig[optype](aTHX);                                                                 \
}

STMT_HOOK(hook_nextstate, OP_NEXTSTATE)
STMT_HOOK(hook_dbstate, OP_DBSTATE)

/* While recording (the channel is quiet: revenant_channel.h, REVENANT_CHANNEL_QUIET) no statement
 * record is wanted, but a statement seen for the first time is seen as in a regeneration, which
 * runs the hook above: the same tables grow from the program's heap, the same file is digested
 * (syscalls whose buffers are on the stack), the same records name them. So a new statement goes
 * to stmt_record, tail-called from the same stack pointer, which leaves after its first sight
 * when quiet: the program's calls, their arguments and its memory are the ones the regeneration
 * finds. There the op is pointed at perl's own function: a statement seen costs nothing more
 * (Docs/channel-format.md "Quiet"). */
#define QUIET_STMT_HOOK(name, optype)                                                            \
static OP *name(pTHX)                                                                            \
{                                                                                                \
    if (LIKELY(g_on) && LIKELY(aTHX == g_perl)) {                                                \
        const COP *c = (const COP *)PL_op;                                                       \
        if (UNLIKELY(g_tab[cop_hash(c)].key != c)) return stmt_record(aTHX_ optype);             \
    }                                                                                            \
    return g_orig[optype](aTHX);                                                                 \
}

QUIET_STMT_HOOK(hook_nextstate_quiet, OP_NEXTSTATE)
QUIET_STMT_HOOK(hook_dbstate_quiet, OP_DBSTATE)

/* ------------------------------------------------------------------------------------------ */
/* Nondeterministic ops                                                                        */

static uint8_t g_named[MAXO];

static void emit_begin(int type)
{
    if (!g_named[type]) {
        const char *nm = PL_op_name[type];
        size_t n = strlen(nm), sz = 1 + usize(type) + strsize(n);
        uint8_t *p = reserve(sz), *q = p;
        g_named[type] = 1;
        if (p) { *q++ = REVENANT_REC_OPNAME; q = uput(q, type); q = strput(q, nm, n); commit(sz); }
    }
    {
        size_t sz = 1 + usize(type);
        uint8_t *p = reserve(sz), *q = p;
        if (p) { *q++ = REVENANT_REC_OP_BEGIN; q = uput(q, type); commit(sz); }
    }
}

/* OP_END with the stack values (lo..hi], then the extra SV (buffer) and extra IV ($?) if any. */
static void emit_end(pTHX_ int type, int err, SSize_t lo, SSize_t hi, SV *extra_sv, int has_status, IV status)
{
    size_t sz, count;
    SSize_t k;
    uint8_t *p, *q;
    if (hi < lo) hi = lo;
    count = (size_t)(hi - lo) + (extra_sv ? 1 : 0) + (has_status ? 1 : 0);
    sz = 1 + usize(type) + usize((uint64_t)(err < 0 ? 0 : err)) + usize(count);
    for (k = lo + 1; k <= hi; k++) sz += val_size(aTHX_ PL_stack_base[k]);
    if (extra_sv) sz += val_size(aTHX_ extra_sv);
    if (has_status) sz += 1 + usize(zz(status));
    p = reserve(sz);
    if (!p) return;
    q = p;
    *q++ = REVENANT_REC_OP_END;
    q = uput(q, type);
    q = uput(q, (uint64_t)(err < 0 ? 0 : err));
    q = uput(q, count);
    for (k = lo + 1; k <= hi; k++) q = val_put(aTHX_ q, PL_stack_base[k]);
    if (extra_sv) q = val_put(aTHX_ q, extra_sv);
    if (has_status) { *q++ = REVENANT_VAL_INT; q = uput(q, zz(status)); }
    commit(sz);
}

/* How many stack arguments a mark-less op consumes. */
SSize_t op_nargs(const OP *o)
{
    switch (o->op_type) {
    case OP_TIME: case OP_WAIT: case OP_GETPPID: case OP_TMS: case OP_FORK: case OP_GETLOGIN:
        return 0;
    case OP_RCATLINE:   /* $x .= <FH>: the target $x */
        return (o->op_flags & OPf_STACKED) ? 1 : 0;
    case OP_READLINE:   /* the handle; with OPf_STACKED also the target ($x = <FH>) */
        return (o->op_flags & OPf_STACKED) ? 2 : 1;
    case OP_READDIR: case OP_BACKTICK:
        return 1;
    case OP_GLOB:
        return (o->op_flags & OPf_SPECIAL) ? 1 : 2;
    case OP_STAT: case OP_LSTAT:
    case OP_FTRREAD: case OP_FTRWRITE: case OP_FTREXEC: case OP_FTEREAD: case OP_FTEWRITE:
    case OP_FTEEXEC: case OP_FTIS: case OP_FTSIZE: case OP_FTMTIME: case OP_FTATIME:
    case OP_FTCTIME: case OP_FTROWNED: case OP_FTEOWNED: case OP_FTZERO: case OP_FTSOCK:
    case OP_FTCHR: case OP_FTBLK: case OP_FTFILE: case OP_FTDIR: case OP_FTPIPE: case OP_FTSUID:
    case OP_FTSGID: case OP_FTSVTX: case OP_FTLINK: case OP_FTTTY: case OP_FTTEXT: case OP_FTBINARY:
        return (o->op_flags & OPf_REF) ? 0 : 1;
    default:
        return (o->op_flags & OPf_KIDS) ? (SSize_t)(o->op_private & OPpARG4_MASK) : 0;
    }
}

struct reqinfo { int type; };
static struct reqinfo g_reqinfo[2] = { { OP_REQUIRE }, { OP_DOFILE } };

/* Fires when a require/do FILE frame is left, normally or by an exception. */
static void require_done(pTHX_ void *p)
{
    struct reqinfo *ri = (struct reqinfo *)p;
    if (g_on && aTHX == g_perl) {
        int e = errno;
        emit_end(aTHX_ ri->type, e, 0, 0, NULL, 0, 0);
        errno = e;
    }
}

/* exec: what the buffer holds goes out before the program is replaced (no exit handler runs). */
static OP *hook_exec(pTHX)
{
    chan_flush();
    return g_orig[OP_EXEC](aTHX);
}

static OP *hook_rand(pTHX)
{
    if (g_on && aTHX == g_perl && !PL_srand_called) {
        /* Perl seeds itself on its first rand: do exactly what it would (seed() reads
         * /dev/urandom), inside rand's begin/end markers so regeneration knows whose read that
         * was, and log the seed rather than every value. errno is left as seed() left it, as
         * perl's own pp_rand would. */
        U32 s;
        int e;
        size_t sz;
        uint8_t *p, *q;
        emit_begin(OP_RAND);
        s = (U32)seed();
        (void)seedDrand01((Rand_seed_t)s);
        PL_srand_called = TRUE;
        e = errno;
        sz = 1 + usize(s);
        p = reserve(sz);
        q = p;
        if (p) { *q++ = REVENANT_REC_SEED; q = uput(q, s); commit(sz); }
        emit_end(aTHX_ OP_RAND, e, 0, 0, NULL, 0, 0);
        errno = e;
    }
    return g_orig[OP_RAND](aTHX);
}

static OP *hook_op(pTHX)
{
    OP *const o = PL_op;
    const int type = o->op_type;
    SSize_t lo, sp0;
    U8 gimme;
    SV *bufsv = NULL;
    I32 oldcx;
    int saved, ret, err;
    OP *next = NULL;
    dJMPENV;

    if (!g_on || aTHX != g_perl) return g_orig[type](aTHX);
    saved = errno;
    emit_begin(type);
    gimme = GIMME_V;
    sp0 = PL_stack_sp - PL_stack_base;
    if (PL_opargs[type] & OA_MARK) {
        lo = *PL_markstack_ptr;                     /* TOPMARK: results start above it */
        if ((type == OP_READ || type == OP_SYSREAD || type == OP_RECV) && lo + 2 <= sp0)
            bufsv = PL_stack_base[lo + 2];
    } else {
        lo = sp0 - op_nargs(o);
    }
    oldcx = cxstack_ix;
    errno = saved;

    JMPENV_PUSH(ret);
    if (ret == 0) {
        next = g_orig[type](aTHX);
    }
    JMPENV_POP;
    err = errno;
    if (ret != 0) {
        /* an exception or exit passed through the op: close the bracket, then let it go on */
        emit_end(aTHX_ type, err, 0, 0, NULL, 0, 0);
        errno = err;
        JMPENV_JUMP(ret);
    }
    if ((type == OP_REQUIRE || type == OP_DOFILE) && cxstack_ix > oldcx
        && CxTYPE(&cxstack[cxstack_ix]) == CXt_EVAL) {
        /* the file was compiled and its code runs after we return: END when its frame is left */
        SAVEDESTRUCTOR_X(require_done, &g_reqinfo[type == OP_DOFILE]);
        errno = err;
        return next;
    }
    {
        SSize_t hi = PL_stack_sp - PL_stack_base;
        int has_status = (type == OP_BACKTICK || type == OP_WAIT || type == OP_WAITPID);
        if (gimme != G_LIST && hi > lo) lo = hi - 1;   /* scalar/void: the one result on top */
        emit_end(aTHX_ type, err, lo, hi, bufsv, has_status, has_status ? (IV)STATUS_CURRENT : 0);
    }
    errno = err;
    return next;
}

const int g_hooked_ops[] = {
    OP_TIME, OP_SRAND, OP_LOCALTIME, OP_GMTIME, OP_SLEEP, OP_READLINE, OP_RCATLINE, OP_READ,
    OP_SYSREAD, OP_RECV, OP_GETC, OP_EOF, OP_READDIR, OP_STAT, OP_LSTAT,
    OP_FTRREAD, OP_FTRWRITE, OP_FTREXEC, OP_FTEREAD, OP_FTEWRITE, OP_FTEEXEC, OP_FTIS, OP_FTSIZE,
    OP_FTMTIME, OP_FTATIME, OP_FTCTIME, OP_FTROWNED, OP_FTEOWNED, OP_FTZERO, OP_FTSOCK, OP_FTCHR,
    OP_FTBLK, OP_FTFILE, OP_FTDIR, OP_FTPIPE, OP_FTSUID, OP_FTSGID, OP_FTSVTX, OP_FTLINK, OP_FTTTY,
    OP_FTTEXT, OP_FTBINARY,
    OP_OPEN, OP_SYSOPEN, OP_SYSTEM, OP_BACKTICK, OP_WAIT, OP_WAITPID, OP_GETPPID, OP_GLOB,
    OP_REQUIRE, OP_DOFILE,
    /* further nondeterministic ops */
    OP_FORK, OP_TMS, OP_READLINK, OP_OPEN_DIR, OP_GETLOGIN, OP_SSELECT,
    /* results that depend on the file system (a replay elsewhere must get them from the log) */
    OP_UNLINK, OP_MKDIR, OP_RMDIR, OP_RENAME, OP_CHMOD, OP_CHOWN, OP_UTIME, OP_LINK, OP_SYMLINK,
    OP_CHDIR, OP_TRUNCATE,
};
const size_t g_hooked_count = sizeof g_hooked_ops / sizeof g_hooked_ops[0];

/* ------------------------------------------------------------------------------------------ */
/* Boot                                                                                        */

/* A forked child goes on recording in a VM (its stream starts as its parent's up to the fork). */
static void atfork_child(void)
{
    g_owner->forked();
    g_mode = g_owner->mode;
    g_on = g_mode != REVENANT_CHANNEL_OFF;
}

static void exit_flush_perl(pTHX_ void *p) { PERL_UNUSED_ARG(p); chan_flush(); }
static void exit_flush_libc(void) { chan_flush(); }

static int cmp_cstr(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    for (; *x == *y && *x && *x != '='; x++, y++) ;
    {
        unsigned char cx = (*x == '=') ? 0 : (unsigned char)*x;
        unsigned char cy = (*y == '=') ? 0 : (unsigned char)*y;
        if (cx != cy) return cx < cy ? -1 : 1;
    }
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

extern char **environ;

static void emit_start(pTHX)
{
    char interp[64];
    const char *zero = PL_origfilename ? PL_origfilename : "";
    STRLEN zlen;
    SV *z = get_sv("0", 0);
    size_t sz, il;
    uint8_t *p, *q;
    if (z && SvPOKp(z)) { zero = SvPVX_const(z); zlen = SvCUR(z); } else zlen = strlen(zero);
    il = (size_t)snprintf(interp, sizeof interp, "perl %d.%d.%d", PERL_REVISION, PERL_VERSION, PERL_SUBVERSION);
    sz = 1 + usize(SHIM_FORMAT_VERSION) + strsize(il) + strsize(zlen);
    p = reserve(sz); q = p;
    if (!p) return;
    *q++ = REVENANT_REC_START; q = uput(q, SHIM_FORMAT_VERSION); q = strput(q, interp, il); q = strput(q, zero, zlen);
    commit(sz);
}

static void emit_env(void)
{
    size_t n = 0, i, sz;
    char **v;
    uint8_t *p, *q;
    for (n = 0; environ && environ[n]; n++) ;
    v = malloc((n + 1) * sizeof *v);
    {
        size_t m = 0;
        for (i = 0; i < n; i++) if (strchr(environ[i], '=')) v[m++] = environ[i];
        n = m;
    }
    qsort(v, n, sizeof *v, cmp_cstr);
    sz = 1 + usize(n);
    for (i = 0; i < n; i++) {
        const char *eq = strchr(v[i], '=');
        sz += strsize((size_t)(eq - v[i])) + strsize(strlen(eq + 1));
    }
    p = reserve(sz); q = p;
    if (p) {
        *q++ = REVENANT_REC_ENV; q = uput(q, n);
        for (i = 0; i < n; i++) {
            const char *eq = strchr(v[i], '=');
            q = strput(q, v[i], (size_t)(eq - v[i]));
            q = strput(q, eq + 1, strlen(eq + 1));
        }
        commit(sz);
    }
    free(v);
}

static void emit_argv(pTHX)
{
    AV *av = get_av("ARGV", 0);
    SSize_t n = av ? av_top_index(av) + 1 : 0, i;
    size_t sz = 1 + usize((uint64_t)n);
    uint8_t *p, *q;
    for (i = 0; i < n; i++) {
        SV **svp = av_fetch(av, i, 0);
        sz += strsize(svp && SvPOKp(*svp) ? SvCUR(*svp) : 0);
    }
    p = reserve(sz); q = p;
    if (!p) return;
    *q++ = REVENANT_REC_ARGV; q = uput(q, (uint64_t)n);
    for (i = 0; i < n; i++) {
        SV **svp = av_fetch(av, i, 0);
        if (svp && SvPOKp(*svp)) q = strput(q, SvPVX_const(*svp), SvCUR(*svp));
        else q = strput(q, "", 0);
    }
    commit(sz);
}

static void emit_hash(pTHX)
{
    size_t sz = 1 + strsize(PERL_HASH_SEED_BYTES) + 8 + 1;
    uint8_t *p = reserve(sz), *q = p;
    uint64_t bits = (uint64_t)PL_hash_rand_bits;
    int i;
    if (!p) return;
    *q++ = REVENANT_REC_HASH;
    q = strput(q, (const char *)PL_hash_seed, PERL_HASH_SEED_BYTES);
    for (i = 0; i < 8; i++) *q++ = (uint8_t)(bits >> (8 * i));
    *q++ = (uint8_t)PL_hash_rand_bits_enabled;
    commit(sz);
}

/* Introspection (revenant_perl_introspect.h): where this interpreter is and how this perl lays
 * out the structs the VMM reads at a stop. Deterministic: the same bytes in record and replay. */
struct revenant_perl_introspect g_introspect;
static char g_layout[4096];

static void publish_introspection(pTHX)
{
    size_t n = 0;
#define L(name, value) \
    do { int w_ = snprintf(g_layout + n, sizeof g_layout - n, "%s=%llu\n", name, (unsigned long long)(value)); \
         if (w_ > 0 && (size_t)w_ < sizeof g_layout - n) n += (size_t)w_; } while (0)
    L("interp.op", offsetof(PerlInterpreter, Iop));
    L("interp.curcop", offsetof(PerlInterpreter, Icurcop));
    L("interp.curpad", offsetof(PerlInterpreter, Icurpad));
    L("interp.comppad", offsetof(PerlInterpreter, Icomppad));
    L("interp.curstackinfo", offsetof(PerlInterpreter, Icurstackinfo));
    L("interp.defstash", offsetof(PerlInterpreter, Idefstash));
    L("interp.main_cv", offsetof(PerlInterpreter, Imain_cv));
    L("interp.stashpad", offsetof(PerlInterpreter, Istashpad));
    L("cop.line", offsetof(COP, cop_line));
    L("cop.file", offsetof(COP, cop_file));
    L("cop.seq", offsetof(COP, cop_seq));
    L("cop.stashoff", offsetof(COP, cop_stashoff));
    L("si.cxstack", offsetof(PERL_SI, si_cxstack));
    L("si.cxix", offsetof(PERL_SI, si_cxix));
    L("si.prev", offsetof(PERL_SI, si_prev));
    L("cx.size", sizeof(PERL_CONTEXT));
    L("cx.type", offsetof(PERL_CONTEXT, cx_u.cx_subst.sbu_type));
    L("cx.sub_cv", offsetof(PERL_CONTEXT, cx_u.cx_blk.blk_u.blku_sub.cv));
    L("cx.eval_cv", offsetof(PERL_CONTEXT, cx_u.cx_blk.blk_u.blku_eval.cv));
    L("cx.oldcop", offsetof(PERL_CONTEXT, cx_u.cx_blk.blku_oldcop));
    L("cx.typemask", CXTYPEMASK);
    L("cxt.sub", CXt_SUB);
    L("cxt.format", CXt_FORMAT);
    L("cxt.eval", CXt_EVAL);
    L("sv.any", offsetof(SV, sv_any));
    L("sv.flags", offsetof(SV, sv_flags));
    L("sv.u", offsetof(SV, sv_u));
    L("xpv.cur", offsetof(XPV, xpv_cur));
    L("xpviv.iv", offsetof(XPVIV, xiv_u));
    L("xpvnv.nv", offsetof(XPVNV, xnv_u));
    L("xpvav.fill", offsetof(XPVAV, xav_fill));
    L("xpvhv.keys", offsetof(XPVHV, xhv_keys));
    L("xpvhv.max", offsetof(XPVHV, xhv_max));
    L("xpvcv.padlist", offsetof(XPVCV, xcv_padlist_u));
    L("xpvcv.depth", offsetof(XPVCV, xcv_depth));
    L("xpvcv.outside", offsetof(XPVCV, xcv_outside));
    L("xpvcv.outside_seq", offsetof(XPVCV, xcv_outside_seq));
    L("xpvcv.gv", offsetof(XPVCV, xcv_gv_u));
    L("xpvcv.stash", offsetof(XPVCV, xcv_stash));
    L("xpvcv.flags", offsetof(XPVCV, xcv_flags));
    L("cvf.named", CVf_NAMED);
    L("xpvgv.namehek", offsetof(XPVGV, xiv_u));
    L("xpvgv.stash", offsetof(XPVGV, xnv_u));
    L("padlist.arr", offsetof(PADLIST, xpadl_arr));
    L("padnamelist.fill", offsetof(PADNAMELIST, xpadnl_fill));
    L("padnamelist.alloc", offsetof(PADNAMELIST, xpadnl_alloc));
    L("padname.pv", offsetof(PADNAME, xpadn_pv));
    L("padname.ourstash", offsetof(PADNAME, xpadn_ourstash));
    L("padname.low", offsetof(PADNAME, xpadn_low));
    L("padname.high", offsetof(PADNAME, xpadn_high));
    L("padname.len", offsetof(PADNAME, xpadn_len));
    L("padname.flags", offsetof(PADNAME, xpadn_flags));
    L("padname.f_outer", PADNAMEt_OUTER);
    L("padname.f_our", PADNAMEt_OUR);
    L("he.next", offsetof(HE, hent_next));
    L("he.hek", offsetof(HE, hent_hek));
    L("he.val", offsetof(HE, he_valu));
    L("hek.len", offsetof(HEK, hek_len));
    L("hek.key", offsetof(HEK, hek_key));
    L("gp.sv", offsetof(GP, gp_sv));
    L("gp.av", offsetof(GP, gp_av));
    L("gp.hv", offsetof(GP, gp_hv));
    L("svf.iok", SVf_IOK);
    L("svf.nok", SVf_NOK);
    L("svf.pok", SVf_POK);
    L("svf.rok", SVf_ROK);
    L("svp.iok", SVp_IOK);
    L("svp.nok", SVp_NOK);
    L("svp.pok", SVp_POK);
    L("svf.isuv", SVf_IVisUV);
    L("svf.utf8", SVf_UTF8);
    L("svf.magical", SVs_GMG | SVs_SMG | SVs_RMG);
    L("svf.object", SVs_OBJECT);
    L("svt.mask", SVTYPEMASK);
    L("svt.iv", SVt_IV);
    L("svt.nv", SVt_NV);
    L("svt.pv", SVt_PV);
    L("svt.pviv", SVt_PVIV);
    L("svt.pvnv", SVt_PVNV);
    L("svt.pvmg", SVt_PVMG);
    L("svt.regexp", SVt_REGEXP);
    L("svt.pvgv", SVt_PVGV);
    L("svt.pvlv", SVt_PVLV);
    L("svt.pvav", SVt_PVAV);
    L("svt.pvhv", SVt_PVHV);
    L("svt.pvcv", SVt_PVCV);
    L("svt.pvio", SVt_PVIO);
    L("xpvmg.stash", offsetof(XPVMG, xmg_stash));
    L("xpvhv_aux.name", offsetof(struct xpvhv_aux, xhv_name_u));
    L("xpvhv_with_aux.aux", offsetof(struct xpvhv_with_aux, xhv_aux));
    L("svf.ook", SVf_OOK);
    L("xpvhv_aux.name_count", offsetof(struct xpvhv_aux, xhv_name_count));
#undef L
    g_introspect.magic = (uint32_t)REVENANT_PERL_INTROSPECT_MAGIC;
    g_introspect.version = REVENANT_PERL_INTROSPECT_VERSION;
    g_introspect.interp = (uint64_t)(uintptr_t)aTHX;
    g_introspect.layout = (uint64_t)(uintptr_t)g_layout;
    g_introspect.layout_len = n;
    CH->introspect = (uint64_t)(uintptr_t)&g_introspect;
}

/* In a throw-away clone of a paused replay only (REVENANT_CHANNEL_EVAL_REQUEST): evaluate the
 * Perl code the VMM left in the buffer, in the scope of the statement about to run, and hand
 * the answer back in an EVAL record. The clone is discarded afterwards, so what the evaluation
 * changes (memory, PL_ state) never reaches the replay. */
static void shim_eval(void)
{
    dTHXa(g_perl);
    uint32_t n;
    SV *code, *res;
    const char *text;
    STRLEN len;
    int ok;
    COP *saved = PL_curcop;
    size_t sz;
    uint8_t *p, *q;
    memcpy(&n, CH->data, 4);
    if (n > CH->capacity - 4) return;
    code = newSVpvn((const char *)CH->data + 4, n);
    if (PL_op && (PL_op->op_type == OP_NEXTSTATE || PL_op->op_type == OP_DBSTATE)) PL_curcop = (COP *)PL_op;
    g_on = 0;   /* the evaluation's own statements and ops are not the run's */
    res = eval_pv(SvPV_nolen(code), FALSE);
    g_on = 1;
    PL_curcop = saved;
    ok = !SvTRUE(ERRSV);
    text = ok ? SvPV(res, len) : SvPV(ERRSV, len);
    sz = 1 + 1 + strsize(len);
    p = reserve(sz);
    if (!p) return;
    q = p;
    *q++ = REVENANT_REC_EVAL;
    *q++ = (uint8_t)ok;
    q = strput(q, text, len);
    commit(sz);
    g_owner->flush();
}

static void shim_boot(pTHX)
{
    const char *log;
    HV *env;
    size_t i;

    env = GvHVn(PL_envgv);
    log = getenv("REVENANT_SHIM_LOG");
    g_owner = revenant_channel_open();
    g_ch = g_owner->ch;
    g_mode = g_owner->mode;
    errno = 0;
    if (log) (void)hv_delete(env, "REVENANT_SHIM_LOG", 17, G_DISCARD);
    if (hv_exists(env, "REVENANT_SHIM_QUIET", 19)) (void)hv_delete(env, "REVENANT_SHIM_QUIET", 19, G_DISCARD);
    if (replay_boot(aTHX)) return;
    if (g_mode == REVENANT_CHANNEL_OFF) return;

    g_perl = aTHX;
    g_on = 1;
    tab_init(12);
    pthread_atfork(NULL, NULL, atfork_child);
    call_atexit(exit_flush_perl, NULL);
    atexit(exit_flush_libc);
    shim_install_opfreehook(aTHX);

    if (g_mode == REVENANT_CHANNEL_VM) {
        publish_introspection(aTHX);
        g_owner->eval = shim_eval;
    }
    emit_start(aTHX);
    emit_env();
    emit_argv(aTHX);

    g_quiet = g_owner->quiet;
    g_orig[OP_NEXTSTATE] = PL_ppaddr[OP_NEXTSTATE];
    PL_ppaddr[OP_NEXTSTATE] = g_quiet ? hook_nextstate_quiet : hook_nextstate;
    g_orig[OP_DBSTATE] = PL_ppaddr[OP_DBSTATE];
    PL_ppaddr[OP_DBSTATE] = g_quiet ? hook_dbstate_quiet : hook_dbstate;
    g_orig[OP_RAND] = PL_ppaddr[OP_RAND];
    PL_ppaddr[OP_RAND] = hook_rand;
    g_orig[OP_EXEC] = PL_ppaddr[OP_EXEC];
    PL_ppaddr[OP_EXEC] = hook_exec;
    for (i = 0; i < g_hooked_count; i++) {
        int t = g_hooked_ops[i];
        g_orig[t] = PL_ppaddr[t];
        PL_ppaddr[t] = hook_op;
    }
    /* HASH: PL_hash_rand_bits is read when the first record after the load is written (the
     * first statement or op), after Shim.pm's clean-up and the end of the require: whatever
     * touches a hash before that is part of the load. */
    g_hash_pending = 1;
}

/* Introspection for the tests; not registered by boot (t/ installs it with dl_install_xsub):
 * returns (mode, number of PL_ppaddr entries currently pointing into this shim). */
XS_EXTERNAL(XS_Revenant__Shim_introspect);
XS_EXTERNAL(XS_Revenant__Shim_introspect)
{
    dXSARGS;
    int n = 0, t;
    PERL_UNUSED_VAR(items);
    for (t = 0; t < MAXO; t++)
        if (PL_ppaddr[t] == hook_op || PL_ppaddr[t] == hook_nextstate || PL_ppaddr[t] == hook_dbstate
            || PL_ppaddr[t] == hook_nextstate_quiet || PL_ppaddr[t] == hook_dbstate_quiet
            || PL_ppaddr[t] == hook_rand) n++;
    SP -= items;
    EXTEND(SP, 2);
    mPUSHi(g_mode);
    mPUSHi(n);
    PUTBACK;
}

MODULE = Revenant::Shim    PACKAGE = Revenant::Shim

PROTOTYPES: DISABLE

BOOT:
    shim_boot(aTHX);
