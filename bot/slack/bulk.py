"""Many runs in one move, on Slack: the private prompt that fixes the set, and what its Confirm does (one summary
message for the set, updated while a large set progresses; one DM with the result)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.approvals import ApprovalNeeded
from bot.bulk import CONCURRENCY
from bot.domain.audit import Outcome
from bot.domain.bulk import Planned
from bot.domain.delays import format_duration, instant_problem
from bot.domain.runs import Run
from bot.domain.typed_time import UTC_READER, ReaderZone, zone_named
from bot.render import access
from bot.render import modal_views as views
from bot.render.bulk import Reading, bulk_prompt, bulk_time_view
from bot.render.ids import (
    BULK_KEY_PATTERN,
    BULK_MODAL_CALLBACK_ID,
    BulkValue,
    Button,
)
from bot.render.mrkdwn import date_token
from bot.rescheduler import Actor, FoundRun
from bot.slack.actor import actor_of
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import approval_text
from bot.slack.replies import respond_checked, slack_error
from bot.slack.respond import Respond
from bot.slack.when_input import read_when, state_values, when_hint
from bot.storage.approvals import RunAsked
from bot.storage.bulk_sets import BulkSet, SetsUnavailable
from bot.trigger.errors import RunNotFound, TriggerError

log = logging.getLogger(__name__)


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
    """Several runs to one instant, as typed on the command or named in a message (`env_name`: where to look, None
    everywhere): find every run (to name its environment), fix the set with what was found, and ask once: Confirm /
    Cancel, naming every run the move would take earlier than it is now. Runs are looked for only in the
    environments the person may act in (the others are named, with who can act there, and not asked); Confirm asks
    nothing again of what was found here. `thread_ts`: the set's summary goes in that thread (a set named by a
    message the shortcut was used on); `reader`: whose clock the prompt speaks in."""
    rescheduler = deps.rescheduler
    reach = await rescheduler.reachable(actor, env_name)
    if not reach.targets:  # nowhere this person may act: nothing is asked, no set is fixed
        await tell(access.out_of_reach(reach.refused))
        return
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def where(run_id: str) -> FoundRun | bool:
        """The run as found, or False: in none of the environments asked; True: not known (a failed lookup)."""
        async with semaphore:
            try:
                return await rescheduler.find_in(reach.targets, run_id, rescheduler.deadline())
            except RunNotFound:
                return False
            except TriggerError:
                return True  # looked for again when the set is moved; its outcome is said then

    found = await asyncio.gather(*(where(run_id) for run_id in run_ids))
    searched = [target.env for target in reach.targets]
    if reach.refused and all(item is False for item in found):  # a Move them could only say "not found"
        await tell(access.out_of_reach(reach.refused, missing=len(found), searched=searched))
        return
    default_env = env_name or ""
    runs = [
        (run_id, item.env.name if isinstance(item, FoundRun) else default_env)
        for run_id, item in zip(run_ids, found, strict=True)
    ]
    seen = [item.run if isinstance(item, FoundRun) else None for item in found]
    missing = frozenset(run_id for run_id, item in zip(run_ids, found, strict=True) if item is False)
    bulk = await deps.bulk_sets.add(
        actor.user_id, actor.team_id, runs, when, thread_ts=thread_ts, seen=seen, missing=missing
    )
    names = {item.env.name for item in found if isinstance(item, FoundRun)}
    titles = [t.env.title for t in rescheduler.targets if t.env.name in names]
    unread = sum(1 for item in found if item is True)
    note = (
        access.out_of_reach(reach.refused, missing=len(missing), searched=searched) if missing and reach.refused else ""
    )
    planned = [
        Planned(run.id, run.task_identifier, run.delayed_until, when)
        for run in seen
        if run is not None and run.is_delayed and run.delayed_until is not None
    ]
    blocks = bulk_prompt(
        bulk.key,
        len(runs),
        titles,
        when,
        0 if note else len(missing),
        reading=Reading(rescheduler.now(), reader),
        planned=planned,
        unread=unread,
        note=note,
    )
    await tell(messages.BULK_TITLE, blocks)


@dataclass(frozen=True, slots=True)
class Chosen:
    """What a set is asked to do: all to `when`, or each run back by `shift` from its own start time (a push);
    `reader`: whose clock the prompt speaks in."""

    when: datetime | None
    shift: timedelta | None = None
    reader: ReaderZone = UTC_READER


async def _find_all(
    runs: Sequence[tuple[str, str]], seen: Sequence[Run | None], actor: Actor, deps: SurfaceDeps
) -> list[FoundRun | None]:
    """Each run as it is now: as it was read when listed (`seen`), else looked up where the person may act (None:
    not found now; looked for again when the set is moved)."""
    rescheduler = deps.rescheduler
    semaphore = asyncio.Semaphore(CONCURRENCY)
    read = {run.id: run for run in seen if run is not None}

    async def one(run_id: str, env_name: str) -> FoundRun | None:
        target = rescheduler.target_named(env_name) if env_name else None
        if run_id in read and target is not None:
            return FoundRun(read[run_id], target)
        async with semaphore:
            try:
                return await rescheduler.find(run_id, rescheduler.deadline(), env_name or None, actor)
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
    seen: Sequence[Run | None] = (),
) -> None:
    """Runs whose environments are known (a list, a form): fix them as a set and ask once: Confirm / Cancel. A move
    to one time names every run it would take earlier than it is now; a push names each run's move (runs not
    delayed now are left out). `seen`: the runs as read when they were listed (Confirm asks nothing again of
    those)."""
    now = deps.rescheduler.now()
    found = await _find_all(runs, seen, actor, deps)
    named = [(run_id, item.env.name if item else env) for (run_id, env), item in zip(runs, found, strict=True)]
    planned: list[Planned] = []
    fixed_runs: list[tuple[str, str]] = []
    fixed_seen: list[Run | None] = []
    targets: list[datetime] = []
    for (run_id, env), item in zip(named, found, strict=True):
        current = item.run.delayed_until if item is not None and item.run.is_delayed else None
        if chosen.shift is None:
            fixed_runs.append((run_id, env))
            fixed_seen.append(item.run if item is not None else None)
            if current is not None and chosen.when is not None:
                planned.append(Planned(run_id, item.run.task_identifier if item else "", current, chosen.when))
            continue
        target = current + chosen.shift if current is not None else None
        if item is None or target is None or instant_problem(target, now=now, max_delay=deps.max_delay):
            continue
        fixed_runs.append((run_id, env))
        fixed_seen.append(item.run)
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
        seen=fixed_seen,
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
    respond: Respond
    client: AsyncWebClient
    private: Callable[[str], Awaitable[object]]  # tells the clicker privately, by whatever route works


async def on_click(button: Button, value: BulkValue, click: SetClick) -> None:
    """Confirm or Cancel of a set, or a list's Push all back…; only the person who asked may do any of them."""
    actor, deps, private = click.actor, click.deps, click.private
    undo = button is Button.BULK_UNDO
    expired = messages.BULK_UNDO_EXPIRED if undo else messages.BULK_EXPIRED
    unchecked = messages.BULK_UNDO_UNCHECKED if undo else messages.BULK_UNCHECKED
    try:
        bulk = await deps.bulk_sets.get(value.k)
    except SetsUnavailable:
        await private(unchecked)
        return
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
    try:
        taken = await deps.bulk_sets.take(value.k)
    except SetsUnavailable:
        await private(unchecked)
        return
    if taken is None:
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
        respond = Respond(response_url=metadata.url, session=client.session) if metadata.url else None

        tell = deps.teller(respond, client, actor)

        try:
            bulk = await deps.bulk_sets.get(metadata.k)
        except SetsUnavailable:
            await tell(messages.BULK_UNCHECKED)
            return
        mine = bulk is not None and (bulk.user_id, bulk.team_id) == (actor.user_id, actor.team_id)
        if bulk is None or not bulk.awaiting_time or not mine:
            await tell(messages.BULK_EXPIRED)
            return

        # A duration pushes each run back by that much from its own time; a time moves them all to it.
        chosen = Chosen(None, when.shift, reader) if when.shift is not None else Chosen(when.target, None, reader)
        from_message = any(not env_name for _, env_name in bulk.runs)
        what = messages.WORK_SET_FROM_MESSAGE if from_message else messages.WORK_PUSH_ALL
        async with deps.inflight.work(what, None, tell):
            if from_message and chosen.when is not None:  # named in a message: found now, to name environments
                run_ids = [run_id for run_id, _ in bulk.runs]
                await prompt(run_ids, chosen.when, None, actor, deps, tell, thread_ts=metadata.thread, reader=reader)
                return
            await ask_to_confirm(bulk.runs, chosen, actor, deps, tell, thread_ts=metadata.thread, seen=bulk.seen)


async def carry_out(bulk: BulkSet, click: SetClick) -> None:
    """Move a set as its Confirm does: a set approved in a protected environment (bot/slack/approvals.py)."""
    await _execute(bulk, click)


async def _execute(bulk: BulkSet, click: SetClick) -> None:
    """The set confirmed: carried out to the end by this process, or after a restart by any (bot/slack/set_run.py)."""
    actor, deps, respond = click.actor, click.deps, click.respond
    when = bulk.when
    if bulk.awaiting_time:  # a list's set gets its time from the form, as a new set
        await click.private(messages.BULK_EXPIRED)
        return
    try:  # a protected environment: asked for approval before anything is shown or moved
        asked = [RunAsked(run_id, env_name, None) for run_id, env_name in bulk.runs]
        if bulk.shift is not None:  # a push: each run to its own time, which one request for approval cannot carry
            await deps.rescheduler.approval(actor, asked, None, ask=False)
        else:
            await deps.rescheduler.approval(actor, asked, when, thread_ts=bulk.thread_ts)
    except ApprovalNeeded as exc:
        text = messages.PUSH_NEEDS_APPROVAL if bulk.shift is not None else approval_text(exc)
        if await respond_checked(respond, text=text, response_type="ephemeral", replace_original=True) is not None:
            await click.private(text)
        return
    total = len(bulk.runs)
    shift = bulk.shift
    if when is not None:
        head = messages.bulk_head(actor.user_id, 0, total, date_token(when), final=False)
    else:
        head = messages.bulk_push_head(actor.user_id, 0, total, format_duration(shift or timedelta(0)), final=False)
    await respond_checked(respond, text=head, response_type="ephemeral", replace_original=True)
    await click.deps.sets.start(bulk, actor, respond, click.private)


async def _undo(bulk: BulkSet, click: SetClick) -> None:
    """The set's Undo: each run back to its own previous time where that is still ahead and the run is still where
    the set put it, through the same paced path (one audit row per run); the clicked summary is updated in place,
    and one DM says the result."""
    container = click.body.get("container") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    at = (channel, ts) if isinstance(channel, str) and isinstance(ts, str) else None
    await click.deps.sets.start(bulk, click.actor, click.respond, click.private, at=at)
