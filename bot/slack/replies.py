"""Saying things to Slack after a run has moved: failures here are logged and reported, never raised.

A move that succeeded must never turn into a failure message because a DM, a permalink or a response_url
post did not go through; the person is told what could not be delivered instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.respond import Respond
from bot.storage.outbox import Outbox

log = logging.getLogger(__name__)
T = TypeVar("T")


def slack_error(exc: BaseException) -> str:
    """Slack's error code (`not_in_channel`), or the kind of failure (a timeout) for anything else."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


# Slack's error codes for a refusal that may pass (anything else `ok: false` is final: user_not_found, …).
PASSING_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def never_reached(exc: BaseException) -> bool:
    """Whether a failed Web API call certainly did nothing: Slack answered with a refusal, or no connection was
    made. A timeout or a connection lost after the request was sent may have done it."""
    if isinstance(exc, SlackApiError):
        return True
    never_connected = (
        aiohttp.ClientConnectorError,
        getattr(aiohttp, "ConnectionTimeoutError", ()),
        ConnectionRefusedError,
    )
    return isinstance(exc, never_connected)


def may_pass(exc: BaseException) -> bool:
    """Whether a message whose post failed should be sent again later: it certainly was not posted
    (`never_reached`) and the failure may pass: Slack unreachable, a 5xx, a rate limit. Not a refusal of the
    request itself (user_not_found, account_inactive, invalid_auth, …), and not a post that may have landed (a
    timeout after the request was sent): sending that again could show it twice."""
    if not never_reached(exc):
        return False
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 200) or 200)
        return status >= 500 or status == 429 or slack_error(exc) in PASSING_ERRORS
    return True


def keep_for_later(
    outbox: Outbox | None,
    exc: BaseException,
    team_id: str,
    user_id: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> bool:
    """After a DM to `user_id` failed with `exc`: when the failure may pass, keep the message in the outbox, to be
    sent as a DM when Slack takes it (bot/late.py). True when kept (written in the background; never raises)."""
    if outbox is None or not may_pass(exc):
        return False
    outbox.keep_soon(team_id, user_id, text, blocks, slack_error(exc))
    return True


async def respond_checked(respond: Respond, **message: Any) -> str | None:
    """Post through a response_url; None when Slack took it, else what went wrong (`respond` does not raise
    on an expired or used-up response_url: it returns the HTTP answer)."""
    try:
        response = await respond(**message)
    except Exception as exc:
        log.warning("response_url post failed: %s", slack_error(exc))
        return slack_error(exc)
    status = getattr(response, "status_code", 200)
    if status != 200:
        body = str(getattr(response, "body", ""))[:80]
        log.warning("response_url post refused: %s %s", status, body)
        return body or f"HTTP {status}"
    return None


async def quietly(what: str, call: Awaitable[T]) -> T | None:
    """Await `call`; on any failure log it (with `what` it was) and return None."""
    try:
        return await call
    except Exception as exc:
        log.warning("%s failed: %s", what, slack_error(exc), exc_info=not isinstance(exc, SlackApiError))
        return None


async def show_summary(respond: Respond, text: str, blocks: list[dict[str, Any]]) -> str | None:
    """Show a summary in place of the message a click or form came from. None on success. (A summary coming from
    a private message is posted for the channel instead: bot/slack/channel_post.py.)"""
    return await respond_checked(respond, text=text, blocks=blocks, replace_original=True)


async def tell_privately(
    respond: Respond | None,
    client: AsyncWebClient,
    user_id: str,
    channel_id: str | None,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    outbox: Outbox | None = None,
    team_id: str = "",
) -> bool:
    """Tell one person something privately, by the first route Slack takes: the response_url, then an
    ephemeral message in the channel, then a DM. Every refusal is logged; False when no route worked. When the DM
    failed for a reason that may pass (Slack unreachable, a 5xx, a rate limit), the message is kept in `outbox` and
    sent as a DM later (still False: nothing reached the person now)."""
    message: dict[str, Any] = {"text": text, "blocks": blocks} if blocks else {"text": text}
    if respond is not None:
        problem = await respond_checked(respond, response_type="ephemeral", replace_original=False, **message)
        if problem is None:
            return True
    if channel_id:
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, **message)
            return True
        except Exception as exc:
            log.warning("chat.postEphemeral to %s failed: %s", channel_id, slack_error(exc))
    try:
        await client.chat_postMessage(channel=user_id, **message)  # a user id as channel: the bot's DM
        return True
    except Exception as exc:
        if keep_for_later(outbox, exc, team_id, user_id, text, blocks):
            log.warning("could not tell %s by any route now: %s; kept to be sent later", user_id, slack_error(exc))
        else:
            log.error("could not tell %s by any route: %s", user_id, slack_error(exc))
    return False
