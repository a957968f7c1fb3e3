/* The application's callbacks, chained: trace, profile, authorizer and pre-update hook are kept
 * per connection (conn_callbacks.c calls them) instead of replacing the shim's own. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The application's callbacks, chained                                                        */

API int sqlite3_trace_v2(sqlite3 *db, unsigned m, int (*x)(unsigned, void *, void *, void *), void *arg)
{
    conn *c;
    if (!R(sqlite3_trace_v2)) return SQLITE_MISUSE;
    if (!g_on || !(c = conn_get(db)) || !c->hooked) return real_sqlite3_trace_v2(db, m, x, arg);
    if (m == 0) x = NULL;
    if (!x) m = 0;
    c->app_mtrace = m; /* as SQLite: replaces legacy trace and xProfile's bit */
    c->app_trace_fn = (void *)x;
    c->app_trace_arg = arg;
    apply_trace(c);
    return SQLITE_OK;
}

API void *sqlite3_trace(sqlite3 *db, void (*x)(void *, const char *), void *arg)
{
    conn *c;
    void *old;
    if (!real_trace && !(real_trace = (trace_fn)resolve("sqlite3_trace"))) return NULL;
    if (!g_on || !(c = conn_get(db)) || !c->hooked) return real_trace(db, x, arg);
    old = c->app_trace_arg;
    c->app_mtrace = x ? SHIM_TRACE_LEGACY : 0;
    c->app_trace_fn = (void *)x;
    c->app_trace_arg = arg;
    apply_trace(c);
    return old;
}

API void *sqlite3_profile(sqlite3 *db, void (*x)(void *, const char *, sqlite3_uint64), void *arg)
{
    conn *c;
    void *old;
    if (!real_profile && !(real_profile = (profile_fn)resolve("sqlite3_profile"))) return NULL;
    if (!g_on || !(c = conn_get(db)) || !c->hooked) return real_profile(db, x, arg);
    old = c->app_prof_arg;
    c->app_prof = x;
    c->app_prof_arg = arg;
    c->app_mtrace &= 0x0f;
    if (x) c->app_mtrace |= SHIM_TRACE_XPROFILE;
    apply_trace(c);
    return old;
}

API int sqlite3_set_authorizer(sqlite3 *db,
                               int (*x)(void *, int, const char *, const char *, const char *, const char *), void *arg)
{
    conn *c;
    if (!R(sqlite3_set_authorizer)) return SQLITE_MISUSE;
    if (!g_on || !(c = conn_get(db)) || !c->hooked) return real_sqlite3_set_authorizer(db, x, arg);
    c->app_auth = x;
    c->app_auth_arg = arg;
    return real_sqlite3_set_authorizer(db, cb_auth, c); /* expires statements, as SQLite does */
}

API void *sqlite3_preupdate_hook(
    sqlite3 *db, void (*x)(void *, sqlite3 *, int, const char *, const char *, sqlite3_int64, sqlite3_int64), void *arg)
{
    conn *c;
    void *old;
    if (!R(sqlite3_preupdate_hook)) return NULL;
    if (!g_on || !(c = conn_get(db)) || !c->hooked) return real_sqlite3_preupdate_hook(db, x, arg);
    old = c->app_pre_arg;
    c->app_pre = x;
    c->app_pre_arg = arg;
    return old;
}
