#!/usr/bin/env python3
"""`make bench`: Revenant against native (and strace, qemu-user) in interleaved rounds.

Every round runs every variant once, so the machine's drift (±40% here) hits all variants alike;
ratios are per round, and the table gives their median and range. Results: bench-results/.
"""
import os, re, shutil, statistics, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/revenant")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "Bench")
OUT = os.path.join(ROOT, "bench-results")
os.makedirs(OUT, exist_ok=True)
work = tempfile.mkdtemp(prefix="revenant-bench-")
os.chdir(work)

def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return dt, p.stdout.decode(), p.stderr.decode()

def have(tool):
    return shutil.which(tool) is not None

PERL = "/usr/bin/perl"
R = [BIN, "run", "--"]
RX = [BIN, "run", "--syscall-path", "exit", "--"]

# Inputs for the syscall-heavy script (made once, outside the timings).
with open("big.txt", "w") as f:
    line = "x" * 63 + "\n"
    f.write(line * (50 * 1024 * 1024 // 64))
os.makedirs("files", exist_ok=True)
for i in range(100):
    open(f"files/f{i}", "w").write("f\n")

workloads = {
    "cpu": {"args": [PERL, os.path.join(BENCH, "cpu.pl"), "2000000"],
            "variants": ["native", "run"]},
    "perl -e 1": {"args": [PERL, "-e", "1"], "variants": ["native", "run", "run-exits", "strace", "qemu"]},
    "syscall-heavy": {"args": [PERL, os.path.join(BENCH, "syscall_heavy.pl"), "big.txt", "files"],
                      "variants": ["native", "run", "run-exits", "strace", "qemu"]},
}

def command(variant, args):
    if variant == "native": return args
    if variant == "run": return R + args
    if variant == "run-exits": return RX + args
    if variant == "strace": return ["strace", "-f", "-qq", "-o", "/dev/null"] + args
    if variant == "qemu": return ["qemu-x86_64", "-L", "/"] + args

lines = []
def say(s=""):
    print(s, flush=True)
    lines.append(s)

say(f"# Revenant benchmarks ({time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename}, {ROUNDS} interleaved rounds)")
say()
info = subprocess.run([BIN, "info"], stdout=subprocess.PIPE).stdout.decode()
say("```\n" + info.strip() + "\n```")
say()
say("| workload | variant | median time | ratio to native (median, min–max) |")
say("|---|---|---:|---|")
for name, w in workloads.items():
    variants = [v for v in w["variants"] if (v != "strace" or have("strace")) and (v != "qemu" or have("qemu-x86_64"))]
    times = {v: [] for v in variants}
    for _ in range(ROUNDS):
        for v in variants:
            times[v].append(run(command(v, w["args"]))[0])
    for v in variants:
        ratios = [t / n for t, n in zip(times[v], times["native"])]
        say(f"| {name} | {v} | {statistics.median(times[v])*1000:.1f} ms | "
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |")

# Syscall round trip, in µs per getppid, measured inside the guest (startup excluded).
say()
say("## getppid round trip (µs per call, median of rounds)")
say()
say("| condition | native | mailbox (default) | exits only | PVM trap alone (probe) |")
say("|---|---:|---:|---:|---:|")
gp = [PERL, os.path.join(BENCH, "getppid.pl"), "20000"]
probe = [PERL, os.path.join(BENCH, "probe.pl"), "20000"]
for cond in ["idle other core", "CPU hog on the other core"]:
    hog = subprocess.Popen([PERL, "-e", "1 while 1"]) if cond != "idle other core" else None
    try:
        res = {"native": [], "run": [], "run-exits": [], "probe": []}
        for _ in range(ROUNDS):
            for v in res:
                cmd = command("run", probe) if v == "probe" else command(v, gp)
                res[v].append(float(run(cmd)[1].strip()))
    finally:
        if hog: hog.kill(); hog.wait()
    say(f"| {cond} | {statistics.median(res['native']):.2f} | {statistics.median(res['run']):.2f} | "
        f"{statistics.median(res['run-exits']):.2f} | {statistics.median(res['probe']):.2f} |")
say()
say("The probe is a syscall number the guest stub answers itself: what the hypervisor's own `syscall` "
    "trap costs, the floor under any path that leaves the program.")

# VM start-up and what KVM counted for perl -e 1.
say()
say("## `perl -e 1` under `revenant run -v`")
say()
startup = []
for _ in range(ROUNDS):
    _, _, err = run([BIN, "run", "-v", "--", PERL, "-e", "1"])
    m = re.search(r"VM start-up ([\d.]+) ms", err)
    if m: startup.append(float(m.group(1)))
say(f"VM start-up (create VM, slots, page tables, vCPU state): median {statistics.median(startup):.2f} ms over {len(startup)} runs")
say()
say("```\n" + err.strip() + "\n```")

with open(os.path.join(OUT, "summary.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
shutil.rmtree(work, ignore_errors=True)
print(f"\nwritten: {os.path.join(OUT, 'summary.md')}")
