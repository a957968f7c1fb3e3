/* Replay mode's request (REVENANT_SHIM_REQUEST): what to evaluate where. It reads the request,
 * evaluates the --when predicate and the --print expressions in the scope of the statement they
 * stop at, renders the values as the VM path does, and reports each stop. */
#include "replay_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The request: what to evaluate where                                                         */

static SV *g_when; /* the compiled --when sub (package Revenant::Shim::When) */
struct wvar {
    char sigil;
    char *name;
    STRLEN len;
    GV *gv;
}; /* name with its sigil */
static struct wvar *g_wvars;
static size_t g_nwvars, g_cwvars;
struct pexpr {
    char kind;
    char *display;
    char *code;
}; /* kind: s(calar), a(rray) or h(ash) ref */
static struct pexpr *g_prints;
static size_t g_nprints, g_cprints;
uint64_t *g_breaks; /* statement numbers, ascending */
size_t g_nbreaks, g_nextbreak;
static size_t g_cbreaks;
static int g_first;
int g_every;
static int g_prev = -1; /* the predicate's last answer (-1: none yet) */

char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 1 << 16, n = 0;
    char *b;
    ssize_t r;
    if (fd < 0) return NULL;
    b = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
        r = read(fd, b + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            close(fd);
            free(b);
            return NULL;
        }
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
void read_request(pTHX_ const char *path)
{
    size_t len;
    char *text = read_file(path, &len), *line, *save = NULL;
    const char *when = NULL;
    if (!text) stop_run(REVENANT_REPLAY_FAILED, 125, "cannot read the replay request %s: %s", path, strerror(errno));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "when ", 5) == 0)
            when = line + 5;
        else if ((strncmp(line, "var ", 4) == 0 && strlen(line) >= 6)
                 || (strncmp(line, "need ", 5) == 0 && strlen(line) >= 7)) {
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
        } else if (strcmp(line, "every") == 0)
            g_every = 1;
        else if (strcmp(line, "first") == 0)
            g_first = 1;
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
        for (i = 0; i < g_nwvars; i++)
            if (g_wvars[i].gv) sv_catpvf(code, "our %s; ", g_wvars[i].name);
        sv_catpvf(code, "%s }", when);
        U32 evalseq = PL_evalseq; /* the program's own string evals keep their (eval N) names */
        SV *cv = eval_pv(SvPV_nolen(code), FALSE);
        PL_evalseq = evalseq;
        SvREFCNT_dec(code);
        if (SvTRUE(ERRSV) || !SvROK(cv))
            stop_run(REVENANT_REPLAY_FAILED, 125, "--when %s: %s", when, SvPV_nolen(ERRSV));
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
                if (PadnameOUTER(pn)
                    || (COP_SEQ_RANGE_LOW(pn) != PERL_PADSEQ_INTRO && COP_SEQ_RANGE_LOW(pn) < seq
                        && seq <= COP_SEQ_RANGE_HIGH(pn))) {
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
    PL_curcop = (COP *)cop; /* unqualified names resolve in the statement's package */
    gv = gv_fetchpvn_flags(v->name + 1, v->len - 1, 0,
                           v->sigil == '@'   ? SVt_PVAV
                           : v->sigil == '%' ? SVt_PVHV
                                             : SVt_PV);
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
        SV *sv = find_variable(aTHX_ g_wvars + i, cop);
        if (!sv) {
            unalias(i);
            return -1;
        }
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
    if (n && *d == '-') {
        d++;
        digits--;
    }
    integer = digits >= 1 && digits <= 15 && (d[0] != '0' || digits == 1);
    for (i = 0; integer && i < digits; i++)
        if (d[i] < '0' || d[i] > '9') integer = 0;
    if (integer) {
        sv_catpvn(out, s, n);
        return;
    }
    sv_catpvs(out, "'");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\'')
            sv_catpvs(out, "\\'");
        else if (c == '\\')
            sv_catpvs(out, "\\\\");
        else if (c == '\n')
            sv_catpvs(out, "\\n");
        else if (c == '\t')
            sv_catpvs(out, "\\t");
        else if (c < 0x20)
            sv_catpvf(out, "\\x%02x", c);
        else
            sv_catpvn(out, (const char *)&c, 1);
    }
    sv_catpvs(out, "'");
}

static void render_double(pTHX_ SV *out, NV d)
{
    if (Perl_isnan(d))
        sv_catpvs(out, "NaN");
    else if (Perl_isinf(d))
        sv_catpv(out, d < 0 ? "-Inf" : "Inf");
    else if (d == (NV)(IV)d && d < 1e15 && d > -1e15)
        sv_catpvf(out, "%" IVdf, (IV)d);
    else
        sv_catpvf(out, "%.15g", (double)d);
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
    if (bare)
        sv_catpvn(out, k, n);
    else
        render_string(aTHX_ out, k, n);
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
    if (!sv) {
        sv_catpvs(out, "undef");
        return;
    }
    if (SvTYPE(sv) == SVt_PVAV) {
        render_items(aTHX_ out, sv, depth, "[", "]");
        return;
    }
    if (SvTYPE(sv) == SVt_PVHV) {
        render_items(aTHX_ out, sv, depth, "{", "}");
        return;
    }
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
    if (f & (SVf_POK | SVp_POK))
        render_string(aTHX_ out, SvPVX_const(sv), SvCUR(sv));
    else if (f & (SVf_IOK | SVp_IOK)) {
        if (SvIsUV(sv))
            sv_catpvf(out, "%" UVuf, SvUVX(sv));
        else
            sv_catpvf(out, "%" IVdf, SvIVX(sv));
    } else if (f & (SVf_NOK | SVp_NOK))
        render_double(aTHX_ out, SvNVX(sv));
    else
        sv_catpvs(out, "undef");
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
        if ((p->kind == 'a' || p->kind == 'h') && SvROK(v)) {
            render_items(aTHX_ out, SvRV(v), 3, "(", ")");
            continue;
        }
        render(aTHX_ out, v, 3);
    }
}

/* A stop at statement `seq` (before it runs): the predicate, then the report. */
void stop_at(pTHX_ const COP *cop, uint64_t seq)
{
    int saved_errno = errno;
    SV *saved_err = newSVsv(ERRSV);
    I32 saved_status = PL_statusvalue;
    OP *saved_op = PL_op; /* the statement's own nextstate runs after this */
    COP *saved_cop = PL_curcop;
    U32 saved_evalseq = PL_evalseq; /* our evals must not renumber the program's (eval N) */
    g_rp = 0;
    *(volatile uint64_t *)&g_introspect.evaluating = seq + 1; /* the VMM's watchdog: --timeout */
    /* A scope of our own: eval_sv saves PL_op on the save stack without one, and the enclosing
     * block's exit would restore it (the main program would start over from this statement). */
    ENTER;
    SAVETMPS; /* the evaluation's own statements and ops are not the run's */
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
