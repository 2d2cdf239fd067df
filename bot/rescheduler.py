"""The one path every Slack surface calls to read or move a run.

Surfaces turn a payload into an intent and render what comes back; the rules live here once: which environment
holds the run, what "not delayed" means, which instant is sent to Trigger.dev.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot import metrics, request_id, shutdown
from bot.access_check import AccessCheck, AccessRefused, Split
from bot.approvals import ApprovalNeeded, Approvals
from bot.domain.audit import AuditRecord, AuditTrail, Outcome
from bot.domain.delays import to_api_delay
from bot.domain.environments import Environment
from bot.domain.runs import NOT_STARTED, SAME_INSTANT, Run
from bot.inflight import move_started, outcome_recorded
from bot.limits import Limits
from bot.logs import redact
from bot.storage.approvals import RunAsked
from bot.trigger.client import Deadline, RunPage, TriggerClient
from bot.trigger.errors import OutcomeUnknown, RateLimited, RunNotDelayed, RunNotFound, TriggerError, TriggerUnavailable

Now = Callable[[], datetime]
log = logging.getLogger(__name__)
RUN_NOW_DELAY = "0s"
# When a move's outcome is unknown, the run is read again within this many seconds of its own (the action's
# deadline has passed by then), and an instant read back within SAME_INSTANT of another is the same one.
READBACK_SECONDS = shutdown.CONFIRM_SECONDS
JOURNAL_SECONDS = 1.0  # writing a move down before its request waits at most this long (and a quarter of its time)
SHOWN_IN_REQUEST = 10  # a set's runs read for its request for approval (the rest are named by id)


async def _tagged(call: Awaitable[Run], env: Environment) -> Run:
    """Await a Trigger.dev call, naming the environment on any error it raises."""
    try:
        return await call
    except TriggerError as exc:
        exc.environment = env.title
        raise


@dataclass(frozen=True, slots=True)
class _Late:
    """A move's row still being written when its request went out."""

    writing: asyncio.Future[object]


_LATE: set[asyncio.Future[Any]] = set()  # rows written late and their settling, kept alive until done


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting and from where, taken from the signed request (never from a button's value)."""

    user_id: str
    team_id: str  # the workspace the request acts for (the installing one), whatever the user's own team
    channel_id: str | None
    surface: str
    input: str = ""
    user_team_id: str = ""  # the user's own workspace (differs in Slack Connect channels and org-wide installs)
    enterprise_id: str | None = None
    approved_by: str | None = None  # a move in a protected environment carried out on this person's Approve
    reason: str = ""  # why, for the approver of a protected environment (`--reason`, a form's field)


@dataclass(frozen=True, slots=True)
class EnvironmentClient:
    """One configured Trigger.dev environment and the client holding its key."""

    env: Environment
    client: TriggerClient


@dataclass(frozen=True, slots=True)
class FoundRun:
    """A run and the environment it was found in."""

    run: Run
    target: EnvironmentClient

    @property
    def env(self) -> Environment:
        return self.target.env


@dataclass(frozen=True, slots=True)
class MoveResult:
    """A successful reschedule: the run as Trigger.dev returned it, and the times before and after."""

    run: Run
    env: Environment
    previous: datetime | None
    new: datetime
    started: bool = False  # asked to start now (Run now) rather than moved to a time


class NotFoundAnywhere(RunNotFound):
    """The run is in none of the environments searched."""

    def __init__(self, run_id: str, searched: Sequence[Environment]) -> None:
        super().__init__(f"run {run_id} not found", status=404)
        self.run_id = run_id
        self.searched = tuple(searched)


class OutOfReach(NotFoundAnywhere):
    """The run is in none of the environments the person may act in (`searched`, maybe none), and was not looked
    for in the others, which their access rule keeps them from (`refused`: who may move runs there)."""

    def __init__(self, run_id: str, searched: Sequence[Environment], refused: Sequence[AccessRefused]) -> None:
        super().__init__(run_id, searched)
        self.refused = tuple(refused)


@dataclass(frozen=True, slots=True)
class Reachable:
    """The environments to ask for a person (`targets`), and the refusals for those their access rule excludes."""

    targets: tuple[EnvironmentClient, ...]
    refused: tuple[AccessRefused, ...] = ()


class NotDelayed(RunNotDelayed):
    """The run exists but is not DELAYED; `run` is how it is now."""

    def __init__(self, run: Run, env: Environment) -> None:
        super().__init__(f"run {run.id} is {run.status_label}", status=400)
        self.run = run
        self.env = env


class NotApplied(TriggerUnavailable):
    """A move Trigger.dev did not confirm, which reading the run back shows was not applied so far: the run is
    still DELAYED at `previous`. A request Trigger.dev is only holding could still land, so this is told as "not
    applied so far" and audited as unknown. `run` is how it is now; the cause is the failure of the move."""

    def __init__(self, run: Run, env: Environment, previous: datetime, cause: TriggerError) -> None:
        super().__init__(
            f"no answer to the move ({cause}); read back: still delayed until {previous.isoformat()}",
            status=cause.status,
        )
        self.run = run
        self.env = env
        self.environment = env.title
        self.previous = previous


class MoveUnconfirmed(OutcomeUnknown):
    """A move Trigger.dev may have applied, which reading the run back could not settle. `run` is the run as it
    was before, `when` what was asked (None: start now), `current` the run as read back (None: the read failed)."""

    def __init__(
        self, run: Run, env: Environment, when: datetime | None, current: Run | None, cause: TriggerError
    ) -> None:
        seen = f"read back: {current.status_label}" if current else "could not read it back"
        if current and current.delayed_until:
            seen += f" until {current.delayed_until.isoformat()}"
        super().__init__(f"no answer to the move ({cause}); {seen}", status=cause.status)
        self.run = run
        self.env = env
        self.environment = env.title
        self.when = when
        self.current = current


class MovedSince(TriggerError):
    """An Undo that would overwrite a later move: the run is no longer at the time the move being undone gave it.
    `run` is how it is now, `given` the time the undone move gave it."""

    def __init__(self, run: Run, env: Environment, given: datetime) -> None:
        super().__init__(f"run {run.id} was moved since (now {run.delayed_until}, not {given.isoformat()})")
        self.run = run
        self.env = env
        self.environment = env.title
        self.given = given


class MoveJournal(Protocol):
    """Where a move is written down before its request is sent (bot/intents.py, bot/slack/set_run.py), so that a process
    that dies mid-move leaves a trace another process reads back from Trigger.dev."""

    async def sending(self, actor: Actor, run: Run, env: Environment, when: datetime | None) -> object:
        """Written down; what `settled` is given back."""

    async def settled(self, entry: object, *, cut_off: bool) -> None:
        """The move's outcome is recorded (`cut_off`: the move was stopped before its outcome was known)."""


@dataclass(frozen=True, slots=True)
class ListFilters:
    """What `/reschedule list` asks for: tasks starting with `task`, a tag, one environment, runs due within a
    duration."""

    task: str | None = None
    tag: str | None = None
    env: str | None = None
    within: timedelta | None = None


@dataclass(frozen=True, slots=True)
class NearMisses:
    """When the task given to `list` starts no delayed run's task name: what it does name among the runs read (with
    the list's other filters), so the answer can say where they are. `tagged`: how many runs carry it as a tag (any
    case); `tasks`: the tasks with it inside their name, not at its start. `tags`: for a tag that matched nothing."""

    tagged: int = 0
    tasks: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # when a tag matched nothing: the tags the delayed runs carry, the likest first


@dataclass(frozen=True, slots=True)
class ListedRun:
    run: Run
    env: Environment


@dataclass(frozen=True, slots=True)
class DelayedList:
    """DELAYED runs across the environments the person may act in, soonest first.

    `failed`: environments that could not be listed (each with its error); `incomplete`: environments where the
    page bound stopped the reading (more runs exist than were read); `hidden`: environments an access rule keeps
    from this person (not listed, and not named to them).
    """

    runs: tuple[ListedRun, ...]
    searched: tuple[Environment, ...]
    failed: tuple[tuple[Environment, TriggerError], ...] = ()
    incomplete: tuple[Environment, ...] = ()
    hidden: tuple[Environment, ...] = ()
    near: NearMisses = field(default_factory=NearMisses)
    refused: tuple[AccessRefused, ...] = ()  # why each hidden environment is: who may move runs there


def landed(before: Run, current: Run, when: datetime | None, now: datetime) -> bool | None:
    """Whether the move of `before` to `when` (None: start now) shows in `current`, the run read back:
    True when it does, False when the run is still delayed at its previous time, None when it cannot be told.

    A time move landed when the run is delayed until `when`; "start now" landed when the run has started, or is
    delayed until about now (the server's "0s"), away from its previous time.
    """
    until, previous = current.delayed_until, before.delayed_until
    delayed_until = until if current.is_delayed else None
    at_previous = delayed_until is not None and previous is not None and _same(delayed_until, previous)
    if when is not None:
        moved = delayed_until is not None and _same(delayed_until, when)
    else:
        started = current.status not in NOT_STARTED
        moved = started or (delayed_until is not None and delayed_until <= now + SAME_INSTANT and not at_previous)
    if moved:
        return True
    return False if at_previous else None


def _due(page: RunPage, now: datetime, within: timedelta | None, task: str | None = None) -> list[Run]:
    """The listed runs still DELAYED (the server filtered; this guards a run that started in between), of a task
    starting with `task` (any case) when given, due within `within` of `now` when given."""
    runs = [run for run in page.runs if run.is_delayed and task_matches(run.task_identifier, task)]
    if within is None:
        return runs
    horizon = now + within
    return [run for run in runs if run.delayed_until is not None and run.delayed_until <= horizon]


def task_matches(task_identifier: str, typed: str | None) -> bool:
    """Whether a run's task is one `/reschedule list <typed>` asks for: its name starts with what was typed, in
    any case (people type `send` for send-trial-reminder). Trigger.dev's own task filter is exact, so this is
    applied to what the listing returns."""
    return not typed or task_identifier.casefold().startswith(typed.casefold())


def _listed(
    allowed: Sequence[EnvironmentClient],
    pages: Sequence[RunPage | BaseException],
    now: datetime,
    filters: ListFilters,
    reach: Reachable,
) -> DelayedList:
    """The pages read from each environment, as one list soonest first."""
    runs: list[ListedRun] = []
    failed: list[tuple[Environment, TriggerError]] = []
    incomplete: list[Environment] = []
    due_runs: list[Run] = []  # every due run read, task or not: where a task that matched none may be instead
    for target, page in zip(allowed, pages, strict=True):
        if isinstance(page, TriggerError):
            page.environment = target.env.title
            log.warning("listing delayed runs in %s failed: %s", target.env.name, type(page).__name__)
            failed.append((target.env, page))
            continue
        if isinstance(page, BaseException):
            raise page
        due = _due(page, now, filters.within)
        runs.extend(ListedRun(run, target.env) for run in due if task_matches(run.task_identifier, filters.task))
        due_runs.extend(due)
        if not page.complete:
            incomplete.append(target.env)
    runs.sort(key=lambda listed: (listed.run.delayed_until or datetime.max.replace(tzinfo=UTC), listed.run.id))
    return DelayedList(
        runs=tuple(runs),
        searched=tuple(target.env for target in allowed),
        failed=tuple(failed),
        incomplete=tuple(incomplete),
        hidden=tuple(refusal.env for refusal in reach.refused),
        refused=reach.refused,
        near=_near_misses(filters.task, due_runs) if filters.task and not runs else NearMisses(),
    )


LIKE_TAG = 0.75  # how alike a tag must be to the one typed to be offered instead


def _tags_carried(pages: Sequence[RunPage | BaseException], now: datetime, filters: ListFilters) -> tuple[str, ...]:
    """The tags of the delayed runs listed in `pages` (with the list's other filters), those most like the tag asked
    for first; none when a page could not be read (the answer then says nothing rather than something partial)."""
    read = [page for page in pages if isinstance(page, RunPage)]
    if len(read) < len(pages):
        return ()
    carried: dict[str, str] = {}  # by case-folded name, as first seen
    for page in read:
        for run in _due(page, now, filters.within, filters.task):
            for tag in run.tags:
                carried.setdefault(tag.casefold(), tag)
    typed = filters.tag or ""
    return tuple(sorted(carried.values(), key=lambda tag: (-_likeness(typed, tag), tag.casefold())))


def like_tag(typed: str, tag: str) -> bool:
    """Whether `tag` is close enough to what was typed to be offered as what was meant (`emial`, `EMAIL`: email)."""
    return _likeness(typed, tag) >= LIKE_TAG


def _likeness(typed: str, tag: str) -> float:
    return difflib.SequenceMatcher(None, typed.casefold(), tag.casefold()).ratio()


def _near_misses(typed: str, runs: Sequence[Run]) -> NearMisses:
    """What `typed`, a task that started no run's task name, names among `runs`: a tag, or the middle of a name."""
    wanted = typed.casefold()
    tagged = sum(1 for run in runs if any(tag.casefold() == wanted for tag in run.tags))
    tasks = {run.task_identifier for run in runs if wanted in run.task_identifier.casefold()}
    return NearMisses(tagged=tagged, tasks=tuple(sorted(tasks, key=str.casefold)))


def _same(a: datetime, b: datetime) -> bool:
    return abs(a - b) <= SAME_INSTANT


@dataclass(slots=True)
class Rescheduler:
    """Finds and moves runs across the configured environments."""

    targets: Sequence[EnvironmentClient]
    deadline_seconds: float
    now: Now = utc_now
    access_check: AccessCheck | None = None
    audit: AuditTrail | None = None
    readback_seconds: float = READBACK_SECONDS
    journal: MoveJournal | None = None  # single moves written down before their request (bot/intents.py)
    limits: Limits = field(default_factory=Limits)
    approvals: Approvals | None = None  # protected environments (bot/approvals.py); None: none is protected

    def deadline(self) -> Deadline:
        """A fresh deadline for one user action."""
        return Deadline.after(self.deadline_seconds)

    def target_named(self, env_name: str | None) -> EnvironmentClient | None:
        """The configured environment called `env_name`, if any."""
        return next((target for target in self.targets if env_name and target.env.name == env_name), None)

    def targets_for(self, env_name: str | None) -> Sequence[EnvironmentClient]:
        """The environments to search: the named one when it is configured, else all of them."""
        named = self.target_named(env_name)
        return [named] if named is not None else self.targets

    async def reachable(self, actor: Actor | None, env_name: str | None = None, *, anywhere: bool = False) -> Reachable:
        """The environments to ask for `actor` (all of them, or only `env_name`): those their access rule keeps them
        from are left out, with the refusal that says who may act there. `actor` None: every one (the bot itself).
        `anywhere`: no channel applies (the App Home, a message still being written)."""
        targets = self.targets_for(env_name)
        if actor is None or self.access_check is None:
            return Reachable(tuple(targets))
        split: Split = await self.access_check.split(
            actor.user_id, actor.channel_id, [target.env for target in targets], anywhere=anywhere
        )
        allowed = [target for target in targets if target.env in split.allowed]
        return Reachable(tuple(allowed), split.refused)

    async def find(
        self, run_id: str, deadline: Deadline, env_name: str | None = None, actor: Actor | None = None
    ) -> FoundRun:
        """Ask every environment (or only `env_name`) at once; the first that has the run wins. With `actor`, only
        the environments they may act in are asked (see `reachable`).

        Not found anywhere → NotFoundAnywhere naming them all (OutOfReach when environments were left out); if an
        environment could not answer (and none had the run), that failure is raised instead: "missing" would not be
        the truth.
        """
        reach = await self.reachable(actor, env_name)
        try:
            return await self.find_in(reach.targets, run_id, deadline)
        except NotFoundAnywhere as exc:
            if reach.refused:
                raise OutOfReach(run_id, exc.searched, reach.refused) from None
            raise

    async def find_in(self, targets: Sequence[EnvironmentClient], run_id: str, deadline: Deadline) -> FoundRun:
        """`find` among `targets` only (those a person may act in, worked out once for many runs)."""
        if not targets:
            raise NotFoundAnywhere(run_id, [])
        if len(targets) == 1:
            try:
                return await self._look(targets[0], run_id, deadline)
            except RunNotFound:
                raise NotFoundAnywhere(run_id, [targets[0].env]) from None
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

    async def find_all(self, run_id: str, deadline: Deadline, actor: Actor | None = None) -> list[FoundRun]:
        """Every environment (that `actor` may act in) that has a run with this id (for a choice when more than
        one has)."""
        reach = await self.reachable(actor)
        results = await asyncio.gather(
            *(self._look(target, run_id, deadline) for target in reach.targets), return_exceptions=True
        )
        found = [result for result in results if isinstance(result, FoundRun)]
        if found:
            return found
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, RunNotFound):
                raise result
        searched = [target.env for target in reach.targets]
        if reach.refused:
            raise OutOfReach(run_id, searched, reach.refused)
        raise NotFoundAnywhere(run_id, searched)

    async def _look(self, target: EnvironmentClient, run_id: str, deadline: Deadline) -> FoundRun:
        waited_from = deadline.clock()
        async with self.limits.lookup():  # bounded per process: the others wait their turn
            deadline = deadline.extended(deadline.clock() - waited_from)  # the wait was not Trigger.dev's
            return FoundRun(await _tagged(target.client.retrieve_run(run_id, deadline), target.env), target)

    async def list_delayed(
        self, actor: Actor, filters: ListFilters, deadline: Deadline, lookback: timedelta, *, every_env: bool = False
    ) -> DelayedList:
        """DELAYED runs in every environment `actor` may act in (or only `filters.env`), all asked at once.

        `lookback` is how far back runs were created (the longest delay allowed: the server's own default is 7
        days). An environment whose access rule refuses the person is left out without recording a refusal;
        one that cannot be listed is named in the answer rather than failing the whole list. `every_env`: no
        access rule applies (the digest, posted by the bot itself to the channel DIGEST_CHANNEL names).
        """
        reach = await self.reachable(None if every_env else actor, filters.env)
        allowed = reach.targets
        waited_from = deadline.clock()
        async with self.limits.listing():  # bounded per process: the pages of only a few lists are held at once
            # The time spent waiting for a turn is not Trigger.dev's: the list gets it back.
            deadline = deadline.extended(deadline.clock() - waited_from)
            now = self.now()
            created_from = now - lookback
            pages = await asyncio.gather(
                *(
                    target.client.list_delayed(deadline, created_from=created_from, tag=filters.tag)
                    for target in allowed
                ),
                return_exceptions=True,
            )
            listed = _listed(allowed, pages, now, filters, reach)
            if filters.tag and not listed.runs and not listed.failed and listed.searched:
                # A tag that matched nothing (tags match exactly): the tags the delayed runs do carry, to choose from.
                untagged = await asyncio.gather(
                    *(target.client.list_delayed(deadline, created_from=created_from) for target in allowed),
                    return_exceptions=True,
                )
                listed = replace(listed, near=replace(listed.near, tags=_tags_carried(untagged, now, filters)))
            return listed

    async def check_access(self, actor: Actor, env: Environment) -> None:
        """The access check alone (raises AccessRefused), without recording: for deciding what to offer."""
        if self.access_check is not None:
            await self.access_check.check(actor.user_id, actor.channel_id, env)

    async def authorize(self, actor: Actor, env: Environment, run_id: str | None = None) -> None:
        """Raise AccessRefused (and record it) when `actor` may not move runs in `env` from where they are."""
        try:
            await self.check_access(actor, env)
        except AccessRefused as exc:
            self.record(actor, Outcome.REFUSED, env=env, run_id=run_id, error=str(exc))
            raise

    async def reschedule(
        self,
        actor: Actor,
        run_id: str,
        when: datetime | None,
        deadline: Deadline,
        env_name: str | None = None,
        *,
        expect: datetime | None = None,
    ) -> MoveResult:
        """Move a DELAYED run to the instant `when`, or start it now when `when` is None.

        An instant is sent as an absolute time, so a retried request lands on the same one; "now" is sent as
        the duration `0s`, which the server reads as the moment it handles the request.
        """
        try:
            located = await self.find(run_id, deadline, env_name, actor)
        except TriggerError as exc:
            self.record_failure(actor, exc, run_id=run_id, when=when)
            raise
        return await self.move(actor, located, when, deadline, expect=expect)

    async def move(
        self,
        actor: Actor,
        located: FoundRun,
        when: datetime | None,
        deadline: Deadline,
        *,
        record_rate_limited: bool = True,
        journal: MoveJournal | None = None,
        expect: datetime | None = None,
        ask: bool = True,
    ) -> MoveResult:
        """`reschedule` for a run already found (the slash command looks before it asks for confirmation).

        The access rule is checked here, at the moment of acting, whatever the surface checked before; so is the
        approval a protected environment needs (ApprovalNeeded: a request was made instead; `ask=False`: none is
        made, the move is only refused).
        `record_rate_limited=False`: a RateLimited is raised without an audit row (a bulk move tries the run
        again after the reset, and records its outcome then). `journal`: where this move is written down before
        its request (else the rescheduler's own). `expect`: an Undo, moved only while the run is still at this
        time (the one the move being undone gave it); else MovedSince, recorded as refused.
        """
        run, env = located.run, located.env
        await self.authorize(actor, env, run.id)
        journal = journal or self.journal
        entry: object = None
        try:
            if not run.is_delayed:
                raise NotDelayed(run, env)
            if expect is not None and (run.delayed_until is None or not _same(run.delayed_until, expect)):
                raise MovedSince(run, env, expect)
            await self.approval(
                actor, [RunAsked(run.id, env.name, run.delayed_until, run.task_identifier)], when, ask=ask
            )
            delay = RUN_NOW_DELAY if when is None else to_api_delay(when)
            if journal is not None:
                entry = await self._write_down(journal, actor, run, env, when, deadline)
            move_started(run.id, env.name)  # from here until its outcome is recorded, shutdown accounts for it
            try:
                moved = await _tagged(located.target.client.reschedule_run(run.id, delay, deadline), env)
            except OutcomeUnknown as exc:
                moved = await self._settle(located, when, exc)
            except RunNotDelayed as exc:
                moved = await self._after_not_delayed(located, when, exc)
        except asyncio.CancelledError:
            # Cut off (a shutdown): read back by the next process.
            await asyncio.shield(self._settled(journal, entry, cut_off=True))
            raise
        except TriggerError as exc:
            if isinstance(exc, RateLimited) and not record_rate_limited:
                await self._settled(journal, entry)
                raise
            if isinstance(exc, MovedSince):
                error = f"moved since: no longer at {exc.given.isoformat()}"
                self.record(actor, Outcome.REFUSED, env=env, run_id=run.id, task=run.task_identifier, error=error)
            else:
                self.record_failure(
                    actor, exc, run_id=run.id, when=when, env=env, task=run.task_identifier, previous=run.delayed_until
                )
            await self._settled(journal, entry)
            raise
        if when is None:
            new = moved.delayed_until if moved.is_delayed and moved.delayed_until else self.now()
        else:
            new = moved.delayed_until or when
        self.record(
            actor,
            Outcome.RESCHEDULED,
            env=env,
            run_id=run.id,
            task=run.task_identifier,
            previous=run.delayed_until,
            new=new,
        )
        await self._settled(journal, entry)
        return MoveResult(run=moved, env=env, previous=run.delayed_until, new=new, started=when is None)

    @staticmethod
    async def _write_down(
        journal: MoveJournal, actor: Actor, run: Run, env: Environment, when: datetime | None, deadline: Deadline
    ) -> object:
        """The move written down before its request, within a small part of the action's time: a database that is
        slow or down never stops a move (it goes out without waiting for its row, logged; a row written late is
        settled as soon as it is)."""
        budget = min(JOURNAL_SECONDS, deadline.remaining() / 4)
        writing = asyncio.ensure_future(journal.sending(actor, run, env, when))
        done, _ = await asyncio.wait({writing}, timeout=budget)
        if not done:
            log.warning("move of %s not written down before sending: the database is slow", run.id)
            _LATE.add(writing)
            writing.add_done_callback(_LATE.discard)
            return _Late(writing)
        return writing.result() if writing.exception() is None else None

    @staticmethod
    async def _settled(journal: MoveJournal | None, entry: object, *, cut_off: bool = False) -> None:
        if journal is None or entry is None:
            return
        if isinstance(entry, _Late):  # its row is still being written: settled once it is
            late_journal = journal

            def settle_when_written(writing: asyncio.Future[object]) -> None:
                if writing.cancelled() or writing.exception() is not None or writing.result() is None:
                    return
                follow = asyncio.ensure_future(late_journal.settled(writing.result(), cut_off=cut_off))
                _LATE.add(follow)
                follow.add_done_callback(_LATE.discard)

            entry.writing.add_done_callback(settle_when_written)
            return
        await journal.settled(entry, cut_off=cut_off)

    async def last_mover(self, run_id: str, at: datetime) -> str | None:
        """Who moved `run_id` to `at`, as the audit trail says (None: no such move recorded, or no trail)."""
        if self.audit is None:
            return None
        try:
            records = await self.audit.for_run(run_id)
        except Exception as exc:
            log.info("who moved %s is not known: %s", run_id, type(exc).__name__)
            return None
        for record in records:
            if record.outcome is Outcome.RESCHEDULED and record.new_time is not None and _same(record.new_time, at):
                return record.user_id
        return None

    async def approval(
        self,
        actor: Actor,
        runs: Sequence[RunAsked],
        when: datetime | None,
        *,
        ask: bool = True,
        thread_ts: str | None = None,
    ) -> None:
        """Raise ApprovalNeeded when `runs` (each with its start time now, when known) include one in a protected
        environment and `actor` acts without an approval: a request for them all is stored and posted first (unless
        `ask` is False). A move taking back an approved one, by its asker or approver, needs no new approval."""
        approvals = self.approvals
        if approvals is None or actor.approved_by:
            return
        envs = {target.env.name: target.env for target in self.targets}
        protected = [
            (run, envs[run.env_name])
            for run in runs
            if run.env_name in envs and approvals.rule_for(envs[run.env_name]) is not None
        ]
        if not protected:
            return
        if all([await approvals.takes_back(actor.user_id, run.run_id, run.before, when) for run, _ in protected]):
            return
        first, env = protected[0]
        rule = approvals.rule_for(env)
        assert rule is not None
        if not ask:
            raise ApprovalNeeded(env, rule, None, await approvals.handles(rule))
        runs = await self._with_times(runs)
        new = approvals.new_request(
            team_id=actor.team_id,
            user_id=actor.user_id,
            channel_id=actor.channel_id,
            surface=actor.surface,
            typed=redact(actor.input),
            env=env,
            runs=runs,
            when=when,
            reason=actor.reason,
            now=self.now(),
            user_team_id=actor.user_team_id if actor.user_team_id != actor.team_id else None,
            enterprise_id=actor.enterprise_id,
            thread_ts=thread_ts,
        )
        needed = await approvals.ask(new, env, rule)
        if needed.request is not None:
            run_id = first.run_id if len(runs) == 1 else None
            self.record(
                actor,
                Outcome.APPROVAL_REQUESTED,
                env=env,
                run_id=run_id,
                task=first.task or None,
                previous=first.before,
                new=when,
            )
        raise needed

    async def _with_times(self, runs: Sequence[RunAsked]) -> list[RunAsked]:
        """A set's runs with their task and start time read now (the first SHOWN_IN_REQUEST of them, at once), for
        the approver to see and for the request's expiry; a run that cannot be read is shown by its id alone."""
        missing = [run for run in runs[:SHOWN_IN_REQUEST] if run.before is None and not run.task]

        async def read(run: RunAsked) -> RunAsked:
            try:
                found = await self.find(run.run_id, self.deadline(), run.env_name or None)
            except TriggerError:
                return run
            return RunAsked(run.run_id, found.env.name, found.run.delayed_until, found.run.task_identifier)

        read_now = dict(zip([run.run_id for run in missing], await asyncio.gather(*map(read, missing)), strict=True))
        return [read_now.get(run.run_id, run) for run in runs]

    async def _read_back(self, located: FoundRun) -> Run:
        """The run as it is now, within a fresh budget of its own (the action's deadline may have passed)."""
        deadline = Deadline.after(self.readback_seconds)
        return await _tagged(located.target.client.retrieve_run(located.run.id, deadline), located.env)

    async def _settle(self, located: FoundRun, when: datetime | None, exc: OutcomeUnknown) -> Run:
        """The move was sent but its outcome is unknown: read the run again and say what is true now.

        It moved → the run as read (a success); still at its previous time → NotApplied; else MoveUnconfirmed.
        """
        run, env = located.run, located.env
        try:
            current = await self._read_back(located)
        except TriggerError as read_error:
            log.warning("move of %s unconfirmed: read back failed (%s)", run.id, type(read_error).__name__)
            raise MoveUnconfirmed(run, env, when, None, exc) from read_error
        verdict = landed(run, current, when, self.now())
        if verdict:
            log.info("move of %s confirmed by reading back (the answer was lost: %s)", run.id, exc)
            return current
        if verdict is False and run.delayed_until is not None:
            log.info("move of %s not applied: read back still at its previous time", run.id)
            raise NotApplied(current, env, run.delayed_until, exc) from exc
        log.warning("move of %s unconfirmed: read back %s", run.id, current.status_label)
        raise MoveUnconfirmed(run, env, when, current, exc) from exc

    async def _after_not_delayed(self, located: FoundRun, when: datetime | None, exc: RunNotDelayed) -> Run:
        """Trigger.dev says the run is not delayed: it started between our read and our write, or an earlier
        attempt of ours (its answer lost) already applied the move. Read it again and report how it is now."""
        run, env = located.run, located.env
        try:
            current = await self._read_back(located)
        except TriggerError as read_error:
            if exc.maybe_applied:
                raise MoveUnconfirmed(run, env, when, None, exc) from read_error
            raise
        if landed(run, current, when, self.now()):
            # Most likely our own earlier attempt; either way the person got what they asked for.
            log.info("move of %s taken as applied: read back %s", run.id, current.status_label)
            return current
        raise NotDelayed(current, env) from None

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
        if isinstance(exc, OutOfReach):
            outcome, error = Outcome.REFUSED, f"not looked for in {', '.join(r.env.name for r in exc.refused)}"
            if len(exc.refused) == 1 and not exc.searched:  # it can only be there
                env = exc.refused[0].env
        elif isinstance(exc, NotDelayed):
            outcome, env, task = Outcome.NOT_DELAYED, exc.env, exc.run.task_identifier
            error = f"status {exc.run.status_label}"
        elif isinstance(exc, RunNotFound):
            outcome, error = Outcome.NOT_FOUND, str(exc)
        elif isinstance(exc, OutcomeUnknown | NotApplied):
            # NotApplied: not applied when read back, but a request Trigger.dev is still holding may yet land.
            outcome, error = Outcome.UNKNOWN, f"{type(exc).__name__}: {exc}"
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
        """Add one attempt to the audit trail (in the background; never delays or fails the action), with one log
        line for it (`rescheduled run=… env=… by=… surface=… to=…`, or the outcome and the error)."""
        outcome_recorded(run_id)
        _log_outcome(actor, outcome, env, run_id, new, error)
        metrics.attempt(actor.surface, outcome.value)
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
                user_team_id=actor.user_team_id if actor.user_team_id != actor.team_id else None,
                enterprise_id=actor.enterprise_id,
                request_id=request_id.current(),
                approved_by=actor.approved_by,
            )
        )


def _log_outcome(
    actor: Actor,
    outcome: Outcome,
    env: Environment | None,
    run_id: str | None,
    new: datetime | None,
    error: str | None,
) -> None:
    """One line per outcome of an attempt, with the same facts as structured fields (for LOG_FORMAT=json)."""
    fields = {
        "outcome": outcome.value,
        "run_id": run_id,
        "environment": env.name if env else None,
        "user": actor.user_id,
        "surface": actor.surface,
    }
    where = env.name if env else "-"
    line = f"{outcome.value} run={run_id or '-'} env={where} by={actor.user_id} surface={actor.surface}"
    if new is not None:
        line += f" to={new.isoformat()}"
        fields["to"] = new.isoformat()
    if error:
        line += f" error={error[:200]}"
        fields["error"] = error[:200]
    level = logging.WARNING if outcome in (Outcome.FAILED, Outcome.UNKNOWN) else logging.INFO
    log.log(level, "%s", redact(line), extra=fields)
