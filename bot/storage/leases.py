"""Rows that any process may take, once: a process takes due rows by writing its own lease token and a lease time
into them, with an UPDATE that only touches rows whose lease is free (never held, or expired), so two processes
never hold the same row. On PostgreSQL the rows are first picked with `SELECT … FOR UPDATE SKIP LOCKED`, so claimers
do not wait for each other; SQLite has one writer at a time and the UPDATE's condition is enough. Used by the cards
that follow their run (bot/storage/follow_ups.py) and the private messages kept for later (bot/storage/outbox.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, RowMapping, Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def held(table: Table, row_id: int, token: str) -> tuple[Any, ...]:
    """The row `row_id` of `table`, as long as the lease `token` still holds it."""
    return (table.c.id == row_id, table.c.lease_token == token)


async def all_rows(engine: AsyncEngine, table: Table) -> Sequence[dict[str, Any]]:
    """Every row of `table`, by id: for tests and inspection."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(table).order_by(table.c.id))).mappings().all()
    return [dict(row) for row in rows]


def free(table: Table, now: datetime) -> Any:
    """The rows of `table` whose lease is free at `now`."""
    return or_(table.c.lease_until.is_(None), table.c.lease_until < now)


async def claim_rows(
    conn: AsyncConnection, table: Table, due_at: Column[Any], now: datetime, limit: int, lease: timedelta
) -> tuple[str, Sequence[RowMapping]]:
    """Lease up to `limit` rows of `table` due at `now` (`due_at` ≤ now) whose lease is free, soonest due first;
    the lease's token and the rows taken (with the token written in them)."""
    token = secrets.token_hex(16)
    due = and_(due_at <= now, free(table, now))
    picked = select(table.c.id).where(due).order_by(due_at, table.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=True)
    ids = list((await conn.execute(picked)).scalars())
    if not ids:
        return token, []
    taken = update(table).where(table.c.id.in_(ids), due).values(lease_until=now + lease, lease_token=token)
    return token, (await conn.execute(taken.returning(*table.c))).mappings().all()
