"""The shared writer of an engine (bot/storage/transactions.py), on real SQLite and real PostgreSQL: works queued
at the same moment share transactions and each gets its own answer; a work whose statement fails fails alone, the
others' writes landing; a database that cannot be reached fails every work of the batch. On a SQLite file a
transaction runs whole on the event loop, on a connection of its own to the same file, and in a worker thread
while another connection holds the file's write lock; an in-memory database (one
per connection) keeps to the asyncio engine's connection."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage import db
from bot.storage.db import seen_requests
from bot.storage.transactions import Transactions, shared

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOWHERE = "postgresql://postgres@127.0.0.1:9/nowhere"


def writing(key: str) -> Callable[[Connection], str]:
    def work(conn: Connection) -> str:
        conn.execute(insert(seen_requests).values(key=key, seen_at=AT))
        return key

    return work


async def keys(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(seen_requests.c.key))).scalars())


async def test_works_queued_at_once_share_transactions_and_each_gets_its_answer(engine: AsyncEngine) -> None:
    commits: list[int] = []
    writer = shared(engine)
    event.listen(writer.sync_engine, "commit", lambda _conn: commits.append(1))
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
    writer = Transactions(engine, linger=30.0)  # longer than the test: only the urgent work can end the wait
    event.listen(writer.sync_engine, "commit", lambda _conn: commits.append(1))
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


async def test_on_a_sqlite_file_a_transaction_runs_whole_on_the_event_loop_on_a_connection_of_its_own(
    tmp_path: Path,
) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    threads: list[threading.Thread] = []
    through_asyncio: list[object] = []
    writer = Transactions(engine)
    try:
        await db.migrate(engine)

        def work(conn: Connection) -> str:
            threads.append(threading.current_thread())
            return writing("k")(conn)

        def began(conn: object) -> None:
            through_asyncio.append(conn)

        event.listen(engine.sync_engine, "begin", began)
        assert await writer.run(work) == "k"
        event.remove(engine.sync_engine, "begin", began)
        assert await keys(engine) == ["k"]  # the asyncio engine reads what the writer wrote
    finally:
        await writer.aclose()
        await engine.dispose()
    assert threads == [threading.main_thread()]
    assert through_asyncio == []  # no transaction of the writer went through aiosqlite


async def test_while_another_connection_holds_the_write_lock_the_transaction_waits_for_it_in_a_worker_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite3"
    engine = db.create_engine(f"sqlite:///{path}")
    writer = Transactions(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    threads: list[threading.Thread] = []
    waiting = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        await db.migrate(engine)

        def work(conn: Connection) -> str:
            threads.append(threading.current_thread())
            if threading.current_thread() is not threading.main_thread():
                loop.call_soon_threadsafe(waiting.set)
            return writing("k")(conn)

        holder.execute("BEGIN IMMEDIATE")  # another process, in the middle of its own write
        answer = asyncio.ensure_future(writer.run(work))
        await asyncio.wait_for(waiting.wait(), timeout=10)  # the loop is free while the work waits for the lock
        assert not answer.done()
        holder.execute("COMMIT")
        assert await asyncio.wait_for(answer, timeout=10) == "k"
        assert await keys(engine) == ["k"]
    finally:
        holder.close()
        await writer.aclose()
        await engine.dispose()
    # Tried on the event loop first, where SQLite said at once that the file was locked, then again in a worker.
    assert len(threads) == 2 and threads[0] is threading.main_thread() and threads[1] is not threads[0]


async def test_a_statement_that_fails_for_another_reason_is_not_tried_again_in_a_worker_thread(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    writer = Transactions(engine)
    threads: list[threading.Thread] = []
    try:
        await db.migrate(engine)

        def work(conn: Connection) -> None:
            threads.append(threading.current_thread())
            conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

        with pytest.raises(OperationalError) as raised:
            await writer.run(work)
    finally:
        await writer.aclose()
        await engine.dispose()
    assert not db.locked(raised.value)
    assert threads == [threading.main_thread()]


async def test_an_in_memory_sqlite_database_is_written_through_the_asyncio_engines_own_connection() -> None:
    engine = db.create_engine("sqlite:///:memory:")
    try:
        await db.migrate(engine)
        writer = Transactions(engine)
        assert writer.sync_engine is engine.sync_engine
        assert list(await asyncio.gather(writer.run(writing("a")), writer.later(writing("b")))) == ["a", "b"]
        assert await keys(engine) == ["a", "b"]  # the same database: a connection of its own would be another one
    finally:
        await engine.dispose()
