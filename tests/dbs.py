"""Database URLs for tests: a file-backed SQLite, and the real PostgreSQL that CI provides.

PostgreSQL comes from TEST_DATABASE_URL (.ci/run creates a throwaway database and sets it) or the local
default. When it does not answer, tests that need it fail under CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os

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
        return asyncio.run(_worker_database(url, worker)) if worker else asyncio.run(_probe(url))
    except Exception as exc:
        message = f"PostgreSQL at {url} does not answer: {type(exc).__name__}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


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
            for table in ("alembic_version", db.OLD_VERSION_TABLE):  # the revision in place, and the one before them
                await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    finally:
        await engine.dispose()
