"""The /reschedule slash command.

Everything that can be decided without the network (help, unreadable input) is answered in the
acknowledgement itself; everything else is acknowledged first and answered through the response_url.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.access_check import AccessRefused
from bot.domain.audit import Outcome
from bot.domain.delays import DelayError, format_duration, parse_when
from bot.domain.run_refs import parse_run_ref
from bot.render.controls import PRIVATE_BUTTONS, confirm_prompt
from bot.render.history import history
from bot.render.mrkdwn import code, escape, truncate
from bot.render.summary import Attribution, run_summary
from bot.rescheduler import Actor
from bot.slack import dm
from bot.slack.actor import actor_of
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import environments_text, failure_text, moved_but, unexpected_text
from bot.slack.replies import quietly, respond_checked, tell_privately
from bot.storage.audit import AuditUnavailable
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"", "help", "-h", "--help", "?", "usage"})
HISTORY_WORD = "history"


@dataclass(frozen=True, slots=True)
class Show:
    run_id: str
    env: str | None


@dataclass(frozen=True, slots=True)
class Move:
    run_id: str
    when: datetime
    env: str | None


@dataclass(frozen=True, slots=True)
class History:
    run_id: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer privately at once; no network call needed. `invalid` marks an attempt worth auditing."""

    text: str
    invalid: bool = False


Intent = Show | Move | History | Reply


def _take_env(words: list[str]) -> tuple[list[str], str | None, str | None]:
    """Remove `--env NAME` / `--env=NAME`; returns (other words, name, problem)."""
    rest: list[str] = []
    env: str | None = None
    index = 0
    while index < len(words):
        word = words[index]
        if word.lower().startswith("--env="):
            env = word.split("=", 1)[1]
            if not env:
                return rest, None, messages.ENV_FLAG_NEEDS_NAME
        elif word.lower() == "--env":
            if index + 1 >= len(words):
                return rest, None, messages.ENV_FLAG_NEEDS_NAME
            env = words[index + 1]
            index += 1
        else:
            rest.append(word)
        index += 1
    return rest, (env.lower() if env else None), None


def parse(text: str, now: datetime, deps: SurfaceDeps) -> Intent:
    """Read what the person typed after /reschedule. The target instant is fixed here, at `now`."""
    words, env, problem = _take_env(text.split())
    if problem:
        return Reply(messages.with_usage(problem), invalid=True)
    if env is not None and env not in deps.environment_names():
        names = environments_text(deps.environment_names())
        return Reply(messages.unknown_environment(shown(env), names), invalid=True)
    if not words or words[0].lower() in HELP_WORDS:
        return Reply(messages.USAGE)
    if words[0].lower() == HISTORY_WORD:
        return _history(words[1:])
    run_id = parse_run_ref(words[0])
    if run_id is None:
        return Reply(messages.with_usage(messages.not_a_run(shown(words[0]))), invalid=True)
    if len(words) == 1:
        return Show(run_id, env)
    typed = " ".join(words[1:])
    try:
        when = parse_when(typed, now=now, max_delay=deps.max_delay)
    except DelayError as exc:
        return Reply(messages.delay_problem(exc.kind, shown(typed), format_duration(deps.max_delay)), invalid=True)
    return Move(run_id, when, env)


def _history(words: list[str]) -> Intent:
    if not words:
        return History(None)
    run_id = parse_run_ref(words[0])
    if run_id is None or len(words) > 1:
        return Reply(messages.with_usage(messages.not_a_run(shown(" ".join(words)))), invalid=True)
    return History(run_id)


def shown(text: str) -> str:
    """Echo user input inside a code span: escaped, bounded, backticks neutralised."""
    return code(truncate(text, 100))[1:-1]


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach the /reschedule listener."""

    @app.command(messages.COMMAND)
    async def on_command(
        ack: AsyncAck,
        command: dict[str, Any],
        context: AsyncBoltContext,
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        typed = str(command.get("text", ""))
        intent = parse(typed, deps.rescheduler.now(), deps)
        actor = actor_of(context, command, "command", typed)
        if isinstance(intent, Reply):
            await ack(text=intent.text, response_type="ephemeral")
            if intent.invalid:
                deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error="unreadable command")
            return
        await ack()
        if not await deps.first_delivery(command, "command"):
            return

        async def tell(text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
            return await tell_privately(respond, client, actor.user_id, actor.channel_id, text, blocks)

        async with deps.inflight.work(f"{messages.COMMAND} {typed}"[:200], actor, tell):
            await _after_ack(intent, actor, deps, respond, client, tell)


async def _after_ack(
    intent: Show | Move | History,
    actor: Actor,
    deps: SurfaceDeps,
    respond: AsyncRespond,
    client: AsyncWebClient,
    tell: Callable[..., Awaitable[bool]],
) -> None:
    try:
        if isinstance(intent, History):
            await _history_reply(intent, actor, deps, tell)
        else:
            await _act(intent, actor, deps, respond, client, tell)
    except (TriggerError, AccessRefused) as exc:
        run_id = getattr(intent, "run_id", "") or ""
        env_title = deps.rescheduler.targets[0].env.title if len(deps.rescheduler.targets) == 1 else ""
        await tell(failure_text(exc, run_id, env_title, deps.run_url(run_id) if run_id else None))
    except Exception as exc:
        await tell(unexpected_text(exc, "command"))


async def _history_reply(
    intent: History, actor: Actor, deps: SurfaceDeps, tell: Callable[..., Awaitable[bool]]
) -> None:
    if deps.audit is None:
        await tell(messages.HISTORY_UNAVAILABLE)
        return
    try:
        if intent.run_id is None:
            records = await deps.audit.for_user(actor.team_id, actor.user_id)
            title = messages.HISTORY_MINE
        else:
            records = await deps.audit.for_run(intent.run_id)
            title = messages.history_run(intent.run_id)
    except AuditUnavailable:
        await tell(messages.HISTORY_UNAVAILABLE)
        return
    await tell(title, history(title, records))


async def _act(
    intent: Show | Move,
    actor: Actor,
    deps: SurfaceDeps,
    respond: AsyncRespond,
    client: AsyncWebClient,
    tell: Callable[..., Awaitable[bool]],
) -> None:
    rescheduler = deps.rescheduler
    deadline = rescheduler.deadline()
    try:
        located = await rescheduler.find(intent.run_id, deadline, intent.env)
    except TriggerError as exc:
        if isinstance(intent, Move):
            rescheduler.record_failure(actor, exc, run_id=intent.run_id, when=intent.when)
        raise
    run, env = located.run, located.env
    if isinstance(intent, Show):
        summary = run_summary(run, env, deps.run_url(run.id), controls=deps.controls(env, PRIVATE_BUTTONS))
        await tell(summary.text, summary.blocks)
        return
    if run.is_delayed and deps.asks_first(env):
        await rescheduler.authorize(actor, env, run.id)
        blocks = confirm_prompt(run.id, run.task_identifier, env, intent.when)
        await tell(messages.CONFIRM_TITLE, blocks)
        return
    moved = await rescheduler.move(actor, located, intent.when, deadline)
    try:
        action = Attribution(user_id=actor.user_id, previous=moved.previous, new=moved.new, at=rescheduler.now())
        controls = deps.controls(moved.env)
        summary = run_summary(moved.run, moved.env, deps.run_url(moved.run.id), action, controls)
        problem = await respond_checked(
            respond, text=summary.text, blocks=summary.blocks, response_type="in_channel", replace_original=False
        )
        note = messages.summary_post_failed(escape(problem)) if problem else ""
        where = messages.where_channel(actor.channel_id)
        dm_sent = await quietly("DM confirmation", dm.confirm(client, deps, moved, actor, where, note))
        if note and not dm_sent:  # the summary did not reach the channel: say so by whatever route works
            await tell(note)
    except Exception as exc:
        await tell(moved_but(exc, "command"))
