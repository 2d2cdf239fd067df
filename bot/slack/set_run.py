"""A confirmed set carried out to the end, whichever process does it (the execution side of bot/slack/bulk.py).

Confirm (or a set's Undo) writes the set down (bot/storage/set_work.py: a row per run with its state) and this
process carries it out, holding the set's lease and renewing it while it works. Each run's request is written down
(`sending`) before it goes to Trigger.dev, and its outcome (`done`) as it comes. At shutdown (`stop`) no further run
is started: the runs in flight finish, and the set is given back. Every process's loop (`run`) claims a set given
back, or one whose process died (its lease ran out): runs left `sending` are read back from Trigger.dev (moved, not
applied: tried again, unknown), the runs not done are carried out, the same summary message is updated, and the one
DM with Undo for what moved is sent. Then the set's rows are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, polling
from bot.bulk import BulkMover, Step
from bot.domain.audit import Outcome
from bot.domain.bulk import BulkItem, BulkOutcome
from bot.domain.environments import Environment
from bot.domain.run_refs import dashboard_url
from bot.domain.runs import Run
from bot.inflight import InFlight
from bot.intents import actor_fields, actor_from, verdict_of
from bot.message_fixes import MessageFixes
from bot.render.bulk import bulk_dm, bulk_summary
from bot.render.mrkdwn import escape
from bot.rescheduler import Actor, Rescheduler, utc_now
from bot.slack import dm
from bot.slack.channel_post import post_for_channel
from bot.slack.replies import keep_for_later, respond_checked, slack_error, tell_privately
from bot.slack.respond import Respond
from bot.storage.bulk_sets import BulkSet, BulkSets
from bot.storage.intents import Intent
from bot.storage.outbox import Outbox
from bot.storage.set_work import DONE, SENDING, HeldSet, SetRun, SetWorks
from bot.trigger.client import Deadline
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

PROGRESS_MIN_RUNS = 10  # sets this large get their summary posted at once and updated as they progress
PROGRESS_EVERY_RUNS = 10
PROGRESS_EVERY_SECONDS = 3.0
Private = Callable[[str], Awaitable[object]]


class SetSummary:
    """The set's one message in the channel: posted at once for a large set and updated as it progresses, else
    posted at the end; by the bot, or through the response_url when the bot cannot post in the channel. An update
    Slack cannot take now is kept and shown when it is back (bot/message_fixes.py)."""

    def __init__(
        self,
        run_url: Callable[[str], str],
        client: AsyncWebClient,
        user_id: str,
        when: datetime | None,
        total: int,
        channel: str | None,
        thread_ts: str | None = None,
        fixes: MessageFixes | None = None,
        shift: timedelta | None = None,
        approved_by: str | None = None,
    ) -> None:
        self.run_url, self.client, self.user_id, self.when, self.total = run_url, client, user_id, when, total
        self.shift = shift  # a push: each run back by this much from its own time
        self.approved_by = approved_by  # a set in a protected environment: who approved it
        self.channel, self.thread_ts, self.fixes = channel, thread_ts, fixes
        self.ts: str | None = None
        self.undo_key: str | None = None  # the set's Undo, shown once the set is done
        self.lock = asyncio.Lock()
        self.shown = 0
        self.shown_at = time.monotonic()
        self.kept = False  # a state of this message is kept for later: the next update that lands forgets it

    @property
    def is_undo(self) -> bool:
        """The summary of a set's Undo: each run back to its own previous time (neither one time nor a push)."""
        return self.when is None and self.shift is None

    def render(self, items: list[BulkItem], final: bool) -> tuple[str, list[dict[str, Any]]]:
        summary = bulk_summary(
            self.user_id,
            self.when,
            self.total,
            items,
            self.run_url,
            final=final,
            undo_key=self.undo_key if final else None,
            shift=self.shift,
            approved_by=self.approved_by,
        )
        return summary.text, summary.blocks

    async def post_early(self) -> None:
        if not self.channel:
            return
        text, blocks = self.render([], final=False)
        try:
            response = await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=blocks
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
        await self._update(text, blocks)

    async def _update(self, text: str, blocks: list[dict[str, Any]]) -> bool:
        """chat.update of the message; True when shown now or kept to be shown when Slack is back."""
        assert self.ts is not None and self.channel is not None
        try:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
        except Exception as exc:
            log.info("bulk summary not updated: %s", slack_error(exc))
            if self.fixes is not None and await self.fixes.want(self.channel, self.ts, text, blocks, exc):
                self.kept = True
                return True
            return False
        if self.kept and self.fixes is not None:
            await self.fixes.forget(self.channel, self.ts)
            self.kept = False
        return True

    async def final(self, items: list[BulkItem], respond: Respond | None, *, replace: bool = False) -> str | None:
        """The final state; None when it was shown (or is kept to be shown when Slack is back), else what went
        wrong. `replace`: through the click's response_url, in place of the message clicked (an Undo), rather
        than as a new message."""
        async with self.lock:
            text, blocks = self.render(items, final=True)
            if self.ts is not None and self.channel:
                if await self._update(text, blocks):
                    return None
                log.info("bulk summary not updated: posting it instead")
            if replace and respond is not None:
                return await respond_checked(
                    respond, text=text, blocks=blocks, response_type="in_channel", replace_original=True
                )
            # Posted by the bot (in the thread of the message that named the set, if any), else the response_url.
            posted = await post_for_channel(self.client, respond, self.channel, text, blocks, thread_ts=self.thread_ts)
            if posted.ts is not None:
                self.channel, self.ts = posted.channel, posted.ts
            return posted.problem


@dataclass(slots=True)
class _SetJournal:
    """The MoveJournal of a set's runs: a run's row is `sending` before its request goes out."""

    store: SetWorks
    set_id: int

    async def sending(self, actor: Actor, run: Run, env: Environment, when: datetime | None) -> object:
        try:
            await self.store.sending(self.set_id, run.id, run.delayed_until)
        except Exception as exc:
            log.warning("run %s of a set not written down before sending (%s)", run.id, type(exc).__name__)
            return None
        return run.id

    async def settled(self, entry: object, *, cut_off: bool) -> None:
        return  # the outcome is written by the set (`done`); a run cut off stays `sending`, read back on resume


@dataclass(slots=True, kw_only=True)
class SetRunner:
    """Carries out confirmed sets, and resumes those another process let go of. The surfaces' dependencies
    (bot/slack/deps.py) hold the runner, so it is built first and given the services it uses itself: the same
    objects the surfaces are given."""

    client: AsyncWebClient
    store: SetWorks
    rescheduler: Rescheduler
    inflight: InFlight  # the process's work in flight: a set being carried out is waited for at shutdown
    outbox: Outbox  # private messages Slack could not take, sent later
    bulk_sets: BulkSets  # where a set's Undo is kept
    dashboard_base: str
    dm_confirmations: bool = True
    poll_seconds: float = 5.0
    fixes: MessageFixes | None = None
    clock: Callable[[], datetime] = utc_now
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _halts: set[asyncio.Event] = field(default_factory=set, init=False)

    def stop(self) -> None:
        """Shutting down: no run is started from here; the runs in flight finish and their sets are given back."""
        self._stopping.set()
        for halt in self._halts:
            halt.set()

    async def run(self) -> None:
        """Every `poll_seconds`, carry on a set no process holds."""
        await polling.every(self.poll_seconds, self._stopping, self._drain, job="confirmed sets", ids="set-")

    async def _drain(self) -> None:
        """Carry on sets, one after another, while there are some and the process is not stopping."""
        while not self._stopping.is_set() and await self.tick():
            pass

    async def tick(self) -> bool:
        """Claim one set no process holds and carry it on; False when there was none."""
        held = await self.store.claim(self.clock())
        if held is None:
            return False
        actor = actor_from(held.actor)
        log.info("carrying on a confirmed set of %d runs for %s", held.total, actor.user_id)
        summary = SetSummary(
            self._run_url,
            self.client,
            actor.user_id,
            held.when,
            held.total,
            held.summary_channel or actor.channel_id,
            held.thread_ts,
            self.fixes,
            held.shift,
            actor.approved_by,
        )
        summary.ts = held.summary_ts
        summary.kept = summary.ts is not None  # an older state may be kept for it by the process that stopped
        async with self.inflight.work(messages.WORK_SET_CARRIED_ON):
            items = {run.run_id: _item(run) for run in held.runs if run.state == DONE}
            sending = [run for run in held.runs if run.state == SENDING]
            read = await asyncio.gather(*(self._read_back(actor, held, run) for run in sending))  # all at once
            items |= {item.run_id: item for item in read if item is not None}
            pending = [run for run in held.runs if run.run_id not in items]
            await self._carry(held, actor, summary, pending, items, None)
        return True

    async def start(
        self,
        bulk: BulkSet,
        actor: Actor,
        respond: Respond | None,
        private: Private,
        *,
        at: tuple[str, str] | None = None,
    ) -> None:
        """Carry out a set just confirmed (or its Undo: `at`, the message clicked, is updated in place)."""
        undo = bulk.is_undo
        runs = [
            SetRun(
                position,
                run_id,
                env,
                back=bulk.back[position] if undo else None,
                given=bulk.given[position] if undo and bulk.given else None,
                target=bulk.targets[position] if bulk.targets else None,
            )
            for position, (run_id, env) in enumerate(bulk.runs)
        ]
        held = await self._create(actor, bulk, runs)
        summary = SetSummary(
            self._run_url,
            self.client,
            actor.user_id,
            bulk.when,
            len(runs),
            actor.channel_id,
            bulk.thread_ts,
            self.fixes,
            bulk.shift,
            actor.approved_by,
        )
        if at is not None:
            summary.channel, summary.ts = at
            await summary.show([])
        elif len(runs) >= PROGRESS_MIN_RUNS:
            await summary.post_early()
        if held is not None and summary.ts is not None and summary.channel:
            with contextlib.suppress(Exception):  # without it, a process carrying the set on posts a summary of its own
                await self.store.summary_posted(held, summary.channel, summary.ts)
        await self._carry(held, actor, summary, runs, {}, respond, private=private, replace=at is not None, prompt=bulk)

    async def _create(self, actor: Actor, bulk: BulkSet, runs: Sequence[SetRun]) -> HeldSet | None:
        try:
            return await self.store.create(actor_fields(actor), bulk.when, runs, bulk.thread_ts, bulk.shift)
        except Exception as exc:
            log.warning("set carried out in this process only: the database did not answer (%s)", type(exc).__name__)
            return None

    async def _carry(
        self,
        held: HeldSet | None,
        actor: Actor,
        summary: SetSummary,
        runs: Sequence[SetRun],
        items: dict[str, BulkItem],
        respond: Respond | None,
        *,
        private: Private | None = None,
        replace: bool = False,
        prompt: BulkSet | None = None,
    ) -> None:
        """Carry out `runs`; `prompt`: the set as its prompt fixed it, whose runs are moved as the prompt found them
        (a set resumed from the database looks each run up again)."""
        order = [run.run_id for run in held.runs] if held is not None else [run.run_id for run in runs]
        undo = summary.is_undo
        halt = asyncio.Event()
        if self._stopping.is_set() or not await self._still_ours(held):
            halt.set()
        self._halts.add(halt)
        heartbeat = asyncio.create_task(self._heartbeat(held, halt)) if held is not None else None

        def ordered() -> list[BulkItem]:
            return [items[run_id] for run_id in order if run_id in items]

        async def on_done(item: BulkItem) -> None:
            items[item.run_id] = item
            if held is not None:
                try:
                    await self.store.done(held.id, _run_of(item))
                except Exception as exc:
                    log.warning("outcome of %s not written down (%s)", item.run_id, type(exc).__name__)
            await summary.progress(ordered())

        steps = [
            Step(
                run.run_id,
                run.environment,
                run.back if undo else run.target or summary.when,
                run.given,
                seen=prompt.seen_as(run.run_id) if prompt is not None else None,
                missing=prompt is not None and run.run_id in prompt.missing,
            )
            for run in runs
        ]
        journal = _SetJournal(self.store, held.id) if held is not None else None
        try:
            mover = BulkMover.for_rescheduler(self.rescheduler)
            results = await mover.run_steps(actor, steps, undo=undo, on_done=on_done, stopping=halt, journal=journal)
        finally:
            self._halts.discard(halt)
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await heartbeat
        if any(item is None for item in results):
            left = sum(1 for item in results if item is None)
            log.warning("stopping: %d runs of a confirmed set are left for another process", left)
            if not await self._still_ours(held):
                return  # another process carries it on, and shows its progress
            await summary.show(ordered())
            if held is not None:
                with contextlib.suppress(Exception):
                    await self.store.release(held)
            return
        found = {run.run_id: run.environment for run in runs}
        await self._conclude(held, actor, summary, ordered(), found, respond, private, replace)

    async def _conclude(
        self,
        held: HeldSet | None,
        actor: Actor,
        summary: SetSummary,
        done: list[BulkItem],
        found: dict[str, str],
        respond: Respond | None,
        private: Private | None,
        replace: bool,
    ) -> None:
        """Every run is done: the Undo, the final summary, the one DM; then the set's rows are deleted."""
        undo = summary.is_undo
        if not undo:
            summary.undo_key = await self._undo_set(done, actor, found)
        problem = await summary.final(done, respond, replace=replace)
        if problem is None and respond is not None and not replace:
            await respond_checked(respond, delete_original=True)
        tell = private or self._private(actor)
        await self._finish(summary, done, problem, actor, tell)
        if held is not None:
            try:
                await self.store.finish(held)
            except Exception as exc:
                log.warning("a confirmed set is done but still written down (%s)", type(exc).__name__)

    async def _undo_set(self, items: list[BulkItem], actor: Actor, found: dict[str, str]) -> str | None:
        """Keep the runs moved, each with its own previous time and the time this move gave it, for the set's one
        Undo; its key (None: nothing to undo)."""
        names = {t.env.title: t.env.name for t in self.rescheduler.targets}
        runs: list[tuple[str, str]] = []
        back: list[datetime] = []
        given: list[datetime | None] = []
        for item in items:
            if item.outcome is BulkOutcome.MOVED and item.previous is not None:
                runs.append((item.run_id, names.get(item.env_title) or found.get(item.run_id, "")))
                back.append(item.previous)
                given.append(item.new)
        if not runs:
            return None
        key: str = (await self.bulk_sets.add(actor.user_id, actor.team_id, runs, None, back, given=given)).key
        return key

    async def _finish(
        self, summary: SetSummary, items: list[BulkItem], problem: str | None, actor: Actor, private: Private
    ) -> None:
        """One DM with the result: a line, a link to the summary, the set's Undo (or, without a DM, a private word
        when the summary could not be shown)."""
        text, _ = summary.render(items, final=True)
        if self.dm_confirmations:
            note = messages.bulk_summary_failed(escape(problem)) if problem else ""
            # A link to the summary; none to a message that does not show the result.
            channel = summary.channel or actor.channel_id
            where = await dm.where_posted(self.client, channel, None if problem else summary.ts)
            short = bulk_dm(
                summary.when, summary.total, items, where, note=note, undo_key=summary.undo_key, shift=summary.shift
            )
            dm_text, dm_blocks = short.text, short.blocks
            try:
                await self.client.chat_postMessage(channel=actor.user_id, text=dm_text, blocks=dm_blocks)
                return
            except Exception as exc:
                kept = keep_for_later(self.outbox, exc, actor.team_id, actor.user_id, dm_text, dm_blocks)
                later = "; kept to be sent later" if kept else ""
                log.warning("could not DM the bulk result to %s: %s%s", actor.user_id, slack_error(exc), later)
                if kept and not problem:
                    return  # the result is sent as a DM when Slack takes it
        if problem:
            await private(f"{messages.bulk_summary_failed(escape(problem))}\n{text}")

    def _run_url(self, run_id: str) -> str:
        return dashboard_url(self.dashboard_base, run_id)

    def _private(self, actor: Actor) -> Private:
        """Telling the person privately without a click to answer: a DM, kept for later when Slack cannot take it."""

        async def tell(text: str) -> bool:
            return await tell_privately(
                None, self.client, actor.user_id, None, text, outbox=self.outbox, team_id=actor.team_id
            )

        return tell

    async def _still_ours(self, held: HeldSet | None) -> bool:
        """Renew the set's lease before its runs start (posting its summary may have taken a while): False when
        another process took it meanwhile, which then carries it on."""
        if held is None:
            return True
        try:
            return await self.store.renew(held)
        except Exception as exc:
            log.warning("could not renew the lease on a confirmed set (%s)", type(exc).__name__)
            return True

    async def _heartbeat(self, held: HeldSet | None, halt: asyncio.Event) -> None:
        if held is None:
            return
        every = max(0.5, self.store.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(every)
            try:
                if not await self.store.renew(held):
                    log.warning("a confirmed set is another process's now: no run is started from here")
                    halt.set()
                    return
            except Exception as exc:
                log.warning("could not renew the lease on a confirmed set (%s)", type(exc).__name__)

    async def _read_back(self, actor: Actor, held: HeldSet, run: SetRun) -> BulkItem | None:
        """A run whose request went out from a process that stopped: what is true now (None: it did not move,
        and is tried again)."""
        rescheduler = self.rescheduler
        target = rescheduler.target_named(run.environment)
        when = held.when or run.target or run.back
        title = target.env.title if target is not None else ""
        current: Run | None = None
        if target is not None:
            with contextlib.suppress(TriggerError):
                deadline = Deadline.after(rescheduler.readback_seconds)
                current = await target.client.retrieve_run(run.run_id, deadline)
        intent = Intent(run.run_id, run.environment, None, run.previous, when, {})
        verdict = verdict_of(intent, current, self.clock()) if current is not None else "unknown"
        env = target.env if target is not None else None
        if verdict == "not applied":
            await self.store.pending(held.id, run.run_id)
            return None
        if verdict == "moved" and current is not None:
            new = current.delayed_until or when
            rescheduler.record(actor, Outcome.RESCHEDULED, env=env, run_id=run.run_id, previous=run.previous, new=new)
            item = BulkItem(run.run_id, BulkOutcome.MOVED, title, new=new, previous=run.previous)
        else:
            error = "the process moving it stopped before Trigger.dev answered; read back: "
            error += current.status_label if current is not None else "no answer"
            rescheduler.record(actor, Outcome.UNKNOWN, env=env, run_id=run.run_id, previous=run.previous, error=error)
            item = BulkItem(run.run_id, BulkOutcome.FAILED, title, messages.BULK_FAILED_READ_BACK)
        await self.store.done(held.id, _run_of(item))
        return item


def _run_of(item: BulkItem) -> SetRun:
    return SetRun(
        0,
        item.run_id,
        "",
        outcome=item.outcome.value,
        env_title=item.env_title,
        detail=item.detail,
        previous=item.previous,
        new=item.new,
    )


def _item(run: SetRun) -> BulkItem:
    try:
        outcome = BulkOutcome(run.outcome or BulkOutcome.FAILED.value)
    except ValueError:
        outcome = BulkOutcome.FAILED
    return BulkItem(run.run_id, outcome, run.env_title, run.detail, run.new, run.previous)
