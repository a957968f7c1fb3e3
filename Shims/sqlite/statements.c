/* Statements: the prepare, exec, get_table, step, reset and finalize wrappers, which tell the
 * application's statements from SQLite's own and write SQL_PREPARE, SQL_EXEC and SQL_DONE records. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Statements                                                                                  */

static void emit_done(stmt *st, int rc)
{
    uint8_t dg[16];
    int64_t ch = 0;
    if (st->dml && R(sqlite3_changes64)) ch = real_sqlite3_changes64(st->c->db);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW && R(sqlite3_extended_errcode)) {
        int x = real_sqlite3_extended_errcode(st->c->db);
        if ((x & 0xff) == (rc & 0xff)) rc = x;
    }
    if (st->nev) {
        uint8_t full[32];
        revenant_sha256_final(&st->sha, full);
        memcpy(dg, full, 16);
    } else {
        memset(dg, 0, 16);
    }
    st->nev = 0;
    EMIT_BEGIN(1 + usize(st->id) + usize((uint64_t)rc) + usize(st->rows) + usize(zz(ch)) + 16);
    *q++ = REVENANT_REC_SQL_DONE;
    q = uput(q, st->id);
    q = uput(q, (uint64_t)rc);
    q = uput(q, st->rows);
    q = uput(q, zz(ch));
    memcpy(q, dg, 16);
    EMIT_END();
    st->running = 0;
}

static void emit_exec(stmt *st)
{
    size_t sz = 1 + usize(st->id) + usize((uint64_t)st->nparam);
    int i;
    for (i = 0; i < st->nparam; i++) sz += bval_size(&st->b[i]);
    EMIT_BEGIN(sz);
    *q++ = REVENANT_REC_SQL_EXEC;
    q = uput(q, st->id);
    q = uput(q, (uint64_t)st->nparam);
    for (i = 0; i < st->nparam; i++) q = bval_put(q, &st->b[i]);
    EMIT_END();
}

/* The statement an application sqlite3_exec prepared was finalized inside it (sqlite3VdbeFinalize,
 * not through the PLT): finish it here. */
static void exec_stmt_gone(void)
{
    stmt *st = t_exec_stmt;
    if (!st) return;
    t_exec_stmt = NULL;
    if (st->running) emit_done(st, SQLITE_ROW);
    pthread_mutex_lock(&g_lock);
    if (map_get(st->h) == st) map_del(st->h);
    pthread_mutex_unlock(&g_lock);
    stmt_free(st);
}

static void forget_stale(sqlite3_stmt *h)
{
    stmt *old;
    pthread_mutex_lock(&g_lock);
    old = map_get(h);
    if (old) map_del(h);
    pthread_mutex_unlock(&g_lock);
    if (old) {
        if (old == t_exec_stmt) t_exec_stmt = NULL;
        stmt_free(old);
    }
}

static void prepared(conn *c, sqlite3_stmt *h, int via_exec)
{
    const char *sql = real_sqlite3_sql(h);
    stmt *st;
    size_t sz, sl;
    int i, n;
    forget_stale(h);
    if (!sql) return;
    st = calloc(1, sizeof *st);
    if (!st) return;
    n = R(sqlite3_bind_parameter_count) ? real_sqlite3_bind_parameter_count(h) : 0;
    if (n > 0) {
        st->b = calloc((size_t)n, sizeof *st->b);
        if (!st->b) {
            free(st);
            return;
        }
        st->nparam = n;
    }
    st->h = h;
    st->c = c;
    st->dml = c->coll_dml;
    (void)conn_id(c);
    pthread_mutex_lock(&g_lock);
    st->id = g_next_stmt++;
    map_put(st);
    pthread_mutex_unlock(&g_lock);
    if (via_exec) t_exec_stmt = st;
    sl = strlen(sql);
    sz = 1 + usize(st->id) + usize(c->id) + strsize(sl) + usize((uint64_t)c->nread) + usize((uint64_t)c->nwrite);
    for (i = 0; i < c->nread; i++) sz += strsize(strlen(c->read[i]));
    for (i = 0; i < c->nwrite; i++) sz += strsize(strlen(c->write[i]));
    EMIT_BEGIN(sz);
    *q++ = REVENANT_REC_SQL_PREPARE;
    q = uput(q, st->id);
    q = uput(q, c->id);
    q = strput(q, sql, sl);
    q = uput(q, (uint64_t)c->nread);
    for (i = 0; i < c->nread; i++) q = strput(q, c->read[i], strlen(c->read[i]));
    q = uput(q, (uint64_t)c->nwrite);
    for (i = 0; i < c->nwrite; i++) q = strput(q, c->write[i], strlen(c->write[i]));
    EMIT_END();
}

enum { P_V1, P_V2, P_V3, P_16V1, P_16V2, P_16V3 };

static int call_prepare(int kind, sqlite3 *db, const void *sql, int n, unsigned fl, sqlite3_stmt **pp,
                        const void **tail)
{
    switch (kind) {
    case P_V1: return real_sqlite3_prepare(db, sql, n, pp, (const char **)tail);
    case P_V2: return real_sqlite3_prepare_v2(db, sql, n, pp, (const char **)tail);
    case P_V3: return real_sqlite3_prepare_v3(db, sql, n, fl, pp, (const char **)tail);
    case P_16V1: return real_sqlite3_prepare16(db, sql, n, pp, tail);
    case P_16V2: return real_sqlite3_prepare16_v2(db, sql, n, pp, tail);
    default: return real_sqlite3_prepare16_v3(db, sql, n, fl, pp, tail);
    }
}

static int prep(int kind, sqlite3 *db, const void *sql, int n, unsigned fl, sqlite3_stmt **pp, const void **tail,
                void *ra)
{
    int rc, e, via_exec = 0, app;
    conn *c = NULL;
    int unhook = 0;
    app = t_depth == 0 && (!in_lib(ra) || (via_exec = (t_exec && in_exec(ra))));
    if (app) {
        if (via_exec) exec_stmt_gone(); /* its previous statement was finalized inside exec */
        e = errno;
        c = conn_get(db);
        if (c) {
            coll_clear(c);
            c->collecting = 1;
            /* a pre-update hook disables the truncate optimisation at code generation: generate
             * code as the application's own settings would, the hook is back for execution */
            if (c->hooked && !c->app_pre) {
                real_sqlite3_preupdate_hook(db, NULL, NULL);
                unhook = 1;
            }
        }
        errno = e;
    }
    t_depth++;
    rc = call_prepare(kind, db, sql, n, fl, pp, tail);
    t_depth--;
    e = errno;
    if (c) {
        c->collecting = 0;
        if (unhook) real_sqlite3_preupdate_hook(db, cb_preupdate, c);
    }
    if (rc == SQLITE_OK && pp && *pp) {
        if (c)
            prepared(c, *pp, via_exec);
        else
            forget_stale(*pp);
    }
    errno = e;
    return rc;
}

#define PREP(kind, fn, ...) \
    if (!R(fn)) return SQLITE_ERROR; \
    if (!g_on) return real_##fn(__VA_ARGS__); \
    return prep(kind, db, sql, n, FL, pp, (const void **)tail, __builtin_return_address(0))

#define FL 0
API int sqlite3_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp, const char **tail)
{
    PREP(P_V1, sqlite3_prepare, db, sql, n, pp, tail);
}
API int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp, const char **tail)
{
    PREP(P_V2, sqlite3_prepare_v2, db, sql, n, pp, tail);
}
API int sqlite3_prepare16(sqlite3 *db, const void *sql, int n, sqlite3_stmt **pp, const void **tail)
{
    PREP(P_16V1, sqlite3_prepare16, db, sql, n, pp, tail);
}
API int sqlite3_prepare16_v2(sqlite3 *db, const void *sql, int n, sqlite3_stmt **pp, const void **tail)
{
    PREP(P_16V2, sqlite3_prepare16_v2, db, sql, n, pp, tail);
}
#undef FL
#define FL fl
API int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned int fl, sqlite3_stmt **pp, const char **tail)
{
    PREP(P_V3, sqlite3_prepare_v3, db, sql, n, fl, pp, tail);
}
API int sqlite3_prepare16_v3(sqlite3 *db, const void *sql, int n, unsigned int fl, sqlite3_stmt **pp, const void **tail)
{
    PREP(P_16V3, sqlite3_prepare16_v3, db, sql, n, fl, pp, tail);
}
#undef FL

API int sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg, char **err)
{
    void *ra = __builtin_return_address(0);
    int rc, e;
    stmt *saved;
    if (!R(sqlite3_exec)) return SQLITE_ERROR;
    if (!g_on) return real_sqlite3_exec(db, sql, cb, arg, err);
    if (t_depth || (in_lib(ra) && !(t_gettable && in_gettable(ra)))) {
        /* SQLite's own (schema loading for table_column_metadata…): everything inside is internal */
        t_depth++;
        rc = real_sqlite3_exec(db, sql, cb, arg, err);
        t_depth--;
        return rc;
    }
    saved = t_exec_stmt;
    t_exec_stmt = NULL;
    t_exec++;
    rc = real_sqlite3_exec(db, sql, cb, arg, err);
    e = errno;
    exec_stmt_gone();
    t_exec--;
    t_exec_stmt = saved;
    errno = e;
    return rc;
}

API int sqlite3_get_table(sqlite3 *db, const char *sql, char ***res, int *nr, int *nc, char **err)
{
    void *ra = __builtin_return_address(0);
    int rc;
    if (!R(sqlite3_get_table)) return SQLITE_ERROR;
    if (!g_on) return real_sqlite3_get_table(db, sql, res, nr, nc, err);
    if (t_depth || in_lib(ra)) {
        t_depth++;
        rc = real_sqlite3_get_table(db, sql, res, nr, nc, err);
        t_depth--;
        return rc;
    }
    t_gettable++;
    rc = real_sqlite3_get_table(db, sql, res, nr, nc, err);
    t_gettable--;
    return rc;
}

API int sqlite3_step(sqlite3_stmt *h)
{
    stmt *st;
    conn *c;
    struct stmt *prev;
    int rc, e;
    if (!R(sqlite3_step)) return SQLITE_MISUSE;
    if (!g_on) return real_sqlite3_step(h);
    st = lookup(h);
    if (!st) {
        t_depth++;
        rc = real_sqlite3_step(h);
        t_depth--;
        return rc;
    }
    if (!st->running) {
        e = errno;
        st->running = 1;
        st->rows = 0;
        st->nev = 0;
        emit_exec(st);
        errno = e;
    }
    c = st->c;
    prev = c->cur;
    c->cur = st;
    t_depth++;
    rc = real_sqlite3_step(h);
    t_depth--;
    c->cur = prev;
    if (rc == SQLITE_ROW) {
        st->rows++;
    } else {
        e = errno;
        emit_done(st, rc);
        errno = e;
    }
    return rc;
}

API int sqlite3_reset(sqlite3_stmt *h)
{
    stmt *st;
    struct stmt *prev = NULL;
    int rc, e;
    if (!R(sqlite3_reset)) return SQLITE_MISUSE;
    if (!g_on) return real_sqlite3_reset(h);
    st = lookup(h);
    if (st && st->running) {
        prev = st->c->cur;
        st->c->cur = st;
    }
    t_depth++;
    rc = real_sqlite3_reset(h);
    t_depth--;
    if (st && st->running) {
        e = errno;
        st->c->cur = prev;
        emit_done(st, SQLITE_ROW);
        errno = e;
    }
    return rc;
}

API int sqlite3_finalize(sqlite3_stmt *h)
{
    stmt *st;
    struct stmt *prev = NULL;
    int rc, e;
    if (!R(sqlite3_finalize)) return SQLITE_MISUSE;
    if (!g_on || !h) return real_sqlite3_finalize(h);
    st = lookup(h);
    if (st) {
        pthread_mutex_lock(&g_lock);
        map_del(h);
        pthread_mutex_unlock(&g_lock);
        if (st == t_exec_stmt) t_exec_stmt = NULL;
        if (st->running) {
            prev = st->c->cur;
            st->c->cur = st;
        }
    }
    t_depth++;
    rc = real_sqlite3_finalize(h);
    t_depth--;
    if (st) {
        e = errno;
        if (st->running) {
            st->c->cur = prev;
            emit_done(st, SQLITE_ROW);
        }
        stmt_free(st);
        errno = e;
    }
    return rc;
}
