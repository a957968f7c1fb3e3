/* The row-change digest of a re-executed statement (GuestAgents/include/revenant_row_digest.h,
 * the SQLite shim's own implementation): the SHA-256 the shims use (GuestAgents/channel/sha256.c)
 * and the linked libsqlite3. Included by sqlreplay.c only. */
#include "revenant_sha256.h"

typedef revenant_sha256 rd_hash;
#define RD_UPDATE(hash, p, n) revenant_sha256_update((hash), (p), (n))
#define RD_VALUE_TYPE sqlite3_value_type
#define RD_VALUE_INT64 sqlite3_value_int64
#define RD_VALUE_DOUBLE sqlite3_value_double
#define RD_VALUE_TEXT sqlite3_value_text
#define RD_VALUE_BLOB sqlite3_value_blob
#define RD_VALUE_BYTES sqlite3_value_bytes
#define RD_PREUPDATE_COUNT sqlite3_preupdate_count
#define RD_PREUPDATE_OLD sqlite3_preupdate_old
#define RD_PREUPDATE_NEW sqlite3_preupdate_new
#include "revenant_row_digest.h"

static revenant_sha256 g_dctx_state;
static revenant_sha256 *g_dctx;
static int g_devents;

static void dg_hook(void *ctx, sqlite3 *db, int op, const char *schema, const char *table, sqlite3_int64 k1,
                    sqlite3_int64 k2)
{
    (void)ctx;
    if (!g_dctx) return;
    g_devents++;
    rd_event(g_dctx, db, op, schema, table, k1, k2);
}

static void sqlreplay_digest_attach(sqlite3 *db) { sqlite3_preupdate_hook(db, dg_hook, NULL); }

static void sqlreplay_digest_start(void)
{
    g_dctx = &g_dctx_state;
    revenant_sha256_init(g_dctx);
    g_devents = 0;
}

static void sqlreplay_digest_finish(unsigned char out[16])
{
    unsigned char full[32];
    revenant_sha256_final(g_dctx, full);
    if (g_devents == 0)
        memset(out, 0, 16);
    else
        memcpy(out, full, 16);
}
