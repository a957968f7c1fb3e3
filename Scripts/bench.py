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

def run(cmd, env=None, stdin=None):
    t0 = time.perf_counter()
    inp = open(stdin) if stdin else subprocess.DEVNULL
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=inp)
    finally:
        if stdin: inp.close()
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return dt, p.stdout.decode(), p.stderr.decode()

def have(tool):
    return shutil.which(tool) is not None

PERL = "/usr/bin/perl"
R = [BIN, "run", "--"]
RX = [BIN, "run", "--syscall-path", "exit", "--"]
RT = [BIN, "run", "--syscall-path", "trap", "--"]

# Inputs for the syscall-heavy script (made once, outside the timings).
with open("big.txt", "w") as f:
    line = "x" * 63 + "\n"
    f.write(line * (50 * 1024 * 1024 // 64))
os.makedirs("files", exist_ok=True)
for i in range(100):
    open(f"files/f{i}", "w").write("f\n")

with open("insert100k.sql", "w") as f:
    f.write("DROP TABLE IF EXISTS t;\nCREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\nBEGIN;\n")
    for i in range(100000):
        f.write(f"INSERT INTO t(name, v) VALUES ('name{i}', {i * 0.5});\n")
    f.write("COMMIT;\nSELECT count(*), sum(v) FROM t;\n")

workloads = {
    # Its targets are a few percent, the host's noise ±40% between runs: more rounds, and the
    # best-to-best ratio beside the median (noise only ever adds time).
    "cpu": {"args": [PERL, os.path.join(BENCH, "cpu.pl"), "2000000"],
            "variants": ["native", "run", "run-trap", "record", "replay"], "rounds": 11},
    # Tens of milliseconds each, and noisy (±20% between rounds on the PVM hosts): more rounds.
    "perl -e 1": {"args": [PERL, "-e", "1"],
                  "variants": ["native", "run", "run-trap", "run-exits", "record", "replay", "strace", "qemu"],
                  "rounds": 25},
    "syscall-heavy": {"args": [PERL, os.path.join(BENCH, "syscall_heavy.pl"), "big.txt", "files"],
                      "variants": ["native", "run", "run-trap", "run-exits", "record", "replay", "strace", "qemu"],
                      "rounds": 3},
    "sqlite 100k inserts": {"args": ["/usr/bin/sqlite3", "bench.db"], "stdin": "insert100k.sql",
                            "variants": ["native", "run", "record", "replay"]},
    # Child processes (one VMM per guest process), recorded and replayed (one stream each).
    "spawn x200": {"args": [PERL, os.path.join(BENCH, "spawn.pl"), "200"],
                   "variants": ["native", "run", "record", "replay"]},
    "50 children working": {"args": [PERL, os.path.join(BENCH, "children.pl"), "50"],
                            "variants": ["native", "run", "record", "replay"]},
}

def command(variant, args, name=""):
    trace = os.path.join(work, "bench-" + name.replace(" ", "_") + ".rvt")
    if variant == "native": return args
    if variant == "run": return R + args
    if variant == "run-exits": return RX + args
    if variant == "run-trap": return RT + args
    if variant == "record": return [BIN, "record", "-o", trace, "--force", "--"] + args
    if variant == "replay": return [BIN, "replay", "--quiet", trace]
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
traces = []
say("| workload | variant | median time | ratio to native (median, min–max; best to best) |")
say("|---|---|---:|---|")
for name, w in workloads.items():
    variants = [v for v in w["variants"] if (v != "strace" or have("strace")) and (v != "qemu" or have("qemu-x86_64"))]
    times = {v: [] for v in variants}
    if "replay" in variants:
        run(command("record", w["args"], name), stdin=w.get("stdin"))  # the trace the replays read
    for _ in range(w.get("rounds", ROUNDS)):
        for v in variants:
            times[v].append(run(command(v, w["args"], name), stdin=w.get("stdin"))[0])
    for v in variants:
        ratios = [t / n for t, n in zip(times[v], times["native"])]
        extra = ""
        if v in ("record", "replay") and "run" in times:
            rr = [t / n for t, n in zip(times[v], times["run"])]
            extra = f"; {statistics.median(rr):.2f} of run"
        if v == "replay":
            rr = [t / n for t, n in zip(times["replay"], times["record"])]
            extra += f", {statistics.median(rr):.2f} of record"
        best = min(times[v]) / min(times["native"])
        say(f"| {name} | {v} | {statistics.median(times[v])*1000:.1f} ms | "
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}; best {best:.3f}){extra} |")
    if "record" in variants:
        info = subprocess.run([BIN, "info", command("record", w["args"], name)[3]], stdout=subprocess.PIPE).stdout.decode()
        sizes = [l.strip() for l in info.splitlines() if l.startswith(("events:", "sizes:", "per syscall:"))]
        traces.append((name, sizes))

say()
say("## Trace sizes (`revenant info`)")
say()
for name, sizes in traces:
    say(f"- {name}: " + "; ".join(sizes))

# Bytes per syscall event after compression, payload excluded: a run of syscalls with no payload.
tr = os.path.join(work, "getppid.rvt")
run([BIN, "record", "-o", tr, "--force", "--", PERL, os.path.join(BENCH, "getppid.pl"), "100000"])
base_tr = os.path.join(work, "base.rvt")
run([BIN, "record", "-o", base_tr, "--force", "--", PERL, os.path.join(BENCH, "getppid.pl"), "1"])
ev = os.path.getsize(os.path.join(tr, "events")) - os.path.getsize(os.path.join(base_tr, "events"))
say()
say(f"Trace bytes per syscall event after compression, payload excluded (100,000 getppid minus 1): "
    f"{ev / 100000:.2f} B")

# Syscall round trip, in µs per getppid, measured inside the guest (startup excluded).
say()
say("## getppid round trip (µs per call, median of rounds)")
say()
say("| condition | native | fast (default, no trap) | trap + mailbox | exits only | PVM trap alone (probe) |")
say("|---|---:|---:|---:|---:|---:|")
gp = [PERL, os.path.join(BENCH, "getppid.pl"), "20000"]
probe = [PERL, os.path.join(BENCH, "probe.pl"), "20000"]
for cond in ["idle other core", "CPU hog on the other core"]:
    hog = subprocess.Popen([PERL, "-e", "1 while 1"]) if cond != "idle other core" else None
    try:
        res = {"native": [], "run": [], "run-trap": [], "run-exits": [], "probe": []}
        for _ in range(ROUNDS):
            for v in res:
                # The probe through a trap: on the fast path the stub would answer it without one.
                cmd = command("run-trap", probe) if v == "probe" else command(v, gp)
                res[v].append(float(run(cmd)[1].strip()))
    finally:
        if hog: hog.kill(); hog.wait()
    say(f"| {cond} | {statistics.median(res['native']):.2f} | {statistics.median(res['run']):.2f} | "
        f"{statistics.median(res['run-trap']):.2f} | {statistics.median(res['run-exits']):.2f} | "
        f"{statistics.median(res['probe']):.2f} |")
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
helps = [run([BIN, "--help"])[0] for _ in range(max(ROUNDS, 10))]
say(f"`revenant --help`: median {statistics.median(helps) * 1000:.2f} ms over {len(helps)} runs")
say()
say("```\n" + err.strip() + "\n```")

# Issue #5: the Perl shim's cost and regeneration speed.
say()
say("## Perl shim and regeneration")
say()
SHIM_LIB = os.path.join(ROOT, ".build", "shims", "perl", "lib")
STMTS = os.path.join(ROOT, "Shims", "perl", "bench", "statements.pl")
shutil.copy(STMTS, "statements.pl")
if have("valgrind"):
    n = os.environ.get("BENCH_SHIM_N", "200000")
    def irefs(cmd, env_extra=None):
        env = dict(os.environ, **(env_extra or {}))
        _, _, err = run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"] + cmd, env=env)
        m = re.search(r"I\s+refs:\s+([\d,]+)", err)
        return int(m.group(1).replace(",", ""))
    plain = irefs([PERL, "statements.pl", n])
    shim = irefs([PERL, "-I" + SHIM_LIB, "-MRevenant::Shim", "statements.pl", n], {"REVENANT_SHIM_LOG": "/dev/null"})
    dbg = irefs([PERL, "-d", "statements.pl", n], {"PERL5DB": "sub DB::DB {}"})
    # Quiet: the shim as `record` runs it (no statement records; Docs/channel-format.md "Quiet").
    quiet_env = {"REVENANT_SHIM_LOG": "/dev/null", "REVENANT_SHIM_QUIET": "1"}
    quiet = irefs([PERL, "-I" + SHIM_LIB, "-MRevenant::Shim", "statements.pl", n], quiet_env)
    say(f"User-space instructions (cachegrind, statements.pl {n}): no shim {plain:,}; shim {shim:,} "
        f"(**{shim / plain:.3f}**, target ≤ 1.10); quiet, as `record` runs it, {quiet:,} (**{quiet / plain:.3f}**); "
        f"`perl -d` with an empty DB::DB {dbg:,} ({dbg / plain:.3f})")
    # What `record` adds to a CPU-bound script (the `cpu` workload above) is the shim's statement hook.
    cpu = [os.path.join(BENCH, "cpu.pl"), n]
    plain = irefs([PERL] + cpu)
    shim = irefs([PERL, "-I" + SHIM_LIB, "-MRevenant::Shim"] + cpu, {"REVENANT_SHIM_LOG": "/dev/null"})
    quiet = irefs([PERL, "-I" + SHIM_LIB, "-MRevenant::Shim"] + cpu, quiet_env)
    say(f"User-space instructions (cachegrind, cpu.pl {n}): no shim {plain:,}; shim {shim:,} "
        f"(**{shim / plain:.3f}**); quiet, as `record` runs it, {quiet:,} (**{quiet / plain:.3f}**)")
    say()
# Wall clock in the VM, interleaved: record with the shim vs without.
args = [PERL, "statements.pl", "1000000"]
t = {"native": [], "none": [], "auto": []}
for _ in range(ROUNDS):
    t["native"].append(run(args)[0])
    t["none"].append(run([BIN, "record", "-o", "s-none.rvt", "--force", "--shims", "none", "--"] + args)[0])
    t["auto"].append(run([BIN, "record", "-o", "s-auto.rvt", "--force", "--shims", "auto", "--"] + args)[0])
ra = [a / b for a, b in zip(t["auto"], t["none"])]
say(f"`record --shims auto` / `--shims none` on statements.pl 1000000 ({ROUNDS} interleaved rounds): "
    f"median **{statistics.median(ra):.3f}** ({min(ra):.3f}–{max(ra):.3f}), target ≤ 1.10; "
    f"none {statistics.median(t['none']):.2f} s, auto {statistics.median(t['auto']):.2f} s, native {statistics.median(t['native']):.2f} s")
say()
# Regeneration: statements per second and index bytes per statement.
run([BIN, "record", "-o", "regen.rvt", "--force", "--", PERL, "statements.pl", os.environ.get("BENCH_REGEN_N", "300000")])
rates, replay_ms = [], []
for _ in range(max(3, ROUNDS // 2)):
    _, out, _ = run([BIN, "regen", "regen.rvt", "--channel-out", "regen.channel"])
    m = re.search(r"regenerated (\d+) Perl statements .* in ([\d.]+) ms \(replay ([\d.]+) ms; (\d+) statements/s\)", out)
    stmts = int(m.group(1)); rates.append(int(m.group(4))); replay_ms.append(float(m.group(3)))
idx = os.path.getsize("regen.rvt/index.sqlite"); ch = os.path.getsize("regen.channel")
say(f"`regen` of {stmts:,} statements: median **{statistics.median(rates)/1e6:.2f} M statements/s** "
    f"({min(rates)/1e6:.2f}–{max(rates)/1e6:.2f}; target ≥ 1 M/s), of which the replay itself {statistics.median(replay_ms):.0f} ms; "
    f"index.sqlite {idx / stmts:.1f} bytes per statement; the channel {ch / stmts:.2f} bytes per statement")

# Issue #6: the SQLite shim's cost, the query log's size, time travel.
say()
say("## SQLite shim and time travel")
say()
with open("autocommit.sql", "w") as f:
    f.write("CREATE TABLE IF NOT EXISTS a(id INTEGER PRIMARY KEY, name TEXT);\n")
    for i in range(1000):
        f.write(f"INSERT INTO a(name) VALUES ('n{i}');\n")
with open("insert100k-trace.sql", "w") as f:
    f.write(".trace trace-out.txt\n" + open("insert100k.sql").read())
def fresh(db):
    for suffix in ("", "-journal", "-wal"):
        if os.path.exists(db + suffix): os.remove(db + suffix)
cases = [("100k inserts in one transaction", "insert100k.sql", "insert100k-trace.sql"), ("1000 autocommit inserts", "autocommit.sql", None)]
for label, session, traced in cases:
    t = {"none": [], "auto": [], "trace": []}
    for _ in range(ROUNDS):
        fresh("s.db"); t["none"].append(run([BIN, "record", "-o", "sq-none.rvt", "--force", "--shims", "none", "--", "/usr/bin/sqlite3", "s.db"], stdin=session)[0])
        fresh("s.db"); t["auto"].append(run([BIN, "record", "-o", "sq-auto.rvt", "--force", "--shims", "auto", "--", "/usr/bin/sqlite3", "s.db"], stdin=session)[0])
        if traced:
            fresh("s.db"); t["trace"].append(run([BIN, "record", "-o", "sq-trace.rvt", "--force", "--shims", "none", "--", "/usr/bin/sqlite3", "s.db"], stdin=traced)[0])
    ra = [a / b for a, b in zip(t["auto"], t["none"])]
    extra = ""
    if traced:
        rt = [a / b for a, b in zip(t["trace"], t["none"])]
        extra = f"; the CLI's own `.trace FILE` (no shim) {statistics.median(rt):.2f}"
    say(f"- {label}: `record --shims auto` / `--shims none` median **{statistics.median(ra):.2f}** "
        f"({min(ra):.2f}–{max(ra):.2f}){extra}; none {statistics.median(t['none'])*1000:.0f} ms, auto {statistics.median(t['auto'])*1000:.0f} ms")
# The log's size per statement, and restoring a 100k-statement log.
fresh("s.db")
run([BIN, "record", "-o", "sq.rvt", "--force", "--", "/usr/bin/sqlite3", "s.db"], stdin="insert100k.sql")
_, out, _ = run([BIN, "regen", "sq.rvt", "--channel-out", "sq.channel"])
m = re.search(r"(\d+) SQL statements", out)
n = int(m.group(1))
trace_bytes = os.path.getsize("trace-out.txt") / n if os.path.exists("trace-out.txt") else float("nan")
say(f"- Regenerated query log of the 100k-insert session ({n:,} statements): channel {os.path.getsize('sq.channel') / n:.1f} bytes per statement "
    f"(the CLI's `.trace` wrote {trace_bytes:.1f}); index.sqlite {os.path.getsize('sq.rvt/index.sqlite') / n:.1f} bytes per statement")
for pct in (10, 50, 100):
    at = max(0, n * pct // 100 - 1)
    times = [run([BIN, "sql", "sq.rvt", "--at", str(at), "--restore", "restored.db", "--force", "--no-machine-check"])[0] for _ in range(3)]
    say(f"- `sql --at {at} --restore` ({pct}% of the log): median {statistics.median(times)*1000:.0f} ms")
dt, out, _ = run([BIN, "sql", "sq.rvt", "--at", str(n - 1), "--restore", "restored.db", "--force"])
say(f"- The same at 100% with the machine-level cross-check (a replay of the run in the VM): {dt*1000:.0f} ms; {out.strip().split('; ')[-1]}")

# Issue #13: start-up against the number of arguments (was quadratic), and what checking a
# trace's blobs costs a replay.
say()
say("## Hostile input")
say()
say("| arguments | native `true` | `revenant run -- true` | ratio |")
say("|---:|---:|---:|---:|")
for count in (0, 10000, 50000):
    args = ["/usr/bin/true"] + [str(i) for i in range(count)]
    t = {"native": [], "run": []}
    for _ in range(ROUNDS):
        t["native"].append(run(args)[0])
        t["run"].append(run(R + args)[0])
    ratios = [a / b for a, b in zip(t["run"], t["native"])]
    say(f"| {count:,} | {statistics.median(t['native'])*1000:.1f} ms | {statistics.median(t['run'])*1000:.1f} ms | "
        f"{statistics.median(ratios):.1f} |")
import hashlib
blob_tr = os.path.join(work, "blobs.rvt")
run([BIN, "record", "-o", blob_tr, "--force", "--", PERL, "-e", "1"])
blob_dir = os.path.join(blob_tr, "blobs")
hash_times, replay_times = [], []
for _ in range(ROUNDS):
    t0 = time.perf_counter()
    total = 0
    for name in os.listdir(blob_dir):
        data = open(os.path.join(blob_dir, name), "rb").read()
        total += len(data)
        hashlib.sha256(data).hexdigest()
    hash_times.append(time.perf_counter() - t0)
    replay_times.append(run([BIN, "replay", "--quiet", blob_tr])[0])
say()
say(f"Replay checks every blob it maps against its digest: for `perl -e 1` ({total / 1e6:.1f} MB of blobs) "
    f"hashing them takes median {statistics.median(hash_times)*1000:.1f} ms (Python's hashlib: OpenSSL's "
    f"SHA-256, as fast as Revenant's on the SHA extensions), the whole `replay --quiet` "
    f"{statistics.median(replay_times)*1000:.1f} ms.")

with open(os.path.join(OUT, "summary.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
shutil.rmtree(work, ignore_errors=True)
print(f"\nwritten: {os.path.join(OUT, 'summary.md')}")
# Issue #7: the Perl-level replay (appends its section to summary.md).
os.chdir(ROOT)
subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "bench_perl_replay.py"), BIN], check=True)
# Issue #17: revenant gdb going backwards (appends its section to summary.md).
subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "bench_gdb.py"), BIN], check=True)
# Issue #17: revenant restore (appends its section to summary.md).
subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "bench_restore.py"), BIN], check=True)
# Issue #18: replicas (appends its section to summary.md).
subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "bench_replicas.py"), BIN], check=True)
# Issue #19: revenant monitor (appends its section to summary.md).
subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "bench_monitor.py"), BIN], check=True)
# Issue #19: revenant dap (appends its section to summary.md).
subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "bench_dap.py"), BIN], check=True)
