"""The statement after which a hash key first held a value: `$HASH{KEY} eq VALUE` as a Perl
subscription (the VMM evaluates it at every statement, from perl's memory); the notification comes
right before the first statement where it is true, so the statement that set it ran just before.

    revenant monitor run.rvt -- python3 Docs/examples/first_value.py bal alice -2

Exit status 1 when the key never held the value.
"""
import sys

from monitor import Monitor

if len(sys.argv) != 4:
    sys.exit("usage: first_value.py HASH KEY VALUE")
name, key, value = sys.argv[1:]
quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
expression = f"${name}{{'{key}'}} eq {quoted}"
m = Monitor()
m.subscribe(kind="perl", when=expression)
found = False
for n in m.notifications():
    p = n["position"]
    m.say(f"${name}{{{key}}} first held {value} before statement #{n['details']['statement']} at {p['perl']} "
          f"(event {p['event']}; paste: --at {p.get('at', '?')})")
    found = True
    m.stop()
sys.exit(0 if found else 1)
