"""The one path every Slack surface calls to read or move a run.

Surfaces turn a payload into an intent and render what comes back; the rules live here once: which environment
holds the run, what "not delayed" means, which instant is sent to Trigger.dev.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.delays import to_api_delay
from bot.domain.environments import Environment
from bot.trigger.client import Deadline, TriggerClient
from bot.trigger.errors import RunNotDelayed, RunNotFound, TriggerError
from bot.trigger.models import Run

Now = Callable[[], datetime]
log = logging.getLogger(__name__)
RUN_NOW_DELAY = "0s"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting and from where, taken from the signed request (never from a button's value)."""

    user_id: str
    team_id: str
    channel_id: str | None
    surface: str


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

    def targets_for(self, env_name: str | None) -> Sequence[Target]:
        """The environments to search: the named one when it is configured, else all of them."""
        named = [target for target in self.targets if env_name and target.env.name == env_name]
        return named or self.targets

    async def find(self, run_id: str, deadline: Deadline, env_name: str | None = None) -> Located:
        """Ask every environment (or only `env_name`) at once; the first that has the run wins."""
        targets = self.targets_for(env_name)
        if len(targets) == 1:
            target = targets[0]
            try:
                return Located(await target.client.retrieve_run(run_id, deadline), target)
            except RunNotFound:
                raise NotFoundAnywhere(run_id, [target.env]) from None
        return await self._find_concurrently(run_id, deadline, targets)

    async def _find_concurrently(self, run_id: str, deadline: Deadline, targets: Sequence[Target]) -> Located:
        async def one(target: Target) -> Located:
            return Located(await target.client.retrieve_run(run_id, deadline), target)

        tasks = [asyncio.create_task(one(target)) for target in targets]
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
        raise NotFoundAnywhere(run_id, [t.env for t in targets])

    async def reschedule(
        self, actor: Actor, run_id: str, when: datetime | None, deadline: Deadline, env_name: str | None = None
    ) -> Moved:
        """Move a DELAYED run to the instant `when`, or start it now when `when` is None.

        An instant is sent as an absolute time, so a retried request lands on the same one; "now" is sent as
        the duration `0s`, which the server reads as the moment it handles the request.
        """
        located = await self.find(run_id, deadline, env_name)
        return await self.move(actor, located, when, deadline)

    async def move(self, actor: Actor, located: Located, when: datetime | None, deadline: Deadline) -> Moved:
        """`reschedule` for a run already found (the slash command looks before it asks for confirmation)."""
        run_id = located.run.id
        if not located.run.is_delayed:
            raise NotDelayed(located.run, located.env)
        delay = RUN_NOW_DELAY if when is None else to_api_delay(when)
        try:
            moved = await located.target.client.reschedule_run(run_id, delay, deadline)
        except RunNotDelayed:
            # It started between our read and our write: report how it is now.
            current = await located.target.client.retrieve_run(run_id, deadline)
            raise NotDelayed(current, located.env) from None
        new = moved.delayed_until or when or self.now()
        log.info(
            "rescheduled run=%s env=%s by=%s surface=%s to=%s",
            run_id,
            located.env.name,
            actor.user_id,
            actor.surface,
            new.isoformat(),
        )
        return Moved(run=moved, env=located.env, previous=located.run.delayed_until, new=new)
