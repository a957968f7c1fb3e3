# A monitor that uses every subscription and question once (MonitorTests.testASessionAtEveryLevel),
# and writes what it saw to the JSON file named by its argument.
import json
import sys

out = {"perl": [], "sql_when": [], "sql_table": [], "opens": [], "code": [], "watch": [], "errors": []}
next_id = 0


def send(request):
    global next_id
    next_id += 1
    request["id"] = next_id
    print(json.dumps(request), flush=True)
    return next_id


def receive():
    return json.loads(sys.stdin.readline())


def ask(request):
    """The answer to one request: its result, or its error text."""
    n = send(request)
    m = receive()
    assert m["id"] == n, m
    return m.get("result", m.get("error"))


hello = receive()
out["hello"] = hello
subs = {
    "perl": ask({"request": "subscribe", "kind": "perl", "when": "$bal{alice} < 0"})["subscription"],
    "sql_when": ask({"request": "subscribe", "kind": "sql",
                     "when": "SELECT bal < 0 FROM acct WHERE name = 'alice'"})["subscription"],
    "sql_table": ask({"request": "subscribe", "kind": "sql", "table": "acct"})["subscription"],
    "opens": ask({"request": "subscribe", "kind": "syscall", "filter": "openat path=*ledger.txt"})["subscription"],
    "code": ask({"request": "subscribe", "kind": "code", "symbol": "sqlite3_prepare_v2"})["subscription"],
}
names = {v: k for k, v in subs.items()}
out["early"] = ask({"request": "registers"})
out["bad_kind"] = ask({"request": "subscribe", "kind": "nonsense"})
out["bad_filter"] = ask({"request": "subscribe", "kind": "perl", "when": "$x +* 2"})
ask({"request": "continue"})
while True:
    m = receive()
    if m["type"] == "end":
        out["end"] = m
        break
    kind = names.get(m["subscription"], "watch")
    seen = {"position": m["position"], "details": m["details"]}
    if kind == "perl":
        seen["value"] = ask({"request": "perl", "expression": "$bal{alice}, $bal{bob}"})["value"]
        seen["clone"] = ask({"request": "perl", "expression": "join(',', sort keys %bal)"})["value"]
        seen["unknown"] = ask({"request": "frobnicate"})
    elif kind == "sql_when":
        seen["database"] = ask({"request": "database", "output": "then.db"})
        seen["again"] = ask({"request": "database", "output": "then.db"})
    elif kind == "opens":
        seen["file"] = ask({"request": "file", "path": "ledger.txt"})
        values = ask({"request": "perl", "expression": "$bal{alice}, $i"})
        seen["values"] = values["value"] if isinstance(values, dict) else values
    elif kind == "code":
        regs = ask({"request": "registers"})["registers"]
        seen["rip"] = int(regs["rip"], 16)
        seen["lookup"] = ask({"request": "lookup", "symbol": "sqlite3_prepare_v2"})["addresses"]
        seen["bytes"] = ask({"request": "memory", "address": regs["rip"], "length": 4})["hex"]
        seen["symbolize"] = ask({"request": "symbolize", "address": seen["rip"]})["symbol"]
        # One arrival is enough; then watch the word below the stack pointer until it changes.
        ask({"request": "unsubscribe", "subscription": subs["code"]})
        rsp = int(regs["rsp"], 16)
        out["watch_sub"] = ask({"request": "subscribe", "kind": "watch", "address": rsp - 64, "length": 8})
    elif kind == "watch":
        ask({"request": "unsubscribe", "subscription": m["subscription"]})
        seen["again"] = ask({"request": "unsubscribe", "subscription": m["subscription"]})
    out[kind].append(seen)
    ask({"request": "print", "text": "seen " + kind})
    ask({"request": "continue"})
json.dump(out, open(sys.argv[1], "w"), indent=1)
