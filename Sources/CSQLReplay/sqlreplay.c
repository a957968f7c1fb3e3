#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <strings.h>
#include <time.h>
/* Debian builds libsqlite3 with the pre-update hook; the header declares it only under this. */
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include "sqlreplay.h"

struct sqlreplay {
    sqlite3 *db;
};

int sqlreplay_register_series(sqlite3 *db); /* series.c */

/* ---- the replay VFS: the default VFS with the logged randomness and clock ---- */

static sqlite3_vfs g_vfs;
static sqlite3_vfs *g_base;
static unsigned char *g_seed;
static int g_seedlen;

#define QUEUE_MAX 4096
static int64_t g_clock[QUEUE_MAX];
static int g_clock_n, g_clock_at;
static unsigned char *g_rand[QUEUE_MAX];
static int g_rand_len[QUEUE_MAX];
static int g_rand_n, g_rand_at;
static int64_t g_last_clock;

static int rv_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    memset(out, 0, (size_t)n);
    memcpy(out, g_seed, (size_t)(n < g_seedlen ? n : g_seedlen));
    return n;
}

static int rv_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
    (void)v;
    if (g_clock_at < g_clock_n) g_last_clock = g_clock[g_clock_at++];
    *t = g_last_clock;
    return SQLITE_OK;
}

static int rv_time(sqlite3_vfs *v, double *t)
{
    sqlite3_int64 i;
    rv_time64(v, &i);
    *t = (double)i / 86400000.0;
    return SQLITE_OK;
}

/* Paths: the replay sees the recorded run's file names (relative ones resolved against the
 * recorded working directory); the database being restored is `out`, every other file
 * (attached databases, their journals) lives under the scratch folder, so re-executing
 * `ATTACH '/srv/other.db'` never touches the host's /srv/other.db. */
static char g_cwd[4096], g_main[4096], g_out[4096], g_scratch[4096];

static void make_parents(const char *path)
{
    char buf[4096];
    size_t i, n = strlen(path);
    if (n >= sizeof buf) return;
    memcpy(buf, path, n + 1);
    for (i = 1; i < n; i++)
        if (buf[i] == '/') {
            buf[i] = 0;
            mkdir(buf, 0755);
            buf[i] = '/';
        }
}

/* `path` (absolute) with `.` and `..` taken out without looking at the file system, `..` stopping
 * at the root, as the guest's view resolves it: a name from the log (`ATTACH 'a/../../x.db'`) then
 * stays under the scratch folder it is put in, never above it. */
static void lexically_normal(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = path;
    if (cap < 2) return;
    out[0] = 0;
    while (*p) {
        const char *start, *end;
        size_t len;
        while (*p == '/') p++;
        start = p;
        while (*p && *p != '/') p++;
        end = p;
        len = (size_t)(end - start);
        if (len == 0 || (len == 1 && start[0] == '.')) continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--;
            out[n] = 0;
            continue;
        }
        if (n + 1 + len + 1 > cap) break;
        out[n++] = '/';
        memcpy(out + n, start, len);
        n += len;
        out[n] = 0;
    }
    if (n == 0) {
        out[0] = '/';
        out[1] = 0;
    }
}

/* Where the logical (recorded) path lives on the host. */
static void physical(const char *logical, char *out, size_t cap)
{
    size_t m = strlen(g_main);
    char normal[4096];
    if (strncmp(logical, g_main, m) == 0 && (logical[m] == 0 || logical[m] == '-')) {
        snprintf(out, cap, "%s%s", g_out, logical + m);
    } else {
        lexically_normal(logical, normal, sizeof normal);
        snprintf(out, cap, "%s%s", g_scratch, normal);
        make_parents(out);
    }
}

static int rv_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    if (name[0] == '/')
        snprintf(out, (size_t)n, "%s", name);
    else
        snprintf(out, (size_t)n, "%s/%s", g_cwd, name);
    return SQLITE_OK;
}

static int rv_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *outFlags)
{
    char p[4200];
    (void)v;
    if (!name) return g_base->xOpen(g_base, name, f, flags, outFlags);
    physical(name, p, sizeof p);
    /* The VFS keeps the name pointer for the file's life (and reads past its NUL for URI
     * parameters): hand it an interned copy laid out the same way, the string then NULs. */
    {
        static char *names[1024];
        static int count;
        size_t n = strlen(p);
        int i;
        for (i = 0; i < count; i++)
            if (strcmp(names[i], p) == 0) break;
        if (i == count) {
            char *h = calloc(1, n + 4);
            if (!h) return SQLITE_NOMEM;
            memcpy(h, p, n);
            if (count < 1024) names[count++] = h;
            return g_base->xOpen(g_base, h, f, flags, outFlags);
        }
        return g_base->xOpen(g_base, names[i], f, flags, outFlags);
    }
}

static int rv_delete(sqlite3_vfs *v, const char *name, int sync)
{
    char p[4200];
    (void)v;
    physical(name, p, sizeof p);
    return g_base->xDelete(g_base, p, sync);
}

static int rv_access(sqlite3_vfs *v, const char *name, int flags, int *res)
{
    char p[4200];
    (void)v;
    physical(name, p, sizeof p);
    return g_base->xAccess(g_base, p, flags, res);
}

void sqlreplay_begin(const unsigned char *seed, int seedlen, const char *cwd, const char *mainPath, const char *out,
                     const char *scratch)
{
    if (!g_base) {
        g_base = sqlite3_vfs_find(0);
        g_vfs = *g_base;
        g_vfs.zName = "revenant-replay";
        g_vfs.xRandomness = rv_randomness;
        g_vfs.xCurrentTime = rv_time;
        if (g_vfs.iVersion >= 2) g_vfs.xCurrentTimeInt64 = rv_time64;
        g_vfs.xOpen = rv_open;
        g_vfs.xDelete = rv_delete;
        g_vfs.xAccess = rv_access;
        g_vfs.xFullPathname = rv_fullpath;
    }
    snprintf(g_cwd, sizeof g_cwd, "%s", cwd);
    snprintf(g_main, sizeof g_main, "%s", mainPath);
    snprintf(g_out, sizeof g_out, "%s", out);
    snprintf(g_scratch, sizeof g_scratch, "%s", scratch);
    free(g_seed);
    g_seed = malloc(seedlen > 0 ? (size_t)seedlen : 1);
    if (seedlen > 0) memcpy(g_seed, seed, (size_t)seedlen);
    g_seedlen = seedlen;
    sqlite3_vfs_register(&g_vfs, 1);
    sqlite3_randomness(0, 0); /* reseed from the replay VFS on next use */
}

void sqlreplay_end(void)
{
    if (g_base) {
        sqlite3_vfs_unregister(&g_vfs);
        sqlite3_vfs_register(g_base, 1);
    }
}

void sqlreplay_push_clock(int64_t v)
{
    if (g_clock_n < QUEUE_MAX) g_clock[g_clock_n++] = v;
}

void sqlreplay_push_random(const unsigned char *bytes, int n)
{
    if (g_rand_n >= QUEUE_MAX) return;
    g_rand[g_rand_n] = malloc(n > 0 ? (size_t)n : 1);
    if (n > 0) memcpy(g_rand[g_rand_n], bytes, (size_t)n);
    g_rand_len[g_rand_n++] = n;
}

static void reset_queues(void)
{
    int i;
    for (i = 0; i < g_rand_n; i++) free(g_rand[i]);
    g_rand_n = g_rand_at = 0;
    g_clock_n = g_clock_at = 0;
}

int sqlreplay_unread(void) { return (g_clock_n - g_clock_at) + (g_rand_n - g_rand_at); }

/* random() and randomblob(N), fed from the log (SQLite's own would draw from its PRNG). */
static void fn_random(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    sqlite3_int64 v = 0;
    (void)argc;
    (void)argv;
    if (g_rand_at < g_rand_n) {
        /* the shim logs the value random() returned, little-endian */
        int i, n = g_rand_len[g_rand_at] < 8 ? g_rand_len[g_rand_at] : 8;
        uint64_t u = 0;
        for (i = 0; i < n; i++) u |= (uint64_t)g_rand[g_rand_at][i] << (8 * i);
        g_rand_at++;
        v = (sqlite3_int64)u;
    } else {
        sqlite3_randomness(8, &v);
        if (v < 0) v = -(v & 0x7fffffffffffffffLL); /* what SQLite's random() does with the sign */
    }
    sqlite3_result_int64(c, v);
}

static void fn_randomblob(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    sqlite3_int64 n = argc > 0 ? sqlite3_value_int64(argv[0]) : 1;
    if (n < 1) n = 1;
    if (g_rand_at < g_rand_n) {
        sqlite3_result_blob(c, g_rand[g_rand_at], g_rand_len[g_rand_at], SQLITE_TRANSIENT);
        g_rand_at++;
    } else {
        unsigned char *p = sqlite3_malloc64((sqlite3_uint64)n);
        if (!p) {
            sqlite3_result_error_nomem(c);
            return;
        }
        sqlite3_randomness((int)n, p);
        sqlite3_result_blob(c, p, (int)n, sqlite3_free);
    }
}

/* ---- the row-change digest (the SQLite shim's pre-update hook, same algorithm) ---- */

#include "sqlreplay_digest.h"

sqlreplay *sqlreplay_open(const char *path, char **err)
{
    sqlreplay *r = calloc(1, sizeof *r);
    int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "revenant-replay");
    if (rc != SQLITE_OK) {
        if (err) *err = strdup(r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    sqlite3_create_function(r->db, "random", 0, SQLITE_UTF8, NULL, fn_random, NULL, NULL);
    sqlite3_create_function(r->db, "randomblob", 1, SQLITE_UTF8, NULL, fn_randomblob, NULL, NULL);
    sqlreplay_register_series(r->db);
    return r;
}

void sqlreplay_close(sqlreplay *r)
{
    if (!r) return;
    sqlite3_close_v2(r->db);
    free(r);
}

/* During prepare: does the statement write a user table at top level? Then sqlite3_changes64
 * means something (the SQLite shim applies the same rule to what it logs). */
static int auth_dml(void *ctx, int code, const char *a1, const char *a2, const char *a3, const char *a4)
{
    (void)a2;
    (void)a3;
    if ((code == SQLITE_INSERT || code == SQLITE_UPDATE || code == SQLITE_DELETE) && !a4 && a1
        && strncmp(a1, "sqlite_", 7) != 0)
        *(int *)ctx = 1;
    return SQLITE_OK;
}

int sqlreplay_exec(sqlreplay *r, const char *sql, int nbind, const sqlreplay_value *b, int64_t maxrows,
                   int64_t *changes, int64_t *rows, unsigned char digest[16], char **err)
{
    sqlite3_stmt *st = NULL;
    int rc, i, dml = 0;
    *changes = 0;
    *rows = 0;
    sqlite3_set_authorizer(r->db, auth_dml, &dml);
    rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    sqlite3_set_authorizer(r->db, NULL, NULL);
    if (rc != SQLITE_OK || !st) {
        if (err) *err = strdup(sqlite3_errmsg(r->db));
        sqlite3_finalize(st);
        reset_queues();
        return rc == SQLITE_OK ? SQLITE_MISUSE : rc;
    }
    for (i = 0; i < nbind; i++) {
        const sqlreplay_value *v = &b[i];
        switch (v->type) {
        case SQLREPLAY_INT: sqlite3_bind_int64(st, i + 1, v->i); break;
        case SQLREPLAY_DOUBLE: sqlite3_bind_double(st, i + 1, v->d); break;
        case SQLREPLAY_TEXT:
            sqlite3_bind_text64(st, i + 1, (const char *)v->bytes, (sqlite3_uint64)v->length, SQLITE_TRANSIENT,
                                SQLITE_UTF8);
            break;
        case SQLREPLAY_BLOB:
            sqlite3_bind_blob64(st, i + 1, v->bytes, (sqlite3_uint64)v->length, SQLITE_TRANSIENT);
            break;
        case SQLREPLAY_ZEROBLOB: sqlite3_bind_zeroblob64(st, i + 1, (sqlite3_uint64)v->length); break;
        default: sqlite3_bind_null(st, i + 1); break;
        }
    }
    /* The hook is on while the statement runs, not while it is prepared: with a pre-update hook
     * SQLite compiles `DELETE FROM t` without its truncate shortcut, and the file would differ
     * (the SQLite shim does the same, so the digests agree). */
    sqlreplay_digest_start();
    sqlreplay_digest_attach(r->db);
    /* A statement the program reset before it was done (maxrows >= 0) steps that far only. */
    while ((maxrows < 0 || *rows < maxrows) && (rc = sqlite3_step(st)) == SQLITE_ROW) (*rows)++;
    if (maxrows >= 0 && *rows == maxrows) rc = SQLITE_ROW;
    sqlite3_preupdate_hook(r->db, NULL, NULL);
    if (dml) *changes = sqlite3_changes64(r->db);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        int x = sqlite3_extended_errcode(r->db);
        if ((x & 0xff) == (rc & 0xff)) rc = x;
        if (err) *err = strdup(sqlite3_errmsg(r->db));
    }
    sqlreplay_digest_finish(digest);
    sqlite3_finalize(st);
    reset_queues();
    return rc;
}

/* ---- predicates (sql --when, when --sql) ---- */

/* A table or column the database does not have, or an attached one it has not attached: the
 * run may create it later, so the predicate is simply not true yet. */
static int missing_name(const char *msg)
{
    return strncmp(msg, "no such table:", 14) == 0 || strncmp(msg, "no such column:", 15) == 0
           || strncmp(msg, "unknown database", 16) == 0;
}

/* Prepare sql's first statement and say whether it can be a predicate: one that returns a value
 * and only reads (sqlite3_stmt_readonly; BEGIN, ATTACH… return no value and change the
 * connection). On SQLREPLAY_QUERY_OK, *out is the statement to step. */
static int prepare_predicate(sqlite3 *db, const char *sql, sqlite3_stmt **out, char **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    *out = NULL;
    if (rc != SQLITE_OK) {
        const char *msg = sqlite3_errmsg(db);
        if (err) *err = strdup(msg);
        sqlite3_finalize(st);
        return missing_name(msg) ? SQLREPLAY_QUERY_MISSING : SQLREPLAY_QUERY_ERROR;
    }
    if (!st) return SQLREPLAY_QUERY_EMPTY;
    if (!sqlite3_stmt_readonly(st) || sqlite3_column_count(st) == 0) {
        sqlite3_finalize(st);
        return SQLREPLAY_QUERY_NOT_READ_ONLY;
    }
    *out = st;
    return SQLREPLAY_QUERY_OK;
}

/* Whether `rest` holds no statement (spaces, comments, semicolons only). */
static int no_statement(sqlite3 *db, const char *rest)
{
    while (*rest) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(db, rest, -1, &st, &tail);
        if (rc != SQLITE_OK || st) {
            sqlite3_finalize(st);
            return 0;
        }
        if (!tail || tail == rest) break;
        rest = tail;
    }
    return 1;
}

/* Whether the statement's verb — its first word, or after a WITH clause the first word outside
 * parentheses among SELECT/VALUES/INSERT/REPLACE/UPDATE/DELETE — is SELECT or VALUES. Needs no
 * schema: before the run's tables exist, `UPDATE t …` does not prepare, and is still a write. */
static int reads_by_its_verb(const char *p)
{
    static const char *verbs[] = { "SELECT", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE" };
    int depth = 0, with = 0;
    while (*p) {
        if (*p == '-' && p[1] == '-') {
            while (*p && *p != '\n') p++;
            continue;
        }
        if (*p == '/' && p[1] == '*') {
            p += 2;
            while (*p && !(*p == '*' && p[1] == '/')) p++;
            if (*p) p += 2;
            continue;
        }
        if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
            char close = *p == '[' ? ']' : *p;
            for (p++; *p && *p != close; p++) {}
            if (*p) p++;
            continue;
        }
        if (*p == '(') {
            depth++;
            p++;
            continue;
        }
        if (*p == ')') {
            depth--;
            p++;
            continue;
        }
        if (isalpha((unsigned char)*p) || *p == '_') {
            const char *w = p;
            size_t n, i;
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '$') p++;
            n = (size_t)(p - w);
            if (depth != 0) continue;
            if (!with && n == 4 && strncasecmp(w, "WITH", 4) == 0) {
                with = 1;
                continue;
            }
            for (i = 0; i < sizeof verbs / sizeof *verbs; i++) {
                if (strlen(verbs[i]) == n && strncasecmp(w, verbs[i], n) == 0) return i < 2;
            }
            if (!with) return 0;
            continue;
        }
        p++;
    }
    return 0;
}

int sqlreplay_check_query(const char *sql, char **err)
{
    /* The first statement ends at the first ';' that completes it (sqlite3_complete knows
     * strings, comments and trigger bodies): that needs no schema, unlike prepare. */
    size_t n = strlen(sql), i;
    const char *rest = sql + n;
    char *prefix = malloc(n + 1);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int status;
    if (!prefix) return SQLREPLAY_QUERY_ERROR;
    for (i = 0; i < n; i++) {
        if (sql[i] != ';') continue;
        memcpy(prefix, sql, i + 1);
        prefix[i + 1] = 0;
        if (sqlite3_complete(prefix)) {
            rest = sql + i + 1;
            break;
        }
    }
    free(prefix);
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        if (err) *err = strdup(db ? sqlite3_errmsg(db) : "cannot open an in-memory database");
        sqlite3_close(db);
        return SQLREPLAY_QUERY_ERROR;
    }
    if (!no_statement(db, rest)) {
        status = SQLREPLAY_QUERY_SEVERAL;
    } else {
        status = prepare_predicate(db, sql, &st, err);
        sqlite3_finalize(st);
        if ((status == SQLREPLAY_QUERY_OK || status == SQLREPLAY_QUERY_MISSING) && !reads_by_its_verb(sql)) {
            status = SQLREPLAY_QUERY_NOT_READ_ONLY;
        }
    }
    sqlite3_close(db);
    return status;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The progress handler: a nonzero return interrupts the statement. */
static int past_deadline(void *deadline) { return now_seconds() > *(const double *)deadline; }

int sqlreplay_truth(sqlreplay *r, const char *sql, double seconds, int *status, char **err)
{
    sqlite3_stmt *st = NULL;
    double deadline = now_seconds() + seconds;
    int rc, out = 0;
    *status = prepare_predicate(r->db, sql, &st, err);
    if (*status != SQLREPLAY_QUERY_OK) return 0;
    /* Checked every 1000 VM instructions; only while the predicate runs, not the log. */
    sqlite3_progress_handler(r->db, 1000, past_deadline, &deadline);
    rc = sqlite3_step(st);
    sqlite3_progress_handler(r->db, 0, NULL, NULL);
    if (rc == SQLITE_ROW && sqlite3_column_count(st) > 0) {
        switch (sqlite3_column_type(st, 0)) {
        case SQLITE_NULL: out = 0; break;
        case SQLITE_INTEGER: out = sqlite3_column_int64(st, 0) != 0; break;
        case SQLITE_FLOAT: out = sqlite3_column_double(st, 0) != 0.0; break;
        default: out = sqlite3_column_bytes(st, 0) > 0; break;
        }
    } else if (rc == SQLITE_INTERRUPT) {
        *status = SQLREPLAY_QUERY_TIMED_OUT;
    } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        if (err) *err = strdup(sqlite3_errmsg(r->db));
        *status = SQLREPLAY_QUERY_ERROR;
    }
    sqlite3_finalize(st);
    return out;
}

int sqlreplay_in_transaction(sqlreplay *r) { return !sqlite3_get_autocommit(r->db); }

int sqlreplay_commit_open(sqlreplay *r)
{
    if (sqlite3_get_autocommit(r->db)) return SQLITE_OK;
    return sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
}

void sqlreplay_free(char *p) { free(p); }
