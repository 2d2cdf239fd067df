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
from bot.slack.replies import keep_for_later, slack_error
from bot.storage.outbox import Outbox

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


async def send_text(
    client: AsyncWebClient, user_id: str, text: str, *, outbox: Outbox | None = None, team_id: str = ""
) -> bool:
    """A plain DM (used to report what could not be said where it happened). Posting to a user id delivers to
    the bot's DM with that person, without a conversations.open first. A DM Slack could not take for a reason that
    may pass is kept in `outbox`, to be sent later (False: not delivered now)."""
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except Exception as exc:
        kept = keep_for_later(outbox, exc, team_id, user_id, text)
        log.warning("could not DM %s: %s%s", user_id, slack_error(exc), "; kept to be sent later" if kept else "")
        return False
    return True


async def confirm(
    client: AsyncWebClient, deps: SurfaceDeps, moved: MoveResult, actor: Actor, where: str, note: str = ""
) -> bool:
    """DM `actor` the run, task, environment, previous → new time, where it happened, Undo and Open. True when
    the DM was delivered (False when DMs are off or Slack refused it: a `note` then needs another route; a DM
    Slack could not take for a reason that may pass is kept in the outbox and sent later, without following its
    run)."""
    if not deps.dm_confirmations:
        return False
    action = Attribution(
        user_id=actor.user_id,
        previous=moved.previous,
        new=moved.new,
        at=deps.rescheduler.now(),
        approved_by=actor.approved_by,
    )
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
        kept = keep_for_later(deps.outbox, exc, actor.team_id, actor.user_id, summary.text, summary.blocks)
        later = "; kept to be sent later" if kept else ""
        log.warning("could not DM the confirmation to %s: %s%s", actor.user_id, slack_error(exc), later)
        return False
    await deps.follow(posted.get("channel"), posted.get("ts"), moved, action, dm=True, where=where)
    return True
