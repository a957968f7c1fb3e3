"""The statement after which a hash key first held a value.

    revenant monitor run.rvt -- python3 Docs/examples/first_value.py bal alice -2

prints (a `print` request, so on revenant's stdout), then stops the replay:

    $bal{alice} first held -2 before statement #2380 at bank.pl:9 (event 1073; statement #2379,
    the one that ran just before, set it; paste: --at perl:bank.pl:9:3)

One subscription, {"kind": "perl", "when": "$bal{'alice'} == -2"}: the VMM evaluates the
expression before every Perl statement, reading perl's memory, and notifies where it becomes true.
A VALUE that looks like a number (-2, 3.5, 1e3) is compared with ==, so 3.50 finds 3.5; any other
with eq. HASH is a hash variable's name without the % (a lexical or a package variable, `main::h`),
KEY and VALUE are taken literally. Exit status 0 when found, 1 when the key never held the value.

The notification comes before the first statement where the expression is true, i.e. right after
the statement that made it true: its number is one less (`revenant log TRACE perl` shows its line;
with several statements on a line, that line may be the same one).
"""
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the examples
from monitor import Monitor, fail

if len(sys.argv) != 4:
    fail("usage: first_value.py HASH KEY VALUE", status=2)
name, key, value = sys.argv[1:]
if not re.fullmatch(r"\w+(::\w+)*", name):
    fail(f"{name!r} is not a hash's name (bal, main::bal)", status=2)


def quoted(s):
    """A single-quoted Perl string."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


number = re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value)
expression = f"${name}{{{quoted(key)}}} " + (f"== {value.lstrip('+')}" if number else f"eq {quoted(value)}")
m = Monitor()
m.subscribe(kind="perl", when=expression)
found = False
for n in m.notifications():
    p, statement = n["position"], n["details"]["statement"]
    setter = (f"statement #{statement - 1}, the one that ran just before, set it" if statement > 0
              else "true from the first statement")
    m.say(f"${name}{{{key}}} first held {value} before statement #{statement} at {p['perl']} "
          f"(event {p['event']}; {setter}; paste: --at {p.get('at', '?')})")
    found = True
    m.stop()
sys.exit(0 if found else 1)
