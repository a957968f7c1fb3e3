#!/usr/bin/env bash
# build.sh OUTDIR [--test] — builds the SQLite shim out of tree: OUTDIR/librevenant_sqlite.so
# (use as: LD_PRELOAD=OUTDIR/librevenant_sqlite.so REVENANT_SHIM_LOG=log sqlite3 …). It does not
# link libsqlite3. With --test, also runs t/*.t (prove) against it. Leaves nothing in the source
# tree. Quiet on success (one line).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=""
TEST=0
for a in "$@"; do
    case $a in
        --test) TEST=1 ;;
        -*) echo "usage: $0 OUTDIR [--test]" >&2; exit 2 ;;
        *) OUT=$a ;;
    esac
done
[ -n "$OUT" ] || { echo "usage: $0 OUTDIR [--test]" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/build.log"
CC=${CC:-gcc}
if ! $CC -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter \
        -I "$ROOT/GuestAgents/include" -I "$HERE" \
        -o "$OUT/librevenant_sqlite.so.tmp" \
        "$HERE"/*.c "$ROOT/GuestAgents/channel/sha256.c" "$ROOT/GuestAgents/channel/revenant_channel.c" \
        -ldl -lpthread > "$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "revenant sqlite shim: build failed (log: $LOG)" >&2
    exit 1
fi
mv "$OUT/librevenant_sqlite.so.tmp" "$OUT/librevenant_sqlite.so"
if [ "$TEST" = 1 ]; then
    if ! ( cd "$OUT" && REVENANT_SQLITE_SHIM="$OUT/librevenant_sqlite.so" REVENANT_SOURCE_ROOT="$ROOT" \
            prove -Q "$HERE/t" ) > "$OUT/test.log" 2>&1; then
        cat "$OUT/test.log" >&2
        echo "revenant sqlite shim: tests failed (log: $OUT/test.log)" >&2
        exit 1
    fi
    echo "revenant sqlite shim: built and tested -> $OUT/librevenant_sqlite.so ($(tail -n 1 "$OUT/test.log"))"
else
    echo "revenant sqlite shim: built -> $OUT/librevenant_sqlite.so"
fi
