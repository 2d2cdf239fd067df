"""The ASGI application for HTTP mode: POST /slack/events for every Slack request, GET /healthz.

The front door runs in this order, and nothing of the bot runs for a request that has not passed every step:
1. read the body, refusing (413) anything over MAX_BODY_BYTES before it is in memory;
2. verify Slack's signature (401 otherwise, one log line; no listener, error handler or outbound call runs);
3. parse the body once and check its shape (400 and one warning line naming what is missing);
4. hand the checked request to Bolt as an HTTP request; whatever happens there, the answer is never a 5xx.
(Every surface then refuses a replayed copy after acknowledging it: `SurfaceDeps.first_delivery`.)

Each request gets a request id (bot/request_id.py) before step 1, and one log line and one count once answered:
its kind and surface, team and user (once verified), the outcome of the answer and how long it took.
GET /healthz and GET /metrics answer from memory (and, for /metrics with PROMETHEUS_MULTIPROC_DIR, local files):
neither calls the database, Slack or Trigger.dev, and neither needs a signature (METRICS_TOKEN guards /metrics).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from slack_bolt.request.async_request import AsyncBoltRequest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics, operator_messages, request_id
from bot.slack import body, signature
from bot.slack.body import MAX_BODY_BYTES
from bot.slack.request_line import Seen, account
from bot.wiring import Bot

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LISTEN_BACKLOG = 2048  # connections waiting to be accepted (uvicorn's default)

Clock = Callable[[], float]


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed `limit` (whatever Content-Length claims)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def asgi_app(
    bot: Bot,
    *,
    clock: Clock = time.time,
    timer: Clock = time.perf_counter,
    on_started: Callable[[], None] | None = None,
) -> Starlette:
    """Routes verified Slack requests to Bolt; /healthz and /metrics answer without calling anything. `on_started`
    is called once the bot has started (the end of the lifespan's start-up)."""
    secret = bot.signing_secret
    if not secret:
        raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET")

    async def events(request: Request) -> Response:
        started = timer()
        with request_id.bound(request_id.new()):
            seen = Seen()
            response = await front_door(request, seen)
            account(seen, response.status_code, timer() - started)
            return response

    async def front_door(request: Request, seen: Seen) -> Response:
        try:
            raw = await read_bounded(request, MAX_BODY_BYTES)
        except ClientDisconnect:
            log.info("a client went away before sending its whole body")
            seen.outcome = "incomplete"
            return Response("incomplete request", status_code=400)
        if raw is None:
            log.warning("refused a request body over %d bytes", MAX_BODY_BYTES)
            seen.outcome = "too_large"
            return Response("request too large", status_code=413, headers={"Connection": "close"})
        headers = request.headers
        reason = signature.problem(
            secret, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature"), raw, clock()
        )
        if reason is not None:
            log.warning("refused an unverified request: %s", reason)
            seen.outcome = "unverified"
            return Response("invalid request signature", status_code=401)
        try:
            data = body.parse(raw, headers.get("content-type"))
            kind = body.check(data)
        except body.Malformed as exc:
            log.warning("ignored a malformed request: %s", exc)
            seen.outcome = "malformed"
            return Response("malformed request", status_code=400)
        seen.kind, seen.team, seen.user = kind, body.team_id(data) or "-", body.user_id(data) or "-"
        return await dispatch(bot, data, {name: value for name, value in headers.items()}, kind, seen)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics_page(request: Request) -> Response:
        if bot.metrics_token and not _bearer_matches(request.headers.get("authorization"), bot.metrics_token):
            return Response("metrics need METRICS_TOKEN as a bearer token", status_code=401)
        content, media_type = metrics.exposition(bot.metrics_dir)
        return Response(content, media_type=media_type)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await bot.start()
        if on_started is not None:
            on_started()
        yield
        await bot.aclose()

    return Starlette(
        routes=[
            Route(EVENTS_PATH, events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _bearer_matches(header: str | None, token: bytes) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


async def dispatch(
    bot: Bot, data: dict[str, object], headers: dict[str, str | Sequence[str]], kind: str, seen: Seen | None = None
) -> Response:
    """Run a verified, well-formed request through Bolt and turn its answer into an HTTP response.

    Bolt gets an HTTP request, with its own signature check off (`request_verification_enabled=False` in
    bot/slack/app.py: step 2 above did it). Its body is what step 3 checked, written as JSON, which Bolt reads back as
    exactly that dict; Bolt's own form reader would take any form body containing the word "payload" (a command's
    text, say) for an interaction, and find nothing in it.
    """
    try:
        as_json = {**headers, "content-type": "application/json"}
        request = AsyncBoltRequest(body=json.dumps(data), headers=as_json)
        answer = await bot.app.async_dispatch(request)
    except Exception as exc:  # a request Bolt cannot even read: nothing was done for it
        log.warning("could not handle a %s request: %s", kind, type(exc).__name__)
        if seen is not None:
            seen.outcome = "failed"
        return Response(status_code=200)
    if seen is not None and answer.status >= 400:
        seen.outcome = "failed" if answer.status >= 500 else "refused"
    if answer.status >= 500:
        # A listener failed before acknowledging; the error handler has logged it (with a reference) and told
        # the person where it could. Slack would only show its own generic error for a 5xx.
        return Response(status_code=200)
    content = answer.body if isinstance(answer.body, str) else ""
    return Response(content, status_code=answer.status, headers=answer.first_headers_without_set_cookie())


@contextlib.contextmanager
def _stopping_ends_cleanly() -> Iterator[None]:
    """While serving, uvicorn takes SIGTERM and SIGINT itself (its graceful shutdown) and, once it has shut down,
    raises the signal again with the handlers it found in place. Those are these, which do nothing, so a process that
    drained its work and wrote its audit trail ends with status 0 rather than dying by the signal (which platforms
    read as a crash)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread (uvicorn then takes none either)
        return
    previous = {signum: signal.signal(signum, _already_stopping) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _already_stopping(signum: int, frame: object) -> None:
    """A stop signal raised again after the graceful shutdown it started: nothing is left to do."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` (0: any free port) and listening, for uvicorn to serve on.

    Raises:
        OSError: the port cannot be listened on (taken, say).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, as getaddrinfo names it for asyncio's own servers: asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on connections accepted from a socket that says it is TCP. With it on, a 413 sent while
    # the client still writes its body could reach the client after the reset its close causes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's own create_server does
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def serve(bot: Bot, host: str, port: int) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully; the process's exit status.

    The bot binds the port itself (port 0: any free port), so that it knows which one it got, and hands the socket
    to uvicorn (`Server.run(sockets=...)`). A port that cannot be listened on is said plainly, before anything
    starts; once the application has started, one line names the port and the Request URL Slack needs.
    """
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        log.error(operator_messages.serve_cannot_listen(host, port, exc.strerror or type(exc).__name__))
        return 1
    bound = int(sock.getsockname()[1])
    started: list[bool] = []

    def announce() -> None:
        started.append(True)
        log.info(operator_messages.serve_request_url(host, bound))

    app = asgi_app(bot, on_started=announce)
    config = uvicorn.Config(app, log_config=None, access_log=False, backlog=LISTEN_BACKLOG)
    with sock, _stopping_ends_cleanly():
        uvicorn.Server(config).run(sockets=[sock])
    return 0 if started else 1
