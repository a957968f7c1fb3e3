/* Encoding: bound values and the connection and flag records, written into the channel
 * (Docs/channel-format.md, "SQLite records"). The record macros (EMIT_BEGIN/EMIT_END) and the small
 * inline helpers (u64put, conn_id) are in sqlite_shim_internal.h, used by every file that writes. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                    */

size_t bval_size(const bval *v)
{
    switch (v->tag) {
    case REVENANT_VAL_INT: return 1 + usize(zz(v->i));
    case REVENANT_VAL_DOUBLE: return 9;
    case REVENANT_VAL_STRING:
    case REVENANT_VAL_BLOB: return 1 + strsize(v->n);
    case REVENANT_VAL_ZEROBLOB: return 1 + usize((uint64_t)v->i);
    default: return 1;
    }
}

uint8_t *bval_put(uint8_t *p, const bval *v)
{
    uint64_t bits;
    *p++ = v->tag;
    switch (v->tag) {
    case REVENANT_VAL_INT: return uput(p, zz(v->i));
    case REVENANT_VAL_DOUBLE: memcpy(&bits, &v->d, 8); return u64put(p, bits);
    case REVENANT_VAL_STRING:
    case REVENANT_VAL_BLOB: return strput(p, v->p, v->n);
    case REVENANT_VAL_ZEROBLOB: return uput(p, (uint64_t)v->i);
    default: return p;
    }
}

void emit_conn(conn *c)
{
    const char *f = R(sqlite3_db_filename) ? real_sqlite3_db_filename(c->db, "main") : NULL;
    size_t fl = f ? strlen(f) : 0;
    pthread_mutex_lock(&g_lock);
    if (!c->id) c->id = g_next_conn++;
    pthread_mutex_unlock(&g_lock);
    EMIT_BEGIN(1 + usize(c->id) + strsize(fl));
    *q++ = REVENANT_REC_SQL_CONN;
    q = uput(q, c->id);
    q = strput(q, f, fl);
    EMIT_END();
}

void emit_flag(conn *c, int kind, const char *detail, size_t dl)
{
    uint64_t id = conn_id(c);
    EMIT_BEGIN(1 + usize(id) + 1 + strsize(dl));
    *q++ = REVENANT_REC_SQL_FLAG;
    q = uput(q, id);
    *q++ = (uint8_t)kind;
    q = strput(q, detail, dl);
    EMIT_END();
}
