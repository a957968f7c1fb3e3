/* The row-change digest, computed exactly as the SQLite shim does (Shims/sqlite): SHA-256 over
 * each pre-update event of one execution, truncated to 16 bytes. Included by sqlreplay.c only. */
#include <openssl/evp.h>

static EVP_MD_CTX *g_dctx;
static int g_devents;

static void dg_bytes(const void *p, size_t n) { EVP_DigestUpdate(g_dctx, p, n); }

static void dg_u64(uint64_t v)
{
    unsigned char b[10];
    int n = 0;
    while (v >= 0x80) { b[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    b[n++] = (unsigned char)v;
    dg_bytes(b, (size_t)n);
}

static void dg_str(const char *s) { size_t n = s ? strlen(s) : 0; dg_u64(n); if (n) dg_bytes(s, n); }

static void dg_value(sqlite3_value *v)
{
    unsigned char t = v ? (unsigned char)sqlite3_value_type(v) : 0;
    dg_bytes(&t, 1);
    if (!v) return;
    switch (t) {
    case SQLITE_INTEGER: { sqlite3_int64 i = sqlite3_value_int64(v); dg_bytes(&i, 8); break; }
    case SQLITE_FLOAT: { double d = sqlite3_value_double(v); dg_bytes(&d, 8); break; }
    case SQLITE_TEXT: case SQLITE_BLOB: {
        int n = sqlite3_value_bytes(v);
        const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_value_text(v) : sqlite3_value_blob(v);
        dg_u64((uint64_t)n);
        if (n > 0) dg_bytes(p, (size_t)n);
        break;
    }
    default: break;
    }
}

static void dg_hook(void *ctx, sqlite3 *db, int op, const char *schema, const char *table, sqlite3_int64 oldRowid, sqlite3_int64 newRowid)
{
    int i, n = sqlite3_preupdate_count(db);
    unsigned char o = (unsigned char)op;
    (void)ctx;
    if (!g_dctx) return;
    g_devents++;
    dg_bytes(&o, 1);
    dg_str(schema);
    dg_str(table);
    dg_bytes(&oldRowid, 8);
    dg_bytes(&newRowid, 8);
    for (i = 0; i < n; i++) {
        sqlite3_value *v = NULL;
        if (op != SQLITE_INSERT) { sqlite3_preupdate_old(db, i, &v); dg_value(v); }
        if (op != SQLITE_DELETE) { v = NULL; sqlite3_preupdate_new(db, i, &v); dg_value(v); }
    }
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
