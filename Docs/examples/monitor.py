"""The monitor protocol (Docs/monitor-protocol.md) for Python monitors: the standard library only.

    from monitor import Monitor
    m = Monitor()                                   # reads revenant's hello
    m.subscribe(kind="syscall", filter="openat")    # the subscription's id
    for n in m.notifications():                     # the replay goes on after each
        print(m.ask("registers")["registers"]["rip"], file=sys.stderr)
"""
import json
import sys


class RequestFailed(Exception):
    """revenant answered a request with an error: its text."""


class Monitor:
    def __init__(self):
        self.next_id = 0
        self.hello = self._receive()
        if self.hello.get("protocol") != 1:
            sys.exit(f"{sys.argv[0]}: this monitor speaks protocol 1, revenant speaks {self.hello.get('protocol')}")
        self.end = None

    def _receive(self):
        line = sys.stdin.readline()
        if not line:
            sys.exit(f"{sys.argv[0]}: revenant closed the protocol")
        return json.loads(line)

    def ask(self, request, **fields):
        """Send one request; its result, or RequestFailed with revenant's error."""
        self.next_id += 1
        print(json.dumps(dict(fields, request=request, id=self.next_id)), flush=True)
        reply = self._receive()
        if reply["type"] == "error":
            raise RequestFailed(reply["error"])
        return reply["result"]

    def subscribe(self, **fields):
        return self.ask("subscribe", **fields)["subscription"]

    def say(self, text):
        """A line on revenant's stdout."""
        self.ask("print", text=text)

    def notifications(self):
        """Starts the replay; yields each notification, and continues after it unless the caller
        called stop(). Ends at `end` (kept in self.end)."""
        self.ask("continue")
        while True:
            message = self._receive()
            if message["type"] == "end":
                self.end = message
                return
            self.stopped = False
            yield message
            if self.stopped:
                self.end = self._receive()
                return
            self.ask("continue")

    def stop(self):
        """End the replay here (from inside the notifications loop)."""
        self.ask("stop")
        self.stopped = True
