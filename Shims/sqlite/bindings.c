/* Bindings: the bind_* wrappers keep a typed, exact copy of each statement's parameters, written
 * with its SQL_EXEC record (statements.c). */
#include "sqlite_shim_internal.h"

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
        if (!np) {
            v->tag = REVENANT_VAL_UNDEF;
            return;
        }
        v->p = np;
        v->cap = n;
    }
    if (n) memcpy(v->p, p, n);
    v->n = n;
    v->tag = (uint8_t)tag;
}

/* UTF-16 (native, LE or BE) text to UTF-8, as SQLite would store it in a UTF-8 database. */
void set_utf16(bval *v, const void *p, size_t nbytes, int enc)
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
            s += 2;
            n--;
        }
    }
    out = malloc(n * 3 + 1);
    if (!out) {
        v->tag = REVENANT_VAL_UNDEF;
        return;
    }
    for (i = 0; i < n; i++) {
        uint32_t c = be ? (uint32_t)(s[2 * i] << 8 | s[2 * i + 1]) : (uint32_t)(s[2 * i + 1] << 8 | s[2 * i]);
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
            uint32_t d =
                be ? (uint32_t)(s[2 * i + 2] << 8 | s[2 * i + 3]) : (uint32_t)(s[2 * i + 3] << 8 | s[2 * i + 2]);
            c = 0x10000 + ((c & 0x3ff) << 10) + (d & 0x3ff);
            i++;
        }
        if (c < 0x80)
            out[o++] = (uint8_t)c;
        else if (c < 0x800) {
            out[o++] = (uint8_t)(0xc0 | c >> 6);
            out[o++] = (uint8_t)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            out[o++] = (uint8_t)(0xe0 | c >> 12);
            out[o++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (uint8_t)(0x80 | (c & 0x3f));
        } else {
            out[o++] = (uint8_t)(0xf0 | c >> 18);
            out[o++] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
            out[o++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (uint8_t)(0x80 | (c & 0x3f));
        }
    }
    set_bytes(v, REVENANT_VAL_STRING, out, o);
    free(out);
}

size_t utf16_len(const void *p)
{
    const uint8_t *s = p;
    size_t n = 0;
    while (s[n] || s[n + 1]) n += 2;
    return n;
}

// clang-format off
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
  if (!p) v->tag = REVENANT_VAL_UNDEF;
  else set_bytes(v, REVENANT_VAL_STRING, p, n < 0 ? strlen(p) : (size_t)n);
  BIND_POST() }
API int sqlite3_bind_text16(sqlite3_stmt *h, int i, const void *p, int n, void (*d)(void *))
{ BIND_PRE(sqlite3_bind_text16, h, i, p, n, d)
  if (!p) v->tag = REVENANT_VAL_UNDEF;
  else set_utf16(v, p, n < 0 ? utf16_len(p) : (size_t)n, SQLITE_UTF16);
  BIND_POST() }
API int sqlite3_bind_text64(sqlite3_stmt *h, int i, const char *p, sqlite3_uint64 n, void (*d)(void *),
                            unsigned char enc)
{ BIND_PRE(sqlite3_bind_text64, h, i, p, n, d, enc)
  if (!p) v->tag = REVENANT_VAL_UNDEF;
  else if (enc == SQLITE_UTF8) set_bytes(v, REVENANT_VAL_STRING, p, (size_t)n);
  else set_utf16(v, p, (size_t)n, enc);
  BIND_POST() }
// clang-format on

API int sqlite3_bind_value(sqlite3_stmt *h, int i, const sqlite3_value *val)
{
    int rc, e;
    bval *v;
    if (!R(sqlite3_bind_value)) return SQLITE_MISUSE;
    if (!g_on) return real_sqlite3_bind_value(h, i, val);
    t_bind_inner = 0;
    rc = real_sqlite3_bind_value(h, i, val); /* calls bind_int64/double/text/blob/zeroblob itself */
    if (rc != SQLITE_OK || t_bind_inner) return rc;
    e = errno;
    if ((v = slot(h, i)) != NULL) {
        sqlite3_value *x = (sqlite3_value *)val;
        switch (real_sqlite3_value_type(x)) {
        case SQLITE_INTEGER:
            v->tag = REVENANT_VAL_INT;
            v->i = real_sqlite3_value_int64(x);
            break;
        case SQLITE_FLOAT:
            v->tag = REVENANT_VAL_DOUBLE;
            v->d = real_sqlite3_value_double(x);
            break;
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
