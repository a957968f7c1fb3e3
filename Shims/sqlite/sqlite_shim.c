/* librevenant_sqlite.so — the SQLite shim (LD_PRELOAD). Docs/channel-format.md, "SQLite records".
 *
 * Preloaded into every process of a recording (perl too), so it never links libsqlite3: the real
 * functions are found lazily (dlsym RTLD_NEXT, else the already-loaded libsqlite3.so.0 when it was
 * loaded RTLD_LOCAL, as DBD::SQLite does). Nothing is registered before the program's own
 * sqlite3_initialize (registering earlier breaks the CLI's sqlite3_config calls); right after the
 * real one returns, a VFS wrapper becomes the default (xRandomness → SQL_SEED, clock → SQL_CLOCK)
 * and an auto-extension hooks every new connection: pre-update hook (digest of row changes),
 * authorizer (tables read/written at prepare), trace_v2 STMT (trigger entries), random() and
 * randomblob() overrides that log their output. The application's trace/profile/authorizer/
 * pre-update callbacks are kept per connection and chained. Statement executions are seen by
 * wrapping prepare/bind/step/reset/finalize (libsqlite3 calls its own exported functions through
 * the PLT, so sqlite3_exec goes through them too); statements SQLite prepares for itself (schema
 * loading, VACUUM, FTS shadow tables…) are recognised by the caller's address and nesting and are
 * not logged.
 *
 * With the channel off every wrapper is a plain pass-through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revenant_encode.h"

#define SQLITE_ENABLE_PREUPDATE_HOOK 1  /* declares the pre-update API (Debian builds it in) */
#include <sqlite3.h>

#include "revenant_channel.h"
#include "revenant_channel_owner.h"
#include "revenant_sha256.h"

#define API __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

extern char **environ;

/* ------------------------------------------------------------------------------------------ */
/* The real functions                                                                          */

static void *resolve(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        void *h = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY);
        if (h) {
            p = dlsym(h, name);
            dlclose(h);
        }
    }
    return p;
}

#define REAL(name) static __typeof__(name) *real_##name
#define R(name) (LIKELY(real_##name != NULL) ? real_##name : (real_##name = (__typeof__(name) *)resolve(#name)))

REAL(sqlite3_initialize); REAL(sqlite3_shutdown); REAL(sqlite3_auto_extension);
REAL(sqlite3_reset_auto_extension); REAL(sqlite3_vfs_find); REAL(sqlite3_vfs_register);
REAL(sqlite3_open); REAL(sqlite3_open16); REAL(sqlite3_open_v2); REAL(sqlite3_close);
REAL(sqlite3_close_v2); REAL(sqlite3_db_filename);
REAL(sqlite3_prepare); REAL(sqlite3_prepare_v2); REAL(sqlite3_prepare_v3);
REAL(sqlite3_prepare16); REAL(sqlite3_prepare16_v2); REAL(sqlite3_prepare16_v3);
REAL(sqlite3_exec); REAL(sqlite3_get_table);
REAL(sqlite3_step); REAL(sqlite3_reset); REAL(sqlite3_finalize); REAL(sqlite3_sql);
  REAL(sqlite3_changes64); REAL(sqlite3_extended_errcode);
REAL(sqlite3_bind_parameter_count); REAL(sqlite3_expanded_sql); REAL(sqlite3_free);
REAL(sqlite3_malloc64); REAL(sqlite3_limit); REAL(sqlite3_context_db_handle);
REAL(sqlite3_bind_blob); REAL(sqlite3_bind_blob64); REAL(sqlite3_bind_double);
REAL(sqlite3_bind_int); REAL(sqlite3_bind_int64); REAL(sqlite3_bind_null);
REAL(sqlite3_bind_text); REAL(sqlite3_bind_text16); REAL(sqlite3_bind_text64);
REAL(sqlite3_bind_value); REAL(sqlite3_bind_pointer); REAL(sqlite3_bind_zeroblob);
REAL(sqlite3_bind_zeroblob64); REAL(sqlite3_clear_bindings);
REAL(sqlite3_value_type); REAL(sqlite3_value_int64); REAL(sqlite3_value_double);
REAL(sqlite3_value_text); REAL(sqlite3_value_blob); REAL(sqlite3_value_bytes);
REAL(sqlite3_randomness); REAL(sqlite3_result_int64); REAL(sqlite3_result_blob);
REAL(sqlite3_result_error_toobig); REAL(sqlite3_result_error_nomem);
REAL(sqlite3_trace_v2); REAL(sqlite3_set_authorizer); REAL(sqlite3_preupdate_hook);
REAL(sqlite3_preupdate_old); REAL(sqlite3_preupdate_new); REAL(sqlite3_preupdate_count);
REAL(sqlite3_create_function); REAL(sqlite3_create_function16); REAL(sqlite3_create_function_v2);
REAL(sqlite3_create_window_function); REAL(sqlite3_create_collation);
REAL(sqlite3_create_collation16); REAL(sqlite3_create_collation_v2);
REAL(sqlite3_blob_open); REAL(sqlite3_blob_close); REAL(sqlite3_blob_write);
REAL(sqlite3_backup_init); REAL(sqlite3_backup_step); REAL(sqlite3_backup_finish);
REAL(sqlite3_deserialize); REAL(sqlite3_load_extension); REAL(sqlite3_enable_load_extension);

/* Legacy (deprecated) API, declared by hand so that no deprecation attribute gets in the way. */
typedef void *(*trace_fn)(sqlite3 *, void (*)(void *, const char *), void *);
typedef void *(*profile_fn)(sqlite3 *, void (*)(void *, const char *, sqlite3_uint64), void *);
static trace_fn real_trace;
static profile_fn real_profile;

/* ------------------------------------------------------------------------------------------ */
/* State                                                                                       */

static struct revenant_channel_owner *g_owner;
static int g_on;                     /* the channel records */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_next_conn = 1, g_next_stmt = 1;

/* libsqlite3's code, to tell its own calls from the application's */
static uintptr_t g_lib_lo, g_lib_hi;
static uintptr_t g_exec_lo, g_exec_hi, g_gettable_lo, g_gettable_hi;

static TLS int t_depth;              /* inside a real prepare/step/reset/finalize or an internal exec */
static TLS int t_exec;               /* inside the application's sqlite3_exec */
static TLS int t_gettable;           /* inside the application's sqlite3_get_table */
static TLS struct stmt *t_exec_stmt; /* the statement the current application exec prepared last */
static TLS int t_bind_inner;         /* a bind_* wrapper ran inside bind_value */

#define SHIM_TRACE_LEGACY 0x40
#define SHIM_TRACE_XPROFILE 0x80

typedef struct conn {
    sqlite3 *db;
    uint64_t id;                      /* 0 until SQL_CONN is written */
    struct stmt *cur;                 /* the logged execution inside sqlite3_step */
    int hooked;                       /* our callbacks are installed */
    /* tables collected by the authorizer during one application prepare */
    int collecting, coll_dml;
    int nread, nwrite, cap_read, cap_write;
    char **read, **write;
    /* the application's callbacks, as SQLite itself would hold them */
    unsigned app_mtrace;
    void *app_trace_fn;               /* xV2 or xLegacy (one slot, as in SQLite) */
    void *app_trace_arg;
    void (*app_prof)(void *, const char *, sqlite3_uint64);
    void *app_prof_arg;
    int (*app_auth)(void *, int, const char *, const char *, const char *, const char *);
    void *app_auth_arg;
    void (*app_pre)(void *, sqlite3 *, int, const char *, const char *, sqlite3_int64, sqlite3_int64);
    void *app_pre_arg;
    struct conn *next;
} conn;

typedef struct bval {
    uint8_t tag;                      /* REVENANT_VAL_UNDEF / INT / DOUBLE / STRING / BLOB / ZEROBLOB */
    int64_t i;                        /* INT; ZEROBLOB size */
    double d;
    char *p;                          /* STRING / BLOB bytes */
    size_t n, cap;
} bval;

typedef struct stmt {
    sqlite3_stmt *h;
    conn *c;
    uint64_t id;
    int nparam;
    bval *b;
    int running, dml;
    uint64_t rows;
    int nev;
    revenant_sha256 sha;
} stmt;

static conn *g_conns;                /* newest first */

static conn *conn_find(sqlite3 *db)
{
    conn *c;
    for (c = g_conns; c; c = c->next) if (c->db == db) return c;
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

static stmt *map_get(sqlite3_stmt *h)
{
    size_t i;
    if (!g_mapn) return NULL;
    for (i = hptr(h, g_mapcap);; i = (i + 1) & (g_mapcap - 1)) {
        stmt *s = g_map[i];
        if (!s) return NULL;
        if (s->h == h) return s;
    }
}

static void map_put(stmt *st)
{
    size_t i;
    if ((g_mapn + 1) * 2 > g_mapcap) {
        size_t nc = g_mapcap ? g_mapcap * 2 : 256, j;
        stmt **nm = calloc(nc, sizeof *nm);
        if (!nm) return;
        for (j = 0; j < g_mapcap; j++) if (g_map[j]) {
            for (i = hptr(g_map[j]->h, nc); nm[i]; i = (i + 1) & (nc - 1)) ;
            nm[i] = g_map[j];
        }
        free(g_map);
        g_map = nm;
        g_mapcap = nc;
    }
    for (i = hptr(st->h, g_mapcap); g_map[i]; i = (i + 1) & (g_mapcap - 1)) ;
    g_map[i] = st;
    g_mapn++;
}

static void map_del(sqlite3_stmt *h)
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

static inline stmt *lookup(sqlite3_stmt *h)
{
    stmt *s;
    pthread_mutex_lock(&g_lock);
    s = map_get(h);
    pthread_mutex_unlock(&g_lock);
    return s;
}

static void stmt_free(stmt *st)
{
    int i;
    for (i = 0; i < st->nparam; i++) free(st->b[i].p);
    free(st->b);
    free(st);
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                    */

static inline uint8_t *u64put(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static size_t bval_size(const bval *v)
{
    switch (v->tag) {
    case REVENANT_VAL_INT: return 1 + usize(zz(v->i));
    case REVENANT_VAL_DOUBLE: return 9;
    case REVENANT_VAL_STRING: case REVENANT_VAL_BLOB: return 1 + strsize(v->n);
    case REVENANT_VAL_ZEROBLOB: return 1 + usize((uint64_t)v->i);
    default: return 1;
    }
}

static uint8_t *bval_put(uint8_t *p, const bval *v)
{
    uint64_t bits;
    *p++ = v->tag;
    switch (v->tag) {
    case REVENANT_VAL_INT: return uput(p, zz(v->i));
    case REVENANT_VAL_DOUBLE: memcpy(&bits, &v->d, 8); return u64put(p, bits);
    case REVENANT_VAL_STRING: case REVENANT_VAL_BLOB: return strput(p, v->p, v->n);
    case REVENANT_VAL_ZEROBLOB: return uput(p, (uint64_t)v->i);
    default: return p;
    }
}

/* Records are written under g_lock: reserve, fill, commit. */
#define EMIT_BEGIN(sz) do { size_t sz_ = (sz); uint8_t *p_, *q; pthread_mutex_lock(&g_lock); \
    p_ = g_owner->reserve(sz_); q = p_; if (p_) {
#define EMIT_END() g_owner->commit(sz_); } pthread_mutex_unlock(&g_lock); } while (0)

static void emit_conn(conn *c)
{
    const char *f = R(sqlite3_db_filename) ? real_sqlite3_db_filename(c->db, "main") : NULL;
    size_t fl = f ? strlen(f) : 0;
    pthread_mutex_lock(&g_lock);
    if (!c->id) c->id = g_next_conn++;
    pthread_mutex_unlock(&g_lock);
    EMIT_BEGIN(1 + usize(c->id) + strsize(fl));
    *q++ = REVENANT_REC_SQL_CONN; q = uput(q, c->id); q = strput(q, f, fl);
    EMIT_END();
}

static inline uint64_t conn_id(conn *c)
{
    if (c && !c->id) emit_conn(c);
    return c ? c->id : 0;
}

static void emit_flag(conn *c, int kind, const char *detail, size_t dl)
{
    uint64_t id = conn_id(c);
    EMIT_BEGIN(1 + usize(id) + 1 + strsize(dl));
    *q++ = REVENANT_REC_SQL_FLAG; q = uput(q, id); *q++ = (uint8_t)kind; q = strput(q, detail, dl);
    EMIT_END();
}

/* ------------------------------------------------------------------------------------------ */
/* Where a call comes from                                                                     */

struct range_find { uintptr_t addr, lo, hi; };

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct range_find *rf = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    int i, hit = 0;
    (void)size;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t a, b;
        if (ph->p_type != PT_LOAD) continue;
        a = info->dlpi_addr + ph->p_vaddr;
        b = a + ph->p_memsz;
        if (a < lo) lo = a;
        if (b > hi) hi = b;
        if (rf->addr >= a && rf->addr < b) hit = 1;
    }
    if (hit) { rf->lo = lo; rf->hi = hi; return 1; }
    return 0;
}

static void body_range(void *fn, uintptr_t *lo, uintptr_t *hi)
{
    Dl_info info;
    ElfW(Sym) *sym = NULL;
    if (fn && dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
        *lo = (uintptr_t)fn;
        *hi = (uintptr_t)fn + sym->st_size;
    }
}

static void find_lib(void)
{
    struct range_find rf;
    if (g_lib_hi || !R(sqlite3_initialize)) return;
    rf.addr = (uintptr_t)real_sqlite3_initialize;
    rf.lo = rf.hi = 0;
    dl_iterate_phdr(phdr_cb, &rf);
    body_range((void *)R(sqlite3_exec), &g_exec_lo, &g_exec_hi);
    body_range((void *)R(sqlite3_get_table), &g_gettable_lo, &g_gettable_hi);
    g_lib_lo = rf.lo;
    g_lib_hi = rf.hi;
}

static inline int in_lib(void *ra) { return (uintptr_t)ra >= g_lib_lo && (uintptr_t)ra < g_lib_hi; }
static inline int in_exec(void *ra) { return (uintptr_t)ra >= g_exec_lo && (uintptr_t)ra < g_exec_hi; }
static inline int in_gettable(void *ra) { return (uintptr_t)ra >= g_gettable_lo && (uintptr_t)ra < g_gettable_hi; }

/* ------------------------------------------------------------------------------------------ */
/* The VFS wrapper                                                                             */

static sqlite3_vfs g_vfs;
static sqlite3_vfs *g_rvfs;

static int v_open(sqlite3_vfs *v, const char *z, sqlite3_file *f, int fl, int *o)
{ (void)v; return g_rvfs->xOpen(g_rvfs, z, f, fl, o); }
static int v_delete(sqlite3_vfs *v, const char *z, int sync) { (void)v; return g_rvfs->xDelete(g_rvfs, z, sync); }
static int v_access(sqlite3_vfs *v, const char *z, int fl, int *o) { (void)v; return g_rvfs->xAccess(g_rvfs, z, fl, o); }
static int v_fullpath(sqlite3_vfs *v, const char *z, int n, char *o) { (void)v; return g_rvfs->xFullPathname(g_rvfs, z, n, o); }
static void *v_dlopen(sqlite3_vfs *v, const char *z) { (void)v; return g_rvfs->xDlOpen(g_rvfs, z); }
static void v_dlerror(sqlite3_vfs *v, int n, char *z) { (void)v; g_rvfs->xDlError(g_rvfs, n, z); }
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *z))(void) { (void)v; return g_rvfs->xDlSym(g_rvfs, h, z); }
static void v_dlclose(sqlite3_vfs *v, void *h) { (void)v; g_rvfs->xDlClose(g_rvfs, h); }
static int v_sleep(sqlite3_vfs *v, int us) { (void)v; return g_rvfs->xSleep(g_rvfs, us); }
static int v_lasterror(sqlite3_vfs *v, int n, char *z) { (void)v; return g_rvfs->xGetLastError(g_rvfs, n, z); }
static int v_setsys(sqlite3_vfs *v, const char *z, sqlite3_syscall_ptr p) { (void)v; return g_rvfs->xSetSystemCall(g_rvfs, z, p); }
static sqlite3_syscall_ptr v_getsys(sqlite3_vfs *v, const char *z) { (void)v; return g_rvfs->xGetSystemCall(g_rvfs, z); }
static const char *v_nextsys(sqlite3_vfs *v, const char *z) { (void)v; return g_rvfs->xNextSystemCall(g_rvfs, z); }

static int v_randomness(sqlite3_vfs *v, int n, char *out)
{
    int r = g_rvfs->xRandomness(g_rvfs, n, out), e = errno;
    size_t len = n > 0 ? (size_t)n : 0;
    (void)v;
    EMIT_BEGIN(1 + usize(len) + strsize(len));
    *q++ = REVENANT_REC_SQL_SEED; q = uput(q, len); q = strput(q, out, len);
    EMIT_END();
    errno = e;
    return r;
}

static void emit_clock(int64_t t)
{
    EMIT_BEGIN(1 + usize(zz(t)));
    *q++ = REVENANT_REC_SQL_CLOCK; q = uput(q, zz(t));
    EMIT_END();
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
    int r = g_rvfs->xCurrentTimeInt64(g_rvfs, t), e = errno;
    (void)v;
    emit_clock(*t);
    errno = e;
    return r;
}

static int v_time(sqlite3_vfs *v, double *t)
{
    int r = g_rvfs->xCurrentTime(g_rvfs, t), e = errno;
    double ms = *t * 86400000.0;
    (void)v;
    emit_clock((int64_t)(ms < 0 ? ms - 0.5 : ms + 0.5));
    errno = e;
    return r;
}

static void install_vfs(void)
{
    sqlite3_vfs *d = R(sqlite3_vfs_find) ? real_sqlite3_vfs_find(NULL) : NULL;
    if (!d || d == &g_vfs || !R(sqlite3_vfs_register)) return;
    g_rvfs = d;
    memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = d->iVersion;
    g_vfs.szOsFile = d->szOsFile;
    g_vfs.mxPathname = d->mxPathname;
    g_vfs.zName = d->zName;           /* the same name: URIs naming it get the wrapper */
    g_vfs.pAppData = d->pAppData;
    g_vfs.xOpen = (__typeof__(g_vfs.xOpen))v_open;
    g_vfs.xDelete = v_delete;
    g_vfs.xAccess = v_access;
    g_vfs.xFullPathname = v_fullpath;
    g_vfs.xDlOpen = d->xDlOpen ? v_dlopen : NULL;
    g_vfs.xDlError = d->xDlError ? v_dlerror : NULL;
    g_vfs.xDlSym = d->xDlSym ? v_dlsym : NULL;
    g_vfs.xDlClose = d->xDlClose ? v_dlclose : NULL;
    g_vfs.xRandomness = v_randomness;
    g_vfs.xSleep = v_sleep;
    g_vfs.xCurrentTime = v_time;
    g_vfs.xGetLastError = d->xGetLastError ? v_lasterror : NULL;
    if (d->iVersion >= 2) g_vfs.xCurrentTimeInt64 = d->xCurrentTimeInt64 ? v_time64 : NULL;
    if (d->iVersion >= 3) {
        g_vfs.xSetSystemCall = d->xSetSystemCall ? v_setsys : NULL;
        g_vfs.xGetSystemCall = d->xGetSystemCall ? v_getsys : NULL;
        g_vfs.xNextSystemCall = d->xNextSystemCall ? v_nextsys : NULL;
    }
    if (real_sqlite3_vfs_register(&g_vfs, 1) != SQLITE_OK) g_rvfs = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Per-connection callbacks                                                                    */

/* random() and randomblob() exactly as SQLite's builtins compute them (func.c), logged. */
static void emit_random(const void *p, size_t n)
{
    EMIT_BEGIN(1 + strsize(n));
    *q++ = REVENANT_REC_SQL_RANDOM; q = strput(q, p, n);
    EMIT_END();
}

static void fn_random(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_int64 r;
    uint8_t b[8];
    int e = errno;
    (void)argc; (void)argv;
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
    for (i = 0; i < *np; i++) if (strcmp((*arr)[i], buf) == 0) return;
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

static void coll_clear(conn *c)
{
    int i;
    for (i = 0; i < c->nread; i++) free(c->read[i]);
    for (i = 0; i < c->nwrite; i++) free(c->write[i]);
    c->nread = c->nwrite = 0;
    c->coll_dml = 0;
}

static int cb_auth(void *ctx, int code, const char *a1, const char *a2, const char *a3, const char *a4)
{
    conn *c = ctx;
    if (c->collecting) {
        int e = errno;
        switch (code) {
        case SQLITE_READ: coll_add(c, 0, a3, a1); break;
        case SQLITE_INSERT: case SQLITE_UPDATE: case SQLITE_DELETE:
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

static void cb_preupdate(void *ctx, sqlite3 *db, int op, const char *zdb, const char *ztab,
                         sqlite3_int64 k1, sqlite3_int64 k2)
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
            *q++ = REVENANT_REC_SQL_TRIGGER; q = uput(q, id); q = strput(q, z, n);
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
static void apply_trace(conn *c)
{
    unsigned m = SQLITE_TRACE_STMT;
    if (!(c->app_mtrace & SHIM_TRACE_LEGACY)) m |= c->app_mtrace & 0x0f;
    if (c->app_mtrace & SHIM_TRACE_XPROFILE) m |= SQLITE_TRACE_PROFILE;
    real_sqlite3_trace_v2(c->db, m, cb_trace, c);
}

static int hook_conn(sqlite3 *db, char **err, const struct sqlite3_api_routines *api)
{
    conn *c;
    int e = errno;
    (void)err; (void)api;
    c = calloc(1, sizeof *c);
    if (!c) return SQLITE_OK;
    c->db = db;
    pthread_mutex_lock(&g_lock);
    c->next = g_conns;
    g_conns = c;
    pthread_mutex_unlock(&g_lock);
    if (R(sqlite3_trace_v2) && R(sqlite3_set_authorizer) && R(sqlite3_preupdate_hook) &&
        R(sqlite3_create_function_v2) && R(sqlite3_sql) && R(sqlite3_expanded_sql) && R(sqlite3_free) &&
        R(sqlite3_preupdate_old) && R(sqlite3_preupdate_new) && R(sqlite3_preupdate_count) &&
        R(sqlite3_value_type) && R(sqlite3_value_int64) && R(sqlite3_value_double) &&
        R(sqlite3_value_text) && R(sqlite3_value_blob) && R(sqlite3_value_bytes) &&
        R(sqlite3_randomness) && R(sqlite3_result_int64) && R(sqlite3_result_blob) &&
        R(sqlite3_result_error_toobig) && R(sqlite3_result_error_nomem) && R(sqlite3_limit) &&
        R(sqlite3_context_db_handle) && R(sqlite3_malloc64)) {
        c->hooked = 1;
        real_sqlite3_preupdate_hook(db, cb_preupdate, c);
        real_sqlite3_set_authorizer(db, cb_auth, c);
        apply_trace(c);
        real_sqlite3_create_function_v2(db, "random", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL,
                                        fn_random, NULL, NULL, NULL);
        real_sqlite3_create_function_v2(db, "randomblob", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL,
                                        fn_randomblob, NULL, NULL, NULL);
    }
    errno = e;
    return SQLITE_OK;
}

static conn *conn_get(sqlite3 *db)
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

/* ------------------------------------------------------------------------------------------ */
/* Initialisation                                                                              */

static pthread_mutex_t g_reg_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int g_registered, g_registering;
static TLS int t_init_depth;

API int sqlite3_initialize(void)
{
    int rc;
    if (!R(sqlite3_initialize)) return SQLITE_ERROR;
    t_init_depth++;
    rc = real_sqlite3_initialize();
    t_init_depth--;
    /* the real one re-enters itself (sqlite3_malloc…) and the inner calls return while the outer
     * one is still working: register only when the outermost returns */
    if (!g_on || rc != SQLITE_OK || g_registered || t_init_depth) return rc;
    {
        int e = errno;
        pthread_mutex_lock(&g_reg_lock);
        if (!g_registered && !g_registering) {
            g_registering = 1;       /* vfs_find, vfs_register, auto_extension re-enter us */
            find_lib();
            install_vfs();
            if (R(sqlite3_auto_extension)) real_sqlite3_auto_extension((void (*)(void))hook_conn);
            g_registered = 1;
            g_registering = 0;
        }
        pthread_mutex_unlock(&g_reg_lock);
        errno = e;
    }
    return rc;
}

API int sqlite3_shutdown(void)
{
    int rc;
    if (!R(sqlite3_shutdown)) return SQLITE_ERROR;
    rc = real_sqlite3_shutdown();
    if (g_on && rc == SQLITE_OK) g_registered = 0;   /* auto-extensions are gone: register again */
    return rc;
}

API void sqlite3_reset_auto_extension(void)
{
    if (!R(sqlite3_reset_auto_extension)) return;
    real_sqlite3_reset_auto_extension();
    if (g_on && g_registered && R(sqlite3_auto_extension)) {
        int e = errno;
        real_sqlite3_auto_extension((void (*)(void))hook_conn);
        errno = e;
    }
}

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
        if (c->db == db) { *pp = c->next; break; }
    pthread_mutex_unlock(&g_lock);
    /* the struct stays allocated: a zombie connection's statements may still refer to it */
    if (c && c->id) {
        EMIT_BEGIN(1 + usize(c->id));
        *q++ = REVENANT_REC_SQL_CLOSE; q = uput(q, c->id);
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
    *q++ = REVENANT_REC_SQL_DONE; q = uput(q, st->id); q = uput(q, (uint64_t)rc); q = uput(q, st->rows);
    q = uput(q, zz(ch)); memcpy(q, dg, 16);
    EMIT_END();
    st->running = 0;
}

static void emit_exec(stmt *st)
{
    size_t sz = 1 + usize(st->id) + usize((uint64_t)st->nparam);
    int i;
    for (i = 0; i < st->nparam; i++) sz += bval_size(&st->b[i]);
    EMIT_BEGIN(sz);
    *q++ = REVENANT_REC_SQL_EXEC; q = uput(q, st->id); q = uput(q, (uint64_t)st->nparam);
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
        if (!st->b) { free(st); return; }
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
    *q++ = REVENANT_REC_SQL_PREPARE; q = uput(q, st->id); q = uput(q, c->id); q = strput(q, sql, sl);
    q = uput(q, (uint64_t)c->nread);
    for (i = 0; i < c->nread; i++) q = strput(q, c->read[i], strlen(c->read[i]));
    q = uput(q, (uint64_t)c->nwrite);
    for (i = 0; i < c->nwrite; i++) q = strput(q, c->write[i], strlen(c->write[i]));
    EMIT_END();
}

enum { P_V1, P_V2, P_V3, P_16V1, P_16V2, P_16V3 };

static int call_prepare(int kind, sqlite3 *db, const void *sql, int n, unsigned fl, sqlite3_stmt **pp, const void **tail)
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

static int prep(int kind, sqlite3 *db, const void *sql, int n, unsigned fl, sqlite3_stmt **pp, const void **tail, void *ra)
{
    int rc, e, via_exec = 0, app;
    conn *c = NULL;
    int unhook = 0;
    app = t_depth == 0 && (!in_lib(ra) || (via_exec = (t_exec && in_exec(ra))));
    if (app) {
        if (via_exec) exec_stmt_gone();   /* its previous statement was finalized inside exec */
        e = errno;
        c = conn_get(db);
        if (c) {
            coll_clear(c);
            c->collecting = 1;
            /* a pre-update hook disables the truncate optimisation at code generation: generate
             * code as the application's own settings would, the hook is back for execution */
            if (c->hooked && !c->app_pre) { real_sqlite3_preupdate_hook(db, NULL, NULL); unhook = 1; }
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
        if (c) prepared(c, *pp, via_exec);
        else forget_stale(*pp);
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
{ PREP(P_V1, sqlite3_prepare, db, sql, n, pp, tail); }
API int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp, const char **tail)
{ PREP(P_V2, sqlite3_prepare_v2, db, sql, n, pp, tail); }
API int sqlite3_prepare16(sqlite3 *db, const void *sql, int n, sqlite3_stmt **pp, const void **tail)
{ PREP(P_16V1, sqlite3_prepare16, db, sql, n, pp, tail); }
API int sqlite3_prepare16_v2(sqlite3 *db, const void *sql, int n, sqlite3_stmt **pp, const void **tail)
{ PREP(P_16V2, sqlite3_prepare16_v2, db, sql, n, pp, tail); }
#undef FL
#define FL fl
API int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned int fl, sqlite3_stmt **pp, const char **tail)
{ PREP(P_V3, sqlite3_prepare_v3, db, sql, n, fl, pp, tail); }
API int sqlite3_prepare16_v3(sqlite3 *db, const void *sql, int n, unsigned int fl, sqlite3_stmt **pp, const void **tail)
{ PREP(P_16V3, sqlite3_prepare16_v3, db, sql, n, fl, pp, tail); }
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
    if (st && st->running) { prev = st->c->cur; st->c->cur = st; }
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
        if (st->running) { prev = st->c->cur; st->c->cur = st; }
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

/* ------------------------------------------------------------------------------------------ */
/* Bindings: a typed, exact copy per statement                                                 */

static bval *slot(sqlite3_stmt *h, int i)
{
    stmt *st = lookup(h);
    if (!st || i < 1 || i > st->nparam) return NULL;
    return &st->b[i - 1];
}

static void set_bytes(bval *v, int tag, const void *p, size_t n)
{
    if (n > v->cap) {
        char *np = realloc(v->p, n);
        if (!np) { v->tag = REVENANT_VAL_UNDEF; return; }
        v->p = np;
        v->cap = n;
    }
    if (n) memcpy(v->p, p, n);
    v->n = n;
    v->tag = (uint8_t)tag;
}

/* UTF-16 (native, LE or BE) text to UTF-8, as SQLite would store it in a UTF-8 database. */
static void set_utf16(bval *v, const void *p, size_t nbytes, int enc)
{
    const uint8_t *s = p;
    size_t i, n = nbytes / 2, o = 0;
    int be = enc == SQLITE_UTF16BE;
    uint8_t *out;
    if (enc == SQLITE_UTF16 || enc == SQLITE_UTF16_ALIGNED) {
        uint16_t probe = 1;
        be = *(uint8_t *)&probe == 0;
        if (n && ((s[0] == 0xff && s[1] == 0xfe) || (s[0] == 0xfe && s[1] == 0xff))) {
            be = s[0] == 0xfe;
            s += 2; n--;
        }
    }
    out = malloc(n * 3 + 1);
    if (!out) { v->tag = REVENANT_VAL_UNDEF; return; }
    for (i = 0; i < n; i++) {
        uint32_t c = be ? (uint32_t)(s[2 * i] << 8 | s[2 * i + 1]) : (uint32_t)(s[2 * i + 1] << 8 | s[2 * i]);
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
            uint32_t d = be ? (uint32_t)(s[2 * i + 2] << 8 | s[2 * i + 3]) : (uint32_t)(s[2 * i + 3] << 8 | s[2 * i + 2]);
            c = 0x10000 + ((c & 0x3ff) << 10) + (d & 0x3ff);
            i++;
        }
        if (c < 0x80) out[o++] = (uint8_t)c;
        else if (c < 0x800) { out[o++] = (uint8_t)(0xc0 | c >> 6); out[o++] = (uint8_t)(0x80 | (c & 0x3f)); }
        else if (c < 0x10000) { out[o++] = (uint8_t)(0xe0 | c >> 12); out[o++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f)); out[o++] = (uint8_t)(0x80 | (c & 0x3f)); }
        else { out[o++] = (uint8_t)(0xf0 | c >> 18); out[o++] = (uint8_t)(0x80 | ((c >> 12) & 0x3f)); out[o++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f)); out[o++] = (uint8_t)(0x80 | (c & 0x3f)); }
    }
    set_bytes(v, REVENANT_VAL_STRING, out, o);
    free(out);
}

static size_t utf16_len(const void *p)
{
    const uint8_t *s = p;
    size_t n = 0;
    while (s[n] || s[n + 1]) n += 2;
    return n;
}

#define BIND_PRE(fn, ...) \
    int rc, e; bval *v; \
    if (!R(fn)) return SQLITE_MISUSE; \
    rc = real_##fn(__VA_ARGS__); \
    if (!g_on || rc != SQLITE_OK) return rc; \
    e = errno; \
    t_bind_inner = 1; \
    if ((v = slot(h, i)) != NULL) {
#define BIND_POST() } errno = e; return rc;

API int sqlite3_bind_null(sqlite3_stmt *h, int i)
{ BIND_PRE(sqlite3_bind_null, h, i) v->tag = REVENANT_VAL_UNDEF; BIND_POST() }
API int sqlite3_bind_int(sqlite3_stmt *h, int i, int x)
{ BIND_PRE(sqlite3_bind_int, h, i, x) v->tag = REVENANT_VAL_INT; v->i = x; BIND_POST() }
API int sqlite3_bind_int64(sqlite3_stmt *h, int i, sqlite3_int64 x)
{ BIND_PRE(sqlite3_bind_int64, h, i, x) v->tag = REVENANT_VAL_INT; v->i = x; BIND_POST() }
API int sqlite3_bind_double(sqlite3_stmt *h, int i, double x)
{ BIND_PRE(sqlite3_bind_double, h, i, x) v->tag = REVENANT_VAL_DOUBLE; v->d = x; BIND_POST() }
API int sqlite3_bind_pointer(sqlite3_stmt *h, int i, void *p, const char *t, void (*d)(void *))
{ BIND_PRE(sqlite3_bind_pointer, h, i, p, t, d) v->tag = REVENANT_VAL_UNDEF; BIND_POST() }
API int sqlite3_bind_zeroblob(sqlite3_stmt *h, int i, int n)
{ BIND_PRE(sqlite3_bind_zeroblob, h, i, n) v->tag = REVENANT_VAL_ZEROBLOB; v->i = n > 0 ? n : 0; BIND_POST() }
API int sqlite3_bind_zeroblob64(sqlite3_stmt *h, int i, sqlite3_uint64 n)
{ BIND_PRE(sqlite3_bind_zeroblob64, h, i, n) v->tag = REVENANT_VAL_ZEROBLOB; v->i = (int64_t)n; BIND_POST() }
API int sqlite3_bind_blob(sqlite3_stmt *h, int i, const void *p, int n, void (*d)(void *))
{ BIND_PRE(sqlite3_bind_blob, h, i, p, n, d)
  if (!p) v->tag = REVENANT_VAL_UNDEF; else set_bytes(v, REVENANT_VAL_BLOB, p, n > 0 ? (size_t)n : 0); BIND_POST() }
API int sqlite3_bind_blob64(sqlite3_stmt *h, int i, const void *p, sqlite3_uint64 n, void (*d)(void *))
{ BIND_PRE(sqlite3_bind_blob64, h, i, p, n, d)
  if (!p) v->tag = REVENANT_VAL_UNDEF; else set_bytes(v, REVENANT_VAL_BLOB, p, (size_t)n); BIND_POST() }
API int sqlite3_bind_text(sqlite3_stmt *h, int i, const char *p, int n, void (*d)(void *))
{ BIND_PRE(sqlite3_bind_text, h, i, p, n, d)
  if (!p) v->tag = REVENANT_VAL_UNDEF; else set_bytes(v, REVENANT_VAL_STRING, p, n < 0 ? strlen(p) : (size_t)n); BIND_POST() }
API int sqlite3_bind_text16(sqlite3_stmt *h, int i, const void *p, int n, void (*d)(void *))
{ BIND_PRE(sqlite3_bind_text16, h, i, p, n, d)
  if (!p) v->tag = REVENANT_VAL_UNDEF; else set_utf16(v, p, n < 0 ? utf16_len(p) : (size_t)n, SQLITE_UTF16); BIND_POST() }
API int sqlite3_bind_text64(sqlite3_stmt *h, int i, const char *p, sqlite3_uint64 n, void (*d)(void *), unsigned char enc)
{ BIND_PRE(sqlite3_bind_text64, h, i, p, n, d, enc)
  if (!p) v->tag = REVENANT_VAL_UNDEF;
  else if (enc == SQLITE_UTF8) set_bytes(v, REVENANT_VAL_STRING, p, (size_t)n);
  else set_utf16(v, p, (size_t)n, enc);
  BIND_POST() }

API int sqlite3_bind_value(sqlite3_stmt *h, int i, const sqlite3_value *val)
{
    int rc, e;
    bval *v;
    if (!R(sqlite3_bind_value)) return SQLITE_MISUSE;
    if (!g_on) return real_sqlite3_bind_value(h, i, val);
    t_bind_inner = 0;
    rc = real_sqlite3_bind_value(h, i, val);   /* calls bind_int64/double/text/blob/zeroblob itself */
    if (rc != SQLITE_OK || t_bind_inner) return rc;
    e = errno;
    if ((v = slot(h, i)) != NULL) {
        sqlite3_value *x = (sqlite3_value *)val;
        switch (real_sqlite3_value_type(x)) {
        case SQLITE_INTEGER: v->tag = REVENANT_VAL_INT; v->i = real_sqlite3_value_int64(x); break;
        case SQLITE_FLOAT: v->tag = REVENANT_VAL_DOUBLE; v->d = real_sqlite3_value_double(x); break;
        case SQLITE_TEXT: {
            const unsigned char *s = real_sqlite3_value_text(x);
            set_bytes(v, REVENANT_VAL_STRING, s, s ? (size_t)real_sqlite3_value_bytes(x) : 0);
            break;
        }
        case SQLITE_BLOB: {
            const void *s = real_sqlite3_value_blob(x);
            set_bytes(v, REVENANT_VAL_BLOB, s, s ? (size_t)real_sqlite3_value_bytes(x) : 0);
            break;
        }
        default: v->tag = REVENANT_VAL_UNDEF;
        }
    }
    errno = e;
    return rc;
}

API int sqlite3_clear_bindings(sqlite3_stmt *h)
{
    int rc, e, i;
    stmt *st;
    if (!R(sqlite3_clear_bindings)) return SQLITE_MISUSE;
    rc = real_sqlite3_clear_bindings(h);
    if (!g_on) return rc;
    e = errno;
    if ((st = lookup(h)) != NULL)
        for (i = 0; i < st->nparam; i++) st->b[i].tag = REVENANT_VAL_UNDEF;
    errno = e;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The application's callbacks, chained                                                        */

API int sqlite3_trace_v2(sqlite3 *db, unsigned m, int (*x)(unsigned, void *, void *, void *), void *arg)
{
    conn *c;
    if (!R(sqlite3_trace_v2)) return SQLITE_MISUSE;
    if (!g_on || !(c = conn_get(db)) || !c->hooked) return real_sqlite3_trace_v2(db, m, x, arg);
    if (m == 0) x = NULL;
    if (!x) m = 0;
    c->app_mtrace = m;                  /* as SQLite: replaces legacy trace and xProfile's bit */
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

API int sqlite3_set_authorizer(sqlite3 *db, int (*x)(void *, int, const char *, const char *, const char *, const char *), void *arg)
{
    conn *c;
    if (!R(sqlite3_set_authorizer)) return SQLITE_MISUSE;
    if (!g_on || !(c = conn_get(db)) || !c->hooked) return real_sqlite3_set_authorizer(db, x, arg);
    c->app_auth = x;
    c->app_auth_arg = arg;
    return real_sqlite3_set_authorizer(db, cb_auth, c);   /* expires statements, as SQLite does */
}

API void *sqlite3_preupdate_hook(sqlite3 *db,
    void (*x)(void *, sqlite3 *, int, const char *, const char *, sqlite3_int64, sqlite3_int64), void *arg)
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

/* ------------------------------------------------------------------------------------------ */
/* Flags: what re-execution cannot reproduce                                                   */

static void flag_db(sqlite3 *db, int kind, const char *s, size_t n)
{
    int e = errno;
    emit_flag(db ? conn_get(db) : NULL, kind, s ? s : "", s ? n : 0);
    errno = e;
}

static void flag_name16(sqlite3 *db, int kind, const void *name)
{
    bval v = {0};
    if (name) set_utf16(&v, name, utf16_len(name), SQLITE_UTF16);
    flag_db(db, kind, v.tag ? v.p : "", v.tag ? v.n : 0);
    free(v.p);
}

#define FLAGGED(kind, name) \
    if (g_on && rc == SQLITE_OK && !in_lib(__builtin_return_address(0))) flag_db(db, kind, name, name ? strlen(name) : 0)

API int sqlite3_create_function(sqlite3 *db, const char *name, int n, int enc, void *app,
    void (*f)(sqlite3_context *, int, sqlite3_value **), void (*s)(sqlite3_context *, int, sqlite3_value **),
    void (*fin)(sqlite3_context *))
{
    int rc;
    if (!R(sqlite3_create_function)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_function(db, name, n, enc, app, f, s, fin);
    FLAGGED(REVENANT_SQL_FLAG_FUNCTION, name);
    return rc;
}

API int sqlite3_create_function_v2(sqlite3 *db, const char *name, int n, int enc, void *app,
    void (*f)(sqlite3_context *, int, sqlite3_value **), void (*s)(sqlite3_context *, int, sqlite3_value **),
    void (*fin)(sqlite3_context *), void (*d)(void *))
{
    int rc;
    if (!R(sqlite3_create_function_v2)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_function_v2(db, name, n, enc, app, f, s, fin, d);
    FLAGGED(REVENANT_SQL_FLAG_FUNCTION, name);
    return rc;
}

API int sqlite3_create_function16(sqlite3 *db, const void *name, int n, int enc, void *app,
    void (*f)(sqlite3_context *, int, sqlite3_value **), void (*s)(sqlite3_context *, int, sqlite3_value **),
    void (*fin)(sqlite3_context *))
{
    int rc;
    if (!R(sqlite3_create_function16)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_function16(db, name, n, enc, app, f, s, fin);
    if (g_on && rc == SQLITE_OK && !in_lib(__builtin_return_address(0)))
        flag_name16(db, REVENANT_SQL_FLAG_FUNCTION, name);
    return rc;
}

API int sqlite3_create_window_function(sqlite3 *db, const char *name, int n, int enc, void *app,
    void (*s)(sqlite3_context *, int, sqlite3_value **), void (*fin)(sqlite3_context *),
    void (*val)(sqlite3_context *), void (*inv)(sqlite3_context *, int, sqlite3_value **), void (*d)(void *))
{
    int rc;
    if (!R(sqlite3_create_window_function)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_window_function(db, name, n, enc, app, s, fin, val, inv, d);
    FLAGGED(REVENANT_SQL_FLAG_FUNCTION, name);
    return rc;
}

API int sqlite3_create_collation(sqlite3 *db, const char *name, int enc, void *arg,
    int (*cmp)(void *, int, const void *, int, const void *))
{
    int rc;
    if (!R(sqlite3_create_collation)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_collation(db, name, enc, arg, cmp);
    FLAGGED(REVENANT_SQL_FLAG_COLLATION, name);
    return rc;
}

API int sqlite3_create_collation_v2(sqlite3 *db, const char *name, int enc, void *arg,
    int (*cmp)(void *, int, const void *, int, const void *), void (*d)(void *))
{
    int rc;
    if (!R(sqlite3_create_collation_v2)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_collation_v2(db, name, enc, arg, cmp, d);
    FLAGGED(REVENANT_SQL_FLAG_COLLATION, name);
    return rc;
}

API int sqlite3_create_collation16(sqlite3 *db, const void *name, int enc, void *arg,
    int (*cmp)(void *, int, const void *, int, const void *))
{
    int rc;
    if (!R(sqlite3_create_collation16)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_collation16(db, name, enc, arg, cmp);
    if (g_on && rc == SQLITE_OK && !in_lib(__builtin_return_address(0)))
        flag_name16(db, REVENANT_SQL_FLAG_COLLATION, name);
    return rc;
}

/* Incremental blob handles and backups: remember their connection and table. */
struct handle_info { const void *h; sqlite3 *db; char *name; struct handle_info *next; };
static struct handle_info *g_handles;

static void handle_add(const void *h, sqlite3 *db, const char *schema, const char *table)
{
    struct handle_info *hi = calloc(1, sizeof *hi);
    size_t sl = schema ? strlen(schema) : 0, tl = table ? strlen(table) : 0;
    if (!hi) return;
    hi->h = h;
    hi->db = db;
    hi->name = malloc(sl + tl + 2);
    if (hi->name) {
        if (!schema || !table || strcmp(schema, "main") == 0) snprintf(hi->name, sl + tl + 2, "%s", table ? table : (schema ? schema : ""));
        else snprintf(hi->name, sl + tl + 2, "%s.%s", schema, table);
    }
    pthread_mutex_lock(&g_lock);
    hi->next = g_handles;
    g_handles = hi;
    pthread_mutex_unlock(&g_lock);
}

static struct handle_info *handle_find(const void *h, int remove)
{
    struct handle_info *hi, **pp;
    pthread_mutex_lock(&g_lock);
    for (pp = &g_handles; (hi = *pp) != NULL; pp = &hi->next)
        if (hi->h == h) {
            if (remove) *pp = hi->next;
            break;
        }
    pthread_mutex_unlock(&g_lock);
    return hi;
}

API int sqlite3_blob_open(sqlite3 *db, const char *schema, const char *table, const char *col,
                          sqlite3_int64 row, int fl, sqlite3_blob **pb)
{
    int rc, e;
    if (!R(sqlite3_blob_open)) return SQLITE_MISUSE;
    rc = real_sqlite3_blob_open(db, schema, table, col, row, fl, pb);
    if (!g_on || rc != SQLITE_OK || !pb || !*pb) return rc;
    e = errno;
    handle_add(*pb, db, schema, table);
    errno = e;
    return rc;
}

API int sqlite3_blob_close(sqlite3_blob *b)
{
    int e;
    struct handle_info *hi;
    if (!R(sqlite3_blob_close)) return SQLITE_MISUSE;
    if (!g_on) return real_sqlite3_blob_close(b);
    e = errno;
    hi = b ? handle_find(b, 1) : NULL;
    if (hi) { free(hi->name); free(hi); }
    errno = e;
    return real_sqlite3_blob_close(b);
}

API int sqlite3_blob_write(sqlite3_blob *b, const void *z, int n, int off)
{
    int rc, e;
    struct handle_info *hi;
    if (!R(sqlite3_blob_write)) return SQLITE_MISUSE;
    rc = real_sqlite3_blob_write(b, z, n, off);
    if (!g_on || rc != SQLITE_OK) return rc;
    e = errno;
    hi = handle_find(b, 0);
    flag_db(hi ? hi->db : NULL, REVENANT_SQL_FLAG_BLOB_WRITE, hi && hi->name ? hi->name : "",
            hi && hi->name ? strlen(hi->name) : 0);
    errno = e;
    return rc;
}

API sqlite3_backup *sqlite3_backup_init(sqlite3 *dst, const char *dname, sqlite3 *src, const char *sname)
{
    sqlite3_backup *b;
    int e;
    if (!R(sqlite3_backup_init)) return NULL;
    b = real_sqlite3_backup_init(dst, dname, src, sname);
    if (!g_on || !b) return b;
    e = errno;
    handle_add(b, dst, dname, NULL);
    errno = e;
    return b;
}

API int sqlite3_backup_step(sqlite3_backup *b, int n)
{
    int rc, e;
    struct handle_info *hi;
    if (!R(sqlite3_backup_step)) return SQLITE_MISUSE;
    rc = real_sqlite3_backup_step(b, n);
    if (!g_on || (rc != SQLITE_OK && rc != SQLITE_DONE)) return rc;
    e = errno;
    hi = handle_find(b, 0);
    flag_db(hi ? hi->db : NULL, REVENANT_SQL_FLAG_BACKUP, hi && hi->name ? hi->name : "",
            hi && hi->name ? strlen(hi->name) : 0);
    errno = e;
    return rc;
}

API int sqlite3_backup_finish(sqlite3_backup *b)
{
    int e;
    struct handle_info *hi;
    if (!R(sqlite3_backup_finish)) return SQLITE_MISUSE;
    if (!g_on) return real_sqlite3_backup_finish(b);
    e = errno;
    hi = b ? handle_find(b, 1) : NULL;
    if (hi) { free(hi->name); free(hi); }
    errno = e;
    return real_sqlite3_backup_finish(b);
}

API int sqlite3_deserialize(sqlite3 *db, const char *schema, unsigned char *data, sqlite3_int64 sz,
                            sqlite3_int64 bufsz, unsigned fl)
{
    int rc;
    const char *name = schema ? schema : "main";
    if (!R(sqlite3_deserialize)) return SQLITE_MISUSE;
    rc = real_sqlite3_deserialize(db, schema, data, sz, bufsz, fl);
    if (g_on && rc == SQLITE_OK) flag_db(db, REVENANT_SQL_FLAG_DESERIALIZE, name, strlen(name));
    return rc;
}

API int sqlite3_load_extension(sqlite3 *db, const char *file, const char *proc, char **err)
{
    int rc;
    if (!R(sqlite3_load_extension)) return SQLITE_MISUSE;
    rc = real_sqlite3_load_extension(db, file, proc, err);
    if (g_on) flag_db(db, REVENANT_SQL_FLAG_EXTENSION, file, file ? strlen(file) : 0);   /* tried: it may have run code */
    return rc;
}

API int sqlite3_enable_load_extension(sqlite3 *db, int on)
{
    int rc;
    static const char d[] = "enable_load_extension";
    if (!R(sqlite3_enable_load_extension)) return SQLITE_MISUSE;
    rc = real_sqlite3_enable_load_extension(db, on);
    if (g_on && rc == SQLITE_OK && on) flag_db(db, REVENANT_SQL_FLAG_EXTENSION, d, sizeof d - 1);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Load and exit                                                                               */

/* Remove this library from LD_PRELOAD (unset it when it was the only entry). */
static void hide_preload(void)
{
    Dl_info info;
    const char *pre = getenv("LD_PRELOAD"), *me, *base;
    char *copy, *out, *tok, *save, *mereal;
    size_t ol = 0;
    int removed = 0;
    char sep = ':';
    if (!pre || !dladdr((void *)hide_preload, &info) || !info.dli_fname) return;
    me = info.dli_fname;
    base = strrchr(me, '/') ? strrchr(me, '/') + 1 : me;
    mereal = realpath(me, NULL);
    if (strchr(pre, ' ') && !strchr(pre, ':')) sep = ' ';
    copy = strdup(pre);
    out = calloc(1, strlen(pre) + 1);
    if (!copy || !out) { free(copy); free(out); free(mereal); return; }
    for (tok = strtok_r(copy, ": \t", &save); tok; tok = strtok_r(NULL, ": \t", &save)) {
        const char *tb = strrchr(tok, '/') ? strrchr(tok, '/') + 1 : tok;
        int mine = strcmp(tok, me) == 0;
        if (!mine && strcmp(tb, base) == 0) {
            char *tr = realpath(tok, NULL);
            mine = !strchr(tok, '/') || (tr && mereal && strcmp(tr, mereal) == 0);
            free(tr);
        }
        if (mine && !removed) { removed = 1; continue; }
        if (ol) out[ol++] = sep;
        memcpy(out + ol, tok, strlen(tok));
        ol += strlen(tok);
    }
    if (removed) {
        if (ol) setenv("LD_PRELOAD", out, 1);
        else unsetenv("LD_PRELOAD");
    }
    free(copy);
    free(out);
    free(mereal);
}

static void at_fork_child(void) { if (g_owner) g_owner->off(); g_on = 0; }

__attribute__((constructor)) static void shim_load(void)
{
    int e = errno;
#ifdef REVENANT_SQLITE_KEEP_ENV
    /* measurement builds only (bench/cost.sh): valgrind's launcher loads the preload first and
     * would hide it from the program under measurement */
    char *kp = getenv("LD_PRELOAD"), *kl = getenv("REVENANT_SHIM_LOG");
    kp = kp ? strdup(kp) : NULL;
    kl = kl ? strdup(kl) : NULL;
#endif
    g_owner = revenant_channel_open();
    hide_preload();
#ifdef REVENANT_SQLITE_KEEP_ENV
    if (kp) setenv("LD_PRELOAD", kp, 1);
    if (kl) setenv("REVENANT_SHIM_LOG", kl, 1);
#endif
    if (g_owner->mode != REVENANT_CHANNEL_OFF) {
        g_on = 1;
        pthread_atfork(NULL, NULL, at_fork_child);
    }
    errno = e;
}

__attribute__((destructor)) static void shim_unload(void)
{
    int e = errno;
    if (g_on && g_owner) g_owner->flush();
    errno = e;
}
