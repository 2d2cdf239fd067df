"""DM confirmations: after every successful reschedule the person who did it gets a private record of it.

A failure to DM is logged and never undoes or hides the reschedule.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.render.controls import DM_BUTTONS
from bot.render.mrkdwn import escape
from bot.render.summary import Attribution, run_summary
from bot.rescheduler import Actor, MoveResult
from bot.slack.deps import SurfaceDeps
from bot.slack.replies import slack_error

log = logging.getLogger(__name__)


async def where_text(client: AsyncWebClient, channel_id: str | None, message_ts: str | None) -> str:
    """A link to where the reschedule happened: the message's permalink when known, else the channel."""
    permalink = await _permalink(client, channel_id, message_ts)
    return messages.where_link(permalink) if permalink else messages.where_channel(channel_id)


async def where_posted(client: AsyncWebClient, channel_id: str | None, message_ts: str | None) -> str:
    """Where a summary the bot posted went: the channel, with a link to the message when Slack gives one."""
    permalink = await _permalink(client, channel_id, message_ts)
    return messages.where_posted(channel_id, permalink) if permalink else messages.where_channel(channel_id)


async def _permalink(client: AsyncWebClient, channel_id: str | None, message_ts: str | None) -> str | None:
    if not channel_id or not message_ts:
        return None
    try:
        response = await client.chat_getPermalink(channel=channel_id, message_ts=message_ts)
    except Exception as exc:
        log.info("no permalink for %s/%s: %s", channel_id, message_ts, slack_error(exc))
        return None
    permalink = response.get("permalink")
    return permalink if isinstance(permalink, str) else None


async def send_text(client: AsyncWebClient, user_id: str, text: str) -> bool:
    """A plain DM (used to report what could not be said where it happened). Posting to a user id delivers to
    the bot's DM with that person, without a conversations.open first."""
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except Exception as exc:
        log.warning("could not DM %s: %s", user_id, slack_error(exc))
        return False
    return True


async def confirm(
    client: AsyncWebClient, deps: SurfaceDeps, moved: MoveResult, actor: Actor, where: str, note: str = ""
) -> bool:
    """DM `actor` the run, task, environment, previous → new time, where it happened, Undo and Open. True when
    the DM was delivered (False when DMs are off or Slack refused it: a `note` then needs another route)."""
    if not deps.dm_confirmations:
        return False
    action = Attribution(user_id=actor.user_id, previous=moved.previous, new=moved.new, at=deps.rescheduler.now())
    head = messages.dm_head(escape(moved.run.task_identifier), escape(moved.env.title), where)
    summary = run_summary(
        moved.run,
        moved.env,
        deps.run_url(moved.run.id),
        action,
        deps.controls(moved.env, DM_BUTTONS),
        head=head + (f"\n{note}" if note else ""),
    )
    try:
        posted = await client.chat_postMessage(channel=actor.user_id, text=summary.text, blocks=summary.blocks)
    except Exception as exc:
        log.warning("could not DM the confirmation to %s: %s", actor.user_id, slack_error(exc))
        return False
    await deps.follow(posted.get("channel"), posted.get("ts"), moved, action, dm=True, where=where)
    return True
