"""The stores of durable work on SQLite and PostgreSQL: moves written down before their request, confirmed sets with a
row per run, and channel messages to update when Slack is back. Each row is held by one process at a time (a lease),
given back at shutdown, and taken by another process when its lease runs out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.message_fixes import MessageFixes
from bot.storage import db
from bot.storage.bulk_sets import BulkSets
from bot.storage.intents import Intent, MoveIntents
from bot.storage.message_updates import MessageUpdates
from bot.storage.set_work import DONE, PENDING, SENDING, SetRun, SetWorks
from bot.storage.transactions import shared

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
NOWHERE = "postgresql://postgres@127.0.0.1:9/nowhere"
ACTOR = {"user_id": "U111", "team_id": "T111", "channel_id": "C111", "surface": "command"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def test_a_move_written_down_is_taken_by_another_process_only_once_its_lease_ran_out(engine: AsyncEngine) -> None:
    clock = Clock()
    mine, theirs = MoveIntents(engine, LEASE, clock), MoveIntents(engine, LEASE, clock)
    intent = Intent("run_a", "prod", "task", T0 + timedelta(hours=1), T0 + timedelta(hours=3), ACTOR)
    held = await mine.open(intent)
    assert await theirs.claim(clock.now + timedelta(seconds=29), 10) == []  # still held by the process sending it
    [taken] = await theirs.claim(clock.now + timedelta(seconds=31), 10)  # that process died: its lease ran out
    assert taken.intent == intent and taken.id == held.id
    assert await theirs.claim(clock.now + timedelta(seconds=32), 10) == []  # one taker at a time
    await mine.close(held)  # the dead process's token no longer holds it: nothing happens
    assert len(await mine.all()) == 1
    await theirs.close(taken)
    assert await mine.all() == []


async def test_a_move_cut_off_at_shutdown_is_given_back_at_once_and_one_settled_is_forgotten(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    store = MoveIntents(engine, LEASE, clock)
    cut = await store.open(Intent("run_a", "prod", None, None, None, ACTOR))
    settled = await store.open(Intent("run_b", "prod", None, None, T0, ACTOR))
    await store.release(cut)
    await store.close(settled)
    [taken] = await store.claim(clock.now, 10)
    assert taken.intent.run_id == "run_a" and taken.intent.new is None and taken.intent.actor == ACTOR
    await store.release(taken, timedelta(seconds=30))  # could not be read back: again in 30 s
    assert await store.claim(clock.now + timedelta(seconds=10), 10) == []
    assert len(await store.claim(clock.now + timedelta(seconds=31), 10)) == 1


async def test_moves_written_down_at_once_share_transactions_and_each_is_held_and_forgotten_on_its_own(
    engine: AsyncEngine,
) -> None:
    commits: list[int] = []
    event.listen(shared(engine).sync_engine, "commit", lambda _conn: commits.append(1))
    clock = Clock()
    store = MoveIntents(engine, LEASE, clock)
    intents = [Intent(f"run_{n}", "prod", "task", T0, T0 + timedelta(hours=n), ACTOR) for n in range(30)]
    held = await asyncio.gather(*(store.open(intent) for intent in intents))
    assert [item.intent for item in held] == intents  # each caller gets its own row back
    assert len({item.id for item in held}) == 30 and len({item.token for item in held}) == 30
    assert len(commits) < 30  # a burst costs a few transactions, not one per move
    opened = len(commits)
    await asyncio.gather(*(store.close(item) for item in held[:20]))
    assert len(commits) - opened < 20
    assert sorted(row["run_id"] for row in await store.all()) == sorted(f"run_{n}" for n in range(20, 30))
    [alone] = [item for item in held if item.intent.run_id == "run_25"]
    await store.close(alone)  # a lone caller waits for its own transaction
    assert "run_25" not in {row["run_id"] for row in await store.all()}


async def test_settled_moves_are_forgotten_off_the_path_and_the_last_ones_at_shutdown(engine: AsyncEngine) -> None:
    store = MoveIntents(engine, LEASE, Clock())
    held = [await store.open(Intent(f"run_{n}", "prod", None, None, None, ACTOR)) for n in range(3)]
    for item in held[:2]:
        store.forget_soon(item)  # returns at once: the rows go with the next transaction
    await store.flush(5)  # at shutdown: what is being forgotten is written first
    assert [row["run_id"] for row in await store.all()] == ["run_2"]


async def test_a_batch_the_database_cannot_take_is_refused_to_each_of_its_callers() -> None:
    engine = db.create_engine(NOWHERE)  # nothing listens there: the batch's transaction cannot start
    try:
        store = MoveIntents(engine, LEASE, Clock())
        results = await asyncio.gather(
            *(store.open(Intent(f"run_{n}", "prod", None, None, None, ACTOR)) for n in range(5)),
            return_exceptions=True,
        )
    finally:
        await engine.dispose()
    assert len(results) == 5 and all(isinstance(result, SQLAlchemyError | OSError) for result in results), results


async def test_a_set_is_held_by_its_process_given_back_at_shutdown_and_carried_on_with_each_runs_state(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    first, second = SetWorks(engine, LEASE, clock), SetWorks(engine, LEASE, clock)
    when = T0 + timedelta(hours=3)
    runs = [SetRun(position, f"run_{position}", "prod") for position in range(3)]
    held = await first.create(ACTOR, when, runs, thread_ts="1700.1")
    await first.summary_posted(held, "C111", "1700.2")
    assert await second.claim(clock.now) is None  # held by the process that took the Confirm
    assert await first.renew(held)
    await first.sending(held.id, "run_0", T0)
    done = SetRun(0, "run_1", "", outcome="moved", env_title="Prod", previous=T0, new=when)
    await first.done(held.id, done)
    await first.release(held)  # a deploy: the run in flight stays `sending`, read back by whoever carries it on
    taken = await second.claim(clock.now)
    assert taken is not None and taken.id == held.id and taken.actor == ACTOR and taken.when == when
    assert (taken.summary_channel, taken.summary_ts, taken.thread_ts, taken.total) == ("C111", "1700.2", "1700.1", 3)
    assert [(run.run_id, run.state) for run in taken.runs] == [("run_0", SENDING), ("run_1", DONE), ("run_2", PENDING)]
    assert taken.runs[0].previous == T0 and taken.runs[1].new == when and taken.runs[1].env_title == "Prod"
    assert not await first.renew(held)  # the first process's token no longer holds it
    assert await second.claim(clock.now) is None
    await second.pending(taken.id, "run_0")
    await second.finish(taken)
    assert await second.all() == [] and await second.all_runs() == []


async def test_a_set_whose_process_died_is_taken_when_its_lease_runs_out_with_an_undos_times(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    store = SetWorks(engine, LEASE, clock)
    back, given = T0 + timedelta(hours=1), T0 + timedelta(hours=5)
    await store.create(ACTOR, None, [SetRun(0, "run_a", "prod", back=back, given=given)])
    assert await store.claim(clock.now + timedelta(seconds=29)) is None
    taken = await store.claim(clock.now + timedelta(seconds=31))
    assert taken is not None and taken.when is None
    assert (taken.runs[0].back, taken.runs[0].given) == (back, given)


async def test_the_newest_state_of_a_message_wins_and_one_shown_is_forgotten(engine: AsyncEngine) -> None:
    clock = Clock()
    store = MessageUpdates(engine, LEASE, clock)
    await store.want("C111", "1700.1", "0 done so far", [{"type": "section"}], "service_unavailable")
    await store.want("C111", "1700.1", "100 done.", None, "service_unavailable")
    await store.want("C111", "1700.9", "other", None, "ratelimited")
    claimed = await store.claim(clock.now, 10)
    assert sorted((item.ts, item.text) for item in claimed) == [("1700.1", "100 done."), ("1700.9", "other")]
    assert await store.claim(clock.now, 10) == []  # held
    first = next(item for item in claimed if item.ts == "1700.1")
    await store.want("C111", "1700.1", "newer still", None, "service_unavailable")  # asked for while being shown
    await store.done(first)  # what was shown is not the newest: kept, given back
    [again] = await store.claim(clock.now, 10)
    assert again.text == "newer still"
    await store.rearm(again, clock.now + timedelta(seconds=10))
    assert await store.claim(clock.now + timedelta(seconds=5), 10) == []
    [later] = await store.claim(clock.now + timedelta(seconds=11), 10)
    assert later.attempts == 1
    await store.done(later)
    await store.forget("C111", "1700.9")
    assert await store.all() == []


async def test_messages_claimed_by_a_loop_stopped_at_shutdown_are_given_back_at_once(engine: AsyncEngine) -> None:
    """The loop is cancelled while Slack hangs on the first chat.update: that message and the one claimed with it
    are due again for the next process at once, not when their lease runs out."""
    clock, updating = Clock(), asyncio.Event()
    store = MessageUpdates(engine, LEASE, clock)
    for ts in ("1700.1", "1700.2"):
        await store.want("C111", ts, f"state of {ts}", None, "service_unavailable")

    class Hanging:
        async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
            updating.set()
            await asyncio.Event().wait()  # Slack never answers
            raise AssertionError("unreachable")

    fixes = MessageFixes(cast(AsyncWebClient, Hanging()), store, poll_seconds=0.01, clock=clock)
    task = asyncio.create_task(fixes.run())
    await updating.wait()
    fixes.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await store.claim(clock.now, 10) == []  # both still held by the stopped loop
    await fixes.give_back()
    assert sorted(item.ts for item in await store.claim(clock.now, 10)) == ["1700.1", "1700.2"]


async def test_an_undo_set_keeps_the_time_the_move_gave_each_run(engine: AsyncEngine) -> None:
    sets = BulkSets(engine)
    back = [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    given = [T0 + timedelta(hours=5), None]  # the second: not known (a set kept before this was recorded)
    added = await sets.add("U111", "T111", [("run_a", "prod"), ("run_b", "prod")], None, back, given=given)
    taken = await BulkSets(engine).take(added.key)  # another process takes the Undo
    assert taken is not None and taken.back == tuple(back) and taken.given == tuple(given)
