"""The /reschedule slash command.

Everything that can be decided without the network (help, unreadable input) is answered in the
acknowledgement itself; everything else is acknowledged first and answered privately through the response_url. A
move's summary is for the channel: posted by the bot (so it follows its run), through the response_url when the bot
cannot post there (bot/slack/channel_post.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.access_check import AccessRefused
from bot.domain.audit import Outcome
from bot.domain.bulk import dedupe
from bot.domain.delays import DelayError, format_duration
from bot.domain.environments import Environment
from bot.domain.run_refs import parse_run_ref
from bot.domain.runs import Run
from bot.domain.typed_time import UTC_READER, ReaderZone, parse_duration, read_time
from bot.limits import Busy
from bot.render import access
from bot.render.controls import PRIVATE_BUTTONS, confirm_prompt, run_now_prompt
from bot.render.history import history
from bot.render.mrkdwn import code, date_token, escape, truncate
from bot.render.run_list import LIST_BUTTONS, MAX_RUNS_SHOWN, run_list
from bot.render.summary import run_summary
from bot.render.times import examples_text, spoken
from bot.rescheduler import Actor, DelayedList, ListFilters, like_tag
from bot.slack import bulk, dm
from bot.slack.actor import actor_of
from bot.slack.channel_post import post_for_channel
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import environments_text, failure_text, moved_but, unexpected_text
from bot.slack.replies import quietly
from bot.slack.respond import Respond, respond_for
from bot.storage.audit import AuditUnavailable
from bot.trigger.errors import AuthRejected, RateLimited, TriggerError, TriggerUnavailable

log = logging.getLogger(__name__)

REASON_FLAG = "--reason"
REASON_MAX = 500
HELP_WORDS = frozenset({"", "help", "-h", "--help", "?", "usage"})
MAX_TASKS_NAMED = 10  # the tasks a list's task prefix matched, named under its head
MAX_TAGS_NAMED = 10  # the tags named when a list's tag matched nothing


@dataclass(frozen=True, slots=True)
class Show:
    run_id: str
    env: str | None


@dataclass(frozen=True, slots=True)
class Move:
    """One run to `when`; `note` says which instant a wall-clock phrase was read as; `ask` asks first whatever the
    environment (a day named as `next <weekday>` is shown before anything moves)."""

    run_id: str
    when: datetime
    env: str | None
    note: str = field(default="", compare=False)
    ask: bool = field(default=False, compare=False)
    spoken: str = field(default="", compare=False)
    local: bool = field(default=False, compare=False)  # read on the reader's clock: another zone reads another instant
    plus: str = field(default="", compare=False)  # what was typed, when a duration with a plus (`+30m`): see _act


@dataclass(frozen=True, slots=True)
class RunNow:
    """`/reschedule <run> now`: the card's Run now, with the same question first."""

    run_id: str
    env: str | None


@dataclass(frozen=True, slots=True)
class BulkMove:
    """Several runs to one instant: `/reschedule run_a run_b … <when>` (ids in the order typed, each once)."""

    run_ids: tuple[str, ...]
    when: datetime
    env: str | None
    reader: ReaderZone = field(default=UTC_READER, compare=False)
    local: bool = field(default=False, compare=False)  # as Move's


@dataclass(frozen=True, slots=True)
class History:
    run_id: str | None


@dataclass(frozen=True, slots=True)
class List:
    """`/reschedule list [task] [--tag TAG] [--env NAME] [--within DURATION]`."""

    filters: ListFilters


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer privately at once; no network call needed. `invalid` marks an attempt worth auditing."""

    text: str
    invalid: bool = False


Intent = Show | Move | RunNow | BulkMove | History | List | Reply


def _take_flag(words: list[str], flag: str, needs_value: str) -> tuple[list[str], str | None, str | None]:
    """Remove `--flag VALUE` / `--flag=VALUE`; returns (other words, value, problem)."""
    rest: list[str] = []
    value: str | None = None
    index = 0
    while index < len(words):
        word = words[index]
        if word.lower().startswith(f"{flag}="):
            value = word.split("=", 1)[1]
            if not value:
                return rest, None, needs_value
        elif word.lower() == flag:
            if index + 1 >= len(words) or words[index + 1].startswith("--"):
                return rest, None, needs_value
            value = words[index + 1]
            index += 1
        else:
            rest.append(word)
        index += 1
    return rest, value, None


def _take_env(words: list[str]) -> tuple[list[str], str | None, str | None]:
    """Remove `--env NAME` / `--env=NAME`; returns (other words, name, problem)."""
    rest, env, problem = _take_flag(words, "--env", messages.ENV_FLAG_NEEDS_NAME)
    return rest, (env.lower() if env else None), problem


def split_reason(text: str) -> tuple[str, str]:
    """`<run> <when> --reason why` → (`<run> <when>`, `why`): the reason an approver of a protected environment
    reads (everything after the flag, bounded)."""
    before, flag, after = text.partition(REASON_FLAG)
    return (before.strip(), " ".join(after.split())[:REASON_MAX]) if flag else (text, "")


def names_a_time(text: str) -> bool:
    """Whether `text` may move a run (a run, then more words, `--env` anywhere): only then is the person's
    timezone needed."""
    words, _, _ = _take_env(text.split()[:200])
    return len(words) >= 2 and parse_run_ref(words[0]) is not None


def zone_free(text: str, now: datetime, deps: SurfaceDeps) -> Intent | None:
    """What `text` asks for when reading it does not depend on the person's timezone (no time in it, a duration,
    `now`, a time with its offset): then the acknowledgement need not wait for their Slack profile. None when it
    does: a time of day or a date, or a refusal (its examples are in their terms)."""
    in_utc = parse(text, now, deps, UTC_READER)
    if not names_a_time(text):
        return in_utc
    if isinstance(in_utc, Reply) or (isinstance(in_utc, Move | BulkMove) and in_utc.local):
        return None
    return in_utc


def parse(text: str, now: datetime, deps: SurfaceDeps, reader: ReaderZone = UTC_READER) -> Intent:
    """Read what the person typed after /reschedule. The target instant is fixed here, at `now`; a time of day is
    on the clocks of `reader`'s zone."""
    words, env, problem = _take_env(text.split())
    if problem:
        return Reply(problem, invalid=True)
    if env is not None and env not in deps.environment_names():
        names = environments_text(deps.environment_names())
        return Reply(messages.unknown_environment(shown(env), names), invalid=True)
    if not words or words[0].lower() in HELP_WORDS:
        return Reply(messages.USAGE)
    if words[0].lower() == messages.HISTORY_WORD:
        return _history(words[1:])
    if words[0].lower() == messages.LIST_WORD:
        return _list(words[1:], env)
    run_ids: list[str] = []
    for word in words:
        ref = parse_run_ref(word)
        if ref is None:
            break
        run_ids.append(ref)
    if not run_ids:
        return Reply(_run_last(words, env) or messages.not_a_run(shown(words[0])), invalid=True)
    count = len(run_ids)
    run_ids = dedupe(run_ids)
    if len(run_ids) > deps.bulk_limit:
        return Reply(messages.bulk_too_many(len(run_ids), deps.bulk_limit), invalid=True)
    if len(words) == count:
        if len(run_ids) == 1:
            return Show(run_ids[0], env)
        return Reply(messages.BULK_NEEDS_TIME, invalid=True)
    return _move_intent(run_ids, " ".join(words[count:]), env, now, deps, reader)


def _question(intent: Move, run: Run, env: Environment, deps: SurfaceDeps, earlier: bool) -> list[dict[str, Any]]:
    """The private Confirm / Cancel prompt of a move that asks first, saying why it asks."""
    when = intent.spoken or date_token(intent.when)
    task = escape(run.task_identifier)
    if earlier and run.delayed_until is not None:
        text = messages.confirm_earlier(run.id, task, shown(intent.plus), when, date_token(run.delayed_until))
    elif deps.asks_first(env):
        text = ""  # the environment's own question
    else:
        text = messages.confirm_day(run.id, task, when)
    return confirm_prompt(run.id, run.task_identifier, env, intent.when, intent.spoken, text)


def _run_last(words: list[str], env: str | None) -> str | None:
    """For `/reschedule 2h run_…` (the time first, the runs after it): the command in the right order, to type."""
    runs = 0
    while runs < len(words) - 1 and parse_run_ref(words[len(words) - 1 - runs]) is not None:
        runs += 1
    if not runs:
        return None
    reordered = [*words[-runs:], *words[:-runs], *(["--env", env] if env else [])]
    return messages.runs_go_first(code(f"{messages.COMMAND} {' '.join(reordered)}", 400), runs)


def _move_intent(
    run_ids: list[str], typed: str, env: str | None, now: datetime, deps: SurfaceDeps, reader: ReaderZone
) -> Intent:
    """Runs to the time `typed`: one run, several (a set), or `now` (Run now, for one run)."""
    try:
        when = read_time(typed, now=now, zone=reader.zone, max_delay=deps.max_delay)
    except DelayError as exc:
        return Reply(delay_problem_text(exc, shown(typed), now, reader, deps), invalid=True)
    if when.target is None:
        if len(run_ids) == 1:
            return RunNow(run_ids[0], env)
        return Reply(messages.RUN_NOW_ONE_AT_A_TIME, invalid=True)
    spoken_text = spoken(when.target, now, reader)
    note = messages.resolved_note(shown(typed), spoken_text, when.rolled, when.gap) if when.local else ""
    if len(run_ids) == 1:
        plus = typed if when.plus else ""
        return Move(
            run_ids[0], when.target, env, note, ask=when.asks_first, spoken=spoken_text, local=when.local, plus=plus
        )
    return BulkMove(tuple(run_ids), when.target, env, reader, local=when.local)


def delay_problem_text(exc: DelayError, typed_shown: str, now: datetime, reader: ReaderZone, deps: SurfaceDeps) -> str:
    """Why a typed time was refused, with the instant it named and examples valid now, in the reader's terms."""
    resolved = spoken(exc.resolved, now, reader) if exc.resolved else None
    suggestion = (exc.suggestion[0], spoken(exc.suggestion[1], now, reader)) if exc.suggestion else None
    examples = examples_text(now, reader)
    return messages.delay_problem(
        exc.kind, typed_shown, format_duration(deps.max_delay), examples, resolved, suggestion
    )


def _history(words: list[str]) -> Intent:
    if not words:
        return History(None)
    run_id = parse_run_ref(words[0])
    if run_id is None or len(words) > 1:
        return Reply(messages.not_a_run(shown(" ".join(words)), messages.HISTORY_EXAMPLE), invalid=True)
    return History(run_id)


def _list(words: list[str], env: str | None) -> Intent:
    """`list [task] [--tag TAG] [--within DURATION]` (`--env` was taken already)."""
    words, tag, problem = _take_flag(words, "--tag", messages.TAG_FLAG_NEEDS_VALUE)
    if problem:
        return Reply(problem, invalid=True)
    words, within_text, problem = _take_flag(words, "--within", messages.WITHIN_FLAG_NEEDS_VALUE)
    if problem:
        return Reply(problem, invalid=True)
    within = None
    if within_text is not None:
        try:
            within = parse_duration(within_text)
        except DelayError:
            return Reply(messages.within_unreadable(shown(within_text)), invalid=True)
    if flags := [word for word in words if word.startswith("--")]:
        return Reply(messages.unknown_flag(shown(flags[0])), invalid=True)
    if len(words) > 1:
        return Reply(messages.list_extra_words(shown(" ".join(words))), invalid=True)
    task = words[0] if words else None
    return List(ListFilters(task=task, tag=tag, env=env, within=within))


def shown(text: str) -> str:
    """Echo user input inside a code span: escaped, bounded, backticks neutralised."""
    return code(truncate(text, 100))[1:-1]


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach the /reschedule listener."""

    @app.command(messages.COMMAND)
    @deps.inflight.listener
    async def on_command(
        ack: AsyncAck,
        command: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        respond = respond_for(context)
        typed = str(command.get("text", ""))
        asked, reason = split_reason(typed)
        actor = replace(actor_of(context, command, "command", typed[:200]), reason=reason)
        if REASON_FLAG in typed and not reason:  # the flag with nothing after it: not a reason given
            await ack(text=messages.REASON_FLAG_NEEDS_TEXT, response_type="ephemeral")
            deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error="--reason without a reason")
            return
        now = deps.rescheduler.now()
        intent = zone_free(asked, now, deps)
        # The same instant in every zone: only how it is spoken is in theirs, looked up after the acknowledgement,
        # and only for what speaks it (a set's prompt, a confirmation; Run now speaks no time, nor does a move's
        # summary, whose times Slack shows on each reader's clock).
        zone_after_ack = intent is not None and names_a_time(asked) and not isinstance(intent, RunNow)
        if intent is None:  # bounded: the acknowledgement waits for it
            reader = await deps.timezones.of(client, actor.user_id, actor.team_id)
            intent = parse(asked, now, deps, reader)
        if isinstance(intent, Reply):
            await ack(text=intent.text, response_type="ephemeral")
            if intent.invalid:
                deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error="unreadable command")
            return
        await ack()
        if not await deps.first_delivery(command, "command"):
            return

        tell = deps.teller(respond, client, actor)

        async def on_their_clock() -> Intent:
            """What was typed, read on the person's clock (their zone looked up now)."""
            return parse(asked, now, deps, await deps.timezones.of(client, actor.user_id, actor.team_id))

        async def in_their_terms(move: Move) -> Move:
            theirs = await on_their_clock()
            return theirs if isinstance(theirs, Move) else move

        try:
            what = f"{messages.COMMAND} {typed}"[:200]
            person = (actor.team_id, actor.user_id)
            async with deps.rescheduler.limits.person(person), deps.inflight.work(what, actor, tell):
                if zone_after_ack and isinstance(intent, BulkMove):  # the set's prompt speaks its time
                    theirs = await on_their_clock()
                    intent = intent if isinstance(theirs, Reply) else theirs
                speak = in_their_terms if zone_after_ack else None
                await _after_ack(intent, actor, deps, respond, client, tell, speak)
        except Busy:
            await tell(messages.STILL_WORKING)


async def _after_ack(
    intent: Show | Move | RunNow | BulkMove | History | List,
    actor: Actor,
    deps: SurfaceDeps,
    respond: Respond,
    client: AsyncWebClient,
    tell: Callable[..., Awaitable[bool]],
    speak: Callable[[Move], Awaitable[Move]] | None = None,
) -> None:
    """`speak`: for a Move read without the person's zone, the same Move with its time spoken on their clock (asked
    only when a confirmation is about to speak it)."""
    try:
        if isinstance(intent, History):
            await _history_reply(intent, actor, deps, tell)
        elif isinstance(intent, List):
            await _list_reply(intent, actor, deps, tell)
        elif isinstance(intent, BulkMove):
            await bulk.prompt(intent.run_ids, intent.when, intent.env, actor, deps, tell, reader=intent.reader)
        else:
            await _act(intent, actor, deps, respond, client, tell, speak)
    except (TriggerError, AccessRefused) as exc:
        run_id = getattr(intent, "run_id", "") or ""
        env_title = deps.rescheduler.targets[0].env.title if len(deps.rescheduler.targets) == 1 else ""
        await tell(failure_text(exc, run_id, env_title, deps.run_url(run_id) if run_id else None))
    except Exception as exc:
        await tell(unexpected_text(exc, "command"))


async def _history_reply(
    intent: History, actor: Actor, deps: SurfaceDeps, tell: Callable[..., Awaitable[bool]]
) -> None:
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
    titles = {target.env.name: target.env.title for target in deps.rescheduler.targets}
    await tell(title, history(title, records, viewer=actor.user_id, titles=titles))


async def _list_reply(intent: List, actor: Actor, deps: SurfaceDeps, tell: Callable[..., Awaitable[bool]]) -> None:
    rescheduler = deps.rescheduler
    listed = await rescheduler.list_delayed(actor, intent.filters, rescheduler.deadline(), deps.max_delay)
    if not listed.searched and not listed.failed:
        await tell(
            access.out_of_reach(listed.refused, listing=True) if listed.refused else messages.LIST_NO_ENVIRONMENT
        )
        return
    failed = {env for env, _ in listed.failed}
    answered = [env for env in listed.searched if env not in failed]
    if not answered:
        exc = listed.failed[0][1]  # nothing could be listed at all: the usual specific explanation
        await tell(failure_text(exc, "", exc.environment or ""))
        return
    filters = intent.filters
    asked = messages.list_filters(
        code(filters.task, 100) if filters.task else None,
        code(filters.tag, 100) if filters.tag else None,
        format_duration(filters.within) if filters.within else None,
    )
    rendered = run_list(
        [(entry.run, entry.env) for entry in listed.runs],
        rescheduler.now(),
        where=_all_of([env.title for env in answered]),
        filters=asked,
        notes=_tasks_matched(filters.task, listed) + _elsewhere(filters, listed) + _list_notes(listed),
        controls=deps.controls(answered[0], LIST_BUTTONS),
        run_url=deps.run_url,
        push_all=await _push_all_key(listed, actor, deps),
    )
    await tell(rendered.text, rendered.blocks)


async def _push_all_key(listed: DelayedList, actor: Actor, deps: SurfaceDeps) -> str | None:
    """The set of the runs the list shows, fixed now, for its Push all back… (None for fewer than two)."""
    shown = listed.runs[: min(MAX_RUNS_SHOWN, deps.bulk_limit)]
    if len(shown) < 2:
        return None
    runs = [(e.run.id, e.env.name) for e in shown]
    bulk = await deps.bulk_sets.add(actor.user_id, actor.team_id, runs, None, seen=[e.run for e in shown])
    return bulk.key


def _all_of(titles: list[str]) -> str:
    """`*Prod*`, `*Prod* and *Staging*`, `*Prod*, *Staging* and *Dev*`."""
    quoted = [f"*{escape(title)}*" for title in titles]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _tasks_matched(typed: str | None, listed: DelayedList) -> list[str]:
    """The sentence naming the tasks a task given to `list` matched (none when nothing was asked or listed)."""
    tasks = sorted({entry.run.task_identifier for entry in listed.runs}, key=str.casefold)
    if not typed or not tasks:
        return []
    names = [escape(truncate(task, 80)) for task in tasks[:MAX_TASKS_NAMED]]
    return [messages.list_tasks_matched(code(typed, 100), names, len(tasks) - len(names))]


def _elsewhere(filters: ListFilters, listed: DelayedList) -> list[str]:
    """When the task typed starts no task's name: the runs it names otherwise (a tag, the middle of a name); when
    the tag typed matched nothing: the tags there are. With the list to type for them (the other filters kept)."""
    typed, near = filters.task, listed.near
    if near.tags and filters.tag:
        likest = near.tags[0]  # the tags come likest first
        close = like_tag(filters.tag, likest)
        names = [code(tag, 60) for tag in (near.tags if close else sorted(near.tags, key=str.casefold))]
        meant = _list_command(filters, task=filters.task, tag=likest) if close else ""
        shown_names = names[:MAX_TAGS_NAMED]
        return [messages.list_tags_carried(shown_names, len(names) - len(shown_names), meant)]
    if not typed:
        return []
    notes = []
    if near.tagged:
        notes.append(messages.list_tagged_instead(code(typed, 100), near.tagged, _list_command(filters, tag=typed)))
    if near.tasks:
        names = [escape(truncate(task, 80)) for task in near.tasks[:MAX_TASKS_NAMED]]
        suggested = _list_command(filters, task=near.tasks[0])
        notes.append(messages.list_named_inside(code(typed, 100), names, len(near.tasks) - len(names), suggested))
    return notes


def _list_command(filters: ListFilters, *, task: str | None = None, tag: str | None = None) -> str:
    """`/reschedule list …` for `task` or `tag` with the other filters of `filters`, as a code span."""
    words = [messages.COMMAND, messages.LIST_WORD]
    if task:
        words.append(task)
    if tag:
        words += ["--tag", tag]
    if filters.env:
        words += ["--env", filters.env]
    if filters.within:
        words += ["--within", format_duration(filters.within)]
    return code(" ".join(words), 200)


def _list_notes(listed: DelayedList) -> list[str]:
    """Sentences for what the list could not cover: environments that failed (grouped by reason), a page bound."""
    by_reason: dict[str, list[str]] = {}
    for env, exc in listed.failed:
        if isinstance(exc, AuthRejected):
            reason = messages.LIST_FAILED_KEY
        elif isinstance(exc, RateLimited):
            reason = messages.LIST_FAILED_RATE
        elif isinstance(exc, TriggerUnavailable):
            reason = messages.LIST_FAILED_UNAVAILABLE
        else:
            reason = messages.LIST_FAILED_REFUSED
        by_reason.setdefault(reason, []).append(env.title)
    notes = [messages.list_failed(_all_of(names), reason) for reason, names in by_reason.items()]
    if listed.incomplete:
        notes.append(messages.LIST_INCOMPLETE)
    if listed.refused:  # not listed, and said so as everywhere else: who may move runs there
        notes.append(access.out_of_reach(listed.refused, listing=True))
    return notes


async def _act(
    intent: Show | Move | RunNow,
    actor: Actor,
    deps: SurfaceDeps,
    respond: Respond,
    client: AsyncWebClient,
    tell: Callable[..., Awaitable[bool]],
    speak: Callable[[Move], Awaitable[Move]] | None = None,
) -> None:
    rescheduler = deps.rescheduler
    deadline = rescheduler.deadline()
    try:
        located = await rescheduler.find(intent.run_id, deadline, intent.env, actor)
    except TriggerError as exc:
        if isinstance(intent, Move):
            rescheduler.record_failure(actor, exc, run_id=intent.run_id, when=intent.when)
        raise
    run, env = located.run, located.env
    if isinstance(intent, Show) or (isinstance(intent, RunNow) and not run.is_delayed):
        summary = run_summary(run, env, deps.run_url(run.id), controls=deps.controls(env, PRIVATE_BUTTONS))
        await tell(summary.text, summary.blocks)
        return
    if isinstance(intent, RunNow):
        await rescheduler.authorize(actor, env, run.id)
        await tell(messages.CONFIRM_RUN_NOW_TITLE, run_now_prompt(run.id, run.task_identifier, env))
        return
    # `+30m` is 30 minutes from now; said of a run due later than that, people often mean 30 minutes later than it.
    earlier = bool(intent.plus) and run.delayed_until is not None and intent.when < run.delayed_until
    if run.is_delayed and (deps.asks_first(env) or intent.ask or earlier):
        await rescheduler.authorize(actor, env, run.id)
        if speak is not None:
            intent = await speak(intent)
        await tell(messages.CONFIRM_TITLE, _question(intent, run, env, deps, earlier))
        return
    if intent.note:
        await tell(intent.note)
    moved = await rescheduler.move(actor, located, intent.when, deadline)
    try:
        action = deps.attribution(moved, actor)
        controls = deps.controls(moved.env)
        summary = run_summary(moved.run, moved.env, deps.run_url(moved.run.id), action, controls)
        posted = await post_for_channel(client, respond, actor.channel_id, summary.text, summary.blocks)
        note = messages.summary_not_posted(escape(posted.problem)) if posted.problem else ""
        note = messages.summary_uncertain(posted.channel) if posted.uncertain else note
        where = await dm.where_posted(client, posted.channel or actor.channel_id, posted.ts)
        dm_sent = await quietly("DM confirmation", dm.confirm(client, deps, moved, actor, where, note))
        # Followed after the DM, whose card is followed as it is posted: the two cards are one write.
        await deps.follow(posted.channel, posted.ts, moved, action)  # only the bot's own message can follow
        if note and not dm_sent:  # the summary did not reach the channel: say so by whatever route works
            await tell(note)
    except Exception as exc:
        await tell(moved_but(exc, "command"))
