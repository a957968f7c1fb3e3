"""An extra index: every file the program opened, with the Perl line and the SQL statement around
the open, written to its own SQLite file (a new one; an existing OUT.sqlite is an error).

    revenant monitor run.rvt -- python3 Docs/examples/files_opened.py opened.sqlite
    sqlite3 opened.sqlite 'SELECT event, path, result, perl FROM opened'

It subscribes to the open* syscalls (open, openat, openat2, ...; `openat` alone on x86-64 Perl)
and at each notification parses `details.call`, as `log syscalls` prints it:

    openat(AT_FDCWD, "ledger.txt", 0x80441, 438) = 3
    openat(AT_FDCWD, "/usr/lib/locale/locale-archive", 0x80000, 0) = -1 ENOENT (No such file or directory)

Table opened(event, path, flags, result, perl, perl_caller, sql, call): the call's event, the path
(its C escapes undone; NULL for a call without one), the flags as printed (a number), the result
(the descriptor, or `-1 ENOENT (...)`), the Perl statement running (FILE:LINE), the program's own
line that called into the module when that is in a module, the SQL statement last started (the
number `sql --at` takes), and the call as printed. Nothing is asked while the replay is paused, so
each notification costs one round trip.

The summary goes to stderr (after `end` revenant reads no more requests, so it cannot be a
`print`); the SQLite file is the product.
"""
import os
import re
import sqlite3
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the examples
from monitor import Monitor, fail

if len(sys.argv) != 2:
    fail("usage: files_opened.py OUT.sqlite", status=2)
out = sys.argv[1]
if os.path.exists(out):
    fail(f"{out} exists", status=2)

# NAME(  [DIRFD, ] "PATH" or "PATH"... (longer than 256 bytes: cut)  [, FLAGS] ... ) = RESULT
CALL = re.compile(r'^(\w+)\((?:(?:AT_FDCWD|-?\d+|0x[0-9a-f]+), )?"((?:[^"\\]|\\.)*)"(\.\.\.)?(?:, ([^,)]*))?')


def unquote(text):
    """A path as `log syscalls` quotes it (printable ASCII, \\" \\\\ \\n \\xNN), as text."""
    raw = bytearray()
    for e in re.finditer(r'\\x([0-9a-f]{2})|\\(.)|([^\\]+)', text):
        if e.group(1):
            raw.append(int(e.group(1), 16))
        elif e.group(2):
            raw += b"\n" if e.group(2) == "n" else e.group(2).encode()
        else:
            raw += e.group(3).encode()
    return raw.decode("utf-8", errors="backslashreplace")


m = Monitor()
m.subscribe(kind="syscall", filter="open*")
db = sqlite3.connect(out)
db.execute("CREATE TABLE opened(event INTEGER, path TEXT, flags TEXT, result TEXT, perl TEXT, perl_caller TEXT,"
           " sql INTEGER, call TEXT)")
count = 0
for n in m.notifications():
    call = n["details"]["call"]
    c = CALL.match(call)
    path = flags = None
    if c:
        path = unquote(c.group(2)) + ("..." if c.group(3) else "")
        flags = c.group(4)
    result = call.rsplit(") = ", 1)[1] if ") = " in call else None
    p = n["position"]
    db.execute("INSERT INTO opened VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (p["event"], path, flags, result, p["perl"], p.get("perl_caller"), p["sql"], call))
    count += 1
db.commit()
db.close()
print(f"files_opened.py: {count} opens ({m.end['reason']} after {m.end['events']} events) written to {out}",
      file=sys.stderr)
