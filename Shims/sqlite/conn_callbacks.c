/* The shim's per-connection callbacks, installed on every connection by the auto-extension
 * (hook_conn): random() and randomblob() that log their output, the authorizer that collects the
 * tables a statement reads and writes, the pre-update hook that digests row changes, and the trace
 * callback that logs trigger entries (and calls the application's own callbacks, app_callbacks.c). */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Per-connection callbacks                                                                    */

/* random() and randomblob() exactly as SQLite's builtins compute them (func.c), logged. */
static void emit_random(const void *p, size_t n)
{
    EMIT_BEGIN(1 + strsize(n));
    *q++ = REVENANT_REC_SQL_RANDOM;
    q = strput(q, p, n);
    EMIT_END();
}

static void fn_random(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_int64 r;
    uint8_t b[8];
    int e = errno;
    (void)argc;
    (void)argv;
    real_sqlite3_randomness(sizeof r, &r);
    if (r < 0) r = -(r & (sqlite3_int64)0x7fffffffffffffffLL);
    real_sqlite3_result_int64(ctx, r);
    u64put(b, (uint64_t)r);
    emit_random(b, 8);
    errno = e;
}

static void fn_randomblob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_int64 n;
    unsigned char *p;
    int e = errno;
    (void)argc;
    n = real_sqlite3_value_int64(argv[0]);
    if (n < 1) n = 1;
    if (n > real_sqlite3_limit(real_sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1)) {
        real_sqlite3_result_error_toobig(ctx);
        errno = e;
        return;
    }
    p = real_sqlite3_malloc64((sqlite3_uint64)n);
    if (!p) {
        real_sqlite3_result_error_nomem(ctx);
        errno = e;
        return;
    }
    real_sqlite3_randomness((int)n, p);
    emit_random(p, (size_t)n);
    real_sqlite3_result_blob(ctx, (char *)p, (int)n, real_sqlite3_free);
    errno = e;
}

static void coll_add(conn *c, int w, const char *schema, const char *table)
{
    char buf[512], *name;
    size_t sl, tl;
    int i, *np = w ? &c->nwrite : &c->nread, *cp = w ? &c->cap_write : &c->cap_read;
    char ***arr = w ? &c->write : &c->read;
    if (!table) return;
    tl = strlen(table);
    if (!schema || strcmp(schema, "main") == 0) {
        if (tl >= sizeof buf) return;
        memcpy(buf, table, tl + 1);
    } else {
        sl = strlen(schema);
        if (sl + 1 + tl >= sizeof buf) return;
        memcpy(buf, schema, sl);
        buf[sl] = '.';
        memcpy(buf + sl + 1, table, tl + 1);
    }
    for (i = 0; i < *np; i++)
        if (strcmp((*arr)[i], buf) == 0) return;
    if (*np == *cp) {
        int nc = *cp ? *cp * 2 : 8;
        char **na = realloc(*arr, (size_t)nc * sizeof *na);
        if (!na) return;
        *arr = na;
        *cp = nc;
    }
    name = strdup(buf);
    if (!name) return;
    (*arr)[(*np)++] = name;
}

void coll_clear(conn *c)
{
    int i;
    for (i = 0; i < c->nread; i++) free(c->read[i]);
    for (i = 0; i < c->nwrite; i++) free(c->write[i]);
    c->nread = c->nwrite = 0;
    c->coll_dml = 0;
}

int cb_auth(void *ctx, int code, const char *a1, const char *a2, const char *a3, const char *a4)
{
    conn *c = ctx;
    if (c->collecting) {
        int e = errno;
        switch (code) {
        case SQLITE_READ: coll_add(c, 0, a3, a1); break;
        case SQLITE_INSERT:
        case SQLITE_UPDATE:
        case SQLITE_DELETE:
            coll_add(c, 1, a3, a1);
            /* a top-level write to a user table; SQLite's own writes to sqlite_master (CREATE,
             * CREATE TABLE AS), sqlite_stat1 (ANALYZE)… do not set sqlite3_changes() */
            if (!a4 && a1 && strncmp(a1, "sqlite_", 7) != 0) c->coll_dml = 1;
            break;
        default: break;
        }
        errno = e;
    }
    if (c->app_auth) return c->app_auth(c->app_auth_arg, code, a1, a2, a3, a4);
    return SQLITE_OK;
}

/* Digest of row changes: each pre-update event, typed, into the running execution's SHA-256
 * (GuestAgents/include/revenant_row_digest.h, which the SQL-level replay uses too). */
typedef revenant_sha256 rd_hash;
#define RD_UPDATE revenant_sha256_update
#define RD_VALUE_TYPE real_sqlite3_value_type
#define RD_VALUE_INT64 real_sqlite3_value_int64
#define RD_VALUE_DOUBLE real_sqlite3_value_double
#define RD_VALUE_TEXT real_sqlite3_value_text
#define RD_VALUE_BLOB real_sqlite3_value_blob
#define RD_VALUE_BYTES real_sqlite3_value_bytes
#define RD_PREUPDATE_COUNT real_sqlite3_preupdate_count
#define RD_PREUPDATE_OLD real_sqlite3_preupdate_old
#define RD_PREUPDATE_NEW real_sqlite3_preupdate_new
#include "revenant_row_digest.h"

void cb_preupdate(void *ctx, sqlite3 *db, int op, const char *zdb, const char *ztab, sqlite3_int64 k1, sqlite3_int64 k2)
{
    conn *c = ctx;
    stmt *st = c->cur;
    if (st) {
        int e = errno;
        if (!st->nev++) revenant_sha256_init(&st->sha);
        rd_event(&st->sha, db, op, zdb, ztab, k1, k2);
        errno = e;
    }
    if (c->app_pre) c->app_pre(c->app_pre_arg, db, op, zdb, ztab, k1, k2);
}

static int cb_trace(unsigned type, void *ctx, void *p, void *x)
{
    conn *c = ctx;
    unsigned m = c->app_mtrace;
    if (type == SQLITE_TRACE_STMT) {
        const char *z = x;
        if (z && z[0] == '-' && z[1] == '-') {
            size_t n = strlen(z);
            uint64_t id = conn_id(c);
            int e = errno;
            EMIT_BEGIN(1 + usize(id) + strsize(n));
            *q++ = REVENANT_REC_SQL_TRIGGER;
            q = uput(q, id);
            q = strput(q, z, n);
            EMIT_END();
            errno = e;
        }
        if (m & SHIM_TRACE_LEGACY) {
            void (*legacy)(void *, const char *) = (void (*)(void *, const char *))c->app_trace_fn;
            const char *sql = real_sqlite3_sql(p);
            if (z && sql && z == sql) {
                /* sqlite3VdbeExpandSql(p, p->zSql) is what SQLite hands the legacy callback */
                char *ex = real_sqlite3_expanded_sql(p);
                legacy(c->app_trace_arg, ex ? ex : z);
                real_sqlite3_free(ex);
            } else {
                legacy(c->app_trace_arg, z);
            }
        } else if (m & SQLITE_TRACE_STMT) {
            return ((int (*)(unsigned, void *, void *, void *))c->app_trace_fn)(type, c->app_trace_arg, p, x);
        }
        return 0;
    }
    if (type == SQLITE_TRACE_PROFILE) {
        if (c->app_prof) c->app_prof(c->app_prof_arg, real_sqlite3_sql(p), *(sqlite3_uint64 *)x);
        if (m & SQLITE_TRACE_PROFILE)
            return ((int (*)(unsigned, void *, void *, void *))c->app_trace_fn)(type, c->app_trace_arg, p, x);
        return 0;
    }
    if ((m & 0x0f & type) && !(m & SHIM_TRACE_LEGACY))
        return ((int (*)(unsigned, void *, void *, void *))c->app_trace_fn)(type, c->app_trace_arg, p, x);
    return 0;
}

/* Our trace mask from the application's: STMT always; its own v2 events; PROFILE for xProfile. */
void apply_trace(conn *c)
{
    unsigned m = SQLITE_TRACE_STMT;
    if (!(c->app_mtrace & SHIM_TRACE_LEGACY)) m |= c->app_mtrace & 0x0f;
    if (c->app_mtrace & SHIM_TRACE_XPROFILE) m |= SQLITE_TRACE_PROFILE;
    real_sqlite3_trace_v2(c->db, m, cb_trace, c);
}

int hook_conn(sqlite3 *db, char **err, const struct sqlite3_api_routines *api)
{
    conn *c;
    int e = errno;
    (void)err;
    (void)api;
    c = calloc(1, sizeof *c);
    if (!c) return SQLITE_OK;
    c->db = db;
    pthread_mutex_lock(&g_lock);
    c->next = g_conns;
    g_conns = c;
    pthread_mutex_unlock(&g_lock);
    if (R(sqlite3_trace_v2) && R(sqlite3_set_authorizer) && R(sqlite3_preupdate_hook) && R(sqlite3_create_function_v2)
        && R(sqlite3_sql) && R(sqlite3_expanded_sql) && R(sqlite3_free) && R(sqlite3_preupdate_old)
        && R(sqlite3_preupdate_new) && R(sqlite3_preupdate_count) && R(sqlite3_value_type) && R(sqlite3_value_int64)
        && R(sqlite3_value_double) && R(sqlite3_value_text) && R(sqlite3_value_blob) && R(sqlite3_value_bytes)
        && R(sqlite3_randomness) && R(sqlite3_result_int64) && R(sqlite3_result_blob) && R(sqlite3_result_error_toobig)
        && R(sqlite3_result_error_nomem) && R(sqlite3_limit) && R(sqlite3_context_db_handle) && R(sqlite3_malloc64)) {
        c->hooked = 1;
        real_sqlite3_preupdate_hook(db, cb_preupdate, c);
        real_sqlite3_set_authorizer(db, cb_auth, c);
        apply_trace(c);
        real_sqlite3_create_function_v2(db, "random", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL, fn_random, NULL, NULL,
                                        NULL);
        real_sqlite3_create_function_v2(db, "randomblob", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL, fn_randomblob, NULL,
                                        NULL, NULL);
    }
    errno = e;
    return SQLITE_OK;
}

conn *conn_get(sqlite3 *db)
{
    conn *c;
    pthread_mutex_lock(&g_lock);
    c = conn_find(db);
    pthread_mutex_unlock(&g_lock);
    if (!c && db) {
        c = calloc(1, sizeof *c);
        if (!c) return NULL;
        c->db = db;
        pthread_mutex_lock(&g_lock);
        c->next = g_conns;
        g_conns = c;
        pthread_mutex_unlock(&g_lock);
    }
    return c;
}
