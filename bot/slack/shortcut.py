"""The message shortcut "Reschedule run": on Trigger.dev's failure alerts, or any message that mentions runs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.actions import Actor
from bot.domain.runs import find_run_ids
from bot.slack.actor import actor_of
from bot.slack.deliver import tell_privately
from bot.slack.ids import SHORTCUT_CALLBACK_ID
from bot.slack.modal import Origin, RunRef, open_for
from bot.slack.replies import unexpected_text
from bot.slack.services import Services
from bot.storage.audit import Outcome

log = logging.getLogger(__name__)
MAX_RUNS = 10
Tell = Callable[[str], Awaitable[bool]]


def register(app: AsyncApp, services: Services) -> None:
    """Attach the message shortcut listener."""

    @app.shortcut({"callback_id": SHORTCUT_CALLBACK_ID, "type": "message_action"})
    async def on_shortcut(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        if not await services.first_delivery(body, "message_action"):
            return
        message = body.get("message") or {}
        shortcut_on = f"shortcut on message {message.get('ts') or body.get('message_ts')}"
        actor = actor_of(context, body, "shortcut", shortcut_on)

        async def tell(text: str) -> bool:
            return await tell_privately(respond, client, actor.user_id, actor.channel_id, text)

        async with services.inflight.work("the Reschedule run shortcut", None, tell):
            await _handle(body, actor, services, client, tell)


async def _handle(body: dict[str, Any], actor: Actor, services: Services, client: AsyncWebClient, tell: Tell) -> None:
    message = body.get("message") or {}
    all_ids = find_run_ids(message)
    run_ids = all_ids[:MAX_RUNS]
    if not run_ids:
        await tell(messages.no_run_in_message())
        services.desk.record(actor, Outcome.INVALID_INPUT, error="no run id in the message")
        return
    origin = Origin(
        kind="shortcut",
        channel=actor.channel_id,
        ts=message.get("ts") or body.get("message_ts"),
        thread_ts=message.get("thread_ts"),
    )
    try:
        opened = await open_for(
            client, services, str(body.get("trigger_id", "")), [RunRef(r) for r in run_ids], origin, actor
        )
    except Exception as exc:
        await tell(unexpected_text(exc, "shortcut"))
        return
    if not opened:
        await tell(messages.trigger_id_expired())
    elif len(all_ids) > MAX_RUNS:
        await tell(messages.too_many_runs(len(all_ids), MAX_RUNS))


