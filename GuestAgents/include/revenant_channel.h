/* The channel: how shims inside the guest hand their logs to the VMM.
 *
 * One buffer per process, in guest memory, written by the shims (Perl and SQLite records
 * interleave in true order) and handed to the VMM with a reserved syscall number. While
 * recording the VMM discards what it is handed; during regeneration it copies it out, and at every
 * event it reads `flushed + used` from this struct so that each record gets its machine position.
 * FLUSH returns the same value in both modes. REGISTER tells a version 3 shim which one it is in
 * (REVENANT_CHANNEL_QUIET), so that a recording leaves out what only regeneration reads — and
 * nothing else: what the program can see (its calls, its memory) is the same either way.
 * Natively the number is unknown to Linux and the call fails with ENOSYS: the channel is off.
 *
 * Docs/channel-format.md describes every byte; a golden test pins it.
 */
#ifndef REVENANT_CHANNEL_H
#define REVENANT_CHANNEL_H

#include <stdint.h>

/* The reserved syscall number (next to the stub's probe, 0x52560001). */
#define REVENANT_NR_CHANNEL 0x52560002L

/* syscall(REVENANT_NR_CHANNEL, op, struct revenant_channel *) */
// clang-format off
#define REVENANT_CHANNEL_REGISTER 1  /* returns REVENANT_CHANNEL_MAGIC, or REVENANT_CHANNEL_QUIET to
                                        a version 3 struct; the struct must be valid and stay mapped
                                        for the life of the process */
#define REVENANT_CHANNEL_FLUSH 2     /* hands data[0 .. used) over; returns 0. The shim then adds
                                        `used` to `flushed` and sets `used` to 0 */
// clang-format on

#define REVENANT_CHANNEL_MAGIC 0x48435652L /* "RVCH" little-endian */
/* What REGISTER returns, instead of the magic, to a version 3 struct when the VMM discards what it
 * is handed (record, run, a plain replay; never regen, a stepping replay or record --keep-channel):
 * the channel is on, and the Perl shim leaves out its statement records (STMT and the one-byte
 * deltas). Only their writing: what it does for a statement it sees for the first time (its
 * tables, a file's digest, the records that name them) it does in both modes, since those reach
 * the program's heap and make syscalls, which a regeneration must find as they were recorded. */
#define REVENANT_CHANNEL_QUIET 0x51435652L /* "RVCQ" little-endian */
/* What FLUSH returns, instead of 0, only in a throw-away clone of a paused replay (never while
 * recording or replaying): data[] holds a request, u32 length then Perl code; the Perl shim
 * evaluates it and hands the answer back in an EVAL record. */
#define REVENANT_CHANNEL_EVAL_REQUEST 0x4c564552L /* "REVL" */
#define REVENANT_CHANNEL_VERSION 3                /* 2 added watch and introspect; 3 the QUIET answer */
#define REVENANT_SHIM_FORMAT_VERSION 1            /* the records' format: the first field of a START record */
/* The ops the fast Perl-level replay runs for real rather than feeding them their logged results
 * (perl's op names, space-separated): Perl code that ran inside one of these (a PerlIO layer, a
 * tie) runs again inside it; inside any other op it cannot, so regen makes such a run ineligible
 * for the fast replay, and the fast replay stops there. Read by the shim (replay_ops.c) and regen
 * (IndexBuilder.swift). */
#define REVENANT_PERL_RUN_FOR_REAL "open sysopen open_dir require dofile srand"

struct revenant_channel {
    uint32_t magic;      /* REVENANT_CHANNEL_MAGIC */
    uint32_t version;    /* REVENANT_CHANNEL_VERSION: the layout of this struct and of the records */
    uint64_t capacity;   /* bytes in data[] */
    uint64_t used;       /* bytes of data[] written since the last flush */
    uint64_t flushed;    /* bytes handed over before: the stream offset of data[0] */
    uint64_t watch;      /* after writing a record, flush at once if used > watch. The shim sets it to
                            capacity (never true); only a replaying VMM lowers it, to stop the guest
                            at a record boundary (revenant perl). Guest-visible behaviour is the same:
                            flushes are not events and the call's result does not change */
    uint64_t introspect; /* guest address of the Perl shim's struct revenant_perl_introspect
                            (revenant_perl_introspect.h), 0 when no Perl shim runs */
    uint8_t data[];      /* records (below), never split across a flush */
};

/* REVENANT_REC_REPLAY kinds */
enum revenant_replay_report {
    REVENANT_REPLAY_HIT = 1,      /* a stop: the statement's --print lines, newline-separated */
    REVENANT_REPLAY_DIVERGED = 2, /* the run left the recording: where and how */
    REVENANT_REPLAY_DONE = 3,     /* the program ended where the recording did */
    REVENANT_REPLAY_FAILED = 4,   /* the feed or the request could not be used */
    REVENANT_REPLAY_STOPPED = 5,  /* --first: stopped after the first hit */
};

/* Records. Each starts with a tag byte. Integers are LEB128 varints (u = unsigned, s = zigzag
 * signed). Strings are `u length` then the bytes. Ids are dense, starting at 1, defined before
 * use by a DEF record. See Docs/channel-format.md for the per-op value lists. */
// clang-format off
enum revenant_record_tag {
    REVENANT_REC_START     = 0x01, /* u shim format version, str interpreter ("perl 5.36.0"), str $0 */
    REVENANT_REC_STR       = 0x02, /* u id, str bytes: the string table (package and sub names) */
    REVENANT_REC_FILE      = 0x03, /* u id, str path, u8 digest kind (0 none, 1 SHA-256), [32 bytes] */
    REVENANT_REC_CONTEXT   = 0x04, /* u id, u file id, u package str id, u sub str id (0 = file scope) */
    REVENANT_REC_STMT      = 0x05, /* u context id, u line: a statement in another context */
    REVENANT_REC_OP_BEGIN  = 0x06, /* u opcode (perl's op type number; its name is in an OPNAME record) */
    REVENANT_REC_OP_END    = 0x07, /* u opcode, u errno after the op, u count, count values */
    REVENANT_REC_ENV       = 0x08, /* u count, count × (str key, str value): %ENV at start */
    REVENANT_REC_ARGV      = 0x09, /* u count, count strings: @ARGV at start */
    REVENANT_REC_HASH      = 0x0a, /* str seed bytes, u64 LE PL_hash_rand_bits, u8 enabled */
    REVENANT_REC_SEED      = 0x0b, /* u seed: the seed perl's rand drew for itself (no srand call) */
    REVENANT_REC_OPNAME    = 0x0c, /* u opcode, str name: sent once before an opcode's first BEGIN */
    REVENANT_REC_EVAL      = 0x0d, /* u ok (1) or died (0), str text: an answer in a clone only */
    REVENANT_REC_REPLAY    = 0x0e, /* u8 kind (below), u statement number, str text: a report of
                                      the Perl shim's replay mode (the fast Perl-level replay) only */
    /* SQLite records (Shims/sqlite, Docs/channel-format.md "SQLite records") */
    REVENANT_REC_SQL_CONN    = 0x20, /* u conn id, str filename of "main" ("" for :memory:/temp) */
    REVENANT_REC_SQL_PREPARE = 0x21, /* u stmt id, u conn id, str sql, u n, n str tables read,
                                        u m, m str tables written */
    REVENANT_REC_SQL_EXEC    = 0x22, /* u stmt id, u nbind, nbind values */
    REVENANT_REC_SQL_DONE    = 0x23, /* u stmt id, u rc, u rows, s changes, 16 bytes digest */
    REVENANT_REC_SQL_CLOCK   = 0x24, /* s ms since the julian epoch (xCurrentTimeInt64) */
    REVENANT_REC_SQL_RANDOM  = 0x25, /* str bytes: random()'s int64 LE, or randomblob's bytes */
    REVENANT_REC_SQL_SEED    = 0x26, /* u n requested, str bytes: the VFS xRandomness output */
    REVENANT_REC_SQL_TRIGGER = 0x27, /* u conn id, str text: a trace entry starting with "--" */
    REVENANT_REC_SQL_FLAG    = 0x28, /* u conn id (0 none), u kind (revenant_sql_flag), str detail */
    REVENANT_REC_SQL_CLOSE   = 0x29, /* u conn id */
    /* 0x80..0xff: a statement in the same context as the previous one, at line
     * previous + (tag - 0xc0), i.e. a delta of -64..+63. */
    REVENANT_REC_STMT_DELTA = 0x80,
};
// clang-format on

/* What a SQL_FLAG record says the SQL-level replay cannot reproduce (its `kind`). */
enum revenant_sql_flag {
    REVENANT_SQL_FLAG_FUNCTION = 1,    /* an application-defined SQL function */
    REVENANT_SQL_FLAG_COLLATION = 2,   /* an application-defined collation */
    REVENANT_SQL_FLAG_BLOB_WRITE = 3,  /* sqlite3_blob_write */
    REVENANT_SQL_FLAG_BACKUP = 4,      /* the backup API */
    REVENANT_SQL_FLAG_DESERIALIZE = 5, /* sqlite3_deserialize */
    REVENANT_SQL_FLAG_EXTENSION = 6,   /* a loadable extension (tried or enabled) */
};

/* Values (in OP_END and SQL_EXEC): a tag byte, then the payload. */
enum revenant_value_tag {
    REVENANT_VAL_UNDEF = 0,    /* nothing */
    REVENANT_VAL_INT = 1,      /* s */
    REVENANT_VAL_UINT = 2,     /* u (above IV_MAX) */
    REVENANT_VAL_DOUBLE = 3,   /* 8 bytes, IEEE 754 little-endian */
    REVENANT_VAL_STRING = 4,   /* str */
    REVENANT_VAL_UTF8 = 5,     /* str, UTF-8 flagged */
    REVENANT_VAL_BLOB = 6,     /* str (SQLite blob) */
    REVENANT_VAL_ZEROBLOB = 7, /* u size (SQLite zeroblob) */
};

#endif
