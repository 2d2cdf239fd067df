"""Many runs in one move: the fixed sets awaiting confirmation, the pacer that follows Trigger.dev's rate limit,
and the execution of a set (each run as its prompt found it, looked up again only when the prompt could not tell,
then access-checked, checked as DELAYED and moved on its own, through `Rescheduler.move`, so its read-back and its
audit row are the same as for a single run)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot import messages
from bot.access_check import AccessRefused
from bot.approvals import ApprovalNeeded
from bot.domain.bulk import BulkItem, BulkOutcome
from bot.domain.runs import Run
from bot.rescheduler import (
    Actor,
    FoundRun,
    MovedSince,
    MoveJournal,
    NotApplied,
    NotDelayed,
    NotFoundAnywhere,
    Rescheduler,
)
from bot.storage.approvals import RunAsked
from bot.storage.bulk_sets import BulkSet
from bot.trigger.client import RateLimitState
from bot.trigger.errors import AuthRejected, OutcomeUnknown, RateLimited, RunNotFound, TriggerError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

CONCURRENCY = 20  # runs of one set in flight at once (under LOW_REMAINING: the pacer waits before a 429)
RATE_ATTEMPTS = 3  # a run rate-limited after the client's own retries is tried again this many times in all
LOW_REMAINING = 20  # below this many requests left in the bucket, wait for it to refill
MAX_PACE_WAIT = 60.0


@dataclass(slots=True)
class Pacer:
    """Follows one environment's rate limit as its responses report it: when few requests are left in the
    bucket, wait until it refills; after a 429 that outlasted the client's retries, wait for its reset."""

    state: RateLimitState
    wall: Clock = time.time
    sleep: Sleep = asyncio.sleep
    low: int = LOW_REMAINING
    max_wait: float = MAX_PACE_WAIT
    fallback_wait: float = 1.0
    waited: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ready(self) -> None:
        """Wait, when the bucket is nearly empty, until its reset (bounded); one waiter at a time."""
        async with self._lock:
            remaining, reset_at = self.state.remaining, self.state.reset_at
            if remaining is None or remaining > self.low or reset_at is None:
                return
            wait = reset_at - self.wall()
            if wait > 0:
                await self._wait(wait)
            self.state.remaining = None  # refilled, as far as we know until the next response says

    async def rate_limited(self, exc: RateLimited) -> None:
        """A request was refused with 429: wait for the reset it named (or a short while)."""
        async with self._lock:
            wait = exc.reset_at - self.wall() if exc.reset_at is not None else self.fallback_wait
            await self._wait(max(wait, self.fallback_wait))
            self.state.remaining = None

    async def _wait(self, seconds: float) -> None:
        seconds = min(seconds, self.max_wait)
        self.waited += seconds
        log.info("bulk move: waiting %.1fs for the rate limit to reset", seconds)
        await self.sleep(seconds)


Progress = Callable[[list[BulkItem]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Step:
    """One run of a set to move: to `when`; `given` (an Undo): only while it is still at this time. `seen` and
    `missing`: what the set's prompt found, so that nothing is looked up again (a set resumed by another process
    has neither, and looks each run up)."""

    run_id: str
    env_name: str
    when: datetime | None
    given: datetime | None = None
    seen: Run | None = None  # the run as the set's prompt read it: moved without looking it up again
    missing: bool = False  # the prompt found it in none of the environments the person may act in


def _each(times: Sequence[datetime | None], bulk: BulkSet) -> Sequence[datetime | None]:
    return times if len(times) == len(bulk.runs) else [None] * len(bulk.runs)


@dataclass(slots=True)
class BulkMover:
    """Carries out one confirmed set."""

    rescheduler: Rescheduler
    pacers: dict[str, Pacer]
    concurrency: int = CONCURRENCY

    @classmethod
    def for_rescheduler(cls, rescheduler: Rescheduler, sleep: Sleep = asyncio.sleep) -> BulkMover:
        pacers = {t.env.name: Pacer(t.client.rate, sleep=sleep) for t in rescheduler.targets}
        return cls(rescheduler, pacers)

    async def run(self, actor: Actor, bulk: BulkSet, progress: Progress | None = None) -> list[BulkItem]:
        """Every run of the set, each on its own: one failure never stops the rest. Results in the set's order.

        A set with runs in a protected environment is asked for approval as a whole, before anything moves
        (ApprovalNeeded); an undo set's runs are each let through when they take back an approved move."""
        if bulk.awaiting_time:
            raise ValueError("a set without a time cannot be moved")
        if not bulk.is_undo:
            asked = [RunAsked(run_id, env_name, None) for run_id, env_name in bulk.runs]
            await self.rescheduler.approval(actor, asked, bulk.when, thread_ts=bulk.thread_ts)
        steps = [
            Step(
                run_id,
                env,
                back if bulk.is_undo else target or bulk.when,
                given if bulk.is_undo else None,
                seen=bulk.seen_as(run_id),
                missing=run_id in bulk.missing,
            )
            for (run_id, env), back, given, target in zip(
                bulk.runs, _each(bulk.back, bulk), _each(bulk.given, bulk), _each(bulk.targets, bulk), strict=True
            )
        ]
        done: list[BulkItem] = []

        async def each(item: BulkItem) -> None:
            done.append(item)
            if progress is not None:
                await progress(list(done))

        results = await self.run_steps(actor, steps, undo=bulk.is_undo, on_done=each)
        return [item for item in results if item is not None]

    async def run_steps(
        self,
        actor: Actor,
        steps: Sequence[Step],
        *,
        undo: bool = False,
        on_done: Callable[[BulkItem], Awaitable[None]] | None = None,
        stopping: asyncio.Event | None = None,
        journal: MoveJournal | None = None,
    ) -> list[BulkItem | None]:
        """Each step on its own, `concurrency` at a time; `on_done` hears of each outcome as it comes. Once
        `stopping` is set no step is started (None in its place): the steps in flight finish."""
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(step: Step) -> BulkItem | None:
            async with semaphore:
                if stopping is not None and stopping.is_set():
                    return None
                if step.when is None:
                    raise ValueError("a step without a time cannot be moved")
                if undo and step.when <= self.rescheduler.now():  # an Undo only to a time still ahead
                    item = BulkItem(step.run_id, BulkOutcome.PASSED, self._title(step.env_name))
                else:
                    item = await self._one(actor, step, journal)
            if on_done is not None:
                await on_done(item)
            return item

        return list(await asyncio.gather(*(one(step) for step in steps)))

    def _title(self, env_name: str) -> str:
        target = self.rescheduler.target_named(env_name)
        return target.env.title if target is not None else ""

    async def _paced(self, env_names: Sequence[str]) -> None:
        for name in env_names:
            pacer = self.pacers.get(name)
            if pacer is not None:
                await pacer.ready()

    async def _one(self, actor: Actor, step: Step, journal: MoveJournal | None) -> BulkItem:
        """One run: as the prompt found it when it did (nothing is looked up again), else looked for only where
        `actor` may act."""
        rescheduler = self.rescheduler
        run_id, env_name, when = step.run_id, step.env_name, step.when
        if step.missing:  # looked for at the prompt where the person may act, and not there
            rescheduler.record_failure(actor, NotFoundAnywhere(run_id, ()), run_id=run_id, when=when)
            return BulkItem(run_id, BulkOutcome.NOT_FOUND)
        seen, target = step.seen, rescheduler.target_named(env_name)
        searched = [t.env.name for t in rescheduler.targets_for(env_name or None)]
        for attempt in range(1, RATE_ATTEMPTS + 1):
            last = attempt == RATE_ATTEMPTS
            located = None
            try:
                await self._paced(searched)
                if seen is not None and target is not None:
                    located = FoundRun(seen, target)
                else:
                    located = await rescheduler.find(run_id, rescheduler.deadline(), env_name or None, actor)
                await self._paced([located.env.name])
                moved = await rescheduler.move(
                    actor,
                    located,
                    when,
                    rescheduler.deadline(),
                    record_rate_limited=last,
                    journal=journal,
                    expect=step.given,
                    ask=False,
                )
            except AccessRefused as exc:
                return _refused(run_id, exc, located)
            except NotDelayed as exc:
                return BulkItem(run_id, BulkOutcome.NOT_DELAYED, exc.env.title, exc.run.status_label)
            except MovedSince as exc:
                now_at = exc.run.delayed_until
                by = await rescheduler.last_mover(run_id, now_at) if now_at is not None else None
                return BulkItem(run_id, BulkOutcome.MOVED_SINCE, exc.env.title, by or "", new=now_at)
            except RateLimited as exc:
                if last:
                    if located is None:
                        rescheduler.record_failure(actor, exc, run_id=run_id, when=when)
                    return BulkItem(
                        run_id, BulkOutcome.FAILED, located.env.title if located else "", messages.BULK_FAILED_RATE
                    )
                pacer_name = located.env.name if located else (exc.environment and _named(rescheduler, exc))
                pacer = self.pacers.get(pacer_name or "") or next(iter(self.pacers.values()), None)
                if pacer is not None:
                    await pacer.rate_limited(exc)
                continue
            except RunNotFound as exc:
                rescheduler.record_failure(actor, exc, run_id=run_id, when=when)
                return BulkItem(run_id, BulkOutcome.NOT_FOUND)
            except TriggerError as exc:
                if located is None:  # a failure to find is recorded here; move records its own
                    rescheduler.record_failure(actor, exc, run_id=run_id, when=when)
                title = located.env.title if located else (exc.environment or "")
                return BulkItem(run_id, BulkOutcome.FAILED, title, _why(exc))
            return BulkItem(run_id, BulkOutcome.MOVED, moved.env.title, new=moved.new, previous=moved.previous)
        raise AssertionError("unreachable")


def _refused(run_id: str, exc: AccessRefused, located: FoundRun | None) -> BulkItem:
    """A run an access rule keeps from the person, or one in a protected environment (approval needed)."""
    if isinstance(exc, ApprovalNeeded):
        return BulkItem(run_id, BulkOutcome.REFUSED, exc.env.title, messages.BULK_NEEDS_APPROVAL)
    title = located.env.title if located else ""
    rule = exc.rule
    why = messages.bulk_refused_detail(len(rule.users), len(rule.groups), len(rule.channels), exc.lookup_failed)
    return BulkItem(run_id, BulkOutcome.REFUSED, title or exc.env.title, why)


def _named(rescheduler: Rescheduler, exc: TriggerError) -> str | None:
    """The environment name for an error tagged with an environment title."""
    for target in rescheduler.targets:
        if target.env.title == exc.environment:
            return target.env.name
    return None


def _why(exc: TriggerError) -> str:
    if isinstance(exc, NotApplied):
        return messages.BULK_FAILED_NOT_APPLIED
    if isinstance(exc, OutcomeUnknown):
        return messages.BULK_FAILED_UNKNOWN
    if isinstance(exc, AuthRejected):
        return messages.BULK_FAILED_KEY
    if isinstance(exc, RateLimited):
        return messages.BULK_FAILED_RATE
    return messages.BULK_FAILED_UNAVAILABLE
