#!/usr/bin/env python3
"""`make bench`, replicas (issue #18): `run --replicas 2` and `--replicas 3` against `run` and
native, wall clock, in interleaved rounds, on CPU-bound and syscall-heavy Perl; detection latency
and recovery time of injected faults (`-v`); the replicas' resident memory with and without KSM.
Appends to bench-results/summary.md. The machine has two cores: three replicas share them.
"""
import os, re, shutil, statistics, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/revenant")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "Bench")
ROUNDS = int(os.environ.get("BENCH_REPLICA_ROUNDS", "3"))
OUT = os.path.join(ROOT, "bench-results", "summary.md")
work = tempfile.mkdtemp(prefix="revenant-bench-replicas-")
os.chdir(work)
with open("big.txt", "w") as f:
    f.write(("y" * 63 + "\n") * (10 * 1024 * 1024 // 64))
os.makedirs("files", exist_ok=True)
for i in range(100):
    open(f"files/f{i}", "w").write("f\n")


def timed(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}): {p.stderr[-400:]}")
    return time.perf_counter() - t, p.stderr


lines = ["", "## Replicas (`run --replicas N`; two cores: three replicas share them)", ""]
workloads = {
    "cpu.pl 1000000": ["perl", os.path.join(BENCH, "cpu.pl"), "1000000"],
    "syscall-heavy, 10 MB": ["perl", os.path.join(BENCH, "syscall_heavy.pl"), "big.txt", "files"],
}
variants = {"native": [], "run": [BIN, "run", "--"], "replicas 2": [BIN, "run", "--replicas", "2", "--"],
            "replicas 3": [BIN, "run", "--replicas", "3", "--"],
            # Two replicas without state comparisons, so without checkpoints: what they cost.
            "replicas 2 --compare-every 0": [BIN, "run", "--replicas", "2", "--compare-every", "0", "--"],
            # Without turns at the cores (Docs/replicas.md "Turns"): what they save.
            "replicas 2 --turns 0": [BIN, "run", "--replicas", "2", "--turns", "0", "--"],
            "replicas 3 --turns 0": [BIN, "run", "--replicas", "3", "--turns", "0", "--"]}
lines += ["| workload | native | run | --replicas 2 / run | --replicas 3 / run | the same with `--turns 0` "
          "| --replicas 2 --compare-every 0 / run |",
          "|---|---:|---:|---:|---:|---:|---:|"]
for name, args in workloads.items():
    times = {v: [] for v in variants}
    for _ in range(ROUNDS):
        for v, prefix in variants.items():
            times[v].append(timed(prefix + args)[0])
    ratio = lambda v: statistics.median([a / b for a, b in zip(times[v], times["run"])])
    lines.append(f"| {name} | {statistics.median(times['native'])*1000:.0f} ms | "
                 f"{statistics.median(times['run'])*1000:.0f} ms | {ratio('replicas 2'):.2f} | {ratio('replicas 3'):.2f} | "
                 f"{ratio('replicas 2 --turns 0'):.2f}, {ratio('replicas 3 --turns 0'):.2f} | "
                 f"{ratio('replicas 2 --compare-every 0'):.2f} |")

# Detection and recovery: a loop of stats, a flip in one backup's heap (state digest every 50
# events) and a killed backup, then the same in the primary (a backup takes its place); -v says
# how long each took.
with open("loop.pl", "w") as f:
    f.write("$| = 1; my $s = 0;\nfor my $i (1..20000) { $s += $i; print \"$i $s\\n\" if $i % 5000 == 0; "
            "my @st = stat('loop.pl'); }\n")
subprocess.run([BIN, "record", "--shims", "none", "-o", "loop.rvt", "--", "perl", "loop.pl"], check=True,
               stdout=subprocess.DEVNULL)
log = subprocess.run([BIN, "log", "loop.rvt", "syscalls", "--where", "path=loop.pl"], stdout=subprocess.PIPE,
                     text=True).stdout.splitlines()
addr = re.search(r'"loop.pl", (0x[0-9a-f]+)', log[-1]).group(1)
lines += ["", "| fault (3 replicas) | detected | recovery |", "|---|---|---|"]
for inject, extra in [(f"flip replica=2 event=4999 addr={addr} bit=0", ["--compare-every", "50"]),
                      ("kill replica=1 event=5000", []),
                      (f"flip replica=0 event=4999 addr={addr} bit=0", ["--compare-every", "50"]),
                      ("kill replica=0 event=5000", [])]:
    for _ in range(ROUNDS):
        _, err = timed([BIN, "run", "-v", "--replicas", "3"] + extra + ["--inject", inject, "--", "perl", "loop.pl"])
        detected = re.search(r"discarded \((.*?) after the injection", err)
        took = re.search(r"goes on live \((.*?) after replica", err)
        recovered = re.search(r"joins the vote \((.*?) after replica", err)
        recovery = (f"took the primary's place ({took.group(1)} after); " if took else "") + \
            (f"replaced {recovered.group(1)} after" if recovered else "not replaced (the run ended first)")
        lines.append(f"| `{inject}` | {detected.group(1) if detected else '-'} | {recovery} |")

# Two replicas: a difference names no culprit; both start again from the last verified checkpoint.
lines += ["", "| fault (2 replicas) | detected | recovery |", "|---|---|---|"]
for inject in [f"flip replica=0 event=4999 addr={addr} bit=0", f"flip replica=1 event=4999 addr={addr} bit=0",
               "kill replica=0 event=5000"]:
    for _ in range(ROUNDS):
        _, err = timed([BIN, "run", "-v", "--replicas", "2", "--compare-every", "50", "--inject", inject, "--",
                        "perl", "loop.pl"])
        detected = re.search(r"(?:discarded|end of the log) \((.*?) after the injection", err)
        start = re.search(r"from the checkpoint verified at event (\d+)", err)
        took = re.search(r"goes on live \((.*?) after replica", err)
        recovery = (f"from the checkpoint at event {start.group(1)}; " if start else "") + \
            (f"took the primary's place: {took.group(1)} after" if took else "no takeover")
        lines.append(f"| `{inject}` | {detected.group(1) if detected else '-'} | {recovery} |")

# A campaign: 200 single bit flips at random events, in results and in the heap, in each replica
# of three in turn, on a corpus script. Each must be masked (and said so) or detected, and none
# changes the output: a faulty backup is replaced, a faulty primary's place taken by a backup.
# A copy in the working directory: a checkout under /tmp is hidden by the guest's own /tmp.
shutil.copy(os.path.join(ROOT, "Tests", "Corpus", "perl", "closures.pl"), "closures.pl")
script = "closures.pl"
native = subprocess.run(["perl", script], stdout=subprocess.PIPE, text=True).stdout
subprocess.run([BIN, "record", "--shims", "none", "-o", "c.rvt", "--", "perl", script], check=True,
               stdout=subprocess.DEVNULL)
events = subprocess.run([BIN, "log", "c.rvt", "syscalls"], stdout=subprocess.PIPE, text=True).stdout.splitlines()
brks = [int(l.split()[-1], 16) for l in events if " brk(" in l]
import random
rng = random.Random(18)
def campaign(n, flips):
    """Random single bit flips in n replicas; each must be masked or detected and recovered."""
    counts = {"masked": 0, "detected in a backup": 0, "detected in the primary (its place taken)": 0, "wrong": 0}
    if n == 2:
        counts = {"masked": 0, "detected, both started again from a checkpoint": 0, "wrong": 0}
    for i in range(flips):
        replica, event = i % n, rng.randrange(40, len(events) - 10)
        if rng.random() < 0.5:
            flip = f"flip replica={replica} event={event} reg=RAX bit={rng.randrange(64)}"
        else:
            flip = (f"flip replica={replica} event={event} addr={hex(rng.randrange(brks[0], brks[-1]))} "
                    f"bit={rng.randrange(8)}")
        p = subprocess.run([BIN, "run", "--replicas", str(n), "--compare-every", "20", "--inject", flip, "--",
                            "perl", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        right = p.returncode == 0 and p.stdout == native
        if f"masked (no output or state of replica {replica} differed)" in p.stderr:
            kind = "masked"
        elif n == 2:
            kind = "detected, both started again from a checkpoint"
            right = right and "start again from the checkpoint verified" in p.stderr
        elif replica == 0:
            kind = "detected in the primary (its place taken)"
            right = right and "the place of the primary (replica 0)" in p.stderr
        else:
            kind = "detected in a backup"
            right = right and f"replica {replica}: fault:" in p.stderr
        counts[kind if right else "wrong"] += 1
        if not right:
            print(f"wrong: --replicas {n} {flip}: exit {p.returncode}: {p.stderr[-300:]}")
    return f"Flip campaign on closures.pl, {n} replicas, state every 20 events: " + \
        ", ".join(f"{v} {k}" for k, v in counts.items())


lines += ["", campaign(3, int(os.environ.get("BENCH_FLIPS", "200"))),
          "", campaign(2, int(os.environ.get("BENCH_FLIPS_2", "100")))]

# Memory: three replicas of a script holding 300,000 strings for 3 s, with and without KSM.
hold = ["perl", "-e", 'my @a = map { "x" x 100 } 1..300000; my $t = time; 1 while time - $t < 3; print scalar(@a), "\\n"']
lines.append("")
for ksm in ([], ["--ksm"]):
    _, err = timed([BIN, "run", "-v", "--replicas", "3"] + ksm + ["--"] + hold)
    summary = [l for l in err.splitlines() if l.startswith("revenant: replicas:")][-1]
    lines.append(f"- {'with' if ksm else 'without'} `--ksm`: " + summary.split(", ", 4)[-1])

with open(OUT, "a") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
shutil.rmtree(work, ignore_errors=True)
