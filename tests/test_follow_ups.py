"""The follow-up store on real SQLite and real PostgreSQL: due rows are claimed by exactly one claimer, a lease
holds a row until it expires, and only the holder's token changes a claimed row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.follow import KEEP
from bot.follow import Follow
from bot.slack.deps import SurfaceDeps
from bot.storage import db
from bot.storage.db import follow_ups
from bot.storage.follow_ups import Card, FollowRequest, FollowUps
from bot.storage.transactions import shared
from bot.trigger.errors import RunNotFound

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
RUN = "run_cm9k2x7ab000108l5ghf2d1qz"
CARD = Card(user_id="U111", previous=T0 - timedelta(hours=1), new=T0, at=T0 - timedelta(hours=2))


async def follow(store: FollowUps, ts: str, shown: datetime = T0, run: str = RUN, now: datetime = T0) -> None:
    await store.follow(request(ts, shown, run, now))


def request(ts: str, shown: datetime = T0, run: str = RUN, now: datetime = T0) -> FollowRequest:
    return FollowRequest("C111", ts, run, "prod", shown, CARD, shown + timedelta(seconds=30), now - timedelta(hours=1))


async def test_a_row_is_claimed_once_it_is_due_with_what_the_card_needs(engine: AsyncEngine) -> None:
    store = FollowUps(engine)
    await follow(store, "1.1")
    assert await store.claim(T0 + timedelta(seconds=29), 10) == []
    [item] = await store.claim(T0 + timedelta(seconds=30), 10)
    assert (item.channel, item.ts, item.run_id, item.environment) == ("C111", "1.1", RUN, "prod")
    assert (item.shown_until, item.shown_status, item.card) == (T0, "DELAYED", CARD)
    assert item.card.previous == T0 - timedelta(hours=1) and item.card.new.tzinfo is not None


async def test_a_claimed_row_is_held_until_its_lease_expires(engine: AsyncEngine) -> None:
    store = FollowUps(engine, lease=timedelta(minutes=2))
    await follow(store, "1.1")
    now = T0 + timedelta(minutes=1)
    [first] = await store.claim(now, 10)
    assert await store.claim(now + timedelta(minutes=1), 10) == []
    [again] = await store.claim(now + timedelta(minutes=2, seconds=1), 10)
    assert again.id == first.id and again.token != first.token
    await store.done(first)  # the first holder's lease ran out: its token changes nothing
    await store.rearm(first, now + timedelta(hours=5))
    assert [row["lease_token"] for row in await store.all()] == [again.token]
    await store.done(again)
    assert await store.all() == []


async def test_many_claimers_at_once_take_each_row_exactly_once(engine: AsyncEngine, database_url: str) -> None:
    others = [db.create_engine(database_url) for _ in range(3)] if engine.dialect.name == "postgresql" else [engine] * 3
    try:
        store = FollowUps(engine)
        for number in range(40):
            await follow(store, f"1.{number}")
        stores = [FollowUps(other) for other in others] * 3
        ids: list[int] = []
        for _ in range(40):  # rounds of nine claimers at once, until nothing is left to claim
            claimed = await asyncio.gather(*(one.claim(T0 + timedelta(minutes=1), 7) for one in stores))
            assert all(len(batch) <= 7 for batch in claimed)
            if not any(claimed):
                break
            ids += [item.id for batch in claimed for item in batch]
        assert len(ids) == len(set(ids)) == 40
    finally:
        if engine.dialect.name == "postgresql":
            for other in others:
                await other.dispose()


async def test_rearm_and_release_give_the_lease_back(engine: AsyncEngine) -> None:
    store = FollowUps(engine)
    await follow(store, "1.1")
    now = T0 + timedelta(minutes=1)
    [item] = await store.claim(now, 10)
    await store.release(item)
    [item] = await store.claim(now, 10)  # released: due again at once
    later = T0 + timedelta(hours=2)
    await store.rearm(item, later + timedelta(seconds=30), later, "DELAYED")
    assert await store.claim(now + timedelta(minutes=5), 10) == []
    [moved] = await store.claim(later + timedelta(seconds=30), 10)
    assert moved.shown_until == later


async def test_a_card_shown_again_replaces_its_row_and_other_cards_of_the_run_look_now(engine: AsyncEngine) -> None:
    store = FollowUps(engine)
    await follow(store, "1.1")
    await follow(store, "1.2", run="run_other0000000000000000001")
    later = T0 + timedelta(hours=3)
    await follow(store, "1.1", shown=later)  # a click on the same message: the same row, the new time
    await follow(store, "2.2", shown=later)  # another card of the run, showing the same new time
    rows = await store.all()
    assert [(row["ts"], row["run_id"] == RUN) for row in rows] == [("1.1", True), ("1.2", False), ("2.2", True)]
    await follow(store, "3.3", shown=later + timedelta(hours=1), now=T0)  # a card showing yet another time
    due_now = await store.claim(T0, 10)
    assert sorted(item.ts for item in due_now) == ["1.1", "2.2"]  # the run's other cards, not the other run


async def test_rows_long_past_their_time_are_dropped(engine: AsyncEngine) -> None:
    store = FollowUps(engine)
    await follow(store, "1.1", shown=T0 - KEEP - timedelta(minutes=1))
    await follow(store, "1.2", shown=T0 - KEEP + timedelta(minutes=1))
    assert await store.drop_stale(T0, KEEP) == 1
    assert [row["ts"] for row in await store.all()] == ["1.2"]


async def test_a_card_that_found_a_new_time_has_the_other_cards_of_its_run_look_now(engine: AsyncEngine) -> None:
    store = FollowUps(engine)
    later = T0 + timedelta(hours=3)
    far = T0 + timedelta(days=5)
    shown = {"1.1": T0, "1.2": later, "1.3": T0 + timedelta(days=1), "1.4": T0 + timedelta(days=2)}
    for ts, when in shown.items():
        await follow(store, ts, shown=when, run="run_other0000000000000000001" if ts == "1.3" else RUN)
    for item in await store.claim(far, 10):  # settled: 1.1 due now, every other row far ahead
        await store.rearm(item, T0 if item.ts == "1.1" else far, shown[item.ts], "DELAYED")
    now = T0 + timedelta(minutes=1)
    [first] = await store.claim(now, 10)
    assert first.ts == "1.1"
    await store.rearm(first, later + timedelta(seconds=30), later, "DELAYED")
    await store.refresh_others(first, later, now)
    assert [item.ts for item in await store.claim(now, 10)] == ["1.4"]  # not 1.2 (same time), not the other run


async def test_an_unreadable_row_is_dropped_and_the_others_are_claimed(engine: AsyncEngine) -> None:
    store = FollowUps(engine)
    await follow(store, "1.1")
    await follow(store, "1.2", run="run_other0000000000000000001")
    async with engine.begin() as conn:
        await conn.execute(update(follow_ups).where(follow_ups.c.ts == "1.1").values(card='{"user_id": 3}'))
    assert [item.ts for item in await store.claim(T0 + timedelta(minutes=1), 10)] == ["1.2"]
    assert [row["ts"] for row in await store.all()] == ["1.2"]


async def test_cards_followed_meanwhile_are_written_together_off_the_callers_path(engine: AsyncEngine) -> None:
    store = FollowUps(engine)
    transactions: list[object] = []

    def began(connection: object) -> None:
        transactions.append(connection)

    event.listen(shared(engine).sync_engine, "begin", began)
    store.follow_soon(request("1.5"))  # returns at once: the write runs in a task of its own
    store.follow_soon(request("1.6"))
    await store.flush(timeout=5.0)
    event.remove(shared(engine).sync_engine, "begin", began)
    assert len(transactions) == 1  # both cards in one transaction
    claimed = await store.claim(T0 + timedelta(days=1), 10)
    assert sorted(row.ts for row in claimed) == ["1.5", "1.6"]


async def test_a_batch_writes_each_card_once_as_last_queued_in_one_statement(engine: AsyncEngine) -> None:
    """A card queued twice in one batch (clicked twice quickly) is one row showing its last time; the batch's
    cards are one INSERT, and the run's other cards look again at once."""
    store = FollowUps(engine)
    await follow(store, "0.9")  # an older card of the run, showing T0
    later = T0 + timedelta(hours=2)
    statements: list[str] = []

    def executed(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(shared(engine).sync_engine, "before_cursor_execute", executed)
    for ts, shown in (("1.1", T0 + timedelta(hours=1)), ("1.2", later), ("1.1", later)):
        store.follow_soon(request(ts, shown=shown, now=T0))
    await store.flush(timeout=5.0)
    event.remove(shared(engine).sync_engine, "before_cursor_execute", executed)
    assert sum(statement.lstrip().upper().startswith("INSERT") for statement in statements) == 1
    rows = {row["ts"]: row for row in await store.all()}
    assert sorted(rows) == ["0.9", "1.1", "1.2"]
    assert rows["1.1"]["shown_until"].replace(tzinfo=UTC) == later
    assert [item.ts for item in await store.claim(T0, 10)] == ["0.9"]  # the old card looks now, the new ones later


async def test_a_batch_is_two_statements_and_only_other_cards_showing_another_time_look_again(
    engine: AsyncEngine,
) -> None:
    """Whatever the batch, it costs one INSERT and one UPDATE (a parameter row per run): the usual move's run has
    no other card, and the one run with an older card has that card look again at once."""
    store = FollowUps(engine)
    other = "run_other0000000000000000001"
    await follow(store, "0.9", run=other)  # an older card of `other`, showing T0
    later = T0 + timedelta(hours=2)
    statements: list[str] = []

    def executed(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.lstrip().upper())

    event.listen(shared(engine).sync_engine, "before_cursor_execute", executed)
    for ts, run in (("1.1", RUN), ("1.2", "run_third0000000000000000001"), ("1.3", other)):
        store.follow_soon(request(ts, shown=later, run=run, now=T0))
    await store.flush(timeout=5.0)
    event.remove(shared(engine).sync_engine, "before_cursor_execute", executed)
    assert [statement.split()[0] for statement in statements] == ["INSERT", "UPDATE"]
    assert [item.ts for item in await store.claim(T0, 10)] == ["0.9"]


async def test_a_failed_background_write_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    engine = db.create_engine("postgresql://postgres@127.0.0.1:9/nowhere")  # a database that is not there
    try:
        store = FollowUps(engine)
        store.follow_soon(request("1.5"))
        await store.flush(timeout=10.0)
        assert f"the card C111/1.5 will not follow run {RUN}" in caplog.text
    finally:
        await engine.dispose()


async def test_cards_claimed_by_a_loop_stopped_at_shutdown_are_given_back_and_a_settled_one_is_left(
    engine: AsyncEngine,
) -> None:
    """The loop is cancelled while Trigger.dev hangs on reading one run: its card is due again for the next process
    at once; the card of the other run, settled before the stop, stays as it was settled."""
    store = FollowUps(engine)
    other = "run_cm9k2x7ab000108l5ghf2d1qy"
    await follow(store, "1.1")
    await follow(store, "2.2", run=other)
    reading = asyncio.Event()

    class Client:
        async def retrieve_run(self, run_id: str, deadline: object) -> object:
            if run_id == other:
                raise RunNotFound(run_id)  # this card stops following: settled
            reading.set()
            await asyncio.Event().wait()  # Trigger.dev never answers
            raise AssertionError("unreachable")

    target = SimpleNamespace(client=Client())
    rescheduler = SimpleNamespace(target_named=lambda name: target, deadline=lambda: None)
    deps = cast(SurfaceDeps, SimpleNamespace(rescheduler=rescheduler))
    due = T0 + timedelta(minutes=1)
    loop = Follow(deps, cast(AsyncWebClient, None), store, poll_seconds=60, clock=lambda: due)
    task = asyncio.create_task(loop.run())
    await reading.wait()
    async with asyncio.timeout(10):  # the other run's card is settled (its row deleted) before the stop
        while len(await store.all()) > 1:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await store.claim(due, 10) == []  # held by the stopped loop
    await loop.give_back()
    [again] = await store.claim(due, 10)
    assert (again.ts, again.run_id) == ("1.1", RUN)
    assert [row["ts"] for row in await store.all()] == ["1.1"]  # the settled card's row is gone, not given back
