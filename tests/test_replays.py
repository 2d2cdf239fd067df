"""The replay guard: a trigger_id is acted on once, across processes sharing the database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.storage import db
from bot.storage.replays import REMEMBER_SECONDS, ReplayGuard
from tests import dbs


async def check_once_per_key(url: str) -> None:
    first_engine, second_engine = db.create_engine(url), db.create_engine(url)
    try:
        await db.migrate(first_engine)
        now = [1_800_000_000.0]
        one, other = ReplayGuard(first_engine, lambda: now[0]), ReplayGuard(second_engine, lambda: now[0])
        assert await one.first_time("111.222.aaa") is True
        assert await one.first_time("111.222.aaa") is False  # the same process
        assert await other.first_time("111.222.aaa") is False  # another process, through the database
        assert await other.first_time("111.222.bbb") is True
        # Long after the signature window, old claims are pruned by the next claim.
        now[0] += REMEMBER_SECONDS + 120
        assert await other.first_time("111.222.ccc") is True
        fresh = ReplayGuard(first_engine, lambda: now[0])
        assert await fresh.first_time("111.222.aaa") is True
    finally:
        await first_engine.dispose()
        await second_engine.dispose()


async def test_a_key_is_claimed_once_across_guards_on_sqlite(tmp_path: Path) -> None:
    await check_once_per_key(f"sqlite:///{tmp_path}/replays.sqlite3")


@pytest.fixture
def postgres() -> str:
    url = dbs.postgres_url()
    asyncio.run(dbs.reset(url))
    return url


async def test_a_key_is_claimed_once_across_guards_on_postgresql(postgres: str) -> None:
    await check_once_per_key(postgres)


async def test_without_a_database_the_guard_still_catches_copies_in_this_process() -> None:
    engine = db.create_engine("postgresql://nobody@127.0.0.1:9/none")
    try:
        guard = ReplayGuard(engine)
        assert await guard.first_time("k1") is True  # the database is down: the request goes on
        assert await guard.first_time("k1") is False
    finally:
        await engine.dispose()


async def check_concurrent_claims(url: str) -> None:
    engines = [db.create_engine(url), db.create_engine(url)]
    try:
        await db.migrate(engines[0])
        guards = [ReplayGuard(engine) for engine in engines]
        keys = [f"key-{n % 20}" for n in range(60)]  # each key claimed three times, by both guards, all at once
        results = await asyncio.gather(*(guards[n % 2].first_time(key) for n, key in enumerate(keys)))
        firsts = [key for key, first in zip(keys, results, strict=True) if first]
        assert sorted(firsts) == sorted(set(keys))  # every key is new exactly once
    finally:
        for engine in engines:
            await engine.dispose()


async def test_claims_made_at_once_are_batched_and_each_key_is_first_once_on_sqlite(tmp_path: Path) -> None:
    await check_concurrent_claims(f"sqlite:///{tmp_path}/replays.sqlite3")


async def test_claims_made_at_once_are_batched_and_each_key_is_first_once_on_postgresql(postgres: str) -> None:
    await check_concurrent_claims(postgres)


async def test_a_claim_the_database_cannot_take_strands_no_one_in_its_batch(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path}/replays.sqlite3")
    try:
        await db.migrate(engine)
        guard = ReplayGuard(engine)
        results = await asyncio.wait_for(
            asyncio.gather(guard.first_time("legit"), guard.first_time("x\ud800"), guard.first_time("other")), 5
        )
        assert list(results) == [True, True, True]
        assert await guard.first_time("legit") is False
    finally:
        await engine.dispose()


async def test_a_slow_database_does_not_hold_a_request_past_the_claims_wait(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path}/replays.sqlite3"
    engine = db.create_engine(url)
    await db.migrate(engine)
    locker = sqlite3.connect(tmp_path / "replays.sqlite3")
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the file: the claim's write waits for it
    try:
        guard = ReplayGuard(engine, wait_seconds=0.2)
        assert await guard.first_time("trigger-1") is True  # the request goes on, checked in this process
        assert await guard.first_time("trigger-1") is False  # and a copy reaching this process is still refused
    finally:
        locker.rollback()
        locker.close()
        await asyncio.sleep(0)
        await engine.dispose()


async def test_closing_waits_for_claims_being_written_and_abandons_a_write_that_hangs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    written: list[list[str]] = []
    gate = asyncio.Event()

    class SlowGuard(ReplayGuard):
        async def _insert(self, engine: Any, keys: list[str]) -> set[str]:
            await gate.wait()
            written.append(keys)
            return set(keys)

    guard = SlowGuard(db.create_engine("sqlite://"), wait_seconds=0.01)
    assert await guard.first_time("k1") is True  # gave up waiting; the write goes on
    asyncio.get_running_loop().call_later(0.05, gate.set)
    await guard.aclose(timeout=2.0)
    assert written == [["k1"]]

    gate.clear()
    assert await guard.first_time("k2") is True
    await guard.aclose(timeout=0.05)
    assert written == [["k1"]] and "claims not written before shutdown" in caplog.text
    await guard.aclose(timeout=0.05)  # nothing left to wait for
    assert guard.engine is not None
    await guard.engine.dispose()
