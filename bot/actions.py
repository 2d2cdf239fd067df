"""The one path every Slack surface calls to read or move a run.

Surfaces turn a payload into an intent and render what comes back; the rules live here once: which environment
holds the run, what "not delayed" means, which instant is sent to Trigger.dev.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.delays import to_api_delay
from bot.domain.environments import Environment
from bot.trigger.client import Deadline, TriggerClient
from bot.trigger.errors import RunNotDelayed, RunNotFound, TriggerError
from bot.trigger.models import Run

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Target:
    """One configured Trigger.dev environment and the client holding its key."""

    env: Environment
    client: TriggerClient


@dataclass(frozen=True, slots=True)
class Located:
    """A run and the environment it was found in."""

    run: Run
    target: Target

    @property
    def env(self) -> Environment:
        return self.target.env


@dataclass(frozen=True, slots=True)
class Moved:
    """A successful reschedule: the run as Trigger.dev returned it, and the times before and after."""

    run: Run
    env: Environment
    previous: datetime | None
    new: datetime


class NotFoundAnywhere(RunNotFound):
    """The run is in none of the environments searched."""

    def __init__(self, run_id: str, searched: Sequence[Environment]) -> None:
        super().__init__(f"run {run_id} not found", status=404)
        self.run_id = run_id
        self.searched = tuple(searched)


class NotDelayed(RunNotDelayed):
    """The run exists but is not DELAYED; `run` is how it is now."""

    def __init__(self, run: Run, env: Environment) -> None:
        super().__init__(f"run {run.id} is {run.status_label}", status=400)
        self.run = run
        self.env = env


@dataclass(slots=True)
class Desk:
    """Finds and moves runs across the configured environments."""

    targets: Sequence[Target]
    deadline_seconds: float
    now: Now = utc_now

    def deadline(self) -> Deadline:
        """A fresh deadline for one user action."""
        return Deadline.after(self.deadline_seconds)

    async def find(self, run_id: str, deadline: Deadline) -> Located:
        """Ask every environment at once; the first that has the run wins."""
        if len(self.targets) == 1:
            target = self.targets[0]
            try:
                return Located(await target.client.retrieve_run(run_id, deadline), target)
            except RunNotFound:
                raise NotFoundAnywhere(run_id, [target.env]) from None
        return await self._find_concurrently(run_id, deadline)

    async def _find_concurrently(self, run_id: str, deadline: Deadline) -> Located:
        async def one(target: Target) -> Located:
            return Located(await target.client.retrieve_run(run_id, deadline), target)

        tasks = [asyncio.create_task(one(target)) for target in self.targets]
        failures: list[TriggerError] = []
        try:
            for next_done in asyncio.as_completed(tasks):
                try:
                    return await next_done
                except RunNotFound:
                    continue
                except TriggerError as exc:
                    failures.append(exc)
        finally:
            for task in tasks:
                task.cancel()
        if failures:
            # Not found where we could look, but some environment could not answer: say that, not "missing".
            raise failures[0]
        raise NotFoundAnywhere(run_id, [t.env for t in self.targets])

    async def reschedule(self, run_id: str, when: datetime, deadline: Deadline) -> Moved:
        """Move a DELAYED run to the instant `when` (sent as an absolute time, so retries land the same)."""
        located = await self.find(run_id, deadline)
        if not located.run.is_delayed:
            raise NotDelayed(located.run, located.env)
        try:
            moved = await located.target.client.reschedule_run(run_id, to_api_delay(when), deadline)
        except RunNotDelayed:
            # It started between our read and our write: report how it is now.
            current = await located.target.client.retrieve_run(run_id, deadline)
            raise NotDelayed(current, located.env) from None
        new = moved.delayed_until or when
        return Moved(run=moved, env=located.env, previous=located.run.delayed_until, new=new)
