"""The benchmark's baseline: a bare Bolt `AsyncApp` doing only what one `/reschedule <run> <delay>` needs.

Served exactly as `python -m bot serve` serves the bot (Starlette, Bolt's AsyncSlackRequestHandler on
POST /slack/events, GET /healthz, `uvicorn.run(..., log_config=None, access_log=False)`), with Slack's signature
verification on and `process_before_response=False`. The /reschedule listener acks, then makes the calls the bot
makes for one `/reschedule <run> 2h` with DM confirmations on, in the bot's order and with the same clients:

1. GET /api/v3/runs/{id} and POST /api/v1/runs/{id}/reschedule on Trigger.dev (the same headers, an absolute ISO
   time as the delay) over one shared httpx.AsyncClient with the bot's limits;
2. `chat.postMessage` to the command's channel: the summary (a text and one mrkdwn section naming the run);
3. `chat.getPermalink` of that summary, and `chat.postMessage` to the person who typed the command (its user id as
   the channel, as the bot sends its DMs: no conversations.open) with the link in it.

The Slack calls go through Bolt's AsyncWebClient on one aiohttp session kept for the process, as the bot's do
(without one slack_sdk opens a session per call). Nothing else: no audit, no follow-up, no access rules, no
logging set-up, no metrics, no parsing beyond splitting the text.

    PYTHONPATH=<repo> python -m bench.baseline_app --port 3000

Configuration comes from the environment variables the bot reads: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
SLACK_API_URL, TRIGGER_SECRET_KEY, TRIGGER_API_URL.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_VERSION = "2025-07-16"  # as bot.trigger.client
USER_AGENT = "reschedule-bot/0.1.0"
DELAY = timedelta(hours=2)  # the benchmark always sends `/reschedule <run> 2h`


def build(env: dict[str, str]) -> Starlette:
    """The ASGI app; `env` holds the variables listed in the module docstring."""
    client = AsyncWebClient(token=env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"].rstrip("/") + "/", timeout=10)
    app = AsyncApp(
        client=client,
        signing_secret=env["SLACK_SIGNING_SECRET"],
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    http = httpx.AsyncClient(
        base_url=env["TRIGGER_API_URL"],
        timeout=httpx.Timeout(10.0, connect=5.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),  # as bot.trigger.client
        follow_redirects=False,
    )
    key = env["TRIGGER_SECRET_KEY"]

    def headers() -> dict[str, str]:
        return {
            "Authorization": f"Bearer {key}",
            "x-trigger-api-version": API_VERSION,
            "x-trigger-request-idempotency-key": str(uuid.uuid4()),
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }

    def message(text: str) -> list[dict[str, Any]]:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]

    @app.command("/reschedule")
    async def reschedule(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        run_id = str(command.get("text", "")).split()[0]
        when = datetime.now(UTC) + DELAY
        delay = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        run = await http.get(f"/api/v3/runs/{run_id}", headers=headers())
        run.raise_for_status()
        moved = await http.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": delay}, headers=headers())
        moved.raise_for_status()
        text = f"Run {run_id} rescheduled to {moved.json().get('delayedUntil')} by <@{command['user_id']}>"
        summary = await client.chat_postMessage(channel=command["channel_id"], text=text, blocks=message(text))
        link = await client.chat_getPermalink(channel=summary["channel"], message_ts=summary["ts"])
        mine = f"You rescheduled {run_id} (<{link['permalink']}|see the summary>)"
        await client.chat_postMessage(channel=command["user_id"], text=text, blocks=message(mine))

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # One aiohttp session for every Web API call, as the bot keeps one.
        client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        yield
        await client.session.close()
        await http.aclose()

    return Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    config = uvicorn.Config(build(dict(os.environ)), host=args.host, port=args.port, log_config=None, access_log=False)
    _AnnouncedServer(config).run()
    return 0


class _AnnouncedServer(uvicorn.Server):
    """Prints the port it got once started, as the bot logs it, so port 0 (any free port) can be used."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        listening = [sock for server in self.servers for sock in server.sockets or ()]
        if self.started and listening:
            print(f"listening on http://{self.config.host}:{listening[0].getsockname()[1]}.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
