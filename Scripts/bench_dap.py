#!/usr/bin/env python3
"""`make bench`, revenant dap (issue #19): the time from a `stepBack` request to its `stopped`
event. Bench/statements.pl N is recorded; a DAP session stops at the loop's line where $i is 90%
of N, then steps back (the replay runs again from the start to the statement before). Appends to
bench-results/summary.md.
"""
import json, os, re, statistics, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/revenant")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("BENCH_DAP_ROUNDS", "5"))
N = int(os.environ.get("BENCH_DAP_STATEMENTS", "20000"))
work = tempfile.mkdtemp(prefix="revenant-bench-dap-")
os.chdir(work)
script = os.path.join(work, "statements.pl")
open(script, "w").write(open(os.path.join(ROOT, "Bench", "statements.pl")).read())
subprocess.run([BIN, "record", "-o", "s.rvt", "--", "perl", "statements.pl", str(N)], check=True,
               stdout=subprocess.DEVNULL)
subprocess.run([BIN, "regen", "s.rvt"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Client:
    def __init__(self):
        self.p = subprocess.Popen([BIN, "dap", "s.rvt"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.seq = 0

    def send(self, command, **arguments):
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def receive(self):
        length = None
        while True:
            line = self.p.stdout.readline()
            if not line:
                sys.exit("bench_dap: the adapter ended")
            if line == b"\r\n":
                return json.loads(self.p.stdout.read(length))
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])

    def until(self, event):
        while True:
            m = self.receive()
            if m.get("event") == event:
                return m


times = []
for _ in range(ROUNDS):
    c = Client()
    c.send("initialize", adapterID="bench")
    c.send("launch")
    c.send("setBreakpoints", source={"path": script}, breakpoints=[{"line": 5, "condition": f"$i == {N * 9 // 10}"}])
    c.send("configurationDone")
    c.until("stopped")
    t = time.perf_counter()
    c.send("stepBack", threadId=1)
    c.until("stopped")
    times.append(time.perf_counter() - t)
    c.send("disconnect")
    c.p.wait(timeout=60)
host = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1).strip()
t = sorted(times)
text = "\n".join([
    "", "## revenant dap (issue #19)", "",
    f"`stepBack` to its `stopped` event, {ROUNDS} sessions, {host}: Bench/statements.pl {N} "
    f"({N} iterations), stopped where $i is {N * 9 // 10}: **{statistics.median(t) * 1000:.0f} ms** "
    f"median ({t[0] * 1000:.0f}–{t[-1] * 1000:.0f} ms): the replay from the start to the statement before, "
    "stopping at each execution of the breakpoint's line to count its condition's hits on the way.", ""])
print(text)
with open(os.path.join(ROOT, "bench-results", "summary.md"), "a") as f:
    f.write(text)
