"""The one path every Slack surface calls to read or move a run.

Surfaces turn a payload into an intent and render what comes back; the rules live here once: which environment
holds the run, what "not delayed" means, which instant is sent to Trigger.dev.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.access import Gate, Refused
from bot.domain.delays import to_api_delay
from bot.domain.environments import Environment
from bot.logs import redact
from bot.storage.audit import AuditLog, AuditRecord, Outcome
from bot.trigger.client import Deadline, TriggerClient
from bot.trigger.errors import RunNotDelayed, RunNotFound, TriggerError
from bot.trigger.models import NOT_STARTED, Run

Now = Callable[[], datetime]
log = logging.getLogger(__name__)
RUN_NOW_DELAY = "0s"


async def _tagged(call: Awaitable[Run], env: Environment) -> Run:
    """Await a Trigger.dev call, naming the environment on any error it raises."""
    try:
        return await call
    except TriggerError as exc:
        exc.environment = env.title
        raise


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting and from where, taken from the signed request (never from a button's value)."""

    user_id: str
    team_id: str
    channel_id: str | None
    surface: str
    input: str = ""


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
    gate: Gate | None = None
    audit: AuditLog | None = None

    def deadline(self) -> Deadline:
        """A fresh deadline for one user action."""
        return Deadline.after(self.deadline_seconds)

    def targets_for(self, env_name: str | None) -> Sequence[Target]:
        """The environments to search: the named one when it is configured, else all of them."""
        named = [target for target in self.targets if env_name and target.env.name == env_name]
        return named or self.targets

    async def find(self, run_id: str, deadline: Deadline, env_name: str | None = None) -> Located:
        """Ask every environment (or only `env_name`) at once; the first that has the run wins.

        Not found anywhere → NotFoundAnywhere naming them all; if an environment could not answer (and none had
        the run), that failure is raised instead: "missing" would not be the truth.
        """
        targets = self.targets_for(env_name)
        tasks = [asyncio.create_task(self._look(target, run_id, deadline)) for target in targets]
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
            await asyncio.gather(*tasks, return_exceptions=True)
        if failures:
            raise failures[0]
        raise NotFoundAnywhere(run_id, [t.env for t in targets])

    async def find_all(self, run_id: str, deadline: Deadline) -> list[Located]:
        """Every configured environment that has a run with this id (for a choice when more than one has)."""
        results = await asyncio.gather(
            *(self._look(target, run_id, deadline) for target in self.targets), return_exceptions=True
        )
        found = [result for result in results if isinstance(result, Located)]
        if found:
            return found
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, RunNotFound):
                raise result
        raise NotFoundAnywhere(run_id, [target.env for target in self.targets])

    @staticmethod
    async def _look(target: Target, run_id: str, deadline: Deadline) -> Located:
        return Located(await _tagged(target.client.retrieve_run(run_id, deadline), target.env), target)

    async def gate_check(self, actor: Actor, env: Environment) -> None:
        """The access check alone (raises Refused), without recording: for deciding what to offer."""
        if self.gate is not None:
            await self.gate.check(actor.user_id, actor.channel_id, env)

    async def authorize(self, actor: Actor, env: Environment, run_id: str | None = None) -> None:
        """Raise Refused (and record it) when `actor` may not move runs in `env` from where they are."""
        try:
            await self.gate_check(actor, env)
        except Refused as exc:
            self.record(actor, Outcome.REFUSED, env=env, run_id=run_id, error=str(exc))
            raise

    async def reschedule(
        self, actor: Actor, run_id: str, when: datetime | None, deadline: Deadline, env_name: str | None = None
    ) -> Moved:
        """Move a DELAYED run to the instant `when`, or start it now when `when` is None.

        An instant is sent as an absolute time, so a retried request lands on the same one; "now" is sent as
        the duration `0s`, which the server reads as the moment it handles the request.
        """
        try:
            located = await self.find(run_id, deadline, env_name)
        except TriggerError as exc:
            self.record_failure(actor, exc, run_id=run_id, when=when)
            raise
        return await self.move(actor, located, when, deadline)

    async def move(self, actor: Actor, located: Located, when: datetime | None, deadline: Deadline) -> Moved:
        """`reschedule` for a run already found (the slash command looks before it asks for confirmation).

        The access rule is checked here, at the moment of acting, whatever the surface checked before.
        """
        run, env = located.run, located.env
        await self.authorize(actor, env, run.id)
        try:
            if not run.is_delayed:
                raise NotDelayed(run, env)
            delay = RUN_NOW_DELAY if when is None else to_api_delay(when)
            try:
                moved = await _tagged(located.target.client.reschedule_run(run.id, delay, deadline), env)
            except RunNotDelayed:
                # It started between our read and our write: report how it is now.
                current = await located.target.client.retrieve_run(run.id, deadline)
                if when is None and current.status not in NOT_STARTED:
                    # "Run now" and it has started: most likely our own request, applied before a retry
                    # (a lost response); either way the person got what they asked for.
                    log.info("run now: %s already %s, taken as started", run.id, current.status_label)
                    moved = current
                else:
                    raise NotDelayed(current, env) from None
        except TriggerError as exc:
            self.record_failure(
                actor, exc, run_id=run.id, when=when, env=env, task=run.task_identifier, previous=run.delayed_until
            )
            raise
        if when is None:
            new = moved.delayed_until if moved.is_delayed and moved.delayed_until else self.now()
        else:
            new = moved.delayed_until or when
        log.info(
            "rescheduled run=%s env=%s by=%s surface=%s to=%s",
            run.id,
            env.name,
            actor.user_id,
            actor.surface,
            new.isoformat(),
        )
        self.record(
            actor,
            Outcome.RESCHEDULED,
            env=env,
            run_id=run.id,
            task=run.task_identifier,
            previous=run.delayed_until,
            new=new,
        )
        return Moved(run=moved, env=env, previous=run.delayed_until, new=new)

    def record_failure(
        self,
        actor: Actor,
        exc: TriggerError,
        *,
        run_id: str | None,
        when: datetime | None,
        env: Environment | None = None,
        task: str | None = None,
        previous: datetime | None = None,
    ) -> None:
        if isinstance(exc, NotDelayed):
            outcome, env, task = Outcome.NOT_DELAYED, exc.env, exc.run.task_identifier
            error = f"status {exc.run.status_label}"
        elif isinstance(exc, RunNotFound):
            outcome, error = Outcome.NOT_FOUND, str(exc)
        else:
            outcome, error = Outcome.FAILED, f"{type(exc).__name__}: {exc.server_message or exc}"
        self.record(actor, outcome, env=env, run_id=run_id, task=task, previous=previous, new=when, error=error)

    def record(
        self,
        actor: Actor,
        outcome: Outcome,
        *,
        env: Environment | None = None,
        run_id: str | None = None,
        task: str | None = None,
        previous: datetime | None = None,
        new: datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Add one attempt to the audit trail (in the background; never delays or fails the action)."""
        if self.audit is None:
            return
        self.audit.record(
            AuditRecord(
                at=self.now(),
                team_id=actor.team_id,
                user_id=actor.user_id,
                channel_id=actor.channel_id,
                surface=actor.surface,
                outcome=outcome,
                input=redact(actor.input),
                environment=env.name if env else None,
                run_id=run_id,
                task=task,
                previous_time=previous,
                new_time=new,
                error=redact(error) if error else None,
            )
        )
