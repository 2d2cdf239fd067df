"""Posting a summary for everyone in the channel a request came from.

The bot posts it as its own message (chat.postMessage; chat:write.public lets it post in public channels it was not
invited to), so it has a ts: the bot can update it later and the card follows its run (bot/follow.py). Where the
bot cannot post (a private channel it is not in, a DM or group DM without it, an archived channel, rate limits or
the network), the summary goes through the request's response_url instead (`in_channel`), and that is logged (info);
such a message has no ts, so it is not followed until someone clicks one of its buttons.

The fallback is taken only when the post certainly did not land: Slack answered with an error, or the connection
was never made. When the request went out and no answer came (a read timeout, a connection dropped after sending),
the summary may be in the channel already: posting it again could show it twice, so the bot does not, and says
that it cannot tell (`Posted.uncertain`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.replies import never_reached, respond_checked, slack_error
from bot.slack.respond import Respond

log = logging.getLogger(__name__)

NO_ROUTE = "no channel to post in"


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a summary went: `channel` and `ts` when the bot posted it itself (it can be updated and followed);
    neither when it went through the response_url; `problem` (what Slack said) when it reached no one."""

    channel: str | None = None
    ts: str | None = None
    problem: str | None = None
    uncertain: bool = False  # the post went out and no answer came: it may or may not be in the channel


async def post_for_channel(
    client: AsyncWebClient,
    respond: Respond | None,
    channel_id: str | None,
    text: str,
    blocks: list[dict[str, Any]],
    *,
    thread_ts: str | None = None,
    replace_private: bool = False,
) -> Posted:
    """Post the summary in `channel_id` (in `thread_ts`'s thread when given) with chat.postMessage, else through
    the response_url (in the channel, not the thread). `replace_private`: the request came from a private message
    (a Confirm prompt, a private summary) which is removed once the summary is shown."""
    if channel_id:
        message: dict[str, Any] = {"channel": channel_id, "text": text, "blocks": blocks}
        if thread_ts:
            message["thread_ts"] = thread_ts
        try:
            response = await client.chat_postMessage(**message)
        except Exception as exc:
            if not never_reached(exc):
                log.warning(
                    "summary post in %s got no answer (%s): it may be there, so it is not sent again",
                    channel_id,
                    slack_error(exc),
                )
                return Posted(channel=channel_id, uncertain=True)
            log.info(
                "summary not posted by the bot in %s (%s): sent through the response_url instead, where it cannot be "
                "updated (it does not follow its run)",
                channel_id,
                slack_error(exc),
            )
        else:
            ts, channel = response.get("ts"), response.get("channel")
            if isinstance(ts, str) and ts:
                if replace_private and respond is not None:
                    await respond_checked(respond, delete_original=True)
                return Posted(channel if isinstance(channel, str) and channel else channel_id, ts)
    if respond is None:
        return Posted(problem=NO_ROUTE)
    problem = await respond_checked(
        respond, text=text, blocks=blocks, response_type="in_channel", replace_original=False
    )
    if problem is None and replace_private:
        await respond_checked(respond, delete_original=True)
    return Posted(problem=problem)
