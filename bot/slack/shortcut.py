"""The message shortcut "Reschedule run": on Trigger.dev's failure alerts, or any message that mentions runs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.domain.audit import Outcome
from bot.domain.run_refs import find_run_ids
from bot.render.ids import SHORTCUT_CALLBACK_ID
from bot.rescheduler import Actor
from bot.slack.actor import actor_of
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import unexpected_text
from bot.slack.modal import Origin, RunRef, open_for
from bot.slack.replies import tell_privately

log = logging.getLogger(__name__)
MAX_RUNS = 10
Tell = Callable[[str], Awaitable[bool]]


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach the message shortcut listener."""

    @app.shortcut({"callback_id": SHORTCUT_CALLBACK_ID, "type": "message_action"})
    async def on_shortcut(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        if not await deps.first_delivery(body, "message_action"):
            return
        message = body.get("message") or {}
        shortcut_on = f"shortcut on message {message.get('ts') or body.get('message_ts')}"
        actor = actor_of(context, body, "shortcut", shortcut_on)

        async def tell(text: str) -> bool:
            return await tell_privately(respond, client, actor.user_id, actor.channel_id, text)

        async with deps.inflight.work("the Reschedule run shortcut", None, tell):
            await _handle(body, actor, deps, client, tell)


async def _handle(body: dict[str, Any], actor: Actor, deps: SurfaceDeps, client: AsyncWebClient, tell: Tell) -> None:
    message = body.get("message") or {}
    all_ids = find_run_ids(message)
    run_ids = all_ids[:MAX_RUNS]
    if not run_ids:
        await tell(messages.NO_RUN_IN_MESSAGE)
        deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error="no run id in the message")
        return
    origin = Origin(
        kind="shortcut",
        channel=actor.channel_id,
        ts=message.get("ts") or body.get("message_ts"),
        thread_ts=message.get("thread_ts"),
    )
    try:
        opened = await open_for(
            client, deps, str(body.get("trigger_id", "")), [RunRef(r) for r in run_ids], origin, actor
        )
    except Exception as exc:
        await tell(unexpected_text(exc, "shortcut"))
        return
    if not opened:
        await tell(messages.TRIGGER_ID_EXPIRED)
    elif len(all_ids) > MAX_RUNS:
        await tell(messages.too_many_runs(len(all_ids), MAX_RUNS))


