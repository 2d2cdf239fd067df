"""A fake Slack Socket Mode endpoint: a WebSocket server on loopback (aiohttp, in its own thread and event loop).

The protocol, after Slack's Socket Mode documentation (api.slack.com/apis/socket-mode) and what slack_sdk's client
reads and writes (slack_sdk/socket_mode/request.py, response.py, async_client.py, aiohttp/__init__.py):

* The client asks `apps.connections.open` (tests/fakes/slack.py, with the App-Level Token) for a URL and opens it;
  `FakeSocketMode(slack)` makes that method hand out this server's URL, each with a fresh `ticket`.
* On connect the server sends `{"type": "hello", "num_connections": n, "connection_info": {"app_id": …}, …}`.
* Each request is an envelope: `{"envelope_id", "type": "slash_commands" | "interactive" | "events_api", "payload",
  "accepts_response_payload"}` (events also carry `retry_attempt` and `retry_reason`). The payload is what the HTTP
  request's body would carry: a command's form fields as strings, an interaction's JSON, an event callback.
* The client acknowledges an envelope with `{"envelope_id": …}`, plus `"payload": {…}` when it answers with a body
  (a view_submission's `response_action`, a command's immediate reply).
* `{"type": "disconnect", "reason": "refresh_requested" | "warning" | …}` asks the client to open a new connection.

Delivery goes to the newest open connection (waiting for one if there is none, as Slack holds a request briefly
while an app reconnects). `drop()` closes the newest connection's TCP stream with no WebSocket close frame and no
`disconnect` message: what a restarted load balancer or a lost network looks like to the client.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

from aiohttp import WSMsgType, web

from tests.fakes._server import Activity, wait_for
from tests.fakes.slack import FakeSlack

T = TypeVar("T")

APP_ID = "A111"
DELIVERY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Envelope:
    """One delivery of a request: `connection` is the index (from 1) of the connection it was sent on."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    connection: int
    retry_attempt: int = 0

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.type == "events_api":
            message |= {"retry_attempt": self.retry_attempt, "retry_reason": "timeout" if self.retry_attempt else ""}
        return message


@dataclass(frozen=True)
class Ack:
    """An acknowledgement from the client. `latency`: seconds since the latest delivery of its envelope (data for
    reports, never asserted on)."""

    envelope_id: str
    payload: dict[str, Any] | None
    connection: int
    latency: float | None


@dataclass
class Connection:
    """One WebSocket connection from the client. `closed_by`: "client" (a close frame; `close_code` is its code)
    or "server" (this fake closed or dropped it)."""

    index: int
    ticket: str
    issued: bool  # the ticket came from apps.connections.open
    closed: bool = False
    closed_by: str | None = None
    close_code: int | None = None
    unexpected: list[str] = field(default_factory=list)  # text frames that were not acks
    _ws: web.WebSocketResponse | None = field(default=None, repr=False)
    _transport: asyncio.Transport | None = field(default=None, repr=False)


class FakeSocketMode:
    """Socket Mode on 127.0.0.1 (random port) for `slack`; a context manager, like the other fakes."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._envelopes: list[Envelope] = []
        self._acks: list[Ack] = []
        self._delivered_at: dict[str, float] = {}
        # Acknowledgements and connections, so that a wait for one ends as soon as it arrives (a request over HTTP is
        # answered as soon as the bot answers it; one over the socket should be no slower).
        self._activity = Activity()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="FakeSocketMode", daemon=True)
        self._thread.start()
        self._call(self._serve())
        self.slack.socket_url = self.url
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._call(self._shutdown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/link/"

    # sending ---------------------------------------------------------------------------------------------

    def send(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = True,
        retry_attempt: int = 0,
        on: Connection | None = None,
    ) -> Envelope:
        """Deliver an envelope on the newest open connection (waiting up to DELIVERY_TIMEOUT for one), or `on` a
        given one (Slack may still use a connection it has sent `disconnect` on, until the client closes it)."""
        connection = on or self.wait_for(self._newest_open, DELIVERY_TIMEOUT)
        if connection.closed:
            raise ConnectionError(f"connection {connection.index} is closed")
        envelope = Envelope(
            envelope_id=envelope_id or str(uuid.uuid4()),
            type=type,
            payload=payload,
            accepts_response_payload=accepts_response_payload,
            connection=connection.index,
            retry_attempt=retry_attempt,
        )
        with self._lock:
            self._delivered_at[envelope.envelope_id] = time.monotonic()
        self._send_json(connection, envelope.message())  # raises if the connection closed meanwhile: not sent
        with self._lock:
            self._envelopes.append(envelope)
        return envelope

    def send_text(self, text: str, envelope_id: str | None) -> Envelope | None:
        """A text frame exactly as given (one Slack would never send), on the newest open connection. With an
        `envelope_id` (one the text carries) it is recorded as an envelope (type "raw"), so that `unacked` names it
        until the client acknowledges it."""
        connection = self.wait_for(self._newest_open, DELIVERY_TIMEOUT)
        assert connection._ws is not None
        if envelope_id is None:
            self._call(connection._ws.send_str(text))
            return None
        envelope = Envelope(envelope_id, "raw", {}, accepts_response_payload=True, connection=connection.index)
        with self._lock:
            self._delivered_at[envelope_id] = time.monotonic()
        self._call(connection._ws.send_str(text))
        with self._lock:
            self._envelopes.append(envelope)
        return envelope

    def redeliver(self, envelope: Envelope) -> Envelope:
        """The same envelope again (same envelope_id and payload), as Slack retries one it saw no ack for."""
        return self.send(
            envelope.type,
            envelope.payload,
            envelope_id=envelope.envelope_id,
            accepts_response_payload=envelope.accepts_response_payload,
            retry_attempt=envelope.retry_attempt + 1,
        )

    def disconnect(self, reason: str) -> Connection:
        """Send `disconnect` with `reason` on the newest open connection, and leave it open (the client closes it)."""
        connection = self.wait_for(self._newest_open, DELIVERY_TIMEOUT)
        self._send_json(connection, {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})
        return connection

    def drop(self) -> Connection:
        """Close the newest open connection's TCP stream without a close frame or a `disconnect` message."""
        connection = self.wait_for(self._newest_open, DELIVERY_TIMEOUT)
        with self._lock:
            connection.closed_by = "server"
        self._call(self._drop(connection))
        return connection

    # inspection ------------------------------------------------------------------------------------------

    @property
    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._connections)

    @property
    def envelopes(self) -> list[Envelope]:
        with self._lock:
            return list(self._envelopes)

    @property
    def acks(self) -> list[Ack]:
        with self._lock:
            return list(self._acks)

    def acks_for(self, envelope_id: str) -> list[Ack]:
        return [ack for ack in self.acks if ack.envelope_id == envelope_id]

    def unacked(self) -> list[Envelope]:
        """Envelopes (each id once) that no ack has answered."""
        acked = {ack.envelope_id for ack in self.acks}
        seen: dict[str, Envelope] = {}
        for envelope in self.envelopes:
            if envelope.envelope_id not in acked:
                seen.setdefault(envelope.envelope_id, envelope)
        return list(seen.values())

    def wait_ack(self, envelope_id: str, count: int = 1, timeout: float = DELIVERY_TIMEOUT) -> Ack:
        """The `count`-th ack of this envelope, once it has arrived."""

        def arrived() -> Ack | None:
            found = self.acks_for(envelope_id)
            return found[count - 1] if len(found) >= count else None

        return wait_for(arrived, timeout, self.describe, woken_by=self._activity)

    def wait_connections(self, count: int, timeout: float = DELIVERY_TIMEOUT) -> Connection:
        """The `count`-th connection, once the client has opened it (and been sent hello)."""

        def opened() -> Connection | None:
            found = self.connections
            return found[count - 1] if len(found) >= count else None

        return wait_for(opened, timeout, self.describe, woken_by=self._activity)

    def describe(self) -> str:
        lines = [
            f"  connection {c.index}: issued={c.issued} closed={c.closed} by={c.closed_by} code={c.close_code}"
            + (f" unexpected={c.unexpected}" if c.unexpected else "")
            for c in self.connections
        ]
        lines += [f"  sent {e.type} {e.envelope_id} on {e.connection}" for e in self.envelopes]
        lines += [f"  ack {a.envelope_id} on {a.connection}: {json.dumps(a.payload)[:200]}" for a in self.acks]
        return "\n".join(lines) or "  (nothing on the socket)"

    def wait_for(self, predicate: Callable[[], T | Literal[False] | None], timeout: float = DELIVERY_TIMEOUT) -> T:
        return wait_for(predicate, timeout, self.describe)

    # the server (runs on the fake's own loop) --------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "FakeSocketMode is not started"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=DELIVERY_TIMEOUT)

    def _newest_open(self) -> Connection | None:
        with self._lock:
            open_ones = [c for c in self._connections if not c.closed and c.closed_by is None and c._ws is not None]
        return open_ones[-1] if open_ones else None

    def _send_json(self, connection: Connection, message: dict[str, Any]) -> None:
        assert connection._ws is not None
        self._call(connection._ws.send_str(json.dumps(message)))

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._websocket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        for connection in self.connections:
            if connection._ws is not None and not connection.closed:
                connection.closed_by = connection.closed_by or "server"
                await connection._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _drop(self, connection: Connection) -> None:
        if connection._transport is not None:
            connection._transport.close()

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        ticket = request.query.get("ticket", "")
        issued = any(
            parse_qs(urlsplit(url).query).get("ticket") == [ticket] for url in list(self.slack.issued_socket_urls)
        )
        with self._lock:
            connection = Connection(index=len(self._connections) + 1, ticket=ticket, issued=issued)
            connection._ws, connection._transport = ws, request.transport
            open_count = sum(1 for c in self._connections if not c.closed) + 1
            self._connections.append(connection)
        hello = {
            "type": "hello",
            "num_connections": open_count,
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        await ws.send_str(json.dumps(hello))
        self._activity.mark()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._received(connection, message.data)
                    self._activity.mark()
        finally:
            with self._lock:
                connection.closed = True
                if connection.closed_by is None:
                    connection.closed_by = "client"
                    connection.close_code = ws.close_code
            self._activity.mark()
        return ws

    def _received(self, connection: Connection, text: str) -> None:
        now = time.monotonic()
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        with self._lock:
            if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
                connection.unexpected.append(text[:200])
                return
            envelope_id = message["envelope_id"]
            delivered = self._delivered_at.get(envelope_id)
            payload = message.get("payload")
            self._acks.append(
                Ack(
                    envelope_id=envelope_id,
                    payload=payload if isinstance(payload, dict) else None,
                    connection=connection.index,
                    latency=None if delivered is None else now - delivered,
                )
            )
