"""Shared plumbing for the fake HTTP servers: a threaded stdlib server, request recording, fault rules.

A subclass implements `handle(request) -> Reply | None`; `None` closes the connection without answering.
Every request is recorded *on arrival*, before any `hold` makes it wait, so a test can see that a request
is in flight while its answer is still being held back.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

POLL_INTERVAL = 0.02


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: Any  # the parsed JSON body, or None when the body is not JSON
    at: float  # time.time() on arrival
    query: str = ""

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(
    status: int,
    obj: Any,
    headers: dict[str, str] | None = None,
    *,
    content_type: str = "application/json; charset=utf-8",
    indent: int | None = None,
) -> Reply:
    body = json.dumps(obj, indent=indent).encode()
    return Reply(status, body, {"Content-Type": content_type, **(headers or {})})


def text_reply(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


@dataclass
class Rule:
    """A fault rule matching `method` (or "*") and a regex searched in the path."""

    method: str
    path_regex: str
    times: int = 1
    payload: Any = None

    def matches(self, request: RecordedRequest) -> bool:
        method_ok = self.method == "*" or self.method.upper() == request.method
        return method_ok and re.search(self.path_regex, request.path) is not None


class Activity:
    """A count of events (a fake's acknowledgements, say) that a wait can be woken by at once, instead of noticing
    them on its next poll."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.count = 0

    def mark(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until something happens after `seen` (a count read earlier), or `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.count != seen, timeout)


def wait_for(
    predicate: Callable[[], T | Literal[False] | None],
    timeout: float,
    describe: Callable[[], str],
    woken_by: Activity | None = None,
) -> T:
    """Check `predicate` every 20 ms, and at once on each event of `woken_by`, until it returns something truthy;
    AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = woken_by.count if woken_by is not None else 0
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s; received:\n{describe()}")
        if woken_by is not None:
            woken_by.wait(seen, POLL_INTERVAL)
        else:
            time.sleep(POLL_INTERVAL)


# How long fakes must have heard nothing before a test concludes that nothing more is coming (tests/e2e_harness.py
# settle): a bot's follow-on work reaches them within milliseconds of the request that set it off.
QUIET_SECONDS = 0.25
# How long a wait gives a condition before failing. A met condition returns at once, so this only bounds how long a
# real failure takes to show; it is generous because the suite must pass on a busy 2-core machine.
WAIT_SECONDS = 30.0


def wait_quiet(servers: Sequence[FakeServer], quiet: float = QUIET_SECONDS, timeout: float = WAIT_SECONDS) -> None:
    """Until every one of `servers` has had no request in flight and none arriving for `quiet` seconds."""
    wait_for(
        lambda: all(server.quiet_for() >= quiet for server in servers),
        timeout,
        lambda: "\n".join(f"{type(server).__name__}:\n{server.describe()}" for server in servers),
    )


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1 (random port) in a daemon thread. Use as a context manager.

    `observers` (shared by every fake) are called with each request as it is recorded (tests/secret_scan.py).
    """

    observers: ClassVar[list[Callable[[FakeServer, RecordedRequest], None]]] = []
    # Tests close every connection after its answer (a fault is then one request's alone); the benchmark keeps
    # them open, as Slack's and Trigger.dev's servers do, so clients pay for connecting once, not per call.
    keep_alive: bool = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._drops: list[Rule] = []
        self._holds: list[tuple[Rule, threading.Event]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self._last_activity = time.monotonic()  # a request's arrival or its answer, whichever came last
        self.max_in_flight = 0  # the most requests being handled at once so far (held ones included)
        # While the server refuses connections, its port stays held by this socket, bound but not listening (so a
        # connection is refused and no other program can take the port); accept_connections listens on it again.
        self._held: socket.socket | None = None

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        held, self._held = self._held, None
        server = _Server(("127.0.0.1", 0), _make_handler(self), bind_and_activate=held is None)
        if held is not None:
            server.socket.close()
            server.socket, server.server_address = held, held.getsockname()
            server.server_activate()
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(POLL_INTERVAL,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            if self._held is not None:  # stopped while refusing connections: the port is let go
                self._held.close()
                self._held = None
            return
        with self._lock:
            for _, event in self._holds:
                event.set()  # release held requests so their threads can finish
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            if self._held is not None:
                return f"http://127.0.0.1:{self._held.getsockname()[1]}"  # refusing, coming back on this port
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # outages ---------------------------------------------------------------------------------------------

    def refuse_connections(self) -> None:
        """Stop listening: every new connection is refused (ECONNREFUSED), as from a host that is down, until
        `accept_connections()` listens again on the same port. What was recorded and configured is kept."""
        if self._server is not None:
            held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            held.bind(self._server.server_address[:2])  # shares the port with the listener until it closes
            self.stop()
            self._held = held

    def accept_connections(self) -> None:
        """Listen again on the port `refuse_connections()` closed."""
        self.start()

    # recording -------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def calls(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests with this method ("*" for any) whose path matches `path_regex` (re.search)."""
        rule = Rule(method, path_regex)
        return [r for r in self.requests if rule.matches(r)]

    def describe(self) -> str:
        lines = [f"  {r.method} {r.path} {r.text()[:300]}" for r in self.requests]
        return "\n".join(lines) or "  (no requests)"

    def wait_for(self, predicate: Callable[[], T | Literal[False] | None], timeout: float = WAIT_SECONDS) -> T:
        return wait_for(predicate, timeout, self.describe)

    def quiet_for(self) -> float:
        """Seconds since the last request arrived or was answered; 0 while one is being handled."""
        with self._lock:
            return 0.0 if self._in_flight else time.monotonic() - self._last_activity

    # generic faults --------------------------------------------------------------------------------------

    def drop_next(self, method: str, path_regex: str, times: int = 1) -> None:
        """The next `times` matching requests get their connection closed without any answer."""
        with self._lock:
            self._drops.append(Rule(method, path_regex, times))

    def hold(self, method: str, path_regex: str) -> threading.Event:
        """Matching requests wait (each in its own thread) until the returned event is set."""
        event = threading.Event()
        with self._lock:
            self._holds.append((Rule(method, path_regex), event))
        return event

    def take(self, rules: list[Rule], request: RecordedRequest) -> Rule | None:
        """Consume one use of the first rule matching `request` (call with the lock NOT held)."""
        with self._lock:
            for rule in rules:
                if rule.times > 0 and rule.matches(request):
                    rule.times -= 1
                    return rule
        return None

    # request handling ------------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply | None:
        raise NotImplementedError

    def _serve(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self._requests.append(request)
            events = [event for rule, event in self._holds if rule.matches(request)]
            self._in_flight += 1
            self._last_activity = time.monotonic()
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        for observe in self.observers:
            observe(self, request)
        try:
            for event in events:
                event.wait()
            if self.take(self._drops, request) is not None:
                return None
            return self.handle(request)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._last_activity = time.monotonic()


class _Server(ThreadingHTTPServer):
    # SO_REUSEPORT, so that refuse_connections can hold the port with a second socket before the listener closes.
    allow_reuse_port = True


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _make_handler(owner: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command,
                path=parts.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                json=_parse_json(body),
                at=time.time(),
                query=parts.query,
            )
            try:
                reply = owner._serve(request)
            except Exception:  # a bug in the fake: make it visible to the client and in the test output
                reply = text_reply(500, "fake server error:\n" + traceback.format_exc())
            self.close_connection = True
            if reply is None:
                return  # the connection closes with no response: a network error for the client
            if owner.keep_alive:
                self.protocol_version = "HTTP/1.1"
                self.close_connection = False
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if not owner.keep_alive:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
