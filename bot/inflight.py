"""Work still running after Slack got its acknowledgement, so shutdown can wait for it and account for it.

Bolt runs a listener's remaining work in a task nobody awaits; without this, a deploy would close the HTTP
clients under a reschedule in flight and lose its answer and its audit record. Work that is still unfinished when
the drain runs out is not dropped silently: each piece whose outcome is not yet in the audit trail is recorded as
unknown and told to its person, when it registered a way to reach them (see `bot.wiring.Bot.aclose`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from bot import metrics

log = logging.getLogger(__name__)

Tell = Callable[[str], Awaitable[object]]
Listener = Callable[..., Coroutine[Any, Any, None]]

STARTING = "a Slack request, acknowledged, not yet started"  # a listener that has not named its work yet


@dataclass(slots=True)
class Job:
    """One piece of acknowledged work: what it is (for the person and the log), who asked (an `Actor`), how to
    reach them, whether an outcome of it is in the audit trail, and the moves it has sent to Trigger.dev whose
    outcome is not recorded yet (run id → environment name)."""

    what: str
    actor: Any = None
    tell: Tell | None = None
    recorded: bool = False
    moving: dict[str, str] = field(default_factory=dict)
    task: asyncio.Task[Any] | None = None
    starting: bool = False  # a listener's job before it names its work: the first `work` in its task takes it over

    @property
    def unaccounted(self) -> bool:
        """Shutdown must record and tell: a move in flight, or nothing recorded at all yet."""
        return bool(self.moving) or not self.recorded


CURRENT_JOB: ContextVar[Job | None] = ContextVar("current_job", default=None)


def move_started(run_id: str, env_name: str) -> None:
    """Called by the action path as a reschedule is sent: until its outcome is recorded, it is in flight."""
    job = CURRENT_JOB.get()
    if job is not None:
        if run_id not in job.moving:
            metrics.moves_in_flight(1)
        job.moving[run_id] = env_name


def outcome_recorded(run_id: str | None = None) -> None:
    """Called by the audit path: the job at hand (if any) has an outcome recorded, for `run_id` when given."""
    job = CURRENT_JOB.get()
    if job is not None:
        job.recorded = True
        if run_id is not None and job.moving.pop(run_id, None) is not None:
            metrics.moves_in_flight(-1)


class InFlight:
    """Tracks work at hand; `drain` waits (bounded) until none is left."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}
        self._next = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def listener(self, listener: Listener) -> Listener:
        """Wrap a Bolt listener so it is work in flight from its first line: Bolt acknowledges, then runs the
        rest in a task nobody awaits, and a request acknowledged just before a stop signal would otherwise be
        dropped while it claims its trigger_id, before it names its work. Bolt reads the listener's argument names
        through the wrapper (`inspect.unwrap`)."""

        @functools.wraps(listener)
        async def tracked(**kwargs: Any) -> None:
            async with self._track(Job(STARTING, starting=True, task=asyncio.current_task())):
                await listener(**kwargs)

        return tracked

    @asynccontextmanager
    async def work(self, what: str = "", actor: Any = None, tell: Tell | None = None) -> AsyncIterator[Job]:
        """`what` is in flight until the block ends; in a listener's task, it takes over the listener's job."""
        current = CURRENT_JOB.get()
        if current is not None and current.starting and current.task is asyncio.current_task():
            current.what, current.actor, current.tell, current.starting = what, actor, tell, False
            current.recorded = False
            try:
                yield current
            finally:  # the listener may go on after its work: from here it is a listener again, with nothing to tell
                current.what, current.actor, current.tell, current.starting = STARTING, None, None, True
            return
        async with self._track(Job(what, actor, tell, task=asyncio.current_task())) as job:
            yield job

    @asynccontextmanager
    async def _track(self, job: Job) -> AsyncIterator[Job]:
        self._next += 1
        number = self._next
        self._jobs[number] = job
        self._idle.clear()
        token = CURRENT_JOB.set(job)
        try:
            yield job
        finally:
            CURRENT_JOB.reset(token)
            metrics.moves_in_flight(-len(job.moving))  # moves whose outcome was never recorded are no longer in flight
            del self._jobs[number]
            if not self._jobs:
                self._idle.set()

    @property
    def busy(self) -> int:
        return len(self._jobs)

    def unfinished(self) -> list[Job]:
        return list(self._jobs.values())

    async def drain(self, timeout: float) -> bool:
        """True when everything finished within `timeout` seconds."""
        if self._jobs:
            log.info("waiting for %d action(s) in flight before shutting down", len(self._jobs))
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("shutting down with %d action(s) still in flight", len(self._jobs))
            return False
        return True

    async def tell_unfinished(self, message: Callable[[str], str], timeout: float) -> None:
        """Tell each unfinished job's person `message(job.what)`, all at once, within `timeout` seconds."""
        jobs = [job for job in self.unfinished() if job.tell is not None and job.unaccounted]
        calls = [_quietly(job.tell(message(job.what))) for job in jobs if job.tell is not None]
        if not calls:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*calls), timeout)
        except TimeoutError:
            log.warning("could not tell everyone about unfinished work within %.0f s", timeout)


async def _quietly(call: Awaitable[object]) -> None:
    try:
        await call
    except Exception as exc:
        log.warning("could not tell a person their work did not finish: %s", type(exc).__name__)


async def cancel_unfinished(jobs: list[Job], timeout: float) -> None:
    """Stop what is still running once it has been accounted for, before the clients it uses are closed, so it
    cannot post or record anything after the person was told it did not finish."""
    tasks = [job.task for job in jobs if job.task is not None and not job.task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
