/* The shim's state: the channel, the counters, libsqlite3's address ranges, the per-thread nesting,
 * the connections and the open-addressing map from statement handles to the shim's statements.
 * The types and the declarations are in sqlite_shim_internal.h; the definitions live here. */
#include "sqlite_shim_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* State                                                                                       */

struct revenant_channel_owner *g_owner;
int g_on; /* the channel records */
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
uint64_t g_next_conn = 1, g_next_stmt = 1;

/* libsqlite3's code, to tell its own calls from the application's */
uintptr_t g_lib_lo, g_lib_hi;
uintptr_t g_exec_lo, g_exec_hi, g_gettable_lo, g_gettable_hi;

TLS int t_depth;              /* inside a real prepare/step/reset/finalize or an internal exec */
TLS int t_exec;               /* inside the application's sqlite3_exec */
TLS int t_gettable;           /* inside the application's sqlite3_get_table */
TLS struct stmt *t_exec_stmt; /* the statement the current application exec prepared last */
TLS int t_bind_inner;         /* a bind_* wrapper ran inside bind_value */

conn *g_conns; /* newest first */

conn *conn_find(sqlite3 *db)
{
    conn *c;
    for (c = g_conns; c; c = c->next)
        if (c->db == db) return c;
    return NULL;
}

/* Open-addressing map: statement handle -> stmt. */
static stmt **g_map;
static size_t g_mapcap, g_mapn;

static inline size_t hptr(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 29;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) & (cap - 1);
}

stmt *map_get(sqlite3_stmt *h)
{
    size_t i;
    if (!g_mapn) return NULL;
    for (i = hptr(h, g_mapcap);; i = (i + 1) & (g_mapcap - 1)) {
        stmt *s = g_map[i];
        if (!s) return NULL;
        if (s->h == h) return s;
    }
}

void map_put(stmt *st)
{
    size_t i;
    if ((g_mapn + 1) * 2 > g_mapcap) {
        size_t nc = g_mapcap ? g_mapcap * 2 : 256, j;
        stmt **nm = calloc(nc, sizeof *nm);
        if (!nm) return;
        for (j = 0; j < g_mapcap; j++)
            if (g_map[j]) {
                for (i = hptr(g_map[j]->h, nc); nm[i]; i = (i + 1) & (nc - 1))
                    ;
                nm[i] = g_map[j];
            }
        free(g_map);
        g_map = nm;
        g_mapcap = nc;
    }
    for (i = hptr(st->h, g_mapcap); g_map[i]; i = (i + 1) & (g_mapcap - 1))
        ;
    g_map[i] = st;
    g_mapn++;
}

void map_del(sqlite3_stmt *h)
{
    size_t i, j;
    if (!g_mapn) return;
    for (i = hptr(h, g_mapcap);; i = (i + 1) & (g_mapcap - 1)) {
        if (!g_map[i]) return;
        if (g_map[i]->h == h) break;
    }
    g_map[i] = NULL;
    g_mapn--;
    /* backward-shift deletion */
    for (j = (i + 1) & (g_mapcap - 1); g_map[j]; j = (j + 1) & (g_mapcap - 1)) {
        size_t k = hptr(g_map[j]->h, g_mapcap);
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            g_map[i] = g_map[j];
            g_map[j] = NULL;
            i = j;
        }
    }
}

void stmt_free(stmt *st)
{
    int i;
    for (i = 0; i < st->nparam; i++) free(st->b[i].p);
    free(st->b);
    free(st);
}
