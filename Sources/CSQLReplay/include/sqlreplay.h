/* SQL-level replay: re-executing a regenerated query log against a database's pre-image with
 * the values SQLite read live (clock, random(), the PRNG seed) fed back. C because a VFS and
 * SQL functions are C callbacks. See Sources/SQLReplay and Docs/sql-replay.md. */
#ifndef SQLREPLAY_H
#define SQLREPLAY_H

#include <stdint.h>

typedef struct sqlreplay sqlreplay;

enum {
    SQLREPLAY_NULL = 0,
    SQLREPLAY_INT = 1,
    SQLREPLAY_DOUBLE = 2,
    SQLREPLAY_TEXT = 3,
    SQLREPLAY_BLOB = 4,
    SQLREPLAY_ZEROBLOB = 5
};

typedef struct {
    int type;
    int64_t i;
    double d;
    const unsigned char *bytes; /* TEXT, BLOB */
    int64_t length;             /* TEXT, BLOB bytes; ZEROBLOB size */
} sqlreplay_value;

/* Install the replay VFS as the default, with `seed` as what xRandomness returns, and reset
 * SQLite's PRNG so that it reseeds from it. File names are the recorded run's (relative ones
 * against its working directory `cwd`): `mainPath` and its journals are `out`, every other file
 * lives under `scratch` (its recorded absolute path appended). Call before opening. */
void sqlreplay_begin(const unsigned char *seed, int seedlen, const char *cwd, const char *mainPath, const char *out,
                     const char *scratch);
/* Put the host's default VFS back. */
void sqlreplay_end(void);

/* Open (create) the database at its recorded path through the replay VFS; NULL with *err on failure. */
sqlreplay *sqlreplay_open(const char *path, char **err);
void sqlreplay_close(sqlreplay *r);

/* Values the next statement's execution will read: clock readings (xCurrentTimeInt64) and
 * random()/randomblob() outputs, in order. */
void sqlreplay_push_clock(int64_t v);
void sqlreplay_push_random(const unsigned char *bytes, int n);
/* How many pushed values are still unread (a statement that read fewer than it did live). */
int sqlreplay_unread(void);

/* Prepare, bind, step to the end (or maxrows rows when >= 0: a statement the program reset
 * early; the result is then SQLITE_ROW), finalize. Returns the last step's result code
 * (extended when it is an error); *changes is sqlite3_changes64 for a top-level write to a user
 * table, else 0, *rows the number of SQLITE_ROW steps, digest[16] the row-change digest — all as
 * the SQLite shim logs them. On a prepare failure returns its code with *err. */
int sqlreplay_exec(sqlreplay *r, const char *sql, int nbind, const sqlreplay_value *binds, int64_t maxrows,
                   int64_t *changes, int64_t *rows, unsigned char digest[16], char **err);

/* What a predicate is (sqlreplay_check_query) or what became of its evaluation (sqlreplay_truth). */
enum {
    SQLREPLAY_QUERY_OK = 0,
    SQLREPLAY_QUERY_MISSING = 1,       /* it names a table or column the database lacks (yet): *err */
    SQLREPLAY_QUERY_EMPTY = 2,         /* no statement at all */
    SQLREPLAY_QUERY_SEVERAL = 3,       /* more than one statement */
    SQLREPLAY_QUERY_NOT_READ_ONLY = 4, /* it writes, or returns no value (BEGIN, ATTACH…) */
    SQLREPLAY_QUERY_ERROR = 5,         /* it does not prepare (syntax…) or fails: *err */
    SQLREPLAY_QUERY_TIMED_OUT = 6      /* it ran past its time */
};

/* Before any replay: is `sql` one read-only statement returning a value? Checked on an empty
 * in-memory database, so SQLREPLAY_QUERY_MISSING means "cannot tell before the run's schema". */
int sqlreplay_check_query(const char *sql, char **err);

/* For predicates: 1 when `sql`'s first row has a true first column (non-NULL, non-zero,
 * non-empty), else 0; *status says why there is no answer (MISSING: not true here; *err set
 * for MISSING and ERROR). Stepping stops after `seconds` (TIMED_OUT). */
int sqlreplay_truth(sqlreplay *r, const char *sql, double seconds, int *status, char **err);

/* 1 when the connection is inside a transaction. */
int sqlreplay_in_transaction(sqlreplay *r);
/* Commit an open transaction (the restored file then holds what the connection saw). */
int sqlreplay_commit_open(sqlreplay *r);

void sqlreplay_free(char *p);
#endif
