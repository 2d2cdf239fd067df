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

from bot import messages
from bot.domain.delays import DelayError, format_duration, parse_when
from bot.domain.runs import parse_run_ref
from bot.render.mrkdwn import code, truncate
from bot.render.summary import Rescheduled, run_summary
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
        return Reply(messages.with_usage(messages.not_a_run(_shown(words[0]))))
    if len(words) == 1:
        return Show(run_id)
    typed = " ".join(words[1:])
    try:
        when = parse_when(typed, now=now, max_delay=services.max_delay)
    except DelayError as exc:
        problem = messages.delay_problem(exc.kind, _shown(typed), format_duration(services.max_delay))
        return Reply(problem)
    return Move(run_id, when, typed)


def _shown(text: str) -> str:
    """Echo user input inside a code span: escaped, bounded, backticks neutralised."""
    return code(truncate(text, 100))[1:-1]


def register(app: AsyncApp, services: Services) -> None:
    """Attach the /reschedule listener."""

    @app.command(messages.COMMAND)
    async def on_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        intent = parse(command.get("text", ""), services.desk.now(), services)
        if isinstance(intent, Reply):
            await ack(text=intent.text, response_type="ephemeral")
            return
        await ack()
        user_id = str(command.get("user_id", ""))
        try:
            await _act(intent, user_id, services, respond)
        except TriggerError as exc:
            env_title = services.desk.targets[0].env.title if len(services.desk.targets) == 1 else ""
            await respond(text=failure_text(exc, intent.run_id, env_title), response_type="ephemeral")
        except Exception as exc:
            await respond(text=unexpected_text(exc, "command"), response_type="ephemeral")


async def _act(intent: Show | Move, user_id: str, services: Services, respond: AsyncRespond) -> None:
    desk = services.desk
    deadline = desk.deadline()
    if isinstance(intent, Show):
        located = await desk.find(intent.run_id, deadline)
        summary = run_summary(located.run, located.env, services.run_url(located.run.id))
        await respond(text=summary.text, blocks=summary.blocks, response_type="ephemeral")
        return
    moved = await desk.reschedule(intent.run_id, intent.when, deadline)
    log.info(
        "rescheduled run=%s env=%s by=%s to=%s", moved.run.id, moved.env.name, user_id, moved.new.isoformat()
    )
    action = Rescheduled(user_id=user_id, previous=moved.previous, new=moved.new)
    summary = run_summary(moved.run, moved.env, services.run_url(moved.run.id), action)
    await respond(
        text=summary.text, blocks=summary.blocks, response_type="in_channel", replace_original=False
    )
