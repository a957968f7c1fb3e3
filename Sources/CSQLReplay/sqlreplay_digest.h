/* The row-change digest, computed exactly as the SQLite shim does (Shims/sqlite/sqlite_shim.c,
 * cb_preupdate; Docs/channel-format.md): for each pre-update event of one execution, in order,
 * u op, str schema, str table, s old rowid, s new rowid, u column count, the old values (not for
 * INSERT) and the new values (not for DELETE) as channel values; SHA-256 over all of it, first
 * 16 bytes; 16 zero bytes when the execution changed no row. Included by sqlreplay.c only. */
#include <openssl/evp.h>

static EVP_MD_CTX *g_dctx;
static int g_devents;

static void dg_raw(const void *p, size_t n) { EVP_DigestUpdate(g_dctx, p, n); }

static void dg_u(uint64_t v)
{
    unsigned char b[10];
    int n = 0;
    while (v >= 0x80) { b[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    b[n++] = (unsigned char)v;
    dg_raw(b, (size_t)n);
}

static uint64_t dg_zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

static void dg_bytes(const void *p, size_t n) { dg_u(n); if (n) dg_raw(p, n); }

static void dg_tag(unsigned char t) { dg_raw(&t, 1); }

static void dg_value(sqlite3_value *v)
{
    int t = v ? sqlite3_value_type(v) : SQLITE_NULL;
    switch (t) {
    case SQLITE_INTEGER: dg_tag(1); dg_u(dg_zz(sqlite3_value_int64(v))); break;
    case SQLITE_FLOAT: {
        double d = sqlite3_value_double(v);
        unsigned char b[8];
        uint64_t bits;
        int i;
        memcpy(&bits, &d, 8);
        for (i = 0; i < 8; i++) b[i] = (unsigned char)(bits >> (8 * i));
        dg_tag(3);
        dg_raw(b, 8);
        break;
    }
    case SQLITE_TEXT: { const unsigned char *s = sqlite3_value_text(v); dg_tag(4); dg_bytes(s, s ? (size_t)sqlite3_value_bytes(v) : 0); break; }
    case SQLITE_BLOB: { const void *s = sqlite3_value_blob(v); dg_tag(6); dg_bytes(s, s ? (size_t)sqlite3_value_bytes(v) : 0); break; }
    default: dg_tag(0);
    }
}

static void dg_hook(void *ctx, sqlite3 *db, int op, const char *schema, const char *table, sqlite3_int64 k1, sqlite3_int64 k2)
{
    int i, n = sqlite3_preupdate_count(db);
    (void)ctx;
    if (!g_dctx) return;
    g_devents++;
    dg_u((uint64_t)op);
    dg_bytes(schema, schema ? strlen(schema) : 0);
    dg_bytes(table, table ? strlen(table) : 0);
    dg_u(dg_zz(k1));
    dg_u(dg_zz(k2));
    dg_u((uint64_t)(n > 0 ? n : 0));
    if (op != SQLITE_INSERT)
        for (i = 0; i < n; i++) { sqlite3_value *v = NULL; if (sqlite3_preupdate_old(db, i, &v) != SQLITE_OK) v = NULL; dg_value(v); }
    if (op != SQLITE_DELETE)
        for (i = 0; i < n; i++) { sqlite3_value *v = NULL; if (sqlite3_preupdate_new(db, i, &v) != SQLITE_OK) v = NULL; dg_value(v); }
}

static void sqlreplay_digest_attach(sqlite3 *db) { sqlite3_preupdate_hook(db, dg_hook, NULL); }

static void sqlreplay_digest_start(void)
{
    if (!g_dctx) g_dctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(g_dctx, EVP_sha256(), NULL);
    g_devents = 0;
}

static void sqlreplay_digest_finish(unsigned char out[16])
{
    unsigned char full[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(g_dctx, full, &n);
    if (g_devents == 0) memset(out, 0, 16); else memcpy(out, full, 16);
}
