/* Connections: the open and close wrappers, which write SQL_CONN and SQL_CLOSE records. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                 */

static void opened(int rc, sqlite3 **pdb)
{
    conn *c;
    int e = errno;
    if (rc != SQLITE_OK || !pdb || !*pdb) return;
    c = conn_get(*pdb);
    if (c && !c->id) emit_conn(c);
    errno = e;
}

API int sqlite3_open(const char *f, sqlite3 **pdb)
{
    int rc;
    if (!R(sqlite3_open)) return SQLITE_ERROR;
    rc = real_sqlite3_open(f, pdb);
    if (g_on) opened(rc, pdb);
    return rc;
}

API int sqlite3_open16(const void *f, sqlite3 **pdb)
{
    int rc;
    if (!R(sqlite3_open16)) return SQLITE_ERROR;
    rc = real_sqlite3_open16(f, pdb);
    if (g_on) opened(rc, pdb);
    return rc;
}

API int sqlite3_open_v2(const char *f, sqlite3 **pdb, int flags, const char *vfs)
{
    int rc;
    if (!R(sqlite3_open_v2)) return SQLITE_ERROR;
    rc = real_sqlite3_open_v2(f, pdb, flags, vfs);
    if (g_on) opened(rc, pdb);
    return rc;
}

static void closed(int rc, sqlite3 *db)
{
    conn *c, **pp;
    int e = errno;
    if (rc != SQLITE_OK || !db) return;
    pthread_mutex_lock(&g_lock);
    for (pp = &g_conns; (c = *pp) != NULL; pp = &c->next)
        if (c->db == db) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&g_lock);
    /* the struct stays allocated: a zombie connection's statements may still refer to it */
    if (c && c->id) {
        EMIT_BEGIN(1 + usize(c->id));
        *q++ = REVENANT_REC_SQL_CLOSE;
        q = uput(q, c->id);
        EMIT_END();
    }
    errno = e;
}

API int sqlite3_close(sqlite3 *db)
{
    int rc;
    if (!R(sqlite3_close)) return SQLITE_ERROR;
    rc = real_sqlite3_close(db);
    if (g_on) closed(rc, db);
    return rc;
}

API int sqlite3_close_v2(sqlite3 *db)
{
    int rc;
    if (!R(sqlite3_close_v2)) return SQLITE_ERROR;
    rc = real_sqlite3_close_v2(db);
    if (g_on) closed(rc, db);
    return rc;
}
