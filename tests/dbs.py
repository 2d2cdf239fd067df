"""Database URLs for tests: a file-backed SQLite, and the real PostgreSQL that CI provides.

PostgreSQL comes from TEST_DATABASE_URL (.ci/run creates a throwaway database and sets it) or the local
default. When it does not answer, tests that need it fail under CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text

from bot.storage import db

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or LOCAL_POSTGRES

    async def probe() -> None:
        engine = db.create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        message = f"PostgreSQL at {url} does not answer: {type(exc).__name__}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


async def reset(url: str) -> None:
    """Drop the bot's tables so each test starts from an empty schema."""
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS audit_events"))
            await conn.execute(text("DROP TABLE IF EXISTS seen_requests"))
            await conn.execute(text("DROP TABLE IF EXISTS schema_version"))
    finally:
        await engine.dispose()
