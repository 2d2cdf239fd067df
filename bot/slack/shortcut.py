"""The message shortcut "Reschedule run": on Trigger.dev's failure alerts, or any message that mentions runs."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.actions import Actor
from bot.domain.runs import find_run_ids
from bot.slack import dm
from bot.slack.deliver import respond_checked
from bot.slack.ids import SHORTCUT_CALLBACK_ID
from bot.slack.modal import Origin, RunRef, open_for
from bot.slack.replies import unexpected_text
from bot.slack.services import Services
from bot.storage.audit import Outcome

log = logging.getLogger(__name__)
MAX_RUNS = 10


def register(app: AsyncApp, services: Services) -> None:
    """Attach the message shortcut listener."""

    @app.shortcut({"callback_id": SHORTCUT_CALLBACK_ID, "type": "message_action"})
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        await ack()
        async with services.inflight.work():
            await _handle(body, services, respond, client)


async def _handle(body: dict[str, Any], services: Services, respond: AsyncRespond, client: AsyncWebClient) -> None:
    user_id = str((body.get("user") or {}).get("id", ""))
    message = body.get("message") or {}
    all_ids = find_run_ids(message)
    run_ids = all_ids[:MAX_RUNS]
    channel_id = (body.get("channel") or {}).get("id")
    team_id = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
    if not run_ids:
        await _tell(respond, client, user_id, messages.no_run_in_message())
        attempt = Actor(user_id, team_id, channel_id, "shortcut", f"shortcut on message {message.get('ts')}")
        services.desk.record(attempt, Outcome.INVALID_INPUT, error="no run id in the message")
        return
    origin = Origin(
        kind="shortcut",
        channel=channel_id,
        ts=message.get("ts") or body.get("message_ts"),
        thread_ts=message.get("thread_ts"),
    )
    actor = Actor(
        user_id=user_id,
        team_id=team_id,
        channel_id=origin.channel,
        surface="shortcut",
        input=f"shortcut on message {origin.ts}",
    )
    try:
        opened = await open_for(
            client, services, str(body.get("trigger_id", "")), [RunRef(r) for r in run_ids], origin, actor
        )
    except Exception as exc:
        await _tell(respond, client, user_id, unexpected_text(exc, "shortcut"))
        return
    if not opened:
        await _tell(respond, client, user_id, messages.trigger_id_expired())
    elif len(all_ids) > MAX_RUNS:
        await _tell(respond, client, user_id, messages.too_many_runs(len(all_ids), MAX_RUNS))


async def _tell(respond: AsyncRespond, client: AsyncWebClient, user_id: str, text: str) -> None:
    """Privately, through the shortcut's response_url; by DM when Slack does not take it there."""
    if await respond_checked(respond, text=text, response_type="ephemeral", replace_original=False) is not None:
        await dm.send_text(client, user_id, text)
