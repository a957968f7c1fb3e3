# A monitor for the tests: subscribes to what its arguments say (each a JSON subscribe request
# without "request") and prints every notification through revenant, one line each:
# KIND AT key=value... (details in key order, `call` left out).
import json
import sys


def ask(request):
    print(json.dumps(request), flush=True)
    return json.loads(sys.stdin.readline())


json.loads(sys.stdin.readline())
for spec in sys.argv[1:]:
    reply = ask(dict(json.loads(spec), request="subscribe"))
    if reply["type"] != "reply":
        sys.exit("report.py: " + reply["error"])
ask({"request": "continue"})
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "end":
        break
    details = " ".join(f"{k}={v}" for k, v in sorted(m["details"].items()) if k != "call")
    ask({"request": "print", "text": f"{m['kind']} {m['position'].get('at', '-')} {details}"})
    ask({"request": "continue"})
