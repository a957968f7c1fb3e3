#!/usr/bin/env python3
"""Issue #7's figures: the stepping Perl-level replay (`revenant perl`, `when --perl`).

Run by Scripts/bench.py at its end (it appends to bench-results/summary.md), or alone:
  python3 Scripts/bench_perl_replay.py .build/release/revenant
Interleaved rounds (each round runs every variant once); ratios per round, median and range.
"""
import os, re, shutil, statistics, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/revenant")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench-results")
PERL = "/usr/bin/perl"
os.makedirs(OUT, exist_ok=True)
work = tempfile.mkdtemp(prefix="revenant-bench-perl-")
os.chdir(work)
shutil.copy(os.path.join(ROOT, "Shims", "perl", "bench", "statements.pl"), "statements.pl")

def run(cmd, ok=(0,)):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if p.returncode not in ok:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return dt, p.stdout.decode()

lines = []
def say(s=""):
    print(s, flush=True)
    lines.append(s)

say()
say("## Perl-level replay (`revenant perl`, `when --perl`)")
say()
# ~1M statements: statements.pl runs ~16 per iteration.
N1 = os.environ.get("BENCH_PERL_N", "62000")
run([BIN, "record", "-o", "p1m.rvt", "--force", "--", PERL, "statements.pl", N1])
_, regen = run([BIN, "regen", "p1m.rvt"])
n1 = int(re.search(r"regenerated (\d+) Perl statements", regen).group(1))
t = {"native": [], "record": [], "replay": [], "when": [], "fast": []}
for _ in range(ROUNDS):
    t["native"].append(run([PERL, "statements.pl", N1])[0])
    t["record"].append(run([BIN, "record", "-o", "p1m-again.rvt", "--force", "--", PERL, "statements.pl", N1])[0])
    t["replay"].append(run([BIN, "replay", "--quiet", "p1m.rvt"])[0])
    # Never true: evaluated (or found out of scope) at every statement. The VM path, then the
    # fast one (perl runs the script again, fed from the log, the predicate evaluated by perl).
    t["when"].append(run([BIN, "perl", "p1m.rvt", "--path", "vm", "--when", "$acc < 0"], ok=(1,))[0])
    t["fast"].append(run([BIN, "perl", "p1m.rvt", "--path", "fast", "--when", "$acc < 0"], ok=(1,))[0])
rr = [w / r for w, r in zip(t["when"], t["record"])]
rn = [w / r for w, r in zip(t["when"], t["native"])]
fr = [w / r for w, r in zip(t["fast"], t["record"])]
fn = [w / r for w, r in zip(t["fast"], t["native"])]
per_stop = [(w - p) / n1 * 1e6 for w, p in zip(t["when"], t["replay"])]
fast_stop = [(w - r) / n1 * 1e6 for w, r in zip(t["fast"], t["record"])]
say(f"- `perl --when '$acc < 0'` over {n1:,} statements (statements.pl {N1}; evaluated at every statement), "
    f"original run (`record`) {statistics.median(t['record']):.2f} s, native {statistics.median(t['native']):.2f} s:")
say(f"  - VM path: median {statistics.median(t['when']):.1f} s; **{statistics.median(rr):.1f}×** the original run "
    f"({min(rr):.1f}–{max(rr):.1f}), {statistics.median(rn):.1f}× native; replay without stops {statistics.median(t['replay']):.2f} s")
say(f"  - fast path: median {statistics.median(t['fast']):.2f} s; **{statistics.median(fr):.2f}×** the original run "
    f"({min(fr):.2f}–{max(fr):.2f}), {statistics.median(fn):.1f}× native")
say(f"- Per stop: VM path (the shim's flush trapping to the VMM, decoding, reading perl's memory, evaluating) "
    f"median **{statistics.median(per_stop):.1f} µs** ({min(per_stop):.1f}–{max(per_stop):.1f}); fast path (perl "
    f"evaluating the predicate with its variables looked up and aliased) **{statistics.median(fast_stop):.2f} µs** "
    f"({min(fast_stop):.2f}–{max(fast_stop):.2f}) over the original run")
# 1000 breakpoints vs none: a script with 1000 one-shot lines ahead of the same loop.
with open("bp.pl", "w") as f:
    f.write("use strict;\nmy %seen;\n")
    for i in range(1000):
        f.write(f"$seen{{k{i}}} = {i};\n")
    f.write(open("statements.pl").read().replace("use strict;\nuse warnings;\n", ""))
run([BIN, "record", "-o", "bp.rvt", "--force", "--", PERL, "bp.pl", N1])
run([BIN, "regen", "bp.rvt"])
breaks = sum((["--break", f"bp.pl:{3 + i}"] for i in range(1000)), [])
tb = {"none": [], "bp": [], "fast": []}
for _ in range(ROUNDS):
    tb["none"].append(run([BIN, "replay", "--quiet", "bp.rvt"])[0])
    tb["bp"].append(run([BIN, "perl", "bp.rvt", "--path", "vm"] + breaks)[0])
    tb["fast"].append(run([BIN, "perl", "bp.rvt", "--path", "fast"] + breaks)[0])
rb = [b / n for b, n in zip(tb["bp"], tb["none"])]
rbf = [b / n for b, n in zip(tb["fast"], tb["none"])]
say(f"- 1000 breakpoints (`perl --break` ×1000, each line hit once) vs the replay without any: VM path "
    f"median **{statistics.median(rb):.2f}×** ({min(rb):.2f}–{max(rb):.2f}); none {statistics.median(tb['none']):.2f} s, "
    f"1000 {statistics.median(tb['bp']):.2f} s; fast path {statistics.median(tb['fast']):.2f} s, "
    f"**{statistics.median(rbf):.2f}×** ({min(rbf):.2f}–{max(rbf):.2f})")
# Time to the first hit in a ~10M-statement run (the index made beforehand, as `log` would).
N10 = os.environ.get("BENCH_PERL_N10", "620000")
dt_rec, _ = run([BIN, "record", "-o", "p10m.rvt", "--force", "--", PERL, "statements.pl", N10])
dt_regen, regen = run([BIN, "regen", "p10m.rvt"])
n10 = int(re.search(r"regenerated (\d+) Perl statements", regen).group(1))
firsts = [run([BIN, "perl", "p10m.rvt", "--path", "vm", "--when", "$i == 10000", "--first"])[0] for _ in range(3)]
ffirsts = [run([BIN, "perl", "p10m.rvt", "--path", "fast", "--when", "$i == 10000", "--first"])[0] for _ in range(3)]
say(f"- First hit of `$i == 10000` (iteration 10,000 of {int(N10):,}) in a run of {n10:,} statements, `--first`, the "
    f"index made beforehand: VM path median **{statistics.median(firsts):.2f} s**, fast path **{statistics.median(ffirsts):.2f} s** "
    f"(the recording took {dt_rec:.1f} s, `regen` {dt_regen:.1f} s)")

# Machine-level breakpoints: 1000 int3 (`when --symbol` ×1000) in a C program whose 1000
# functions each run once amid a loop of work, vs its replay without any.
with open("fns.c", "w") as f:
    f.write("#include <stdio.h>\n#include <unistd.h>\nvolatile long sink;\n")
    for i in range(1000):
        f.write(f"__attribute__((noinline)) void f{i}(long x) {{ sink += x * {i}; }}\n")
    f.write("int main(void) {\n  for (long r = 0; r < 200000; r++) sink += r;\n")
    for i in range(1000):
        f.write(f"  f{i}(sink & 7);\n  if ({i} % 100 == 0) write(1, \".\", 1);\n")
    f.write('  printf("%ld\\n", sink);\n  return 0;\n}\n')
run(["gcc", "-O1", "-o", "fns", "fns.c"])
run([BIN, "record", "-o", "fns.rvt", "--force", "--", "./fns"])
syms = sum((["--symbol", f"f{i}"] for i in range(1000)), [])
tf = {"none": [], "bp": []}
for _ in range(ROUNDS):
    tf["none"].append(run([BIN, "replay", "--quiet", "fns.rvt"])[0])
    dt, out = run([BIN, "when", "fns.rvt"] + syms)
    assert out.count("\n") == 1000, out[-300:]
    tf["bp"].append(dt)
rf = [b / n for b, n in zip(tf["bp"], tf["none"])]
hit = [(b - n) / 1000 * 1e6 for b, n in zip(tf["bp"], tf["none"])]
say(f"- Machine level: 1000 software breakpoints (`when --symbol` ×1000 on a C program's functions, each hit once) vs "
    f"the replay without any: median **{statistics.median(rf):.2f}×** ({min(rf):.2f}–{max(rf):.2f}); none "
    f"{statistics.median(tf['none'])*1000:.0f} ms, 1000 {statistics.median(tf['bp'])*1000:.0f} ms; **{statistics.median(hit):.0f} µs per hit** "
    f"(int3 exit, the original instruction under TF, its #DB exit)")

with open(os.path.join(OUT, "summary.md"), "a") as f:
    f.write("\n".join(lines) + "\n")
shutil.rmtree(work, ignore_errors=True)
