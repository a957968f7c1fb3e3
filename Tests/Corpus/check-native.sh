#!/usr/bin/env bash
# check-native.sh — run every corpus entry natively twice, each time in a fresh temporary
# directory exactly as Tests/RevenantTests/CorpusTests.swift does, and verify that the two runs
# agree (exit status, stdout, stderr, resulting files) after masking, and that the exit status
# matches the expected one (NAME.status, default 0).
#
# Usage: Tests/Corpus/check-native.sh [-v] [-k] [ENTRY...]
#   ENTRY   perl/NAME, sqlite/NAME or just NAME (default: every entry)
#   -v      print the stdout/stderr sizes and timings of every run
#   -k      keep the temporary directories (their path is printed)
# Environment: PERL (default /usr/bin/perl), SQLITE3 (default /usr/bin/sqlite3).
#
# Conventions (shared with the Swift harness):
#   * working directory: fresh temp dir; the CONTENTS of fixtures/ are copied into it
#     (fixtures/words.txt -> ./words.txt); perl entries also get NAME.pl copied in.
#   * perl:   $PERL NAME.pl ARGS...      sqlite: $SQLITE3 test.db < NAME.sql
#   * NAME.args  one argument per line (a trailing newline ends the last line; an empty line is
#                an empty argument).  NAME.stdin  bytes fed on stdin (else /dev/null).
#   * NAME.env   K=V lines added to the inherited environment (value = everything after the
#                first '=', verbatim); blank lines and lines starting with '#' are ignored.
#   * NAME.mask  one Perl-compatible regex per line (blank / '#' lines ignored); every match in
#                stdout, stderr and file contents is replaced by <MASKED>.  Before masking, the
#                run's own working-directory path is replaced by <CWD>.  Masks work on raw bytes.
#   * NAME.status expected exit status (default 0).  Death by signal N counts as status 128+N.
#   * files: every path under the working directory (recursive, symlinks not followed) is
#     compared by type and name; regular files by (masked) content, symlinks by target.
#     For sqlite entries that have a mask file, SQLite database files are compared through
#     `sqlite3 FILE .dump` (masked) instead of their bytes.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PERL=${PERL:-/usr/bin/perl}
SQLITE3=${SQLITE3:-/usr/bin/sqlite3}
VERBOSE=0
KEEP=0
while getopts "vk" opt; do
    case $opt in
        v) VERBOSE=1 ;;
        k) KEEP=1 ;;
        *) echo "usage: $0 [-v] [-k] [ENTRY...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/revenant-check.XXXXXX")
cleanup() { if [ "$KEEP" = 1 ]; then echo "kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi; }
trap cleanup EXIT

# Normaliser: turns one run (work dir + captured outputs) into a snapshot directory
# (status, stdout, stderr, listing, files/...) that can be compared with `diff -r`.
NORMALISER="$SCRATCH/normalise.pl"
cat > "$NORMALISER" <<'PERL_EOF'
use strict;
use warnings;
use File::Find;
use File::Path qw(make_path);
use Cwd qw(realpath);

my ($kind, $work, $run, $maskfile, $snap, $sqlite) = @ARGV;
my @masks;
if ($maskfile ne '' && -f $maskfile) {
    open my $m, '<', $maskfile or die "$maskfile: $!";
    while (my $l = <$m>) {
        chomp $l;
        next if $l eq '' || $l =~ /^#/;
        push @masks, qr/$l/m;
    }
}
my @cwds = ($work);
my $real = realpath($work);
push @cwds, $real if defined $real && $real ne $work;
sub normalise {
    my ($data) = @_;
    for my $c (sort { length $b <=> length $a } @cwds) { $data =~ s/\Q$c\E/<CWD>/g }
    $data =~ s/$_/<MASKED>/g for @masks;
    return $data;
}
sub slurp { my ($f) = @_; open my $h, '<:raw', $f or die "$f: $!"; local $/; my $d = <$h>; return defined $d ? $d : '' }
sub spew { my ($f, $d) = @_; open my $h, '>:raw', $f or die "$f: $!"; print $h $d; close $h or die "$f: $!" }

make_path("$snap/files");
spew("$snap/status", slurp("$run/status"));
spew("$snap/stdout", normalise(slurp("$run/stdout")));
spew("$snap/stderr", normalise(slurp("$run/stderr")));
my @listing;
find({ no_chdir => 1, wanted => sub {
    my $p = $File::Find::name;
    return if $p eq $work;
    (my $rel = $p) =~ s/^\Q$work\E\///;
    if (-l $p) {
        push @listing, "symlink $rel -> " . normalise(readlink($p));
    } elsif (-d _) {
        push @listing, "dir $rel";
        make_path("$snap/files/$rel");
    } elsif (-f _) {
        my $data = slurp($p);
        my $how = 'file';
        if ($kind eq 'sqlite' && @masks && substr($data, 0, 16) eq "SQLite format 3\0") {
            open my $d, '-|', $sqlite, $p, '.dump' or die "sqlite3 .dump $p: $!";
            local $/; $data = <$d>; $data = '' unless defined $data;
            close $d;
            $how = 'sqlite-dump';
        }
        push @listing, "$how $rel";
        spew("$snap/files/$rel", normalise($data));
    } else {
        push @listing, "other $rel";
    }
} }, $work);
spew("$snap/listing", join("", map { "$_\n" } sort @listing));
PERL_EOF

run_once() { # kind name runidx -> sets RUN_DIR
    local kind=$1 name=$2 idx=$3
    local base="$SCRATCH/$kind-$name-$idx"
    local work="$base/work" run="$base/run"
    mkdir -p "$work" "$run"
    cp -a "$HERE/fixtures/." "$work/"
    local stdin=/dev/null
    local -a envs=() args=() cmd=()
    if [ -f "$HERE/$kind/$name.env" ]; then
        while IFS= read -r line || [ -n "$line" ]; do
            [ -z "$line" ] && continue
            case $line in \#*) continue ;; esac
            envs+=("$line")
        done < "$HERE/$kind/$name.env"
    fi
    if [ "$kind" = perl ]; then
        cp "$HERE/perl/$name.pl" "$work/"
        if [ -f "$HERE/perl/$name.args" ]; then mapfile -t args < "$HERE/perl/$name.args"; fi
        [ -f "$HERE/perl/$name.stdin" ] && stdin="$HERE/perl/$name.stdin"
        cmd=("$PERL" "$name.pl" "${args[@]}")
    else
        stdin="$HERE/sqlite/$name.sql"
        cmd=("$SQLITE3" test.db)
    fi
    local t0 t1
    t0=$(date +%s.%N)
    # (the outer 2>/dev/null only silences the shell's own "Terminated" job messages)
    (cd "$work" && env "${envs[@]}" "${cmd[@]}" < "$stdin" > "$run/stdout" 2> "$run/stderr") 2>/dev/null
    echo $? > "$run/status"
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }' > "$run/seconds"
    local mask=""
    [ -f "$HERE/$kind/$name.mask" ] && mask="$HERE/$kind/$name.mask"
    "$PERL" "$NORMALISER" "$kind" "$work" "$run" "$mask" "$base/snap" "$SQLITE3"
    RUN_DIR=$base
}

entries=()
if [ $# -eq 0 ]; then
    for f in "$HERE"/perl/*.pl; do entries+=("perl/$(basename "$f" .pl)"); done
    for f in "$HERE"/sqlite/*.sql; do entries+=("sqlite/$(basename "$f" .sql)"); done
else
    for e in "$@"; do
        case $e in
            perl/*|sqlite/*) entries+=("$e") ;;
            *) if [ -f "$HERE/perl/$e.pl" ]; then entries+=("perl/$e"); fi
               if [ -f "$HERE/sqlite/$e.sql" ]; then entries+=("sqlite/$e"); fi ;;
        esac
    done
fi

pass=0
fail=0
for entry in "${entries[@]}"; do
    kind=${entry%%/*}
    name=${entry#*/}
    expected=0
    [ -f "$HERE/$kind/$name.status" ] && expected=$(tr -d ' \n' < "$HERE/$kind/$name.status")
    run_once "$kind" "$name" 1; r1=$RUN_DIR
    run_once "$kind" "$name" 2; r2=$RUN_DIR
    problems=()
    s1=$(cat "$r1/run/status")
    [ "$s1" = "$expected" ] || problems+=("exit status $s1, expected $expected")
    if ! diff -r "$r1/snap" "$r2/snap" > "$SCRATCH/diff.txt" 2>&1; then
        problems+=("runs differ after masking")
    fi
    secs="$(cat "$r1/run/seconds")s/$(cat "$r2/run/seconds")s"
    slow=""
    if [ "$kind" = perl ] && awk -v a="$(cat "$r1/run/seconds")" 'BEGIN { exit !(a > 2.0) }'; then
        slow=" (slow: >2s)"
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        pass=$((pass + 1))
        printf 'ok    %-28s status=%s %s%s\n' "$entry" "$s1" "$secs" "$slow"
    else
        fail=$((fail + 1))
        printf 'FAIL  %-28s %s\n' "$entry" "$(IFS=';'; echo "${problems[*]}")"
        if [ -s "$SCRATCH/diff.txt" ]; then head -n 40 "$SCRATCH/diff.txt" | sed 's/^/      /'; fi
        if [ "$s1" != "$expected" ]; then head -c 2000 "$r1/run/stderr" | sed 's/^/      stderr: /'; fi
    fi
    if [ "$VERBOSE" = 1 ]; then
        for r in "$r1" "$r2"; do
            printf '      run %s: stdout=%s bytes stderr=%s bytes %ss\n' "${r##*-}" \
                "$(wc -c < "$r/run/stdout")" "$(wc -c < "$r/run/stderr")" "$(cat "$r/run/seconds")"
        done
    fi
    [ "$KEEP" = 1 ] || rm -rf "$r1" "$r2"
done
echo "native check: $pass passed, $fail failed (of ${#entries[@]})"
[ "$fail" -eq 0 ]
