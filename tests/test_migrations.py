"""Schema upgrades keep what is stored: a database at an older version gains the new columns and tables."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bot.storage import db
from bot.storage.audit import AuditLog
from tests import dbs

VERSION_2_AUDIT = """
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY, at TIMESTAMP WITH TIME ZONE NOT NULL,
    team_id VARCHAR(32) NOT NULL, user_id VARCHAR(32) NOT NULL, channel_id VARCHAR(32),
    surface VARCHAR(16) NOT NULL, environment VARCHAR(64), run_id VARCHAR(64), task VARCHAR(255),
    previous_time TIMESTAMP WITH TIME ZONE, new_time TIMESTAMP WITH TIME ZONE,
    input TEXT NOT NULL, outcome VARCHAR(32) NOT NULL, error TEXT
)"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/old.sqlite3"
    found = dbs.postgres_url()
    asyncio.run(dbs.reset(found))
    return found


async def test_a_version_2_database_is_upgraded_and_keeps_its_rows(url: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(VERSION_2_AUDIT))
            await conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO schema_version VALUES (2)"))
            await conn.execute(
                text(
                    "INSERT INTO audit_events (id, at, team_id, user_id, surface, input, outcome, run_id) "
                    "VALUES (1, :at, 'T1', 'U1', 'command', 'x', 'rescheduled', 'run_a')"
                ),
                {"at": datetime(2026, 11, 1, tzinfo=UTC)},
            )
        assert await db.migrate(engine) == db.LATEST == db.MIGRATIONS[-1][0]
        assert await db.migrate(engine) == db.LATEST  # again: nothing to do, nothing broken
        [record] = await AuditLog(engine).for_run("run_a")
        assert (record.user_id, record.user_team_id, record.enterprise_id) == ("U1", None, None)
        assert record.request_id is None  # rows from before migration 8 have no request id
    finally:
        await engine.dispose()


async def test_migration_8_adds_the_request_id_once_even_when_the_column_is_there(url: str) -> None:
    engine = db.create_engine(url)
    try:
        assert await db.migrate(engine) == db.LATEST
        async with engine.begin() as conn:  # as if a later step were to run again over an upgraded table
            await conn.execute(text("UPDATE schema_version SET version = 5"))
        assert await db.migrate(engine) == db.LATEST
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("audit_events")])
        assert columns.count("request_id") == 1
    finally:
        await engine.dispose()


async def test_several_processes_migrating_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.sqlite3"
    engines = [db.create_engine(url) for _ in range(4)]
    try:
        versions = await asyncio.gather(*(db.migrate(engine) for engine in engines))
        assert versions == [db.LATEST] * 4
    finally:
        for engine in engines:
            await engine.dispose()
