# `make bench` (Scripts/bench_monitor.py): a monitor that subscribes to what its arguments say
# (each a JSON subscribe request without "request") and answers every notification with continue.
import json
import sys

sys.stdin.readline()
for i, spec in enumerate(sys.argv[1:] + [None]):
    request = {"request": "continue"} if spec is None else dict(json.loads(spec), request="subscribe")
    request["id"] = i
    print(json.dumps(request), flush=True)
    sys.stdin.readline()
count = 0
for line in sys.stdin:
    if '"type":"notification"' in line:
        count += 1
        sys.stdout.write('{"request":"continue"}\n')
        sys.stdout.flush()
        sys.stdin.readline()
print(count, file=sys.stderr)
