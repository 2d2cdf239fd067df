"""The schema is Alembic's revisions: an empty database migrated by them matches the tables the code uses (the drift
check), a database built before the revisions is upgraded in place and keeps its rows, and migrators racing each
other leave one schema."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage import db
from bot.storage.audit import AuditLog
from bot.storage.home_views import HomeViews

OLD_SCHEMA = Path(__file__).parent / "data" / "schema_version_10"

VERSION_2_AUDIT = """
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY, at TIMESTAMP WITH TIME ZONE NOT NULL,
    team_id VARCHAR(32) NOT NULL, user_id VARCHAR(32) NOT NULL, channel_id VARCHAR(32),
    surface VARCHAR(16) NOT NULL, environment VARCHAR(64), run_id VARCHAR(64), task VARCHAR(255),
    previous_time TIMESTAMP WITH TIME ZONE, new_time TIMESTAMP WITH TIME ZONE,
    input TEXT NOT NULL, outcome VARCHAR(32) NOT NULL, error TEXT
)"""

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def drift(sync: Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the code's tables: nothing, in a
    database the revisions built."""
    return list(compare_metadata(MigrationContext.configure(sync), db.metadata))


def tables(sync: Connection) -> set[str]:
    return set(inspect(sync).get_table_names())


async def run_script(engine: AsyncEngine, script: str, **params: Any) -> None:
    async with engine.begin() as conn:
        for statement in (part.strip() for part in script.split(";")):
            lines = [line for line in statement.splitlines() if not line.startswith("--")]
            if "\n".join(lines).strip():
                await conn.execute(text("\n".join(lines)), params if ":at" in statement else {})


def test_the_revisions_are_numbered_in_order_and_latest_is_the_newest() -> None:
    revisions = db.revisions()
    assert revisions == [f"{number:04d}" for number in range(1, len(revisions) + 1)]
    assert revisions[-1] == db.LATEST
    names = sorted(path.name for path in (db.MIGRATIONS_DIR / "versions").glob("0*.py"))
    assert [name[:4] for name in names] == revisions


async def test_an_empty_database_migrated_matches_the_tables_the_code_uses(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        assert await db.migrate(engine) == db.LATEST
        async with engine.connect() as conn:
            assert await conn.run_sync(drift) == []
            assert await conn.run_sync(tables) == {*db.metadata.tables, "alembic_version"}
            assert await db.schema_revision(conn) == db.LATEST
        assert await db.migrate(engine) == db.LATEST  # again: nothing to do, nothing broken
    finally:
        await engine.dispose()


async def test_a_database_built_before_the_revisions_is_upgraded_in_place_and_keeps_its_rows(
    database_url: str,
) -> None:
    engine = db.create_engine(database_url)
    try:
        await run_script(engine, (OLD_SCHEMA / f"{engine.dialect.name}.sql").read_text())
        await run_script(
            engine,
            "INSERT INTO audit_events (at, team_id, user_id, surface, input, outcome, run_id, request_id) "
            "VALUES (:at, 'T1', 'U1', 'command', 'run_a 2h', 'rescheduled', 'run_a', 'req-1');"
            "INSERT INTO home_views (team_id, user_id, last_opened_at) VALUES ('T1', 'U1', :at)",
            at=AT,
        )
        async with engine.connect() as conn:
            assert await db.schema_revision(conn) == "0010"  # what check reports before the upgrade

        assert await db.migrate(engine) == db.LATEST
        async with engine.connect() as conn:
            assert await conn.run_sync(drift) == []
            assert db.OLD_VERSION_TABLE not in await conn.run_sync(tables)
        [record] = await AuditLog(engine).for_run("run_a")
        assert (record.user_id, record.input, record.request_id, record.at) == ("U1", "run_a 2h", "req-1", AT)
        views = HomeViews(engine, clock=lambda: AT.timestamp() + 60)
        assert await views.seconds_since_opened("T1", "U1") == 60
        audit = AuditLog(engine)
        audit.record(replace(record, request_id="req-2"))  # the upgraded table takes new rows
        await audit.flush()
        assert [item.request_id for item in await AuditLog(engine).for_run("run_a")] == ["req-2", "req-1"]
    finally:
        await engine.dispose()


async def test_an_older_database_before_the_revisions_gains_the_later_columns_and_tables(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        await run_script(
            engine,
            VERSION_2_AUDIT + ";"
            "CREATE TABLE seen_requests (key VARCHAR(255) PRIMARY KEY, seen_at TIMESTAMP WITH TIME ZONE NOT NULL);"
            "CREATE INDEX ix_seen_requests_seen_at ON seen_requests (seen_at);"
            "CREATE INDEX ix_audit_events_user_at ON audit_events (user_id, at);"
            "CREATE INDEX ix_audit_events_run_at ON audit_events (run_id, at);"
            "CREATE TABLE schema_version (version INTEGER NOT NULL);"
            "INSERT INTO schema_version VALUES (2);"
            "INSERT INTO audit_events (id, at, team_id, user_id, surface, input, outcome, run_id) "
            "VALUES (1, :at, 'T1', 'U1', 'command', 'x', 'rescheduled', 'run_a')",
            at=AT,
        )
        assert await db.migrate(engine) == db.LATEST
        [record] = await AuditLog(engine).for_run("run_a")
        assert record.user_id == "U1"
        assert (record.user_team_id, record.enterprise_id, record.request_id) == (None, None, None)
        async with engine.connect() as conn:
            assert set(db.metadata.tables) <= await conn.run_sync(tables)
    finally:
        await engine.dispose()


async def test_several_processes_migrating_one_new_database_at_once_all_succeed(database_url: str) -> None:
    engines = [db.create_engine(database_url) for _ in range(4)]
    try:
        revisions = await asyncio.gather(*(db.migrate(engine) for engine in engines))
        assert revisions == [db.LATEST] * 4
        async with engines[0].connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).all() == [(db.LATEST,)]
            assert await conn.run_sync(drift) == []
    finally:
        for engine in engines:
            await engine.dispose()


def test_the_revisions_ship_inside_the_package() -> None:
    """An installed bot migrates with no alembic.ini and no checkout: env.py and the revisions are package files."""
    import bot.storage.migrations
    import bot.storage.migrations.versions

    here = Path(bot.storage.migrations.__file__).parent
    assert here == db.MIGRATIONS_DIR and (here / "env.py").is_file()
    assert Path(bot.storage.migrations.versions.__file__).parent == here / "versions"
