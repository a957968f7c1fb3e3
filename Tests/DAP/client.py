# A small DAP client (DAPTests): drives `revenant dap` through a recorded session of loop.pl and
# writes what it saw at each stop to the JSON file named by its second argument.
# usage: client.py REVENANT TRACE OUT.json
import json
import os
import signal
import subprocess
import sys

signal.alarm(120)  # a session that hangs fails the test instead of waiting for its runner

revenant, trace, out = sys.argv[1:4]
p = subprocess.Popen([revenant, "dap"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
seq = 0
events = []


def send(command, **arguments):
    global seq
    seq += 1
    body = json.dumps({"seq": seq, "type": "request", "command": command, "arguments": arguments}).encode()
    p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    p.stdin.flush()
    return seq


def receive():
    length = None
    while True:
        line = p.stdout.readline()
        if not line:
            sys.exit("client.py: the adapter closed its output")
        if line == b"\r\n":
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(p.stdout.read(length))


def request(command, **arguments):
    n = send(command, **arguments)
    while True:
        m = receive()
        if m["type"] == "response" and m["request_seq"] == n:
            return m
        events.append(m)


def until(event):
    while True:
        for k, m in enumerate(events):
            if m.get("event") == event:
                return events.pop(k)
        events.append(receive())


def where():
    """The stop: its reason, frames, locals, and a few evaluations."""
    stopped = until("stopped")
    frames = request("stackTrace", threadId=1)["body"]["stackFrames"]
    scopes = request("scopes", frameId=0)["body"]["scopes"]
    local = {}
    for v in request("variables", variablesReference=scopes[0]["variablesReference"])["body"]["variables"]:
        local[v["name"]] = v["value"]
        if v["name"] == "@seen" and v["variablesReference"]:
            items = request("variables", variablesReference=v["variablesReference"])["body"]["variables"]
            local["@seen items"] = [i["value"] for i in items]
    package = request("variables", variablesReference=scopes[1]["variablesReference"])["body"]["variables"]
    return {"reason": stopped["body"]["reason"], "frames": [(f["name"], os.path.basename(f["source"]["path"]),
                                                            f["line"]) for f in frames],
            "locals": local, "package": [v["name"] for v in package]}


seen = {}
caps = request("initialize", adapterID="revenant", linesStartAt1=True)["body"]
seen["stepBack"] = caps.get("supportsStepBack")
until("initialized")
request("launch", trace=trace)
script = os.path.join(os.getcwd(), "loop.pl")
seen["breakpoints"] = request("setBreakpoints", source={"path": script}, breakpoints=[
    {"line": 12, "condition": "$i == 4"}, {"line": 6, "hitCondition": "3"}, {"line": 3},
    {"line": 10, "condition": "grep { /odd3/ } @seen"}, {"line": 12, "hitCondition": "every"}])["body"]["breakpoints"]
seen["exceptions"] = request("setExceptionBreakpoints", filters=["die"])["body"]["breakpoints"]
request("configurationDone")
seen["first"] = where()                   # line 6, third arrival (i = 3)
seen["first"]["k"] = request("evaluate", expression="$k", frameId=0)["body"]["result"]
request("continue", threadId=1)
seen["second"] = where()                  # line 12, i = 4
seen["second"]["clone"] = request("evaluate", expression="join('-', @seen)", frameId=0)["body"]["result"]
request("stepBack", threadId=1)
seen["back1"] = where()                   # line 7 in bump
seen["back1"]["count"] = request("evaluate", expression="$count{even}", frameId=0)["body"]["result"]
request("stepBack", threadId=1)
seen["back2"] = where()                   # line 6 in bump
seen["back2"]["count"] = request("evaluate", expression="$count{even}", frameId=0)["body"]["result"]
request("reverseContinue", threadId=1)
seen["reverse"] = where()                 # line 6 again, the third arrival
request("next", threadId=1)
seen["next"] = where()                    # line 7
request("stepOut", threadId=1)
seen["out"] = where()                     # back in the loop: line 12
request("continue", threadId=1)
seen["again"] = where()                   # line 12, i = 4
request("continue", threadId=1)
seen["clone"] = where()                   # line 10 where @seen has odd3 (a condition perl evaluates in a clone)
request("continue", threadId=1)
died = until("stopped")                   # before the statement that dies, in the eval
seen["died"] = {"reason": died["body"]["reason"], "text": died["body"].get("text"),
                "frames": [(f["name"], f["line"]) for f in request("stackTrace", threadId=1)["body"]["stackFrames"]],
                "odd": request("evaluate", expression="$count{odd}", frameId=0)["body"]["result"]}
# A breakpoint set at a stop counts from the next one (the replay under way aims at it).
request("setBreakpoints", source={"path": script}, breakpoints=[{"line": 16}])
request("continue", threadId=1)
seen["late"] = where()                    # line 16, after the eval
request("continue", threadId=1)
seen["exited"] = until("exited")["body"]
until("terminated")
request("disconnect")
seen["status"] = p.wait(timeout=30)
seen["outputs"] = [m["body"]["output"] for m in events if m.get("event") == "output"]
json.dump(seen, open(out, "w"), indent=1)
