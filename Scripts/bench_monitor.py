#!/usr/bin/env python3
"""`make bench`, revenant monitor (issue #19): what a notification costs, and a monitor on every Perl
statement against `perl --when` built in. Rounds interleaved; appends to bench-results/summary.md.

- Notification round trip: Bench/getppid.pl N replayed under Bench/monitor_continue.py subscribed to
  every getppid (N notifications, each answered `continue`) against the same monitor subscribed to
  nothing: (difference) / N.
- Perl statements: Bench/statements.pl replayed (a) by `perl --when '$s < 0' --path vm` (steps every
  statement in the VM and evaluates there; never true), (b) under a monitor subscribed to every
  statement (a notification each), (c) under a monitor subscribed to the same `when` (evaluated by
  the VMM: no notification).
"""
import json, os, re, statistics, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/revenant")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("BENCH_MONITOR_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_MONITOR_CALLS", "20000"))
STATEMENTS = int(os.environ.get("BENCH_MONITOR_STATEMENTS", "5000"))
MONITOR = ["/usr/bin/python3", os.path.join(ROOT, "Bench", "monitor_continue.py")]
work = tempfile.mkdtemp(prefix="revenant-bench-monitor-")
os.chdir(work)


def timed(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=1800)
    if p.returncode not in (0, 1):
        sys.exit(f"bench_monitor: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-1000:]}")
    return time.perf_counter() - t, p.stderr.decode()


def monitor(trace, *subscriptions):
    return [BIN, "monitor", trace, "--"] + MONITOR + [json.dumps(s) for s in subscriptions]


subprocess.run([BIN, "record", "-o", "g.rvt", "--shims", "none", "--", "perl",
                os.path.join(ROOT, "Bench", "getppid.pl"), str(CALLS)], check=True, stdout=subprocess.DEVNULL)
subprocess.run([BIN, "record", "-o", "s.rvt", "--", "perl", os.path.join(ROOT, "Bench", "statements.pl"),
                str(STATEMENTS)], check=True, stdout=subprocess.DEVNULL)
subprocess.run([BIN, "regen", "s.rvt"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

variants = {
    "none": monitor("g.rvt"),
    "getppid": monitor("g.rvt", {"kind": "syscall", "filter": "getppid"}),
    "perl --when": [BIN, "perl", "s.rvt", "--when", "$s < 0", "--path", "vm"],
    "monitor, every statement": monitor("s.rvt", {"kind": "perl"}),
    "monitor, when": monitor("s.rvt", {"kind": "perl", "when": "$s < 0"}),
}
times = {k: [] for k in variants}
counts = {}
for _ in range(ROUNDS):
    for k, cmd in variants.items():
        t, err = timed(cmd)
        times[k].append(t)
        last = err.strip().split("\n")[-1] if err.strip() else ""
        if last.isdigit():
            counts[k] = int(last)
if counts.get("getppid", 0) < CALLS:
    sys.exit(f"bench_monitor: {counts.get('getppid')} getppid notifications, expected at least {CALLS}")
med = {k: statistics.median(v) for k, v in times.items()}
per = (med["getppid"] - med["none"]) / counts["getppid"] * 1e6
host = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1).strip()
lines = ["", "## revenant monitor (issue #19)", "",
         f"{ROUNDS} interleaved rounds, medians, {host}:", "",
         f"- Notification round trip (Bench/monitor_continue.py, Python, answers `continue`): **{per:.1f} µs** "
         f"({counts['getppid']} notifications: {med['getppid']:.2f} s against {med['none']:.2f} s subscribed to "
         "nothing).", "",
         f"Bench/statements.pl {STATEMENTS} ({counts.get('monitor, every statement', '?')} statements):", "",
         "| replay | median | range | / `perl --when` |", "|---|---:|---:|---:|"]
for k in ["perl --when", "monitor, every statement", "monitor, when"]:
    t = sorted(times[k])
    lines.append(f"| {k} | {med[k]:.2f} s | {t[0]:.2f}–{t[-1]:.2f} s | {med[k] / med['perl --when']:.2f} |")
text = "\n".join(lines) + "\n"
print(text)
os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
with open(os.path.join(ROOT, "bench-results", "summary.md"), "a") as f:
    f.write(text)
