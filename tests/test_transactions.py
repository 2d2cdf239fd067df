"""The shared writer of an engine (bot/storage/transactions.py), on real SQLite and real PostgreSQL: works queued
at the same moment share transactions and each gets its own answer; a work whose statement fails fails alone, the
others' writes landing; a database that cannot be reached fails every work of the batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage import db
from bot.storage.db import seen_requests
from bot.storage.transactions import Transactions, shared

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOWHERE = "postgresql://postgres@127.0.0.1:9/nowhere"


def writing(key: str) -> Callable[[AsyncConnection], Awaitable[str]]:
    async def work(conn: AsyncConnection) -> str:
        await conn.execute(insert(seen_requests).values(key=key, seen_at=AT))
        return key

    return work


async def keys(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(seen_requests.c.key))).scalars())


async def test_works_queued_at_once_share_transactions_and_each_gets_its_answer(engine: AsyncEngine) -> None:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append(1))
    writer = shared(engine)
    assert shared(engine) is writer  # one writer per engine, whichever store asks
    answers = await asyncio.gather(*(writer.run(writing(f"k{n:02d}")) for n in range(30)))
    assert answers == [f"k{n:02d}" for n in range(30)]
    assert await keys(engine) == [f"k{n:02d}" for n in range(30)]
    assert 1 <= len(commits) < 30  # a burst costs a few transactions, not one per work


async def test_a_work_whose_statement_fails_fails_alone_and_the_others_land(engine: AsyncEngine) -> None:
    writer = Transactions(engine)
    await writer.run(writing("taken"))
    results = await asyncio.gather(
        writer.run(writing("a")),
        writer.run(writing("taken")),  # its key is there already
        writer.run(writing("b")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], IntegrityError)
    assert await keys(engine) == ["a", "b", "taken"]


async def test_a_database_that_cannot_be_reached_fails_every_work_of_the_batch() -> None:
    engine = db.create_engine(NOWHERE)
    try:
        writer = Transactions(engine)
        results = await asyncio.gather(
            *(writer.run(writing(f"k{n}")) for n in range(5)),
            return_exceptions=True,
        )
    finally:
        await engine.dispose()
    assert len(results) == 5
    assert all(isinstance(result, SQLAlchemyError | OSError) for result in results), results


async def test_work_that_may_wait_goes_with_the_next_urgent_work_in_one_transaction(engine: AsyncEngine) -> None:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append(1))
    writer = Transactions(engine, linger=30.0)  # longer than the test: only the urgent work can end the wait
    waiting = [asyncio.ensure_future(writer.later(writing(f"record{n}"))) for n in range(3)]
    await asyncio.sleep(0)  # the writer has started its wait
    assert await asyncio.wait_for(writer.run(writing("move")), timeout=10) == "move"
    assert await asyncio.wait_for(asyncio.gather(*waiting), timeout=10) == ["record0", "record1", "record2"]
    assert len(commits) == 1
    assert await keys(engine) == ["move", "record0", "record1", "record2"]


async def test_work_that_may_wait_alone_is_written_once_the_linger_is_over(engine: AsyncEngine) -> None:
    writer = Transactions(engine, linger=0.01)
    assert await asyncio.wait_for(writer.later(writing("record")), timeout=10) == "record"
    assert await keys(engine) == ["record"]
