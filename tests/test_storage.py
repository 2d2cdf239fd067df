"""The audit store on real SQLite and real PostgreSQL, through the same code; and what happens when it is down."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.audit import AuditRecord, Outcome
from bot.storage import db
from bot.storage.audit import AuditLog, AuditUnavailable

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def record(minutes: int, **fields: object) -> AuditRecord:
    base: dict[str, object] = {
        "at": T0 + timedelta(minutes=minutes),
        "team_id": "T111",
        "user_id": "U111",
        "channel_id": "C111",
        "surface": "command",
        "outcome": Outcome.RESCHEDULED,
        "input": "run_cm9k2x7ab000108l5ghf2d1qz 2h",
        "environment": "prod",
        "run_id": "run_cm9k2x7ab000108l5ghf2d1qz",
        "task": "send-reminder",
        "previous_time": T0,
        "new_time": T0 + timedelta(hours=2),
    }
    base.update(fields)
    return AuditRecord(**base)  # type: ignore[arg-type]


def test_async_url_picks_the_async_drivers() -> None:
    assert db.async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert db.async_url("postgresql://u:p@h:5432/d") == "postgresql+asyncpg://u:p@h:5432/d"
    assert db.async_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    with pytest.raises(ValueError, match="DATABASE_URL"):
        db.async_url("mysql://u@h/d")


async def test_migrate_creates_the_schema_and_is_idempotent(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        assert await db.migrate(engine) == db.LATEST
        assert await db.migrate(engine) == db.LATEST
    finally:
        await engine.dispose()


async def test_records_round_trip_and_history_is_newest_first(database_url: str) -> None:
    engine = db.create_engine(database_url)
    await db.migrate(engine)
    audit = AuditLog(engine)
    try:
        audit.record(record(0))
        audit.record(record(1, outcome=Outcome.REFUSED, new_time=None, error="refused in prod"))
        audit.record(record(2, user_id="U222", run_id="run_otherotherotherotherother1"))
        await audit.flush()
        mine = await audit.for_user("T111", "U111")
        assert [r.outcome for r in mine] == [Outcome.REFUSED, Outcome.RESCHEDULED]
        assert mine[1] == record(0)
        assert mine[0].error == "refused in prod" and mine[0].new_time is None
        on_run = await audit.for_run("run_cm9k2x7ab000108l5ghf2d1qz")
        assert len(on_run) == 2 and all(r.at.tzinfo is not None for r in on_run)
        assert await audit.for_user("T999", "U111") == []
    finally:
        await engine.dispose()


async def test_unavailable_database_retries_then_logs_the_whole_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = db.create_engine("postgresql://postgres@127.0.0.1:9/nowhere")
    waits: list[float] = []
    seen: list[AuditRecord] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def listener(entry: AuditRecord) -> None:
        seen.append(entry)

    audit = AuditLog(engine, listeners=[listener], retry_waits=(0.2, 1.0), sleep=sleep)
    try:
        with caplog.at_level(logging.WARNING):
            audit.record(record(0))
            await audit.flush()
        assert waits[:2] == [0.2, 1.0] and set(waits[2:]) <= {30.0}  # then the back-fill's waits, until flushed
        assert audit._backfill is None  # stopped by the flush: nothing keeps writing after shutdown
        fallback = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit_fallback ")]
        assert len(fallback) == 1
        assert '"run_id": "run_cm9k2x7ab000108l5ghf2d1qz"' in fallback[0] and '"outcome": "rescheduled"' in fallback[0]
        assert seen == [record(0)]
        with pytest.raises(AuditUnavailable):
            await audit.for_user("T111", "U111")
    finally:
        await engine.dispose()


async def test_long_inputs_are_bounded(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path}/a.sqlite3")
    await db.migrate(engine)
    audit = AuditLog(engine)
    try:
        audit.record(record(0, input="x" * 10_000))
        await audit.flush()
        [stored] = await audit.for_user("T111", "U111")
        assert len(stored.input) == 2000
    finally:
        await engine.dispose()


async def test_flush_with_a_deadline_logs_what_is_still_unwritten(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    engine = db.create_engine("postgresql://postgres@127.0.0.1:9/nowhere")

    async def slow(seconds: float) -> None:
        await asyncio.sleep(3600)

    audit = AuditLog(engine, retry_waits=(1.0,), sleep=slow)
    try:
        with caplog.at_level(logging.ERROR):
            audit.record(record(0))
            await audit.flush(timeout=0.5)
        fallback = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit_fallback ")]
        assert len(fallback) == 1 and '"run_id": "run_cm9k2x7ab000108l5ghf2d1qz"' in fallback[0]
    finally:
        await engine.dispose()


async def test_a_record_the_database_cannot_take_does_not_lose_the_others_in_its_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime

    from bot.domain.audit import AuditRecord, Outcome
    from bot.storage import db
    from bot.storage.audit import AuditLog

    engine = db.create_engine(f"sqlite:///{tmp_path}/audit.sqlite3")
    try:
        await db.migrate(engine)
        audit = AuditLog(engine)
        at = datetime.now(UTC)
        good = AuditRecord(
            at=at,
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            surface="command",
            outcome=Outcome.RESCHEDULED,
            run_id="run_good",
        )
        bad = AuditRecord(
            at=at,
            team_id="T1",
            user_id="U\ud800",
            channel_id="C1",
            surface="command",
            outcome=Outcome.RESCHEDULED,
            run_id="run_bad",
        )
        with caplog.at_level("WARNING"):
            audit.record(good)
            audit.record(bad)
            audit.record(good)
            await audit.flush(5)
        assert [r.run_id for r in await audit.for_run("run_good")] == ["run_good", "run_good"]
        assert sum("audit_fallback" in line and "run_bad" in line for line in caplog.text.splitlines()) == 1
    finally:
        await engine.dispose()


async def test_records_logged_through_an_outage_are_stored_once_the_database_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    folder = tmp_path / "not-yet"  # SQLite cannot open a file in a folder that does not exist: unavailable
    engine = db.create_engine(f"sqlite:///{folder}/audit.sqlite3")
    back = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if seconds == 30.0:  # the back-fill's wait: the database returns meanwhile
            await back.wait()

    audit = AuditLog(engine, retry_waits=(0.0,), sleep=sleep, backfill_seconds=30.0)
    try:
        with caplog.at_level(logging.INFO):
            audit.record(record(0))
            audit.record(record(1))
            for _ in range(200):
                if sum(r.getMessage().startswith("audit_fallback ") for r in caplog.records) == 2:
                    break
                await asyncio.sleep(0.01)
            folder.mkdir()
            await db.migrate(engine)
            back.set()
            for _ in range(200):  # the database says when the back-fill has stored them
                if len(await audit.for_user("T111", "U111")) == 2:
                    break
                await asyncio.sleep(0.01)
        stored = await audit.for_user("T111", "U111")
        assert len(stored) == 2  # each once, although each is also in the log as audit_fallback
        assert sum(r.getMessage().startswith("audit_fallback ") for r in caplog.records) == 2
        await audit.flush()
        assert len(await audit.for_user("T111", "U111")) == 2
    finally:
        await engine.dispose()


async def test_records_held_through_an_outage_are_stored_as_soon_as_the_database_is_known_to_be_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The schema is created when the database comes back: the held records follow at once, not at the next
    back-fill tick (which never comes here)."""
    import asyncio

    folder = tmp_path / "not-yet"
    engine = db.create_engine(f"sqlite:///{folder}/audit.sqlite3")
    never = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if seconds == 30.0:
            await never.wait()

    audit = AuditLog(engine, retry_waits=(0.0,), sleep=sleep, backfill_seconds=30.0)
    try:
        with caplog.at_level(logging.INFO):
            audit.record(record(0))
            for _ in range(200):
                if any(r.getMessage().startswith("audit_fallback ") for r in caplog.records):
                    break
                await asyncio.sleep(0.01)
            folder.mkdir()
            await db.migrate(engine)
            audit.database_back()
            for _ in range(200):  # the database says when the back-fill has stored it
                if len(await audit.for_user("T111", "U111")) == 1:
                    break
                await asyncio.sleep(0.01)
        assert len(await audit.for_user("T111", "U111")) == 1
        await audit.flush()
    finally:
        await engine.dispose()


async def test_stopping_the_back_fill_leaves_no_wait_pending(tmp_path: Path) -> None:
    import asyncio

    engine = db.create_engine(f"sqlite:///{tmp_path}/not-yet/audit.sqlite3")
    audit = AuditLog(engine, retry_waits=(0.0,), backfill_seconds=30.0)
    try:
        audit.record(record(0))
        for _ in range(200):
            if audit._held:  # the database refused it: held for the back-fill, which now waits
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        await audit.flush()
        assert asyncio.all_tasks() == {asyncio.current_task()}
    finally:
        await engine.dispose()
