/* The row-change digest (Docs/channel-format.md, SQL_DONE): what the pre-update events of one
 * statement execution hash to. One implementation for the SQLite shim, which logs it, and the
 * SQL-level replay (Sources/CSQLReplay), which checks a re-execution against it. For each event,
 * in order: u op, str schema, str table, s old rowid, s new rowid, u column count, the old values
 * (not for INSERT) and the new values (not for DELETE) as channel values (REVENANT_VAL_*); the
 * digest is the first 16 bytes of the SHA-256 over all of it, 16 zero bytes when no row changed.
 *
 * The includer defines before including it: the hash state type `rd_hash` and
 * RD_UPDATE(hash, bytes, n); and how to reach libsqlite3 (the shim calls the real library through
 * pointers it resolved, the replay links it): RD_VALUE_TYPE, RD_VALUE_INT64, RD_VALUE_DOUBLE,
 * RD_VALUE_TEXT, RD_VALUE_BLOB, RD_VALUE_BYTES (of a sqlite3_value *), RD_PREUPDATE_COUNT(db),
 * RD_PREUPDATE_OLD(db, i, &value), RD_PREUPDATE_NEW(db, i, &value). */
#ifndef REVENANT_ROW_DIGEST_H
#define REVENANT_ROW_DIGEST_H

#include <string.h>

#include "revenant_channel.h"
#include "revenant_encode.h"

/* Small pieces are gathered before they reach the hash. */
struct rd_buf {
    rd_hash *hash;
    uint8_t b[256];
    size_t n;
};

static void rd_flush(struct rd_buf *h)
{
    if (h->n) RD_UPDATE(h->hash, h->b, h->n);
    h->n = 0;
}
static void rd_room(struct rd_buf *h, size_t n)
{
    if (h->n + n > sizeof h->b) rd_flush(h);
}
static void rd_u(struct rd_buf *h, uint64_t v)
{
    rd_room(h, 10);
    h->n = (size_t)(uput(h->b + h->n, v) - h->b);
}
static void rd_tag(struct rd_buf *h, uint8_t t)
{
    rd_room(h, 1);
    h->b[h->n++] = t;
}

static void rd_bytes(struct rd_buf *h, const void *p, size_t n)
{
    rd_u(h, n);
    if (n <= 64) {
        rd_room(h, n);
        if (n) memcpy(h->b + h->n, p, n);
        h->n += n;
    } else {
        rd_flush(h);
        RD_UPDATE(h->hash, p, n);
    }
}

static void rd_value(struct rd_buf *h, sqlite3_value *v)
{
    int t = v ? RD_VALUE_TYPE(v) : SQLITE_NULL;
    switch (t) {
    case SQLITE_INTEGER:
        rd_tag(h, REVENANT_VAL_INT);
        rd_u(h, zz(RD_VALUE_INT64(v)));
        break;
    case SQLITE_FLOAT: {
        double d = RD_VALUE_DOUBLE(v);
        uint64_t bits;
        int i;
        memcpy(&bits, &d, 8);
        rd_tag(h, REVENANT_VAL_DOUBLE);
        rd_room(h, 8);
        for (i = 0; i < 8; i++) h->b[h->n++] = (uint8_t)(bits >> (8 * i));
        break;
    }
    case SQLITE_TEXT: {
        const unsigned char *s = RD_VALUE_TEXT(v);
        rd_tag(h, REVENANT_VAL_STRING);
        rd_bytes(h, s, s ? (size_t)RD_VALUE_BYTES(v) : 0);
        break;
    }
    case SQLITE_BLOB: {
        const void *s = RD_VALUE_BLOB(v);
        rd_tag(h, REVENANT_VAL_BLOB);
        rd_bytes(h, s, s ? (size_t)RD_VALUE_BYTES(v) : 0);
        break;
    }
    default: rd_tag(h, REVENANT_VAL_UNDEF);
    }
}

/* One pre-update event (the hook's arguments) into `hash`. */
static void rd_event(rd_hash *hash, sqlite3 *db, int op, const char *schema, const char *table, sqlite3_int64 k1,
                     sqlite3_int64 k2)
{
    struct rd_buf h;
    int i, n = RD_PREUPDATE_COUNT(db);
    h.hash = hash;
    h.n = 0;
    rd_u(&h, (uint64_t)op);
    rd_bytes(&h, schema, schema ? strlen(schema) : 0);
    rd_bytes(&h, table, table ? strlen(table) : 0);
    rd_u(&h, zz(k1));
    rd_u(&h, zz(k2));
    rd_u(&h, (uint64_t)(n > 0 ? n : 0));
    if (op != SQLITE_INSERT)
        for (i = 0; i < n; i++) {
            sqlite3_value *v = NULL;
            if (RD_PREUPDATE_OLD(db, i, &v) != SQLITE_OK) v = NULL;
            rd_value(&h, v);
        }
    if (op != SQLITE_DELETE)
        for (i = 0; i < n; i++) {
            sqlite3_value *v = NULL;
            if (RD_PREUPDATE_NEW(db, i, &v) != SQLITE_OK) v = NULL;
            rd_value(&h, v);
        }
    rd_flush(&h);
}

#endif
