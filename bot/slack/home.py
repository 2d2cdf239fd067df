"""The App Home: each person's page, published when they open the Home tab and again after their moves.

Slack sends `app_home_opened` on every open of the tab; Bolt acknowledges it at once and the page is built
afterwards. Building it is bounded however long the person's history: one read of at most MOVES_READ of their
moves from the audit trail (the newest record of each of at most MAX_RUNS_SHOWN distinct runs is kept), then the
runs' current state from Trigger.dev, at most LOOKUPS_AT_ONCE at a time and all within LOOKUP_SECONDS (or
TRIGGER_DEADLINE when shorter); a lookup that fails or runs out of time shows its row as "could not be read" instead of
failing the page. Failures are logged, never shown.

Publishing is coalesced per person: while their page is being built, further requests (another open, a move)
are folded into one more build afterwards. After a move recorded in the audit trail (the audit log's listener, in
whichever process handled the move) the page is published again when the move came from the Home itself, or when
the person opened their Home in the last REMEMBER_SECONDS through any process: each open is noted in the database
(bot/storage/home_views.py, written in the background), and a move by someone this process has not shown their Home
lately is looked up there, off the audit log's path, one look-up per person at a time. A Home never opened (or not
for an hour) needs no refresh: opening it builds it afresh. What this process showed lately is kept in memory too,
only to spare that look-up; a person it does not know about is always looked up. While the database cannot be read
(logged once, by the store) a move refreshes only the Homes this process showed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import request_id
from bot.domain.audit import AuditRecord, Outcome, latest_per_run
from bot.render import access
from bot.render.home import MAX_RUNS_SHOWN, HomePage, MovedRun, Reach, RowProblem, home_view
from bot.render.ids import Button
from bot.rescheduler import Rescheduler
from bot.slack import events
from bot.slack.actor import actor_of
from bot.slack.deps import SurfaceDeps
from bot.slack.replies import slack_error
from bot.storage.audit import AuditUnavailable
from bot.storage.home_views import HomeViews, HomeViewsUnavailable
from bot.trigger.client import Deadline
from bot.trigger.errors import RunNotFound, TriggerError

log = logging.getLogger(__name__)

HOME_SURFACE = "home"  # the audit trail's surface for a click on the Home tab
HOME_BUTTONS = (Button.PUSH_1H, Button.PUSH_1D, Button.TOMORROW_9, Button.OTHER, Button.RUN_NOW, Button.OPEN)
MOVES_READ = 200
LOOKUPS_AT_ONCE = 8
LOOKUP_SECONDS = 8.0  # a Home that waits longer than this for Trigger.dev shows those rows as unreadable
REMEMBER_SECONDS = 3600.0  # a move refreshes the Home of a person who opened it this recently (through any process)
REMEMBER_PEOPLE = 10_000
CLOSE_SECONDS = 1.0  # at shutdown, how long refreshes under way may still take

Person = tuple[str, str]  # (workspace the bot acts for, user id)


class HomePages:
    """Builds and publishes Home tabs; `refresh` schedules one, coalesced per person.

    Args:
        client: the bot's Web API client.
        deps: the action path and settings (the audit trail, access rules, confirmations, the dashboard).
        clock: monotonic seconds, injected so tests control how long a shown Home is remembered.
    """

    def __init__(self, client: AsyncWebClient, deps: SurfaceDeps, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.deps = deps
        self.clock = clock
        self._running: dict[Person, asyncio.Task[None]] = {}
        self._again: set[Person] = set()
        self._shown: OrderedDict[Person, float] = OrderedDict()  # opened or published by this process: when
        self._looking: dict[Person, asyncio.Task[None]] = {}  # asking the database whether they opened it lately
        self._look_again: set[Person] = set()  # moved while being looked up
        self._closed = False

    def opened(self, team_id: str, user_id: str) -> None:
        """The person opened their Home: remember it here and, for the other processes, in the database (in the
        background), and publish it."""
        person = (team_id, user_id)
        self._remember(person)
        self.deps.home_views.opened(team_id, user_id)
        self.refresh(team_id, user_id)

    def refresh(self, team_id: str, user_id: str) -> None:
        """Publish the person's Home soon (off the caller's path); folded into a build already under way."""
        person = (team_id, user_id)
        if self._closed:  # shutting down: the clients it would use are closing
            return
        if person in self._running:
            self._again.add(person)
            return
        context = contextvars.Context()  # a refresh serves the person, not the request that caused it
        self._running[person] = asyncio.get_running_loop().create_task(self._refresh(person), context=context)

    def closing(self) -> None:
        """At shutdown, once acknowledged work is finished and before the audit trail is written: no new refresh
        or look-up (the next open of the tab rebuilds the page)."""
        self._closed = True

    async def aclose(self, timeout: float = CLOSE_SECONDS) -> None:
        """At shutdown, before the clients close: the refreshes and look-ups under way get `timeout` seconds to
        finish (a task cancelled in the middle of a database read leaves its connection to be reset at exit), then
        are stopped."""
        self._closed = True
        running = [*self._running.values(), *self._looking.values()]
        if running:
            await asyncio.wait(running, timeout=timeout)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def after_record(self, record: AuditRecord) -> None:
        """The audit log's listener: a move (or a click on the Home) refreshes the person's Home. Never waits for
        the database (the look-up, when one is needed, runs in a task of its own)."""
        if record.run_id is None or not record.user_id or self._closed:
            return
        person = (record.team_id, record.user_id)
        if record.surface == HOME_SURFACE:
            self.refresh(*person)
            return
        if record.outcome is not Outcome.RESCHEDULED:
            return
        if self._recently_shown(person):  # known here: no need to ask the database
            self.refresh(*person)
            return
        views = self.deps.home_views
        if person in self._looking:  # one look-up per person: it reads once more for this move if it must
            self._look_again.add(person)
            return
        context = contextvars.Context()
        self._looking[person] = asyncio.get_running_loop().create_task(self._look_up(person, views), context=context)

    async def _look_up(self, person: Person, views: HomeViews) -> None:
        """Whether the person opened their Home lately through any process; if so, publish it. A move recorded
        while the database is being read has it read once more when the answer was no (an open may have landed)."""
        try:
            while True:
                self._look_again.discard(person)
                try:
                    age = await views.seconds_since_opened(*person)
                except HomeViewsUnavailable:
                    return  # logged once by the store; this process's memory has answered already
                except Exception:
                    log.exception("App Home of %s: could not tell whether it was opened lately", person[1])
                    return
                if age is not None and age <= REMEMBER_SECONDS:
                    log.info(
                        "App Home of %s refreshed after a move: opened %d s ago (the database says)", person[1], age
                    )
                    self._remember(person, self.clock() - age)
                    self.refresh(*person)
                    return
                if person not in self._look_again:
                    return
        finally:
            self._looking.pop(person, None)
            self._look_again.discard(person)

    async def _refresh(self, person: Person) -> None:
        try:
            while True:
                self._again.discard(person)
                with request_id.bound(request_id.new("home-")):
                    async with self.deps.inflight.work("App Home"):
                        await self._publish(person)
                if person not in self._again:
                    return
        finally:
            self._running.pop(person, None)

    async def _publish(self, person: Person) -> None:
        team_id, user_id = person
        try:
            view = await self.build(team_id, user_id)
            await self.client.views_publish(user_id=user_id, view=view)
        except Exception as exc:
            log.warning("App Home of %s not published: %s", user_id, slack_error(exc), exc_info=not _expected(exc))
            return
        self._remember(person)

    async def build(self, team_id: str, user_id: str) -> dict[str, Any]:
        """The person's Home view (never raises for a failed read: the page says what could not be read)."""
        rescheduler = self.deps.rescheduler
        deadline = Deadline.after(min(rescheduler.deadline_seconds, LOOKUP_SECONDS))
        (records, unavailable), reach = await asyncio.gather(
            self._moves(team_id, user_id), self._reach(rescheduler, user_id)
        )
        reach_by_env = {item.env.name: item for item in reach}
        limit = asyncio.Semaphore(LOOKUPS_AT_ONCE)
        rows = await asyncio.gather(*(self._row(record, reach_by_env, deadline, limit) for record in records))
        page = HomePage(runs=rows, reach=reach, history_unavailable=unavailable, demo=self.deps.demo)
        return home_view(page, self.deps.run_url)

    async def _moves(self, team_id: str, user_id: str) -> tuple[list[AuditRecord], bool]:
        """The newest move of each of the person's most recently moved runs; True when the trail is unreadable."""
        try:
            moves = await self.deps.audit.moves_by(team_id, user_id, MOVES_READ)
        except AuditUnavailable as exc:
            log.warning("App Home of %s: audit trail unavailable (%s)", user_id, exc)
            return [], True
        return latest_per_run(moves, MAX_RUNS_SHOWN), False

    async def _reach(self, rescheduler: Rescheduler, user_id: str) -> list[Reach]:
        reach: list[Reach] = []
        for target in rescheduler.targets:
            env = target.env
            check = rescheduler.access_check
            channels = frozenset[str]() if check is None else await check.reach(user_id, env)
            if channels is not None:
                reach.append(Reach(env, channels, self.deps.asks_first(env)))
        return reach

    async def _row(
        self, record: AuditRecord, reach: dict[str, Reach], deadline: Deadline, limit: asyncio.Semaphore
    ) -> MovedRun:
        assert record.run_id is not None
        env_name = record.environment or ""
        target = self.deps.rescheduler.target_named(env_name)
        configured = target.env if target is not None else None
        row = MovedRun(
            run_id=record.run_id,
            env_title=configured.title if configured else env_name,
            env_name=env_name,
            task=record.task,
            moved_at=record.at,
        )
        check = self.deps.rescheduler.access_check
        if configured is not None and check is not None and configured.name not in reach:
            # An environment this person may no longer act in: not asked, and told as everywhere else.
            refusal = await check.refusal(configured)
            return replace(row, task=None, out_of_reach=access.out_of_reach([refusal], run_id=record.run_id))
        rescheduler = self.deps.rescheduler
        targets = [t for t in rescheduler.targets_for(env_name or None) if check is None or t.env.name in reach]
        try:
            async with limit:
                found = await rescheduler.find_in(targets, record.run_id, deadline)
        except RunNotFound:
            return replace(row, problem=RowProblem.NOT_FOUND)
        except TriggerError as exc:
            log.info("App Home: run %s could not be read (%s)", record.run_id, type(exc).__name__)
            return replace(row, problem=RowProblem.UNREADABLE)
        except Exception:
            log.exception("App Home: run %s could not be read", record.run_id)
            return replace(row, problem=RowProblem.UNREADABLE)
        where = reach.get(found.env.name)
        anywhere = where is not None and not where.channels
        controls = self.deps.controls(found.env, HOME_BUTTONS) if anywhere else None
        return MovedRun(
            run_id=record.run_id,
            env_title=found.env.title,
            env_name=found.env.name,
            task=record.task,
            moved_at=record.at,
            current=found.run,
            controls=controls,
            act_from=where.channels if where is not None else frozenset(),
        )

    def _remember(self, person: Person, at: float | None = None) -> None:
        """Note that the person saw their Home at `at` (now by default); an earlier time never replaces a later."""
        now = self.clock()
        at = now if at is None else at
        at = max(at, self._shown.pop(person, at))
        self._shown[person] = at
        while self._shown:
            oldest = next(iter(self._shown.values()))
            if len(self._shown) <= REMEMBER_PEOPLE and now - oldest <= REMEMBER_SECONDS:
                break
            self._shown.popitem(last=False)

    def _recently_shown(self, person: Person) -> bool:
        shown = self._shown.get(person)
        return shown is not None and self.clock() - shown <= REMEMBER_SECONDS


def _expected(exc: BaseException) -> bool:
    """Failures that need no traceback in the log: Slack said no, or the network did."""
    return isinstance(exc, SlackApiError | OSError | asyncio.TimeoutError)


def register(app: AsyncApp, deps: SurfaceDeps) -> HomePages:
    """Publish a person's Home when they open the tab, and after their moves (the audit log's listener)."""
    pages = HomePages(app.client, deps)
    deps.audit.listeners.append(pages.after_record)

    @app.event("app_home_opened")
    @deps.inflight.listener
    async def on_home_opened(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        # Bolt has acknowledged the event already; the page is built in a task of its own.
        if event.get("tab") != "home" or not await events.first_delivery(deps.replays, body, {}):
            return
        actor = actor_of(context, body, HOME_SURFACE, "")
        if actor.user_id:
            pages.opened(actor.team_id, actor.user_id)

    return pages
