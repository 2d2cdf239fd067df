"""Opens of the App Home in the database (bot/storage/home_views.py), on real SQLite and real PostgreSQL through the
same code; and the Home pages of two processes sharing it: a move recorded by one refreshes a Home opened through the
other, and a database that is down leaves each process with what it showed itself, logged once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.domain.audit import AuditRecord, Outcome
from bot.rescheduler import Rescheduler
from bot.slack.deps import SurfaceDeps
from bot.slack.home import REMEMBER_SECONDS, HomePages
from bot.storage import db
from bot.storage.home_views import KEEP, HomeViews, HomeViewsUnavailable
from bot.storage.transactions import shared
from tests.stand_ins import services

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC).timestamp()
NOWHERE = "postgresql://postgres@127.0.0.1:9/nowhere"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_opens_are_shared_through_the_database_newest_wins_and_people_are_apart(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        await db.migrate(engine)
        clock = Clock()
        one, two = HomeViews(engine, clock=clock), HomeViews(engine, clock=clock)  # two processes
        assert await two.seconds_since_opened("T1", "U1") is None  # never opened
        one.opened("T1", "U1")
        one.opened("T1", "U2")
        one.opened("T2", "U1")
        await one.aclose(5)  # the opens queued together are written (one upsert)
        clock.now += 90
        assert await two.seconds_since_opened("T1", "U1") == 90
        assert await two.seconds_since_opened("T2", "U1") == 90
        assert await two.seconds_since_opened("T1", "U3") is None
        two.opened("T1", "U1")  # opened again, through the other process: the newer open counts
        await two.aclose(5)
        clock.now += 10
        assert await one.seconds_since_opened("T1", "U1") == 10
        assert await one.seconds_since_opened("T1", "U2") == 100
        async with engine.connect() as conn:
            rows = (await conn.execute(select(db.home_views.c.team_id, db.home_views.c.user_id))).all()
        assert sorted(tuple(row) for row in rows) == [("T1", "U1"), ("T1", "U2"), ("T2", "U1")]  # a row per person
    finally:
        await engine.dispose()


async def test_look_ups_asked_at_the_same_moment_are_one_query_and_each_gets_its_own_answer(database_url: str) -> None:
    engine = db.create_engine(database_url)
    queries: list[str] = []
    event.listen(
        shared(engine).sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: queries.append(statement) if "FROM home_views" in statement else None,
    )
    try:
        await db.migrate(engine)
        clock = Clock()
        views = HomeViews(engine, clock=clock)
        for n in range(0, 20, 2):  # every other person opened their Home
            views.opened("T1", f"U{n}")
        await views.aclose(5)
        clock.now += 30
        ages = await asyncio.gather(*(views.seconds_since_opened("T1", f"U{n}") for n in range(20)))
        assert ages == [30 if n % 2 == 0 else None for n in range(20)]
        assert 1 <= len(queries) < 20  # a burst of moves costs a query or two, not one per person
    finally:
        await engine.dispose()


async def test_opens_older_than_keep_are_not_reported_and_are_pruned(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        await db.migrate(engine)
        clock = Clock()
        views = HomeViews(engine, clock=clock)
        views.opened("T1", "OLD")
        await views.aclose(5)
        clock.now += KEEP.total_seconds() + 60
        assert await views.seconds_since_opened("T1", "OLD") is None
        later = HomeViews(engine, clock=clock)  # its first write prunes
        later.opened("T1", "NEW")
        await later.aclose(5)
        async with engine.connect() as conn:
            users = (await conn.execute(select(db.home_views.c.user_id))).scalars().all()
        assert users == ["NEW"]
    finally:
        await engine.dispose()


async def test_a_database_that_is_down_is_logged_once_and_never_raised_from_an_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = db.create_engine(NOWHERE)
    try:
        views = HomeViews(engine)
        with caplog.at_level(logging.INFO, logger="bot.storage.home_views"):
            views.opened("T1", "U1")
            await views.aclose(10)
            for _ in range(3):
                with pytest.raises(HomeViewsUnavailable):
                    await views.seconds_since_opened("T1", "U1")
        warnings = [r for r in caplog.records if "database unavailable" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].exc_info is None
    finally:
        await engine.dispose()


class Publishes:
    """views.publish, recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def views_publish(self, *, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(user_id)
        return {"ok": True}


def pages_of_a_process(engine: Any, clock: Clock) -> tuple[HomePages, Publishes, SurfaceDeps]:
    client = Publishes()
    deps = SurfaceDeps(
        rescheduler=Rescheduler(targets=[], deadline_seconds=1),
        dashboard_base="https://cloud.test",
        max_delay=timedelta(days=1),
        **services(home_views=HomeViews(engine, clock=clock)),
    )
    return HomePages(client, deps), client, deps  # type: ignore[arg-type]


def move(user_id: str, outcome: Outcome = Outcome.RESCHEDULED) -> AuditRecord:
    return AuditRecord(
        at=datetime.now(UTC),
        team_id="T1",
        user_id=user_id,
        channel_id="C1",
        surface="command",
        outcome=outcome,
        input="run_x 2h",
        run_id="run_x",
    )


async def settled(*deps: SurfaceDeps) -> None:
    """Until no look-up, refresh or write is left (conditions, not a fixed wait)."""
    for _ in range(1000):
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if not pending and not any(d.inflight.busy for d in deps):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("still busy")


async def test_a_move_recorded_by_another_process_refreshes_a_home_opened_through_this_one(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path}/home.sqlite3")
    try:
        await db.migrate(engine)
        clock = Clock()
        pages_a, published_a, deps_a = pages_of_a_process(engine, clock)
        pages_b, published_b, deps_b = pages_of_a_process(engine, clock)
        pages_a.opened("T1", "U1")  # opened through A
        await settled(deps_a, deps_b)
        assert published_a.calls == ["U1"]
        clock.now += REMEMBER_SECONDS - 60
        for _ in range(3):  # a burst of moves handled by B: one look-up, one publish
            await pages_b.after_record(move("U1"))
        await pages_b.after_record(move("U2"))  # never opened their Home: nothing to refresh
        await pages_b.after_record(move("U1", Outcome.FAILED))
        await settled(deps_a, deps_b)
        assert published_b.calls == ["U1"] and published_a.calls == ["U1"]
        clock.now += 120  # now opened more than REMEMBER_SECONDS ago
        pages_c, published_c, deps_c = pages_of_a_process(engine, clock)  # a process that never showed it
        await pages_c.after_record(move("U1"))
        await settled(deps_c)
        assert published_c.calls == []
        for pages in (pages_a, pages_b, pages_c):
            await pages.aclose()
    finally:
        await engine.dispose()


async def test_with_the_database_down_a_move_refreshes_the_homes_this_process_showed_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = db.create_engine(NOWHERE)
    try:
        pages, published, deps = pages_of_a_process(engine, Clock())
        with caplog.at_level(logging.INFO):
            pages.opened("T1", "U1")  # shown by this process (its open is not written: logged, not raised)
            await settled(deps)
            for user in ("U1", "U2", "U3", "U1"):
                await pages.after_record(move(user))
                await settled(deps)
        assert published.calls == ["U1", "U1", "U1"]  # the open, then each of U1's moves; U2 and U3 never opened
        warnings = [r for r in caplog.records if "database unavailable" in r.getMessage()]
        assert len(warnings) == 1 and all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)
        await pages.aclose()
    finally:
        await engine.dispose()


async def until(predicate: Any) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


class SlowViews:
    """The database's answers, one per read, each given when the test releases it."""

    def __init__(self, answers: list[float | None]) -> None:
        self.answers = answers
        self.reads = 0
        self.release = asyncio.Event()

    async def seconds_since_opened(self, team_id: str, user_id: str) -> float | None:
        self.reads += 1
        await self.release.wait()
        self.release.clear()
        return self.answers.pop(0)


async def test_moves_during_a_look_up_share_it_and_a_no_is_read_again_once_for_them() -> None:
    client = Publishes()
    views = SlowViews([None, 30.0, None])
    deps = SurfaceDeps(
        rescheduler=Rescheduler(targets=[], deadline_seconds=1),
        dashboard_base="https://cloud.test",
        max_delay=timedelta(days=1),
        **services(home_views=views),
    )
    pages = HomePages(client, deps)  # type: ignore[arg-type]
    await pages.after_record(move("U1"))
    await until(lambda: views.reads >= 1)
    for _ in range(3):  # moved again while the database is read: one more read covers them all
        await pages.after_record(move("U1"))
    views.release.set()  # no (the open had not landed yet)
    await until(lambda: views.reads >= 2)
    views.release.set()  # yes: opened 30 s ago
    await settled(deps)
    assert views.reads == 2 and client.calls == ["U1"]
    await pages.after_record(move("U2"))  # alone: a no is final
    await until(lambda: views.reads >= 3)
    views.release.set()
    await settled(deps)
    assert views.reads == 3 and client.calls == ["U1"]
    await pages.aclose()
