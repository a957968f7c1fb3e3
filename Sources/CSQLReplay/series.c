/* generate_series(START, STOP[, STEP]): the table-valued function the sqlite3 CLI builds in
 * (shell.c, from SQLite's ext/misc/series.c) and libsqlite3 lacks. A session that used it must
 * re-execute with the same rows: value = START, START+STEP, … while <= STOP (>= for a negative
 * STEP), hidden columns start, stop, step. Registered on every replay connection. */
#include <string.h>
#include <sqlite3.h>

typedef struct {
    sqlite3_vtab base;
} series_vtab;
typedef struct {
    sqlite3_vtab_cursor base;
    sqlite3_int64 value, start, stop, step, rowid;
    int done;
} series_cursor;

enum { COL_VALUE, COL_START, COL_STOP, COL_STEP };

static int s_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
    series_vtab *v;
    int rc;
    (void)aux;
    (void)argc;
    (void)argv;
    (void)err;
    rc = sqlite3_declare_vtab(db, "CREATE TABLE x(value,start hidden,stop hidden,step hidden)");
    if (rc != SQLITE_OK) return rc;
    v = sqlite3_malloc(sizeof *v);
    if (!v) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &v->base;
    return SQLITE_OK;
}

static int s_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

static int s_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    series_cursor *c = sqlite3_malloc(sizeof *c);
    (void)v;
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int s_close(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int s_next(sqlite3_vtab_cursor *cur)
{
    series_cursor *c = (series_cursor *)cur;
    c->value += c->step;
    c->rowid++;
    if (c->step > 0 ? c->value > c->stop : c->value < c->stop) c->done = 1;
    return SQLITE_OK;
}

static int s_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
    series_cursor *c = (series_cursor *)cur;
    sqlite3_int64 x = i == COL_START ? c->start : i == COL_STOP ? c->stop : i == COL_STEP ? c->step : c->value;
    sqlite3_result_int64(ctx, x);
    return SQLITE_OK;
}

static int s_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *r)
{
    *r = ((series_cursor *)cur)->rowid;
    return SQLITE_OK;
}

static int s_eof(sqlite3_vtab_cursor *cur) { return ((series_cursor *)cur)->done; }

/* idxNum bits: 1 start, 2 stop, 4 step given (in that order in argv). */
static int s_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc, sqlite3_value **argv)
{
    series_cursor *c = (series_cursor *)cur;
    int i = 0;
    (void)idxStr;
    (void)argc;
    c->start = 0;
    c->stop = 0xffffffff;
    c->step = 1;
    if (idxNum & 1) c->start = sqlite3_value_int64(argv[i++]);
    if (idxNum & 2) c->stop = sqlite3_value_int64(argv[i++]);
    if (idxNum & 4) {
        c->step = sqlite3_value_int64(argv[i++]);
        if (c->step == 0) c->step = 1;
    }
    c->value = c->start;
    c->rowid = 1;
    c->done = c->step > 0 ? c->start > c->stop : c->start < c->stop;
    return SQLITE_OK;
}

static int s_best(sqlite3_vtab *v, sqlite3_index_info *info)
{
    int i, slot[3] = { -1, -1, -1 }, n = 0, idx = 0;
    (void)v;
    for (i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *k = &info->aConstraint[i];
        if (k->iColumn < COL_START || k->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
        if (!k->usable) return SQLITE_CONSTRAINT;
        slot[k->iColumn - COL_START] = i;
    }
    for (i = 0; i < 3; i++) {
        if (slot[i] < 0) continue;
        idx |= 1 << i;
        info->aConstraintUsage[slot[i]].argvIndex = ++n;
        info->aConstraintUsage[slot[i]].omit = 1;
    }
    info->idxNum = idx;
    info->estimatedCost = (idx & 3) == 3 ? 1000.0 : 2147483647.0;
    info->estimatedRows = (idx & 3) == 3 ? 1000 : 2147483647;
    return SQLITE_OK;
}

// clang-format off
static sqlite3_module series_module = {
    0, 0, s_connect, s_best, s_disconnect, 0, s_open, s_close, s_filter, s_next, s_eof, s_column, s_rowid,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
// clang-format on

int sqlreplay_register_series(sqlite3 *db) { return sqlite3_create_module(db, "generate_series", &series_module, 0); }
