#!/usr/bin/env bash
# cost.sh OUTDIR [RUNS] — the shim's cost on the sqlite3 CLI: a 100k-insert session in one
# transaction and a 300-statement autocommit session, with and without the preload (logging to
# /dev/null): wall-clock ratio over RUNS interleaved runs, cachegrind instruction ratio, and log
# bytes per statement. Builds OUTDIR/librevenant_sqlite.so (build.sh) and a measurement variant
# (-DREVENANT_SQLITE_KEEP_ENV: valgrind's launcher would otherwise take the preload for itself).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${1:?usage: cost.sh OUTDIR [RUNS]}
RUNS=${2:-5}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
bash "$HERE/../build.sh" "$OUT" > /dev/null
SHIM="$OUT/librevenant_sqlite.so"
KEEP="$OUT/librevenant_sqlite_keepenv.so"
gcc -O2 -fPIC -shared -fvisibility=hidden -DREVENANT_SQLITE_KEEP_ENV -I "$ROOT/GuestAgents/include" -I "$HERE/.." \
    -o "$KEEP" "$HERE"/../*.c "$ROOT/GuestAgents/channel/sha256.c" "$ROOT/GuestAgents/channel/revenant_channel.c" \
    -ldl -lpthread
W="$OUT/bench"; rm -rf "$W"; mkdir -p "$W"
perl -e 'print "BEGIN;\nCREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);\n";
         print "INSERT INTO t VALUES($_, '"'"'row$_'"'"', $_.5);\n" for 1 .. 100000; print "COMMIT;\n"' > "$W/bulk.sql"
perl -e 'print "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);\n";
         print "INSERT INTO t VALUES($_, '"'"'row$_'"'"', $_.5);\n" for 1 .. 300' > "$W/auto.sql"
now() { date +%s.%N; }
for s in bulk auto; do
    nst=$(grep -c ';' "$W/$s.sql")
    a=0; b=0
    for i in $(seq "$RUNS"); do
        rm -f "$W/a.db" "$W/b.db"
        t0=$(now); /usr/bin/sqlite3 "$W/a.db" < "$W/$s.sql" > /dev/null; t1=$(now)
        LD_PRELOAD="$SHIM" REVENANT_SHIM_LOG=/dev/null /usr/bin/sqlite3 "$W/b.db" < "$W/$s.sql" > /dev/null; t2=$(now)
        a=$(echo "$a + $t1 - $t0" | bc); b=$(echo "$b + $t2 - $t1" | bc)
    done
    rm -f "$W/b.db"
    LD_PRELOAD="$SHIM" REVENANT_SHIM_LOG="$W/$s.log" /usr/bin/sqlite3 "$W/b.db" < "$W/$s.sql" > /dev/null
    bytes=$(stat -c %s "$W/$s.log")
    rm -f "$W/a.db" "$W/b.db" "$W"/cg.*
    ia=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$W/cg.a" /usr/bin/sqlite3 "$W/a.db" < "$W/$s.sql" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,)
    ib=$(valgrind --tool=cachegrind --cache-sim=no --trace-children=yes --cachegrind-out-file="$W/cg.b.%p" \
        env LD_PRELOAD="$KEEP" REVENANT_SHIM_LOG=/dev/null /usr/bin/sqlite3 "$W/b.db" < "$W/$s.sql" 2>&1 >/dev/null \
        | sed -n 's/.*I *refs: *//p' | tr -d , | sort -n | tail -1)
    printf '%s: %d statements; wall native %.3f s, shim %.3f s, ratio %.3f; instructions %d vs %d, ratio %.3f; log %d B, %.1f B/statement\n' \
        "$s" "$nst" "$(echo "$a / $RUNS" | bc -l)" "$(echo "$b / $RUNS" | bc -l)" "$(echo "$b / $a" | bc -l)" \
        "$ia" "$ib" "$(echo "$ib / $ia" | bc -l)" "$bytes" "$(echo "$bytes / $nst" | bc -l)"
done
