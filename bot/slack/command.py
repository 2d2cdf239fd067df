"""The /reschedule slash command.

Everything that can be decided without the network (help, unreadable input) is answered in the
acknowledgement itself; everything else is acknowledged first and answered through the response_url.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.actions import Actor
from bot.domain.delays import DelayError, format_duration, parse_when
from bot.domain.runs import parse_run_ref
from bot.render.controls import PRIVATE_BUTTONS, confirm_prompt
from bot.render.mrkdwn import code, truncate
from bot.render.summary import Rescheduled, run_summary
from bot.slack import dm
from bot.slack.replies import failure_text, unexpected_text
from bot.slack.services import Services
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"", "help", "-h", "--help", "?", "usage"})


@dataclass(frozen=True, slots=True)
class Show:
    run_id: str


@dataclass(frozen=True, slots=True)
class Move:
    run_id: str
    when: datetime
    typed: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer privately at once; no network call needed."""

    text: str


Intent = Show | Move | Reply


def parse(text: str, now: datetime, services: Services) -> Intent:
    """Read what the person typed after /reschedule. The target instant is fixed here, at `now`."""
    words = text.split()
    if not words or words[0].lower() in HELP_WORDS:
        return Reply(messages.usage())
    run_id = parse_run_ref(words[0])
    if run_id is None:
        return Reply(messages.with_usage(messages.not_a_run(shown(words[0]))))
    if len(words) == 1:
        return Show(run_id)
    typed = " ".join(words[1:])
    try:
        when = parse_when(typed, now=now, max_delay=services.max_delay)
    except DelayError as exc:
        return Reply(messages.delay_problem(exc.kind, shown(typed), format_duration(services.max_delay)))
    return Move(run_id, when, typed)


def shown(text: str) -> str:
    """Echo user input inside a code span: escaped, bounded, backticks neutralised."""
    return code(truncate(text, 100))[1:-1]


def register(app: AsyncApp, services: Services) -> None:
    """Attach the /reschedule listener."""

    @app.command(messages.COMMAND)
    async def on_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        intent = parse(command.get("text", ""), services.desk.now(), services)
        if isinstance(intent, Reply):
            await ack(text=intent.text, response_type="ephemeral")
            return
        await ack()
        actor = Actor(
            user_id=str(command.get("user_id", "")),
            team_id=str(command.get("team_id", "")),
            channel_id=command.get("channel_id"),
            surface="command",
        )
        try:
            await _act(intent, actor, services, respond, client)
        except TriggerError as exc:
            env_title = services.desk.targets[0].env.title if len(services.desk.targets) == 1 else ""
            await respond(text=failure_text(exc, intent.run_id, env_title), response_type="ephemeral")
        except Exception as exc:
            await respond(text=unexpected_text(exc, "command"), response_type="ephemeral")


async def _act(
    intent: Show | Move, actor: Actor, services: Services, respond: AsyncRespond, client: AsyncWebClient
) -> None:
    desk = services.desk
    deadline = desk.deadline()
    located = await desk.find(intent.run_id, deadline)
    run, env = located.run, located.env
    if isinstance(intent, Show):
        summary = run_summary(run, env, services.run_url(run.id), controls=services.controls(env, PRIVATE_BUTTONS))
        await respond(text=summary.text, blocks=summary.blocks, response_type="ephemeral")
        return
    if run.is_delayed and services.asks_first(env):
        blocks = confirm_prompt(run.id, run.task_identifier, env, intent.when)
        await respond(text=messages.CONFIRM_TITLE, blocks=blocks, response_type="ephemeral")
        return
    moved = await desk.move(actor, located, intent.when, deadline)
    action = Rescheduled(user_id=actor.user_id, previous=moved.previous, new=moved.new, at=desk.now())
    summary = run_summary(moved.run, moved.env, services.run_url(moved.run.id), action, services.controls(moved.env))
    await respond(text=summary.text, blocks=summary.blocks, response_type="in_channel", replace_original=False)
    await dm.confirm(client, services, moved, actor, messages.where_channel(actor.channel_id))
