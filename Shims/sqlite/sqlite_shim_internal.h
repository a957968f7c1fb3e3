/* What the files of the SQLite shim share: the real functions' pointers, the shim's state and
 * types, the record-writing helpers, and the functions one file calls in another. Every .c file of
 * the shim includes it first. Only the sqlite3_* interposers (API) are exported: everything declared
 * here is hidden (the library is built with -fvisibility=hidden, and the pragma below makes the
 * declarations hidden too, so that loads and calls across the files stay direct).
 *
 * The files, by concern (each is one section of what was sqlite_shim.c):
 *   real_functions.c  the real functions (resolve, real_<name>)
 *   state.c           the shim's state: the channel, connections, the statement map
 *   encoding.c        values and records into the channel
 *   caller.c          where a call comes from (libsqlite3's own calls or the application's)
 *   vfs.c             the VFS wrapper (randomness and clock)
 *   conn_callbacks.c  the shim's per-connection callbacks (authorizer, pre-update digest, trace)
 *   init.c            initialisation (sqlite3_initialize, shutdown, auto-extensions)
 *   connections.c     opening and closing connections
 *   statements.c      prepare, exec, step, reset, finalize
 *   bindings.c        bindings: a typed, exact copy per statement
 *   app_callbacks.c   the application's callbacks, chained
 *   flags.c           flags: what re-execution cannot reproduce
 *   load.c            load and exit
 */
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
#ifndef REVENANT_SQLITE_SHIM_INTERNAL_H
#define REVENANT_SQLITE_SHIM_INTERNAL_H

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

#define SQLITE_ENABLE_PREUPDATE_HOOK 1 /* declares the pre-update API (Debian builds it in) */
#include <sqlite3.h>

#include "revenant_channel.h"
#include "revenant_channel_owner.h"
#include "revenant_sha256.h"

#define API __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

extern char **environ;

#pragma GCC visibility push(hidden)

/* ------------------------------------------------------------------------------------------ */
/* The real functions (real_functions.c)                                                       */

void *resolve(const char *name);

/* Every real function the shim calls, each kept in real_<name>: found on first use by R(name). */
// clang-format off
#define REAL_FUNCTIONS(X) \
    X(sqlite3_initialize) X(sqlite3_shutdown) X(sqlite3_auto_extension) \
    X(sqlite3_reset_auto_extension) X(sqlite3_vfs_find) X(sqlite3_vfs_register) \
    X(sqlite3_open) X(sqlite3_open16) X(sqlite3_open_v2) X(sqlite3_close) \
    X(sqlite3_close_v2) X(sqlite3_db_filename) \
    X(sqlite3_prepare) X(sqlite3_prepare_v2) X(sqlite3_prepare_v3) \
    X(sqlite3_prepare16) X(sqlite3_prepare16_v2) X(sqlite3_prepare16_v3) \
    X(sqlite3_exec) X(sqlite3_get_table) \
    X(sqlite3_step) X(sqlite3_reset) X(sqlite3_finalize) X(sqlite3_sql) \
    X(sqlite3_changes64) X(sqlite3_extended_errcode) \
    X(sqlite3_bind_parameter_count) X(sqlite3_expanded_sql) X(sqlite3_free) \
    X(sqlite3_malloc64) X(sqlite3_limit) X(sqlite3_context_db_handle) \
    X(sqlite3_bind_blob) X(sqlite3_bind_blob64) X(sqlite3_bind_double) \
    X(sqlite3_bind_int) X(sqlite3_bind_int64) X(sqlite3_bind_null) \
    X(sqlite3_bind_text) X(sqlite3_bind_text16) X(sqlite3_bind_text64) \
    X(sqlite3_bind_value) X(sqlite3_bind_pointer) X(sqlite3_bind_zeroblob) \
    X(sqlite3_bind_zeroblob64) X(sqlite3_clear_bindings) \
    X(sqlite3_value_type) X(sqlite3_value_int64) X(sqlite3_value_double) \
    X(sqlite3_value_text) X(sqlite3_value_blob) X(sqlite3_value_bytes) \
    X(sqlite3_randomness) X(sqlite3_result_int64) X(sqlite3_result_blob) \
    X(sqlite3_result_error_toobig) X(sqlite3_result_error_nomem) \
    X(sqlite3_trace_v2) X(sqlite3_set_authorizer) X(sqlite3_preupdate_hook) \
    X(sqlite3_preupdate_old) X(sqlite3_preupdate_new) X(sqlite3_preupdate_count) \
    X(sqlite3_create_function) X(sqlite3_create_function16) X(sqlite3_create_function_v2) \
    X(sqlite3_create_window_function) X(sqlite3_create_collation) \
    X(sqlite3_create_collation16) X(sqlite3_create_collation_v2) \
    X(sqlite3_blob_open) X(sqlite3_blob_close) X(sqlite3_blob_write) \
    X(sqlite3_backup_init) X(sqlite3_backup_step) X(sqlite3_backup_finish) \
    X(sqlite3_deserialize) X(sqlite3_load_extension) X(sqlite3_enable_load_extension)
// clang-format on

#define REAL(name) extern __typeof__(name) *real_##name;
REAL_FUNCTIONS(REAL)
#undef REAL

#define R(name) (LIKELY(real_##name != NULL) ? real_##name : (real_##name = (__typeof__(name) *)resolve(#name)))

/* Legacy (deprecated) API, declared by hand so that no deprecation attribute gets in the way. */
typedef void *(*trace_fn)(sqlite3 *, void (*)(void *, const char *), void *);
typedef void *(*profile_fn)(sqlite3 *, void (*)(void *, const char *, sqlite3_uint64), void *);
extern trace_fn real_trace;
extern profile_fn real_profile;

/* ------------------------------------------------------------------------------------------ */
/* State (state.c)                                                                             */

extern struct revenant_channel_owner *g_owner;
extern int g_on; /* the channel records */
extern pthread_mutex_t g_lock;
extern uint64_t g_next_conn, g_next_stmt;

/* libsqlite3's code, to tell its own calls from the application's */
extern uintptr_t g_lib_lo, g_lib_hi;
extern uintptr_t g_exec_lo, g_exec_hi, g_gettable_lo, g_gettable_hi;

extern TLS int t_depth;              /* inside a real prepare/step/reset/finalize or an internal exec */
extern TLS int t_exec;               /* inside the application's sqlite3_exec */
extern TLS int t_gettable;           /* inside the application's sqlite3_get_table */
extern TLS struct stmt *t_exec_stmt; /* the statement the current application exec prepared last */
extern TLS int t_bind_inner;         /* a bind_* wrapper ran inside bind_value */

#define SHIM_TRACE_LEGACY 0x40
#define SHIM_TRACE_XPROFILE 0x80

typedef struct conn {
    sqlite3 *db;
    uint64_t id;      /* 0 until SQL_CONN is written */
    struct stmt *cur; /* the logged execution inside sqlite3_step */
    int hooked;       /* our callbacks are installed */
    /* tables collected by the authorizer during one application prepare */
    int collecting, coll_dml;
    int nread, nwrite, cap_read, cap_write;
    char **read, **write;
    /* the application's callbacks, as SQLite itself would hold them */
    unsigned app_mtrace;
    void *app_trace_fn; /* xV2 or xLegacy (one slot, as in SQLite) */
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
    uint8_t tag; /* REVENANT_VAL_UNDEF / INT / DOUBLE / STRING / BLOB / ZEROBLOB */
    int64_t i;   /* INT; ZEROBLOB size */
    double d;
    char *p; /* STRING / BLOB bytes */
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

extern conn *g_conns; /* newest first */

conn *conn_find(sqlite3 *db);

/* Open-addressing map: statement handle -> stmt (callers hold g_lock). */
stmt *map_get(sqlite3_stmt *h);
void map_put(stmt *st);
void map_del(sqlite3_stmt *h);

static inline stmt *lookup(sqlite3_stmt *h)
{
    stmt *s;
    pthread_mutex_lock(&g_lock);
    s = map_get(h);
    pthread_mutex_unlock(&g_lock);
    return s;
}

void stmt_free(stmt *st);

/* ------------------------------------------------------------------------------------------ */
/* Encoding (encoding.c)                                                                       */

static inline uint8_t *u64put(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

size_t bval_size(const bval *v);
uint8_t *bval_put(uint8_t *p, const bval *v);

/* Records are written under g_lock: reserve, fill, commit. */
// clang-format off
#define EMIT_BEGIN(sz) do { size_t sz_ = (sz); uint8_t *p_, *q; pthread_mutex_lock(&g_lock); \
    p_ = g_owner->reserve(sz_); q = p_; if (p_) {
#define EMIT_END() g_owner->commit(sz_); } pthread_mutex_unlock(&g_lock); } while (0)
// clang-format on

void emit_conn(conn *c);

static inline uint64_t conn_id(conn *c)
{
    if (c && !c->id) emit_conn(c);
    return c ? c->id : 0;
}

void emit_flag(conn *c, int kind, const char *detail, size_t dl);

/* ------------------------------------------------------------------------------------------ */
/* Where a call comes from (caller.c)                                                          */

void find_lib(void);

static inline int in_lib(void *ra) { return (uintptr_t)ra >= g_lib_lo && (uintptr_t)ra < g_lib_hi; }
static inline int in_exec(void *ra) { return (uintptr_t)ra >= g_exec_lo && (uintptr_t)ra < g_exec_hi; }
static inline int in_gettable(void *ra) { return (uintptr_t)ra >= g_gettable_lo && (uintptr_t)ra < g_gettable_hi; }

/* ------------------------------------------------------------------------------------------ */
/* The VFS wrapper (vfs.c)                                                                     */

void install_vfs(void);

/* ------------------------------------------------------------------------------------------ */
/* Per-connection callbacks (conn_callbacks.c)                                                 */

void coll_clear(conn *c);
int cb_auth(void *ctx, int code, const char *a1, const char *a2, const char *a3, const char *a4);
void cb_preupdate(void *ctx, sqlite3 *db, int op, const char *zdb, const char *ztab, sqlite3_int64 k1,
                  sqlite3_int64 k2);
/* Our trace mask from the application's: STMT always; its own v2 events; PROFILE for xProfile. */
void apply_trace(conn *c);
int hook_conn(sqlite3 *db, char **err, const struct sqlite3_api_routines *api);
conn *conn_get(sqlite3 *db);

/* ------------------------------------------------------------------------------------------ */
/* Bindings (bindings.c)                                                                       */

/* UTF-16 (native, LE or BE) text to UTF-8, as SQLite would store it in a UTF-8 database. */
void set_utf16(bval *v, const void *p, size_t nbytes, int enc);
size_t utf16_len(const void *p);

#pragma GCC visibility pop

#endif
