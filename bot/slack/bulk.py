"""Many runs in one move, on Slack: the private prompt that fixes the set, and what its Confirm does (one summary
message for the set, updated while a large set progresses; one DM with the result)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.bulk import CONCURRENCY, BulkMover
from bot.domain.audit import Outcome
from bot.domain.bulk import BulkItem, BulkOutcome, Planned
from bot.domain.delays import format_duration, instant_problem
from bot.domain.typed_time import UTC_READER, ReaderZone, zone_named
from bot.render import modal_views as views
from bot.render.bulk import Reading, bulk_prompt, bulk_summary, bulk_time_view
from bot.render.ids import (
    BULK_KEY_PATTERN,
    BULK_MODAL_CALLBACK_ID,
    BulkValue,
    Button,
)
from bot.render.mrkdwn import date_token, escape
from bot.rescheduler import Actor, FoundRun
from bot.slack import dm
from bot.slack.actor import actor_of
from bot.slack.channel_post import post_for_channel
from bot.slack.deps import SurfaceDeps
from bot.slack.replies import keep_for_later, respond_checked, slack_error
from bot.slack.respond import SessionRespond
from bot.slack.when_input import read_when, state_values, when_hint
from bot.storage.bulk_sets import BulkSet
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

PROGRESS_MIN_RUNS = 10  # sets this large get their summary posted at once and updated as they progress
PROGRESS_EVERY_RUNS = 10
PROGRESS_EVERY_SECONDS = 3.0


async def prompt(
    run_ids: Sequence[str],
    when: datetime,
    env_name: str | None,
    actor: Actor,
    deps: SurfaceDeps,
    tell: Callable[..., Awaitable[bool]],
    thread_ts: str | None = None,
    reader: ReaderZone = UTC_READER,
) -> None:
    """Several runs to one instant, as typed on the command (`env_name`: where to look, None everywhere): find
    every run, fix the set, and ask once. `thread_ts`: the set's summary goes in that thread."""
    runs = [(run_id, env_name or "") for run_id in run_ids]
    await ask_to_confirm(runs, Chosen(when, reader=reader), actor, deps, tell, thread_ts=thread_ts)


@dataclass(frozen=True, slots=True)
class Chosen:
    """What a set is asked to do: all to `when`, or each run back by `shift` from its own start time (a push);
    `reader`: whose clock the prompt speaks in."""

    when: datetime | None
    shift: timedelta | None = None
    reader: ReaderZone = UTC_READER


async def _find_all(runs: Sequence[tuple[str, str]], deps: SurfaceDeps) -> list[FoundRun | None]:
    """Each run as it is now (None: not found now; looked for again when the set is moved)."""
    rescheduler = deps.rescheduler
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(run_id: str, env_name: str) -> FoundRun | None:
        async with semaphore:
            try:
                return await rescheduler.find(run_id, rescheduler.deadline(), env_name or None)
            except TriggerError:
                return None

    return list(await asyncio.gather(*(one(run_id, env) for run_id, env in runs)))


async def ask_to_confirm(
    runs: Sequence[tuple[str, str]],
    chosen: Chosen,
    actor: Actor,
    deps: SurfaceDeps,
    tell: Callable[..., Awaitable[bool]],
    thread_ts: str | None = None,
) -> None:
    """Find every run as it is now, fix the set and ask once: Confirm / Cancel. A move to one time names every run
    it would take earlier than it is now; a push names each run's move (runs not delayed now are left out)."""
    now = deps.rescheduler.now()
    found = await _find_all(runs, deps)
    named = [(run_id, item.env.name if item else env) for (run_id, env), item in zip(runs, found, strict=True)]
    planned: list[Planned] = []
    fixed_runs: list[tuple[str, str]] = []
    targets: list[datetime] = []
    for (run_id, env), item in zip(named, found, strict=True):
        current = item.run.delayed_until if item is not None and item.run.is_delayed else None
        if chosen.shift is None:
            fixed_runs.append((run_id, env))
            if current is not None and chosen.when is not None:
                planned.append(Planned(run_id, item.run.task_identifier if item else "", current, chosen.when))
            continue
        target = current + chosen.shift if current is not None else None
        if item is None or target is None or instant_problem(target, now=now, max_delay=deps.max_delay):
            continue
        fixed_runs.append((run_id, env))
        targets.append(target)
        planned.append(Planned(run_id, item.run.task_identifier, current or target, target))
    if not fixed_runs:
        await tell(messages.BULK_NOTHING_TO_PUSH)
        return
    fixed = await deps.bulk_sets.add(
        actor.user_id,
        actor.team_id,
        fixed_runs,
        chosen.when if chosen.shift is None else None,
        thread_ts=thread_ts,
        targets=targets,
        shift=chosen.shift,
    )
    envs = {name for _, name in fixed_runs}
    titles = [t.env.title for t in deps.rescheduler.targets if t.env.name in envs]
    left_out = len(runs) - len(fixed_runs) if chosen.shift is not None else sum(1 for item in found if item is None)
    blocks = bulk_prompt(
        fixed.key,
        len(fixed_runs),
        titles,
        chosen.when,
        left_out,
        reading=Reading(now, chosen.reader),
        planned=planned,
        shift=chosen.shift,
    )
    await tell(messages.BULK_TITLE, blocks)


@dataclass(frozen=True, slots=True)
class SetClick:
    """A click on one of a set's buttons: the request, who clicked, and the routes to answer them."""

    body: dict[str, Any]
    actor: Actor
    deps: SurfaceDeps
    respond: AsyncRespond
    client: AsyncWebClient
    private: Callable[[str], Awaitable[object]]  # tells the clicker privately, by whatever route works


async def on_click(button: Button, value: BulkValue, click: SetClick) -> None:
    """Confirm or Cancel of a set, or a list's Push all back…; only the person who asked may do any of them."""
    actor, deps, private = click.actor, click.deps, click.private
    undo = button is Button.BULK_UNDO
    expired = messages.BULK_UNDO_EXPIRED if undo else messages.BULK_EXPIRED
    bulk = await deps.bulk_sets.get(value.k)
    if bulk is None or bulk.is_undo != undo or (not undo and bulk.awaiting_time != (button is Button.BULK_PUSH_ALL)):
        await private(expired)
        return
    if bulk.user_id != actor.user_id or bulk.team_id != actor.team_id:
        await private(messages.BULK_UNDO_NOT_YOURS if undo else messages.BULK_NOT_YOURS)
        why = "undid a set another person moved" if undo else "acted on a set another person asked for"
        deps.rescheduler.record(actor, Outcome.REFUSED, error=why)
        return
    if button is Button.BULK_PUSH_ALL:
        if not await open_time_form(click.client, click.body, bulk, actor, deps):
            await private(messages.TRIGGER_ID_EXPIRED)
        return
    if await deps.bulk_sets.take(value.k) is None:
        await private(expired)
        return
    if undo:
        await _undo(bulk, click)
        return
    if button is Button.BULK_CANCEL:
        await respond_checked(click.respond, text=messages.CANCELLED, response_type="ephemeral", replace_original=True)
        return
    await _execute(bulk, click)


class ModalMetadata(BaseModel):
    """What the Push all back… form carries: the list's set and where to answer (the click's response_url)."""

    model_config = ConfigDict(extra="forbid")

    k: str = Field(pattern=BULK_KEY_PATTERN.pattern)
    url: str | None = Field(default=None, max_length=2000)
    channel: str | None = Field(default=None, max_length=40)
    thread: str | None = Field(default=None, max_length=32)  # the message's thread, for a set from the shortcut
    tz: str | None = Field(default=None, max_length=64)  # the person's Slack timezone, read when the form opened


async def ask_time_for_message(
    run_ids: Sequence[str], body: dict[str, Any], actor: Actor, deps: SurfaceDeps, client: AsyncWebClient
) -> bool:
    """The shortcut on a message naming many runs: the set is the runs named (their environments found on
    submit), its time asked in a form, its summary in the message's thread. False: the form could not be opened."""
    message = body.get("message") or {}
    thread = message.get("thread_ts") or message.get("ts") or body.get("message_ts")
    bulk = await deps.bulk_sets.add(actor.user_id, actor.team_id, [(run_id, "") for run_id in run_ids], None)
    return await open_time_form(client, body, bulk, actor, deps, thread if isinstance(thread, str) else None)


async def open_time_form(
    client: AsyncWebClient,
    body: dict[str, Any],
    bulk: BulkSet,
    actor: Actor,
    deps: SurfaceDeps,
    thread: str | None = None,
) -> bool:
    """Open the form asking one time for `bulk`; False when Slack refused (an expired trigger_id)."""
    response_url = body.get("response_url")
    reader = await deps.timezones.of(client, actor.user_id, actor.team_id)  # bounded, within the trigger_id's life
    metadata = ModalMetadata(
        k=bulk.key,
        url=response_url if isinstance(response_url, str) else None,
        channel=actor.channel_id,
        thread=thread,
        tz=reader.name,
    )
    hint = when_hint(deps.rescheduler.now(), reader, run_now=False)
    encoded = metadata.model_dump_json(exclude_none=True)
    view = bulk_time_view(len(bulk.runs), encoded, from_message=thread is not None, hint=hint)
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
    except Exception as exc:
        log.warning("views.open for a bulk move failed: %s", slack_error(exc))
        return False
    return True


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach the submission of the Push all back… form: a time, then the same confirmation as the command."""

    @app.view(BULK_MODAL_CALLBACK_ID)
    @deps.inflight.listener
    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        try:
            metadata = ModalMetadata.model_validate_json(view.get("private_metadata") or "")
        except ValidationError:
            await ack(response_action="update", view=views.notice(messages.FOREIGN_PAYLOAD))
            return
        reader = zone_named(metadata.tz)
        when = read_when(state_values(view), deps.rescheduler.now(), deps.max_delay, reader)
        actor = actor_of(context, body, "modal", when.typed[:200], channel_id=metadata.channel)
        if when.target is None:
            await ack(response_action="errors", errors=when.errors)
            return
        await ack(response_action="clear")  # before any database read: Slack waits 3 s for this answer
        if not await deps.first_delivery(body, "view_submission"):
            return
        respond = SessionRespond(response_url=metadata.url, session=client.session) if metadata.url else None

        tell = deps.teller(respond, client, actor)

        bulk = await deps.bulk_sets.get(metadata.k)
        mine = bulk is not None and (bulk.user_id, bulk.team_id) == (actor.user_id, actor.team_id)
        if bulk is None or not bulk.awaiting_time or not mine:
            await tell(messages.BULK_EXPIRED)
            return

        # A duration pushes each run back by that much from its own time; a time moves them all to it.
        chosen = Chosen(None, when.shift, reader) if when.shift is not None else Chosen(when.target, None, reader)
        from_message = any(not env_name for _, env_name in bulk.runs)
        what = messages.WORK_SET_FROM_MESSAGE if from_message else messages.WORK_PUSH_ALL
        async with deps.inflight.work(what, None, tell):
            await ask_to_confirm(bulk.runs, chosen, actor, deps, tell, thread_ts=metadata.thread)


async def _execute(bulk: BulkSet, click: SetClick) -> None:
    actor, deps, respond = click.actor, click.deps, click.respond
    when = bulk.when
    if bulk.awaiting_time:  # a list's set gets its time from the form, as a new set
        await click.private(messages.BULK_EXPIRED)
        return
    total = len(bulk.runs)
    shift = bulk.shift
    if when is not None:
        head = messages.bulk_head(actor.user_id, 0, total, date_token(when), final=False)
    else:
        head = messages.bulk_push_head(actor.user_id, 0, total, format_duration(shift or timedelta(0)), final=False)
    await respond_checked(respond, text=head, response_type="ephemeral", replace_original=True)
    message = _Summary(bulk, when, actor, deps, click.client)
    if total >= PROGRESS_MIN_RUNS:
        await message.post_early()
    items = await BulkMover.for_rescheduler(deps.rescheduler).run(actor, bulk, message.progress)
    message.undo_key = await _undo_set(items, bulk, actor, deps)
    problem = await message.final(items, respond)
    if problem is None:
        await respond_checked(respond, delete_original=True)
    await _finish(message, items, problem, messages.bulk_dm_head, click)


async def _undo_set(items: list[BulkItem], bulk: BulkSet, actor: Actor, deps: SurfaceDeps) -> str | None:
    """Keep the runs moved, each with its own previous time, for the set's one Undo; its key (None: nothing to
    undo)."""
    names = {t.env.title: t.env.name for t in deps.rescheduler.targets}
    found = dict(bulk.runs)
    runs: list[tuple[str, str]] = []
    back: list[datetime] = []
    for item in items:
        if item.outcome is BulkOutcome.MOVED and item.previous is not None:
            runs.append((item.run_id, names.get(item.env_title) or found.get(item.run_id, "")))
            back.append(item.previous)
    if not runs:
        return None
    return (await deps.bulk_sets.add(actor.user_id, actor.team_id, runs, None, back)).key


async def _undo(bulk: BulkSet, click: SetClick) -> None:
    """The set's Undo: each run back to its own previous time where that is still ahead, through the same paced
    path (one audit row per run); the clicked summary is updated in place, and one DM says the result."""
    actor, deps = click.actor, click.deps
    container = click.body.get("container") or {}
    message = _Summary(bulk, None, actor, deps, click.client)
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if isinstance(channel, str) and isinstance(ts, str):
        message.channel, message.ts = channel, ts
        await message.show(list[BulkItem]())
    items = await BulkMover.for_rescheduler(deps.rescheduler).run(actor, bulk, message.progress)
    problem = await message.final(items, click.respond, replace=True)
    await _finish(message, items, problem, messages.bulk_undo_dm_head, click)


async def _finish(
    message: _Summary,
    items: list[BulkItem],
    problem: str | None,
    dm_head: Callable[[str], str],
    click: SetClick,
) -> None:
    """One DM with the result (or, without it, a private word when the summary could not be shown)."""
    actor, deps, client = click.actor, click.deps, click.client
    text, _ = message.render(items, final=True)
    if deps.dm_confirmations:
        note = messages.bulk_summary_failed(escape(problem)) if problem else ""
        where = await dm.where_posted(client, message.channel or actor.channel_id, message.ts)
        head = f"{dm_head(where)}\n{note}".strip()
        dm_text, dm_blocks = message.render(items, final=True, extra=head)
        try:
            await client.chat_postMessage(channel=actor.user_id, text=dm_text, blocks=dm_blocks)
            return
        except Exception as exc:
            kept = keep_for_later(deps.outbox, exc, actor.team_id, actor.user_id, dm_text, dm_blocks)
            later = "; kept to be sent later" if kept else ""
            log.warning("could not DM the bulk result to %s: %s%s", actor.user_id, slack_error(exc), later)
            if kept and not problem:
                return  # the result is sent as a DM when Slack takes it
    if problem:
        await click.private(f"{messages.bulk_summary_failed(escape(problem))}\n{text}")


class _Summary:
    """The set's one message in the channel: posted at once for a large set and updated as it progresses, else
    posted at the end; by the bot, or through the response_url when the bot cannot post in the channel."""

    def __init__(
        self, bulk: BulkSet, when: datetime | None, actor: Actor, deps: SurfaceDeps, client: AsyncWebClient
    ) -> None:
        self.bulk, self.when, self.actor, self.deps, self.client = bulk, when, actor, deps, client
        self.total = len(bulk.runs)
        self.channel = actor.channel_id  # an Undo updates the message it was clicked on, wherever that is
        self.ts: str | None = None
        self.undo_key: str | None = None  # the set's Undo, shown once the set is done
        self.lock = asyncio.Lock()
        self.shown = 0
        self.shown_at = time.monotonic()

    def render(self, items: list[BulkItem], final: bool, extra: str = "") -> tuple[str, list[dict[str, Any]]]:
        summary = bulk_summary(
            self.actor.user_id,
            self.when,
            self.total,
            items,
            self.deps.run_url,
            final=final,
            head=extra,
            undo_key=self.undo_key if final else None,
            shift=self.bulk.shift,
        )
        return summary.text, summary.blocks

    async def post_early(self) -> None:
        if not self.actor.channel_id:
            return
        text, blocks = self.render([], final=False)
        try:
            response = await self.client.chat_postMessage(
                channel=self.actor.channel_id, thread_ts=self.bulk.thread_ts, text=text, blocks=blocks
            )
        except Exception as exc:
            log.info("bulk summary not posted early (%s): shown at the end instead", slack_error(exc))
            return
        ts = response.get("ts")
        self.ts = ts if isinstance(ts, str) else None

    async def progress(self, items: list[BulkItem]) -> None:
        if self.ts is None or not self.channel or len(items) >= self.total or self.lock.locked():
            return
        due = time.monotonic() - self.shown_at >= PROGRESS_EVERY_SECONDS
        if len(items) - self.shown < PROGRESS_EVERY_RUNS and not due:
            return
        async with self.lock:
            await self.show(items)

    async def show(self, items: list[BulkItem]) -> None:
        """The set in progress, in its message."""
        if self.ts is None or not self.channel:
            return
        self.shown, self.shown_at = len(items), time.monotonic()
        text, blocks = self.render(items, final=False)
        try:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
        except Exception as exc:
            log.info("bulk progress not shown: %s", slack_error(exc))

    async def final(self, items: list[BulkItem], respond: AsyncRespond, *, replace: bool = False) -> str | None:
        """The final state; None when it was shown, else what went wrong. `replace`: through the click's
        response_url, in place of the message clicked (an Undo), rather than as a new message."""
        async with self.lock:
            text, blocks = self.render(items, final=True)
            if self.ts is not None and self.channel:
                try:
                    await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
                    return None
                except Exception as exc:
                    log.info("bulk summary not updated (%s): posting it instead", slack_error(exc))
            if replace:
                return await respond_checked(
                    respond, text=text, blocks=blocks, response_type="in_channel", replace_original=True
                )
            # Posted by the bot (in the thread of the message that named the set, if any), else the response_url.
            posted = await post_for_channel(
                self.client, respond, self.channel, text, blocks, thread_ts=self.bulk.thread_ts
            )
            if posted.ts is not None:
                self.channel, self.ts = posted.channel, posted.ts
            return posted.problem
