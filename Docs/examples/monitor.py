"""The monitor protocol (Docs/monitor-protocol.md) for the Python examples: the standard library only.
Not a monitor itself; the examples beside it import it (a script's own folder is on sys.path).

    from monitor import Monitor
    m = Monitor()                                   # reads revenant's hello, checks protocol 1
    m.subscribe(kind="syscall", filter="openat")    # the subscription's id
    for n in m.notifications():                     # continue is sent after each
        rip = m.ask("registers")["registers"]["rip"]
    # here revenant has sent `end` (m.end); it reads nothing more

A request revenant answers with an error ends the monitor (exit 1, the error on stderr), unless
it is sent with attempt(), which returns the error instead.
"""
import json
import os
import sys

PROGRAM = os.path.basename(sys.argv[0])


def fail(message, status=1):
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


class Monitor:
    def __init__(self):
        self.next_id = 0
        self.end = None
        self.stopped = False
        self.hello = self._receive()
        if self.hello.get("type") != "hello":
            fail(f"expected hello, revenant sent {self.hello.get('type')!r}")
        if self.hello.get("protocol") != 1:
            fail(f"this monitor speaks protocol 1, revenant speaks {self.hello.get('protocol')}", status=2)

    def _receive(self):
        line = sys.stdin.readline()
        if not line:
            fail("revenant closed the protocol")
        return json.loads(line)

    def attempt(self, request, **fields):
        """Send one request and wait for its answer: (result, None), or (None, revenant's error)."""
        self.next_id += 1
        print(json.dumps(dict(fields, request=request, id=self.next_id)), flush=True)
        # Between a request and its answer revenant sends nothing else.
        answer = self._receive()
        if answer.get("type") not in ("reply", "error") or answer.get("id") not in (self.next_id, None):
            fail(f"expected the answer to request {self.next_id} ({request}), revenant sent {answer}")
        if answer["type"] == "error":
            return None, answer["error"]
        return answer["result"], None

    def ask(self, request, **fields):
        """Send one request; its result. An error ends the monitor."""
        result, error = self.attempt(request, **fields)
        if error is not None:
            fail(f"{request} refused: {error}")
        return result

    def subscribe(self, **fields):
        return self.ask("subscribe", **fields)["subscription"]

    def unsubscribe(self, subscription):
        self.ask("unsubscribe", subscription=subscription)

    def say(self, text):
        """A line on revenant's stdout (a `print` request)."""
        self.ask("print", text=text)

    def notifications(self):
        """Starts the replay (`continue`); yields each notification and continues after it,
        unless the caller called stop(). Returns at `end` (kept in self.end)."""
        self.ask("continue")
        while True:
            message = self._receive()
            if message.get("type") == "end":
                self.end = message
                return
            if message.get("type") != "notification":
                fail(f"expected a notification, revenant sent {message}")
            yield message
            if self.stopped:
                self.end = self._receive()
                return
            self.ask("continue")

    def stop(self):
        """End the replay here (inside the notifications loop: the loop then ends)."""
        self.ask("stop")
        self.stopped = True
