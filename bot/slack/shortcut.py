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
from bot.slack.ids import SHORTCUT_CALLBACK_ID
from bot.slack.modal import Origin, RunRef, open_for
from bot.slack.replies import unexpected_text
from bot.slack.services import Services

log = logging.getLogger(__name__)
MAX_RUNS = 10


def register(app: AsyncApp, services: Services) -> None:
    """Attach the message shortcut listener."""

    @app.shortcut({"callback_id": SHORTCUT_CALLBACK_ID, "type": "message_action"})
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id", ""))
        message = body.get("message") or {}
        all_ids = find_run_ids(message)
        run_ids = all_ids[:MAX_RUNS]
        if not run_ids:
            await _tell(respond, client, user_id, messages.no_run_in_message())
            return
        origin = Origin(
            kind="shortcut",
            channel=(body.get("channel") or {}).get("id"),
            ts=message.get("ts") or body.get("message_ts"),
            thread_ts=message.get("thread_ts"),
        )
        actor = Actor(
            user_id=user_id,
            team_id=str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""),
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
    """Privately, through the shortcut's response_url; by DM if that is not possible."""
    try:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        log.info("response_url refused; telling %s by DM", user_id)
        await dm.send_text(client, user_id, text)
