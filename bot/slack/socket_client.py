"""The Socket Mode door: slack_sdk's aiohttp SocketModeClient, every message through the front door first, and a
handover when Slack asks for a new connection.

Front door: each text frame, as slack_sdk's receiver hands it on, passes `body.envelope` (the same size and shape
checks, person and workspace, as an HTTP request in bot/server.py) before slack_sdk reads it. A malformed one is
acknowledged when its envelope id can be read (so Slack does not redeliver it), refused with one warning line and
its request line, and nothing of the bot runs for it. Every request that passes goes through slack_sdk's own path to
`SocketModeDoor.handle`, which hands it to Bolt as a Socket Mode request and always acknowledges it, whatever Bolt
answered.

Handover: Slack keeps a connection open for a while after a `disconnect` for `refresh_requested` or `warning` and
may still deliver requests on it, while slack_sdk closes the old connection before opening the new one and drops
what arrives meanwhile. For those two reasons a second client (slack_sdk's, unchanged) is connected first; the old
one goes on reading, its requests handled and acknowledged, until Slack closes it or it has been quiet for a ping
interval, and is then closed. Any other reason, and a connection that drops, take slack_sdk's own path.

The one point where this relies on how slack_sdk works inside: its receiver passes each text frame to
`enqueue_message` before parsing it (true of slack_sdk SLACK_SDK_VERSIONS; tests/test_socket_client.py fails when
that stops being so, or when another version is installed). Acknowledgements go out on the newest connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMessage
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import request_id
from bot.slack import body
from bot.slack.request_line import Seen, account

log = logging.getLogger(__name__)

SLACK_SDK_VERSIONS = (">=3.48", "<3.49")  # what the module doc's one assumption was checked against
HAND_OVER_REASONS = frozenset({"refresh_requested", "warning"})


class DoorClient(SocketModeClient):
    """slack_sdk's aiohttp client, each text frame screened by `door` before slack_sdk reads it."""

    def __init__(self, door: SocketModeDoor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.door = door
        self.activity = asyncio.Event()  # set by every frame, and when the connection closes
        self.on_close_listeners.append(self._closed)

    async def enqueue_message(self, message: str) -> None:
        self.activity.set()
        if self.door.admit(self, message):
            await super().enqueue_message(message)

    async def _closed(self, _: WSMessage) -> None:
        self.activity.set()


class SocketModeDoor:
    """The bot over Socket Mode: `connect`, then requests flow to Bolt until `close`. `app.client` (SLACK_API_URL)
    asks `apps.connections.open` for each connection's URL with the App-Level Token."""

    def __init__(self, app: AsyncApp, app_token: str, ping_interval: float) -> None:
        self.app = app
        self.app_token = app_token
        self.ping_interval = ping_interval
        self.client: DoorClient | None = None
        self._clients: set[DoorClient] = set()
        self._leaving: set[DoorClient] = set()  # handed over, or being handed over, to a newer connection
        self._tasks: set[asyncio.Task[None]] = set()

    def new_client(self) -> DoorClient:
        client = DoorClient(
            self,
            app_token=self.app_token,
            logger=self.app.logger,
            web_client=self.app.client,
            ping_interval=self.ping_interval,
        )
        client.socket_mode_request_listeners.append(self.handle)
        self._clients.add(client)
        return client

    async def connect(self) -> None:
        """Open the first connection (slack_sdk retries until it is open or the door is closed)."""
        self.client = self.new_client()
        await self.client.connect()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Close every connection; requests already handed to Bolt go on (the bot's drain finishes them)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()

    # the front door ----------------------------------------------------------------------------------------

    def admit(self, client: DoorClient, text: str) -> bool:
        """Whether slack_sdk may read this frame; a refused request is acknowledged and logged here."""
        try:
            envelope = body.envelope(text)
        except body.MalformedEnvelope as exc:
            with request_id.bound(request_id.new()):
                log.warning("ignored a malformed Socket Mode request: %s", exc)
                if exc.envelope_id is not None:
                    self._spawn(self._ack(SocketModeResponse(envelope_id=exc.envelope_id)))
                account(Seen(outcome="malformed"), 400, 0.0)
            return False
        return envelope is not None or not self._handed_over(client, text)

    def _handed_over(self, client: DoorClient, text: str) -> bool:
        message = json.loads(text)
        if message.get("type") != "disconnect":
            return False
        reason = str(message.get("reason"))
        log.info("Slack asked for a new Socket Mode connection (%s)", reason[:40])
        if client in self._leaving or client is not self.client:
            return True  # a connection being handed over already: nothing more to do for it
        if reason not in HAND_OVER_REASONS:
            return False  # slack_sdk reconnects this client itself
        self._leaving.add(client)
        self._spawn(self._hand_over(client))
        return True

    # requests ----------------------------------------------------------------------------------------------

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        """Run a request that passed the front door through Bolt and acknowledge it, under a request id of its own
        and with its request line, as bot/server.py does in HTTP mode."""
        started = time.perf_counter()
        data = req.payload
        seen = Seen(kind=body.kind(data) or "-", team=body.team_id(data) or "-", user=body.user_id(data) or "-")
        with request_id.bound(request_id.new()):
            headers: dict[str, str | Sequence[str]] = {}
            if req.retry_attempt is not None:
                headers["x-slack-retry-num"] = str(req.retry_attempt)
            if req.retry_reason is not None:
                headers["x-slack-retry-reason"] = req.retry_reason
            try:
                answer = await self.app.async_dispatch(AsyncBoltRequest(body=data, headers=headers, mode="socket_mode"))
            except Exception as exc:  # a request Bolt cannot even read: nothing was done for it
                log.warning("could not handle a %s request: %s", seen.kind, type(exc).__name__)
                answer = BoltResponse(status=500)
            await self._ack(_response(req.envelope_id, answer))
            if answer.status >= 400:
                seen.outcome = "failed" if answer.status >= 500 else "refused"
            account(seen, answer.status, time.perf_counter() - started)

    async def _ack(self, response: SocketModeResponse) -> None:
        client = self.client
        if client is None:
            return
        try:
            await client.send_socket_mode_response(response)
        except Exception as exc:  # the connection went away; Slack redelivers what it saw no ack for
            log.info("could not acknowledge a Socket Mode request (%s)", type(exc).__name__)

    # handover ----------------------------------------------------------------------------------------------

    async def _hand_over(self, old: DoorClient) -> None:
        new = self.new_client()
        await new.connect()  # type: ignore[no-untyped-call]
        if new.closed:
            return  # the door is closing
        self.client = new
        old.auto_reconnect_enabled = False  # Slack closing the old connection is expected now
        try:
            while await old.is_connected():
                old.activity.clear()
                try:
                    await asyncio.wait_for(old.activity.wait(), self.ping_interval)
                except TimeoutError:
                    break
        finally:
            self._clients.discard(old)
            self._leaving.discard(old)
            with contextlib.suppress(Exception):
                await old.close()  # type: ignore[no-untyped-call]
            log.info("the previous Socket Mode connection is closed")

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _response(envelope_id: str, answer: BoltResponse) -> SocketModeResponse:
    """The acknowledgement: with the answer's body as payload when there is one (a command's immediate reply, a
    view_submission's response_action); a bare acknowledgement for anything else, even a failure."""
    content = answer.body if answer.status == 200 and isinstance(answer.body, str) else ""
    if not content:
        return SocketModeResponse(envelope_id=envelope_id)
    content_type = answer.headers.get("content-type", [""])[0]
    if content_type.startswith("application/json"):
        with contextlib.suppress(ValueError):
            payload = json.loads(content)
            if isinstance(payload, dict):
                return SocketModeResponse(envelope_id=envelope_id, payload=payload)
    return SocketModeResponse(envelope_id=envelope_id, payload={"text": content})
