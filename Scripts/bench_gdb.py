#!/usr/bin/env python3
"""`make bench`, revenant gdb (issue #17): how long going backwards takes in a recording of ~10 s.

Bench/ticks.c runs 200 rounds of ~50 ms of computation without syscalls, each followed by a
stretch of ~100,000 instructions between two getppid calls in which tick() writes `last`. gdb
(batch, its Python for the clock) goes to the 151st call of tick, then backwards. Appends to
bench-results/summary.md.
"""
import os, re, subprocess, sys, tempfile

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/revenant")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("BENCH_GDB_ROUNDS", "3"))
work = tempfile.mkdtemp(prefix="revenant-bench-gdb-")
os.chdir(work)
subprocess.run(["gcc", "-g", "-O1", "-o", "ticks", os.path.join(ROOT, "Bench", "ticks.c")], check=True)
work_per_round = os.environ.get("BENCH_GDB_WORK", "220000000")
subprocess.run([BIN, "record", "-o", "t.rvt", "--shims", "none", "--", "./ticks", "200", work_per_round],
               check=True, stdout=subprocess.DEVNULL)

steps = [
    ("forward to the 151st call", ["break tick", "ignore 1 150", "continue"]),
    ("reverse-continue to the previous call", ["reverse-continue"]),
    ("reverse-continue again", ["reverse-continue"]),
    ("stepi, then reverse-stepi (back to a stop: one checkpoint resumed)", ["stepi", "__t", "reverse-stepi"]),
    ("reverse-stepi from a call (an event ~20 instructions before)", ["reverse-stepi"]),
    ("watch, reverse-continue (a write in a stretch of ~100k instructions)", ["delete", "watch last",
                                                                               "reverse-continue"]),
]
script = ["python import time"]
for i, (label, cmds) in enumerate(steps):
    script.append("python t=time.time()")
    for c in cmds:
        script.append("python t=time.time()" if c == "__t" else c)
    script.append(f'python print("BENCH {i} %.3f" % (time.time()-t))')
script += ["print last", "monitor where"]
open("t.gdb", "w").write("\n".join(script) + "\n")

times = {i: [] for i in range(len(steps))}
for _ in range(ROUNDS):
    p = subprocess.run(["gdb", "-batch", "-nx", "-ex", f"target remote | {BIN} gdb t.rvt", "-x", "t.gdb"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
    out = p.stdout.decode()
    for m in re.finditer(r"BENCH (\d+) ([\d.]+)", out):
        times[int(m.group(1))].append(float(m.group(2)))
    if "$1 = 146" not in out:
        sys.exit("bench_gdb: the session did not end where it should:\n" + out[-2000:])

host = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1).strip()
lines = ["", "## revenant gdb (issue #17)", "",
         f"A recording of ~10 s (Bench/ticks.c, 200 rounds), {ROUNDS} gdb sessions, {host}:", "",
         "| step | median | range |", "|---|---:|---:|"]
for i, (label, _) in enumerate(steps):
    t = sorted(times[i])
    lines.append(f"| {label} | {t[len(t) // 2]:.2f} s | {t[0]:.2f}–{t[-1]:.2f} s |")
text = "\n".join(lines) + "\n"
print(text)
with open(os.path.join(ROOT, "bench-results", "summary.md"), "a") as f:
    f.write(text)
