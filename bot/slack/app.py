"""Builds the Bolt AsyncApp: our own AsyncWebClient (base URL, retry handlers), the error handler, surfaces."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry import BackoffRetryIntervalCalculator, Jitter
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.slack import bulk, buttons, command, home, modal, shortcut, unfurl, workflow_steps
from bot.slack.api_errors import ErrorCounter
from bot.slack.bot_identity import BotIdentity
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import slack_unreachable, unexpected_text
from bot.slack.home import HomePages
from bot.slack.respond import respond_for

log = logging.getLogger(__name__)


class _TokenNotes(logging.Filter):
    """Drops the warnings that name a token, while Bolt's AsyncApp is being built (`_without_token_notes`).

    Building it, Bolt says that a token "will be unused" and "will be ignored". Both describe the set-up as intended:
    the bot hands Bolt its own client (SLACK_API_URL, retries) and an `authorize` that gives every request the bot
    token (bot/slack/bot_identity.py), while Bolt also reads SLACK_BOT_TOKEN from the process environment by itself and
    takes the client's token. Nothing is unused by mistake, so an operator should not be asked to wonder about it.
    Bolt's wording is its own: should it stop naming the token, tests/test_e2e_process.py sees a WARNING at start.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and "token" in record.getMessage().lower())


@contextlib.contextmanager
def _without_token_notes(logger: logging.Logger) -> Iterator[None]:
    """Only while the app is built: no warning Bolt logs later is touched."""
    notes = _TokenNotes()
    logger.addFilter(notes)
    try:
        yield
    finally:
        logger.removeFilter(notes)


class _ProportionalJitter(Jitter):
    """Up to as much again as the wait itself (slack_sdk's default adds up to a whole second to every wait)."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random())


# A connection error is tried again twice, after 0.1 to 0.2 s and then 0.2 to 0.4 s: a connection Slack reset is over
# at once, and a Slack that stays unreachable is what the outbox is for (bot/late.py). slack_sdk's default waits 1 to
# 3 s before each retry, which kept the person waiting several seconds per route before the next one was tried.
CONNECTION_RETRY_WAITS = BackoffRetryIntervalCalculator(backoff_factor=0.1, jitter=_ProportionalJitter())


def web_client(token: str, base_url: str) -> AsyncWebClient:
    """The bot's Slack Web API client; retries connection errors (quickly: CONNECTION_RETRY_WAITS) and 429s
    (honouring Retry-After), and counts every error (bot/slack/api_errors.py)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            ErrorCounter(),
            AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=CONNECTION_RETRY_WAITS),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(client: AsyncWebClient, deps: SurfaceDeps, identity: BotIdentity) -> tuple[AsyncApp, HomePages]:
    """The Bolt app with every surface registered.

    Bolt's own signature check is off: in HTTP mode `bot.server` verifies every request before Bolt sees it
    (Bolt's check raised on a malformed timestamp, and then its error handler ran for an unverified body), and
    Socket Mode requests arrive over the connection the app token opened.
    """
    with _without_token_notes(logging.getLogger(f"slack_bolt.{AsyncApp.__name__}")):  # the logger Bolt builds with
        app = AsyncApp(
            # The name Bolt gives its listeners' loggers. Bolt's default is the calling file's name, found with
            # inspect.stack(), which reads the source of every calling frame and resolves the path of every module
            # loaded (about a thousand in a serving process: a tenth of a second at start); this is the same name.
            name=Path(__file__).name,
            client=client,
            authorize=identity.authorizer(),
            request_verification_enabled=False,
            attaching_function_token_enabled=False,  # the bot calls Slack with its own token; a payload never picks one
            process_before_response=False,
            raise_error_for_unhandled_request=True,
        )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], context: AsyncBoltContext) -> BoltResponse:
        kind = str(body.get("type") or body.get("command") or "request")
        if isinstance(error, BoltUnhandledRequestError):
            log.warning("no listener for a %s request; ignored", kind[:40])
            return BoltResponse(status=200, body="")
        unreachable = slack_unreachable(error)
        if unreachable is not None:
            # Not a bug of ours: one line, no traceback, and the person is told what is wrong where Slack lets us.
            log.warning("Slack could not be reached while handling a %s request (%s)", kind[:40], unreachable)
            text = messages.SLACK_UNREACHABLE
        else:
            text = unexpected_text(error, kind)
        if body.get("response_url"):
            try:
                await respond_for(context)(text=text, response_type="ephemeral", replace_original=False)
            except Exception:
                log.warning("could not tell the user about the error")
        return BoltResponse(status=200, body="")

    for surface in (command, buttons, modal, shortcut, bulk, unfurl, workflow_steps):
        surface.register(app, deps)
    return app, home.register(app, deps)
