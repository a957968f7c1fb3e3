/* Load and exit: the library's constructor opens the channel and hides the preload from the
 * program's children; its destructor flushes the channel. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Load and exit                                                                               */

/* Remove this library from LD_PRELOAD (unset it when it was the only entry). */
static void hide_preload(void)
{
    Dl_info info;
    const char *pre = getenv("LD_PRELOAD"), *me, *base;
    char *copy, *out, *tok, *save, *mereal;
    size_t ol = 0;
    int removed = 0;
    char sep = ':';
    if (!pre || !dladdr((void *)hide_preload, &info) || !info.dli_fname) return;
    me = info.dli_fname;
    base = strrchr(me, '/') ? strrchr(me, '/') + 1 : me;
    mereal = realpath(me, NULL);
    if (strchr(pre, ' ') && !strchr(pre, ':')) sep = ' ';
    copy = strdup(pre);
    out = calloc(1, strlen(pre) + 1);
    if (!copy || !out) {
        free(copy);
        free(out);
        free(mereal);
        return;
    }
    for (tok = strtok_r(copy, ": \t", &save); tok; tok = strtok_r(NULL, ": \t", &save)) {
        const char *tb = strrchr(tok, '/') ? strrchr(tok, '/') + 1 : tok;
        int mine = strcmp(tok, me) == 0;
        if (!mine && strcmp(tb, base) == 0) {
            char *tr = realpath(tok, NULL);
            mine = !strchr(tok, '/') || (tr && mereal && strcmp(tr, mereal) == 0);
            free(tr);
        }
        if (mine && !removed) {
            removed = 1;
            continue;
        }
        if (ol) out[ol++] = sep;
        memcpy(out + ol, tok, strlen(tok));
        ol += strlen(tok);
    }
    if (removed) {
        if (ol)
            setenv("LD_PRELOAD", out, 1);
        else
            unsetenv("LD_PRELOAD");
    }
    free(copy);
    free(out);
    free(mereal);
}

static void at_fork_child(void)
{
    /* In a VM the child goes on recording, its stream starting as its parent's up to the fork. */
    if (g_owner) g_owner->forked();
    g_on = g_owner && g_owner->mode != REVENANT_CHANNEL_OFF;
}

__attribute__((constructor)) static void shim_load(void)
{
    int e = errno;
#ifdef REVENANT_SQLITE_KEEP_ENV
    /* measurement builds only (bench/cost.sh): valgrind's launcher loads the preload first and
     * would hide it from the program under measurement */
    char *kp = getenv("LD_PRELOAD"), *kl = getenv("REVENANT_SHIM_LOG");
    kp = kp ? strdup(kp) : NULL;
    kl = kl ? strdup(kl) : NULL;
#endif
    g_owner = revenant_channel_open();
    hide_preload();
#ifdef REVENANT_SQLITE_KEEP_ENV
    if (kp) setenv("LD_PRELOAD", kp, 1);
    if (kl) setenv("REVENANT_SHIM_LOG", kl, 1);
#endif
    if (g_owner->mode != REVENANT_CHANNEL_OFF) {
        g_on = 1;
        pthread_atfork(NULL, NULL, at_fork_child);
    }
    errno = e;
}

__attribute__((destructor)) static void shim_unload(void)
{
    int e = errno;
    if (g_on && g_owner) g_owner->flush();
    errno = e;
}
