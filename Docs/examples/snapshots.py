"""A series of snapshots of an output file: after every write to a descriptor the program opened on
PATH, the file as it was then (the `file` request: another replay, up to there) goes to DIR/0001,
DIR/0002…, and DIR/index.txt says where each was taken.

    revenant monitor run.rvt -- python3 Docs/examples/snapshots.py out/report.txt snaps

Descriptors are followed by their opens (a glob on the path's name) and closes; a write to one of
them asks for the file, and a snapshot is kept when the contents changed.
"""
import base64
import os
import re
import sys

from monitor import Monitor, RequestFailed

if len(sys.argv) != 3:
    sys.exit("usage: snapshots.py PATH DIR")
path, out = sys.argv[1:]
os.makedirs(out)
m = Monitor()
opens = m.subscribe(kind="syscall", filter=f"open* path=*{os.path.basename(path)} result~^[0-9]")
closes = m.subscribe(kind="syscall", filter="close")
writes = m.subscribe(kind="syscall", filter="write")
fds, last, count = set(), None, 0
index = open(os.path.join(out, "index.txt"), "w")
for n in m.notifications():
    call = n["details"]["call"]
    fd = re.match(r"^\w+\((\d+)", call)
    if n["subscription"] == opens:
        fds.add(int(call.rsplit("= ", 1)[1]))
    elif n["subscription"] == closes and fd:
        fds.discard(int(fd.group(1)))
    elif n["subscription"] == writes and fd and int(fd.group(1)) in fds:
        try:
            data = base64.b64decode(m.ask("file", path=path)["base64"])
        except RequestFailed as e:
            print(f"snapshots.py: {e}", file=sys.stderr)
            continue
        if data != last:
            count += 1
            with open(os.path.join(out, f"{count:04}"), "wb") as f:
                f.write(data)
            p = n["position"]
            index.write(f"{count:04} {p.get('at', '?')} perl {p['perl']}\n")
            last = data
index.close()
print(f"snapshots.py: {count} snapshots of {path} in {out}", file=sys.stderr)
