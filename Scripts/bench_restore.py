#!/usr/bin/env python3
"""`make bench`, revenant restore (issue #17): `restore --dir` at the middle of a run that wrote
100 MB in 10,000 writes (100 files, each appended to 100 times with 10,000 bytes), its time and the
bytes it read from the trace, beside a whole `replay --quiet` of the same trace. Appends to
bench-results/summary.md.
"""
import os, re, shutil, statistics, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/revenant")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("BENCH_RESTORE_ROUNDS", "3"))
work = tempfile.mkdtemp(prefix="revenant-bench-restore-")
os.chdir(work)
os.mkdir("out")
with open("w.pl", "w") as f:
    f.write("""my $block = "x" x 10_000; my @f;
for my $i (0 .. 99) { open($f[$i], '>>', sprintf("out/f%02d", $i)) or die }
for my $n (0 .. 9_999) {
    syswrite($f[$n % 100], $block) == 10_000 or die;
}
""")
subprocess.run([BIN, "record", "-o", "t.rvt", "--", "perl", "w.pl"], check=True)
subprocess.run([BIN, "regen", "-q", "t.rvt"], check=True, stdout=subprocess.DEVNULL)
written = sum(os.path.getsize(os.path.join("out", n)) for n in os.listdir("out"))


def timed(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return time.perf_counter() - t, p.stdout


restores, replays, line = [], [], ""
for r in range(ROUNDS):
    shutil.rmtree("then", ignore_errors=True)
    # Just before the 5,001st write: 50 MB written.
    t, line = timed([BIN, "restore", "t.rvt", "--at", "perl:w.pl:4:5001", "--dir", "then"])
    restores.append(t)
    t, _ = timed([BIN, "replay", "--quiet", "t.rvt"])
    replays.append(t)
restored = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk("then") for n in ns)
read = int(re.search(r"(\d+) bytes of events and pre-images read", line).group(1))
trace = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk("t.rvt") for n in ns)
text = [
    "",
    "## revenant restore (issue #17)",
    "",
    f"A run that wrote {written / 1e6:.0f} MB in 10,000 writes (100 files); `restore --dir` at its middle "
    f"(`perl:w.pl:4:5001`), median of {ROUNDS}:",
    "",
    f"- restore: {statistics.median(restores):.2f} s (rounds: {', '.join(f'{x:.2f}' for x in restores)}), "
    f"{restored / 1e6:.1f} MB restored, {read / 1e3:.0f} kB of events and pre-images read from the trace "
    f"(the whole trace, with the program and libraries the replay maps: {trace / 1e3:.0f} kB)",
    f"- the whole `replay --quiet` of that trace: {statistics.median(replays):.2f} s",
]
print("\n".join(text))
out = os.path.join(ROOT, "bench-results")
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "summary.md"), "a") as f:
    f.write("\n".join(text) + "\n")
os.chdir(ROOT)
shutil.rmtree(work, ignore_errors=True)
