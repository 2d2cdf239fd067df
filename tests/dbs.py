"""Database URLs for tests: a file-backed SQLite, and the real PostgreSQL that CI provides.

PostgreSQL comes from TEST_DATABASE_URL (.ci/run creates a throwaway database and sets it) or the local
default. When it does not answer, tests that need it fail under CI=true and are skipped elsewhere.

A new SQLite file at the newest schema is a copy of one migrated once per test process (`new_sqlite`): running every
revision costs about 0.1 s of CPU, and most tests start a bot on a database of their own. Tests about migrating
(tests/test_migrations.py, old schemas, two processes migrating one database) start from files or databases that
have no schema yet, and migrate them for real.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage import db

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The PostgreSQL database for this test process. Under pytest-xdist each worker gets a database of its own
    (`<name>_gw0`, created on first use beside the configured one), since tests reset the tables they use."""
    url = os.environ.get("TEST_DATABASE_URL") or LOCAL_POSTGRES
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    try:
        return _answering(url, worker)
    except Exception as exc:
        message = f"PostgreSQL at {url} does not answer: {type(exc).__name__}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@functools.cache
def _answering(url: str, worker: str | None) -> str:
    """The database's URL once it has answered (remembered for the process: a failure is not, so it is tried again)."""
    return asyncio.run(_worker_database(url, worker)) if worker else asyncio.run(_probe(url))


async def _probe(url: str) -> str:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    return url


async def _worker_database(url: str, worker: str) -> str:
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_async_engine(db.async_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return await _probe(base.set(database=name).render_as_string(hide_password=False))


async def reset(url: str) -> None:
    """Drop the bot's tables so each test starts from an empty schema."""
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.drop_all)  # every table the migrations create
            for table in (db.VERSION_TABLE, db.OLD_VERSION_TABLE):  # the revision in place, and the one before them
                await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    finally:
        await engine.dispose()


async def empty(url: str) -> None:
    """The bot's tables at the newest schema, every one empty (ids start again from 1). A database already at the
    newest revision is emptied with TRUNCATE, far quicker than dropping and migrating again; any other is reset and
    migrated."""
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            if await db.schema_revision(conn) == db.LATEST:
                tables = ", ".join(table.name for table in db.metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
                return
        await reset(url)
        await db.migrate(engine)
    finally:
        await engine.dispose()


def new_sqlite(path: Path) -> None:
    """A SQLite file at `path`, at the newest schema with no rows: what a bot's first start would make of it."""
    shutil.copyfile(_migrated_sqlite(), path)


@functools.cache
def _migrated_sqlite() -> Path:
    """A file migrated to the newest schema, once per test process, in a folder removed when the process ends."""
    folder = Path(tempfile.mkdtemp(prefix="reschedule-bot-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "migrated.sqlite3"
    with ThreadPoolExecutor(1) as pool:  # in a thread of its own: the caller may be running an event loop
        pool.submit(asyncio.run, _migrate(f"sqlite:///{path}")).result()
    return path


async def _migrate(url: str) -> None:
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
    finally:
        await engine.dispose()  # the last connection closed: the write-ahead log is folded into the file
