"""The benchmark's baseline: a bare Bolt `AsyncApp` doing only what one `/reschedule <run> <delay>` needs.

Served exactly as `python -m bot serve` serves the bot (Starlette, Bolt's AsyncSlackRequestHandler on
POST /slack/events, GET /healthz, `uvicorn.run(..., log_config=None, access_log=False)`), with Slack's signature
verification on and `process_before_response=False`. The /reschedule listener acks, then makes the two Trigger.dev
calls the bot makes (GET /api/v3/runs/{id}, POST /api/v1/runs/{id}/reschedule with the same headers and an absolute
ISO time as the delay) and posts one message to the response_url. Nothing else: no audit, no DM, no access rules,
no logging set-up, no parsing beyond splitting the text.

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

import httpx
import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
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
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
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

    @app.command("/reschedule")
    async def reschedule(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        run_id = str(command.get("text", "")).split()[0]
        when = datetime.now(UTC) + DELAY
        delay = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        run = await http.get(f"/api/v3/runs/{run_id}", headers=headers())
        run.raise_for_status()
        moved = await http.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": delay}, headers=headers())
        moved.raise_for_status()
        await respond(text=f"Rescheduled {run_id} to {moved.json().get('delayedUntil')}", response_type="in_channel")

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
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
