#!/usr/bin/env bash
# build.sh OUTDIR [--test] — builds Revenant::Shim out of tree and stages
#   OUTDIR/lib/Revenant/Shim.pm and OUTDIR/lib/auto/Revenant/Shim/Shim.so
# (use as: perl -I OUTDIR/lib -MRevenant::Shim script.pl). With --test, also runs prove on t/
# against the staged lib. Leaves nothing in the source tree. Quiet on success (one line).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INCLUDE=$(cd "$HERE/../../GuestAgents/include" && pwd)
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
BUILD="$OUT/build"
LOG="$OUT/build.log"
rm -rf "$BUILD"
mkdir -p "$BUILD"
# copy the distribution (not t/ outputs, not bench results)
( cd "$HERE" && tar cf - Makefile.PL Shim.xs shim.h replay_*.h replay_*.c lib t ) | ( cd "$BUILD" && tar xf - )
# the channel every shim in a process shares, and its SHA-256 (GuestAgents/channel)
cp "$HERE/../../GuestAgents/channel/revenant_channel.c" "$HERE/../../GuestAgents/channel/sha256.c" "$BUILD/"
if ! ( cd "$BUILD" && perl Makefile.PL "INC=-I. -I$INCLUDE" && make ) > "$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "Revenant::Shim: build failed (log: $LOG)" >&2
    exit 1
fi
mkdir -p "$OUT/lib/Revenant" "$OUT/lib/auto/Revenant/Shim"
cp "$BUILD/lib/Revenant/Shim.pm" "$OUT/lib/Revenant/Shim.pm"
cp "$BUILD/blib/arch/auto/Revenant/Shim/Shim.so" "$OUT/lib/auto/Revenant/Shim/Shim.so"
if [ "$TEST" = 1 ]; then
    if ! ( cd "$BUILD" && REVENANT_SHIM_LIB="$OUT/lib" REVENANT_SOURCE_ROOT="$HERE/../.." prove -Q t ) > "$OUT/test.log" 2>&1; then
        cat "$OUT/test.log" >&2
        echo "Revenant::Shim: tests failed (log: $OUT/test.log)" >&2
        exit 1
    fi
    echo "Revenant::Shim: built and tested -> $OUT/lib ($(tail -n 1 "$OUT/test.log"))"
else
    echo "Revenant::Shim: built -> $OUT/lib"
fi
