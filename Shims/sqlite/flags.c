/* Flags: what re-execution cannot reproduce (application functions and collations, incremental
 * blob writes, backups, deserialize, extensions) is logged as SQL_FLAG records. */
#include "sqlite_shim_internal.h"

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
    bval v = { 0 };
    if (name) set_utf16(&v, name, utf16_len(name), SQLITE_UTF16);
    flag_db(db, kind, v.tag ? v.p : "", v.tag ? v.n : 0);
    free(v.p);
}

#define FLAGGED(kind, name) \
    if (g_on && rc == SQLITE_OK && !in_lib(__builtin_return_address(0))) \
    flag_db(db, kind, name, name ? strlen(name) : 0)

API int sqlite3_create_function(sqlite3 *db, const char *name, int n, int enc, void *app,
                                void (*f)(sqlite3_context *, int, sqlite3_value **),
                                void (*s)(sqlite3_context *, int, sqlite3_value **), void (*fin)(sqlite3_context *))
{
    int rc;
    if (!R(sqlite3_create_function)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_function(db, name, n, enc, app, f, s, fin);
    FLAGGED(REVENANT_SQL_FLAG_FUNCTION, name);
    return rc;
}

API int sqlite3_create_function_v2(sqlite3 *db, const char *name, int n, int enc, void *app,
                                   void (*f)(sqlite3_context *, int, sqlite3_value **),
                                   void (*s)(sqlite3_context *, int, sqlite3_value **), void (*fin)(sqlite3_context *),
                                   void (*d)(void *))
{
    int rc;
    if (!R(sqlite3_create_function_v2)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_function_v2(db, name, n, enc, app, f, s, fin, d);
    FLAGGED(REVENANT_SQL_FLAG_FUNCTION, name);
    return rc;
}

API int sqlite3_create_function16(sqlite3 *db, const void *name, int n, int enc, void *app,
                                  void (*f)(sqlite3_context *, int, sqlite3_value **),
                                  void (*s)(sqlite3_context *, int, sqlite3_value **), void (*fin)(sqlite3_context *))
{
    int rc;
    if (!R(sqlite3_create_function16)) return SQLITE_MISUSE;
    rc = real_sqlite3_create_function16(db, name, n, enc, app, f, s, fin);
    if (g_on && rc == SQLITE_OK && !in_lib(__builtin_return_address(0)))
        flag_name16(db, REVENANT_SQL_FLAG_FUNCTION, name);
    return rc;
}

API int sqlite3_create_window_function(sqlite3 *db, const char *name, int n, int enc, void *app,
                                       void (*s)(sqlite3_context *, int, sqlite3_value **),
                                       void (*fin)(sqlite3_context *), void (*val)(sqlite3_context *),
                                       void (*inv)(sqlite3_context *, int, sqlite3_value **), void (*d)(void *))
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
struct handle_info {
    const void *h;
    sqlite3 *db;
    char *name;
    struct handle_info *next;
};
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
        if (!schema || !table || strcmp(schema, "main") == 0)
            snprintf(hi->name, sl + tl + 2, "%s", table ? table : (schema ? schema : ""));
        else
            snprintf(hi->name, sl + tl + 2, "%s.%s", schema, table);
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

API int sqlite3_blob_open(sqlite3 *db, const char *schema, const char *table, const char *col, sqlite3_int64 row,
                          int fl, sqlite3_blob **pb)
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
    if (hi) {
        free(hi->name);
        free(hi);
    }
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
    if (hi) {
        free(hi->name);
        free(hi);
    }
    errno = e;
    return real_sqlite3_backup_finish(b);
}

API int sqlite3_deserialize(sqlite3 *db, const char *schema, unsigned char *data, sqlite3_int64 sz, sqlite3_int64 bufsz,
                            unsigned fl)
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
    /* tried: it may have run code */
    if (g_on) flag_db(db, REVENANT_SQL_FLAG_EXTENSION, file, file ? strlen(file) : 0);
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
