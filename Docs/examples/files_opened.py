"""An extra index: every file the program opened, with the Perl line and the SQL statement around
the open, written to its own SQLite file (table `opened`).

    revenant monitor run.rvt -- python3 Docs/examples/files_opened.py opened.sqlite
    sqlite3 opened.sqlite 'SELECT * FROM opened'
"""
import os
import re
import sqlite3
import sys

from monitor import Monitor

if len(sys.argv) != 2:
    sys.exit("usage: files_opened.py OUT.sqlite")
if os.path.exists(sys.argv[1]):
    sys.exit(f"files_opened.py: {sys.argv[1]} exists")
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE opened(event INTEGER, path TEXT, flags TEXT, result TEXT, perl TEXT, perl_caller TEXT,"
           " sql INTEGER)")
m = Monitor()
m.subscribe(kind="syscall", filter="open*")
call = re.compile(r'^\w+\((?:AT_FDCWD|\d+), ("(?:[^"\\]|\\.)*"), ([^,)]*).*\) = (.*)$')
count = 0
for n in m.notifications():
    c = call.match(n["details"]["call"])
    if not c:
        continue
    path, flags, result = c.group(1)[1:-1], c.group(2), c.group(3)
    p = n["position"]
    db.execute("INSERT INTO opened VALUES (?, ?, ?, ?, ?, ?, ?)",
               (p["event"], path, flags, result, p["perl"], p.get("perl_caller"), p["sql"]))
    count += 1
db.commit()
print(f"files_opened.py: {count} opens written to {sys.argv[1]}", file=sys.stderr)
