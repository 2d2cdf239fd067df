"""Bolt's Socket Mode handler, giving each request what bot/server.py gives it in HTTP mode: a request id (for
every line and task of its work) and its request line and counts (bot/slack/request_line.py)."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import request_id
from bot.slack import body
from bot.slack.request_line import Seen, account


class SocketModeHandler(AsyncSocketModeHandler):
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
