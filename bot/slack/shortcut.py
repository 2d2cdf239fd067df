"""The message shortcut "Reschedule run": on Trigger.dev's failure alerts, or any message that mentions runs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.domain.audit import Outcome
from bot.domain.run_refs import find_run_ids
from bot.limits import Busy
from bot.render.ids import SHORTCUT_CALLBACK_ID
from bot.rescheduler import Actor
from bot.slack import bulk
from bot.slack.actor import actor_of
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import unexpected_text
from bot.slack.modal import Origin, RunRef, open_for
from bot.slack.respond import respond_for

log = logging.getLogger(__name__)
MAX_RUNS = 10  # runs offered one by one (Slack's checkboxes hold 10); more are moved as one set
Tell = Callable[[str], Awaitable[bool]]


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach the message shortcut listener."""

    @app.shortcut({"callback_id": SHORTCUT_CALLBACK_ID, "type": "message_action"})
    @deps.inflight.listener
    async def on_shortcut(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        await ack()
        respond = respond_for(context)
        if not await deps.first_delivery(body, "message_action"):
            return
        message = body.get("message") or {}
        shortcut_on = f"shortcut on message {message.get('ts') or body.get('message_ts')}"
        actor = actor_of(context, body, "shortcut", shortcut_on)

        tell = deps.teller(respond, client, actor)

        try:
            person = (actor.team_id, actor.user_id)
            async with deps.rescheduler.limits.person(person), deps.inflight.work(messages.WORK_SHORTCUT, None, tell):
                await _handle(body, actor, deps, client, tell)
        except Busy:
            await tell(messages.STILL_WORKING)


async def _handle(body: dict[str, Any], actor: Actor, deps: SurfaceDeps, client: AsyncWebClient, tell: Tell) -> None:
    """One run, or up to MAX_RUNS to tick in the form, or a larger set (up to BULK_LIMIT) moved as a whole. Every
    set of several runs is confirmed once and moved through the set path."""
    message = body.get("message") or {}
    run_ids = find_run_ids(message)
    if not run_ids:
        await tell(messages.NO_RUN_IN_MESSAGE)
        deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error="no run id in the message")
        return
    if len(run_ids) > deps.bulk_limit:
        await tell(messages.bulk_too_many_in_message(len(run_ids), deps.bulk_limit))
        deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error=f"{len(run_ids)} runs in the message")
        return
    response_url = body.get("response_url")
    origin = Origin(
        kind="shortcut",
        channel=actor.channel_id,
        ts=message.get("ts") or body.get("message_ts"),
        thread_ts=message.get("thread_ts"),
        response_url=response_url if isinstance(response_url, str) else None,
    )
    try:
        if len(run_ids) > MAX_RUNS:
            opened = await bulk.ask_time_for_message(run_ids, body, actor, deps, client)
        else:
            refs = [RunRef(run_id) for run_id in run_ids]
            opened = await open_for(client, deps, str(body.get("trigger_id", "")), refs, origin, actor)
    except Exception as exc:
        await tell(unexpected_text(exc, "shortcut"))
        return
    if not opened:
        await tell(messages.TRIGGER_ID_EXPIRED)
