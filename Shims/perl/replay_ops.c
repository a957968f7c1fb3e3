/* Replay mode's ops: each nondeterministic op gets its logged result (open, readline, srand, file
 * tests and the rest), require and do FILE run for real, and what cannot be replayed here ends the
 * run with a DIVERGE report. */
#include "replay_internal.h"

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
    case REVENANT_VAL_STRING:
    case REVENANT_VAL_BLOB: sv_setpvn(sv, (const char *)v->s, v->n); break;
    case REVENANT_VAL_UTF8:
        sv_setpvn(sv, (const char *)v->s, v->n);
        SvUTF8_on(sv);
        break;
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
    case REVENANT_VAL_STRING:
    case REVENANT_VAL_UTF8: return !(v->n == 0 || (v->n == 1 && v->s[0] == '0'));
    default: return 0;
    }
}

static IV value_iv(const struct fval *v)
{
    switch (v->tag) {
    case REVENANT_VAL_INT: return (IV)v->i;
    case REVENANT_VAL_UINT: return (IV)v->u;
    case REVENANT_VAL_DOUBLE: return (IV)v->d;
    case REVENANT_VAL_STRING:
    case REVENANT_VAL_UTF8: {
        char b[32];
        size_t n = v->n < 31 ? v->n : 31;
        memcpy(b, v->s, n);
        b[n] = 0;
        return (IV)strtoll(b, NULL, 10);
    }
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
/* Whether op `type` is one of REVENANT_PERL_RUN_FOR_REAL (by perl's name for it). */
static int runs_for_real(int type)
{
    const char *list = REVENANT_PERL_RUN_FOR_REAL, *name = PL_op_name[type];
    size_t n = strlen(name);
    for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

static int push_results(pTHX_ int type, SSize_t lo, U8 gimme, SV *buf, SV *dst)
{
    struct frec r;
    size_t k, i;
    SV **sp;
    if (!runs_for_real(type)) {
        /* the recording ran Perl code inside this op (a PerlIO layer, a tie): fed, it cannot */
        int next = feed_peek();
        if (next == F_STMT || next == F_BEGIN) {
            char what[128];
            snprintf(what, sizeof what, "op %s running Perl code inside it (a PerlIO layer or a tie)",
                     PL_op_name[type]);
            unsupported(what);
        }
    }
    expect_end(type, &r);
    k = r.nvals;
    if (buf && k) {
        k--;
        set_value(aTHX_ buf, &g_vals[k]);
        SvSETMAGIC(buf);
    }
    if ((type == OP_BACKTICK || type == OP_WAIT || type == OP_WAITPID) && k) {
        k--;
        PL_statusvalue = (I32)value_iv(&g_vals[k]);
    }
    if (type == OP_SYSTEM && k) PL_statusvalue = (I32)value_iv(&g_vals[0]);
    sp = PL_stack_base + lo;
    EXTEND(sp, (SSize_t)k);
    if (gimme == G_LIST) {
        for (i = 0; i < k; i++) *++sp = new_value(aTHX_ g_vals + i);
    } else if (k) {
        if (dst) {
            set_value(aTHX_ dst, &g_vals[0]);
            SvSETMAGIC(dst);
            *++sp = dst;
        } else
            *++sp = new_value(aTHX_ g_vals);
    }
    PL_stack_sp = sp;
    if (type == OP_RCATLINE && !k) unsupported("$x .= <FH> recorded without its line (an older shim)");
    if ((type == OP_READLINE || type == OP_RCATLINE) && PL_last_in_gv && isGV_with_GP(PL_last_in_gv)
        && GvIO(PL_last_in_gv)) {
        IV lines = 0;
        for (i = 0; i < k; i++) lines += g_vals[i].tag != REVENANT_VAL_UNDEF;
        IoLINES(GvIOp(PL_last_in_gv)) += lines; /* $. as the real reads advanced it */
    }
    return (int)r.err;
}

OP *replay_rand(pTHX)
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

struct reqinfo {
    int type;
};
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
    seek_end(&r); /* the END itself is the caller's */
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
    if (handle && isGV_with_GP(handle))
        gv = (GV *)handle;
    else if (handle && SvROK(handle) && isGV_with_GP(SvRV(handle)))
        gv = (GV *)SvRV(handle);
    io = gv ? GvIO(gv) : NULL;
    if (!io) return;
    if (IoIFP(io)) {
        g_standins = grow(g_standins, &g_cstandins, g_nstandins + 1, sizeof *g_standins);
        g_standins[g_nstandins++] = IoIFP(io);
    }
    if (IoOFP(io) && IoOFP(io) != IoIFP(io)) {
        g_standins = grow(g_standins, &g_cstandins, g_nstandins + 1, sizeof *g_standins);
        g_standins[g_nstandins++] = IoOFP(io);
    }
}

static int is_standin(PerlIO *f)
{
    size_t i;
    for (i = 0; f && i < g_nstandins; i++)
        if (g_standins[i] == f) return 1;
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
            if ((mode & O_ACCMODE) == O_RDONLY) {
                args[1] = sv_2mortal(newSVpvs(REPLAY_EMPTY));
                args[2] = sv_2mortal(newSViv(O_RDONLY));
            } else {
                args[1] = sink_path(aTHX);
                args[2] = sv_2mortal(newSViv((mode & O_ACCMODE) | O_CREAT | O_TRUNC));
            }
        }
        return 1;
    }
    if (items < 2) unsupported("open with no file name");
    if (items == 2) {
        STRLEN n;
        const char *s = SvPV(args[1], n), *e = s + n;
        while (s < e && isSPACE(*s)) s++;
        while (e > s && isSPACE(e[-1])) e--;
        if (memchr(s, '&', (size_t)(e - s)) && (*s == '<' || *s == '>' || *s == '+')) return 0; /* a dup */
        if ((e - s == 1 && *s == '-') || (e - s == 2 && (s[0] == '<' || s[0] == '>') && s[1] == '-')) return 0;
        if (*s == '+' || *s == '>' || *s == '|') {
            const char *mode = *s == '+' ? "+>" : (s[0] == '>' && s[1] == '>') ? ">>" : ">";
            args[1] = sv_2mortal(newSVpvf("%s%s", mode, SvPV_nolen(sink_path(aTHX))));
        } else
            args[1] = sv_2mortal(newSVpvs("<" REPLAY_EMPTY)); /* a read, or a pipe from a command */
        return 1;
    }
    {
        STRLEN n;
        const char *m = SvPV(args[1], n);
        const char *layers;
        int writes;
        if (SvROK(args[2]) || memchr(m, '&', n)) return 0; /* in memory, or a dup */
        layers = m;
        while (layers < m + n && strchr("+<>|- ", *layers)) layers++;
        writes = memchr(m, '>', (size_t)(layers - m)) || memchr(m, '+', (size_t)(layers - m))
                 || (n >= 2 && m[0] == '|' && m[1] == '-');
        if (memchr(m, '|', (size_t)(layers - m))) {
            /* a pipe: a command that never runs here; its end becomes a plain file */
            args[1] = sv_2mortal(newSVpvf("%s%s", writes ? ">" : "<", layers));
            PL_stack_sp = PL_stack_base + lo + 3;
        } else if (writes && memchr(m, '+', (size_t)(layers - m)) && memchr(m, '<', (size_t)(layers - m))) {
            args[1] = sv_2mortal(newSVpvf("+>%s", layers)); /* +< needs the file: a fresh one is empty */
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
    if (truth && stacking) return next; /* the file name stays for the next test */
    sp = PL_stack_base + lo;
    EXTEND(sp, 1);
    *++sp = r.nvals ? new_value(aTHX_ g_vals) : &PL_sv_undef;
    PL_stack_sp = sp;
    if (!truth && stacking)
        while (next && OP_IS_FILETEST(next->op_type) && (next->op_private & OPpFT_STACKED)) next = next->op_next;
    return next;
}

OP *replay_op(pTHX)
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
    case OP_OPEN:
    case OP_SYSOPEN:
    case OP_OPEN_DIR: {
        lo = args_base(aTHX_ o, 0);
        if (peek_success(type)) {
            SV *handle = PL_stack_base[lo + 1];
            int standin = redirect_open(aTHX_ type, lo);
            next = g_orig[type](aTHX);
            if (standin) note_standin(aTHX_ handle);
        } else {
            (void)args_base(aTHX_ o, 1); /* not run: take its mark */
        }
        err = push_results(aTHX_ type, lo, gimme, NULL, NULL);
        break;
    }
    case OP_READLINE:
    case OP_RCATLINE: {
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
        if (OP_IS_FILETEST(type)) {
            next = filetest(aTHX_ o, lo, &err);
            break;
        }
        if ((PL_opargs[type] & OA_TARGLEX) && (o->op_private & OPpTARGET_MY)) dst = PAD_SV(o->op_targ);
        err = push_results(aTHX_ type, lo, gimme, buf, dst);
        break;
    }
    }
    errno = err;
    return next;
}

/* seek/tell/fileno on a stand-in handle would answer for the stand-in, not the file. */
OP *replay_handle_op(pTHX)
{
    if (g_rp && aTHX == g_perl && !in_debugger(aTHX_ PL_curcop)) {
        SV *top = NULL;
        GV *gv = NULL;
        IO *io;
        if (PL_op->op_flags & OPf_KIDS) {
            /* the handle is the first of the op's arguments */
            SSize_t n = PL_op->op_private & OPpARG4_MASK;
            if (n >= 1 && PL_stack_sp - (n - 1) > PL_stack_base) top = PL_stack_sp[1 - n];
            if (top && isGV_with_GP(top))
                gv = (GV *)top;
            else if (top && SvROK(top) && isGV_with_GP(SvRV(top)))
                gv = (GV *)SvRV(top);
        } else
            gv = PL_last_in_gv;
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
int feed_at_end(void) { return feed_peek() == F_EOF; }

/* A process that signals itself may die of it, as the recording did: when the recording ends
 * here, say so first (if it lives on, the next statement reports a divergence). */
OP *replay_kill(pTHX)
{
    if (g_rp && aTHX == g_perl && !in_debugger(aTHX_ PL_curcop) && feed_at_end()) {
        SV **p = PL_stack_base + *PL_markstack_ptr + 2; /* after the signal: the pids */
        for (; p <= PL_stack_sp; p++) {
            /* $$ has get-magic; a tie would see two FETCHes */
            if (!(SvGMAGICAL(*p) && mg_find(*p, PERL_MAGIC_tiedscalar))) {
                if ((pid_t)SvIV(*p) == getpid()) {
                    report(REVENANT_REPLAY_DONE, g_seq, "", 0);
                    g_owner->flush();
                    break;
                }
            }
        }
    }
    return g_orig[OP_KILL](aTHX);
}
