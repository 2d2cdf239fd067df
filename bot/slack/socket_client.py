"""The Socket Mode connection: slack_sdk's aiohttp client, with a handover when Slack asks for a new connection.

On `disconnect` slack_sdk closes the old connection *before* opening the new one, and aiohttp's close discards
whatever arrives on it meanwhile; but Slack keeps the old connection open for a while after a `refresh_requested`
or `warning` and may still deliver requests on it. Such a request would never be acknowledged (the person sees
"dispatch_failed" or a timeout). Here, for those two reasons, the new connection is opened first, and the old one is
still read, its requests handled and acknowledged, until Slack closes it or it has been quiet for a ping interval;
only then is it closed. Any other reason (or a connection that is already gone) takes slack_sdk's own path.

Acknowledgements always go out on the newest connection, as slack_sdk sends them whenever it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import request_id
from bot.slack import body
from bot.slack.request_line import Seen, account

log = logging.getLogger(__name__)

HAND_OVER_REASONS = frozenset({"refresh_requested", "warning"})
_END = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})


class _KeptOpen:
    """Stands in for the old connection while slack_sdk connects anew: its `close` does nothing (the old one is
    closed after its handover), everything else (acks sent meanwhile, `closed`) is the old connection's."""

    def __init__(self, session: ClientWebSocketResponse) -> None:
        self._session = session

    async def close(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class HandoverSocketModeClient(SocketModeClient):
    """slack_sdk's aiohttp SocketModeClient, with the handover described in the module doc."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hand_over = False
        self._retiring: set[asyncio.Task[None]] = set()

    async def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        if message.get("type") == "disconnect":
            reason = str(message.get("reason"))
            log.info("Slack asked for a new Socket Mode connection (%s)", reason[:40])
            self._hand_over = reason in HAND_OVER_REASONS
        await super().run_message_listeners(message, raw_message)

    async def connect(self) -> None:
        old = self.current_session
        hand_over, self._hand_over = self._hand_over, False
        if not hand_over or old is None or old.closed:
            await super().connect()  # type: ignore[no-untyped-call]
            return
        old_receiver = self.message_receiver
        self.current_session = _KeptOpen(old)  # type: ignore[assignment]  # the old reader stops after its next message
        try:
            await super().connect()  # type: ignore[no-untyped-call]
        finally:
            if self.current_session is not None and isinstance(self.current_session, _KeptOpen):
                self.current_session = old  # the new connection failed; keep what we had
        if self.current_session is old:
            return
        if old_receiver is not None:
            old_receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await old_receiver
        task = asyncio.ensure_future(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, old: ClientWebSocketResponse) -> None:
        """Handle what still arrives on `old` until Slack closes it or it is quiet for a ping interval; close it."""
        try:
            while not self.closed:
                try:
                    message = await old.receive(timeout=self.ping_interval)
                except TimeoutError:
                    break
                if message.type == WSMsgType.TEXT and not _is_disconnect(message.data):
                    await self.enqueue_message(message.data)  # a `disconnect` here: we are leaving it already
                elif message.type == WSMsgType.PING:
                    await old.pong(message.data)
                elif message.type in _END:
                    break
        except Exception as exc:
            log.info("the previous Socket Mode connection ended (%s)", type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await old.close()
            log.info("the previous Socket Mode connection is closed")

    async def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await super().close()  # type: ignore[no-untyped-call]


def _is_disconnect(text: str) -> bool:
    try:
        message = json.loads(text)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == "disconnect"


class SocketModeHandler(AsyncSocketModeHandler):
    """Bolt's AsyncSocketModeHandler on the handover client; `app.client` (SLACK_API_URL) asks for the URLs. Each
    request gets what bot/server.py gives it in HTTP mode: a request id (for every line and task of its work) and
    its request line and counts (bot/slack/request_line.py)."""

    def __init__(self, app: AsyncApp, app_token: str, ping_interval: float) -> None:
        # What AsyncSocketModeHandler.__init__ does, with the client class replaced.
        self.app = app
        self.app_token = app_token
        self.client = HandoverSocketModeClient(
            app_token=app_token, logger=app.logger, web_client=app.client, ping_interval=ping_interval
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # as Bolt does

    async def handle(self, client: Any, req: SocketModeRequest) -> None:
        """What Bolt's handler does (dispatch, then send the answer over the socket), under a request id of its own."""
        started, wall = time.perf_counter(), time.time()
        data = req.payload if isinstance(req.payload, dict) else {}
        seen = Seen(kind=body.kind(data) or "-", team=body.team_id(data) or "-", user=body.user_id(data) or "-")
        with request_id.bound(request_id.new()):
            answer = await run_async_bolt_app(self.app, req)
            await send_async_response(client, req, answer, wall)
            if answer.status >= 400:
                seen.outcome = "failed" if answer.status >= 500 else "refused"
            account(seen, answer.status, time.perf_counter() - started)
