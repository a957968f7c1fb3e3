/* Replay mode's boot (replay_boot, called by Shim.xs's BOOT when REVENANT_SHIM_REPLAY names a
 * feed): it reads the feed and the request and installs the overrides; at exit it checks that the
 * run ended where the recording did. */
#include "replay_internal.h"

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

/* exec: the recorded run went on in another program, which the fast form does not replay (the VM
 * path does). */
static OP *replay_exec(pTHX)
{
    PERL_UNUSED_CONTEXT;
    unsupported("exec (the run went on in another program)");
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
    g_orig[OP_EXEC] = PL_ppaddr[OP_EXEC];
    PL_ppaddr[OP_EXEC] = replay_exec;
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
