"""A series of snapshots of an output file: after every write to it that changed it, the file as it
was then goes to DIR/0001, DIR/0002... (DIR is made; it must not exist), and DIR/index.txt says
where each was taken:

    revenant monitor run.rvt -- python3 Docs/examples/snapshots.py ledger.txt snaps
    cat snaps/index.txt        # 0001 event:986 perl bank.pl:14
                               # (a write in a module: ... perl DBD/SQLite.pm:220 (called at bank.pl:10))

PATH is absolute or relative to the run's working folder (as the `file` request takes it); an open
is PATH's when one of the two paths, PATH and the one the open names, ends with the other.

How: a write has no path to filter on, so the descriptors are followed. One subscription,
`open* path=*NAME result~^[0-9]` (NAME: PATH's last component), sees every successful open of a
file of that name; when the opened path ends in PATH, the monitor subscribes to `*write* fd=N`
(write, writev, pwrite64, pwritev...) and `close fd=N` for its descriptor N, and drops both at
the close. At each of those writes it asks for the file (the `file` request: another replay up to
there, a few tens of ms) and keeps a snapshot when the contents changed since the last one; an
error answer (the file not there yet) is noted on stderr and skipped. Not followed: descriptors
made by dup/dup2/fcntl, inherited, or passed to a child; a change by truncation alone. A buffered
writer (Perl's print) writes when it flushes, often at the close: the index names that line.
"""
import base64
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the examples
from monitor import Monitor, fail

if len(sys.argv) != 3:
    fail("usage: snapshots.py PATH DIR", status=2)
path, out = sys.argv[1:]
tail = os.path.normpath(path)
name = os.path.basename(tail)
if not name or "*" in name or "?" in name or "[" in name or " " in name:
    fail(f"{path!r}: give a file's path (no spaces or glob characters in its name)", status=2)
if os.path.exists(out):
    fail(f"{out} exists", status=2)

m = Monitor()
os.makedirs(out)
opens = m.subscribe(kind="syscall", filter=f"open* path=*{name} result~^[0-9]")
followed = {}  # descriptor -> (write subscription, close subscription)
last, count = None, 0
index = open(os.path.join(out, "index.txt"), "w")
for n in m.notifications():
    call, sub, p = n["details"]["call"], n["subscription"], n["position"]
    if sub == opens:
        opened = re.match(r'^\w+\((?:(?:AT_FDCWD|-?\d+), )?"((?:[^"\\]|\\.)*)"', call)
        fd = int(call.rsplit(") = ", 1)[1].split()[0], 0)
        a, b = opened.group(1) if opened else "", tail
        if (a == b or a.endswith("/" + b) or b.endswith("/" + a)) and fd not in followed:
            followed[fd] = (m.subscribe(kind="syscall", filter=f"*write* fd={fd}"),
                            m.subscribe(kind="syscall", filter=f"close fd={fd}"))
        continue
    fd = next((f for f, subs in followed.items() if sub in subs), None)
    if fd is None:
        continue
    if sub == followed[fd][1]:
        for s in followed.pop(fd):
            m.unsubscribe(s)
        continue
    result, error = m.attempt("file", path=path)
    if error is not None:
        print(f"snapshots.py: at {p.get('at')}: {error}", file=sys.stderr)
        continue
    data = base64.b64decode(result["base64"])
    if data != last:
        count += 1
        with open(os.path.join(out, f"{count:04}"), "wb") as f:
            f.write(data)
        caller = f" (called at {p['perl_caller']})" if p.get("perl_caller") else ""
        index.write(f"{count:04} {p.get('at', 'event:' + str(p['event']))} perl {p['perl']}{caller}\n")
        index.flush()
        last = data
index.close()
print(f"snapshots.py: {count} snapshots of {path} in {out}", file=sys.stderr)
