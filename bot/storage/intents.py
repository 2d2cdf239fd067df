"""Moves in flight, written down before their request goes to Trigger.dev: a row per move, deleted once its outcome
is recorded. A process that dies mid-move (SIGKILL, a crash) leaves its row behind, with a lease that runs out; any
process then claims it (bot/storage/leases.py), reads the run back from Trigger.dev and records what is true
(bot/intents.py). A process stopped by SIGTERM whose move was cut off gives the lease back at once.

Who asked is kept as JSON (`actor`): the fields of the action path's Actor, which this layer does not import.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import move_intents, utc
from bot.storage.leases import all_rows, claim_rows, held

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # a move's request and its read-back take less (TRIGGER_DEADLINE + its read-back)
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Intent:
    """A move written down: the run, where, from which time to which (None: start now), by whom."""

    run_id: str
    environment: str
    task: str | None
    previous: datetime | None
    new: datetime | None
    actor: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Held:
    """An intent row and the lease token that holds it."""

    id: int
    token: str
    intent: Intent
    started_at: datetime


class MoveIntents:
    """The store, on SQLite or PostgreSQL through the same code."""

    def __init__(self, engine: AsyncEngine, lease: timedelta = LEASE, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.engine, self.lease, self.clock = engine, lease, clock

    async def open(self, intent: Intent) -> Held:
        """Write the move down, held by this process for one lease."""
        now = utc(self.clock())
        token = secrets.token_hex(16)
        values = {
            "run_id": intent.run_id[:64],
            "environment": intent.environment[:64],
            "task": (intent.task or "")[:255] or None,
            "previous_time": intent.previous,
            "new_time": intent.new,
            "actor": json.dumps(intent.actor),
            "started_at": now,
            "lease_until": now + self.lease,
            "lease_token": token,
        }
        async with self.engine.begin() as conn:
            row_id = (await conn.execute(insert(move_intents).values(**values).returning(move_intents.c.id))).scalar()
        return Held(int(row_id or 0), token, intent, now)

    async def close(self, item: Held) -> None:
        """The move's outcome is recorded: forget it."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(move_intents).where(*held(move_intents, item.id, item.token)))

    async def release(self, item: Held, after: timedelta = timedelta(0)) -> None:
        """Give the row back: any process reads it back `after` from now (at once: a move cut off at shutdown)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(move_intents)
                .where(*held(move_intents, item.id, item.token))
                .values(lease_until=utc(self.clock()) + after - timedelta(microseconds=1), lease_token=None)
            )

    async def claim(self, now: datetime, limit: int) -> list[Held]:
        """Take up to `limit` moves whose process let go of them (its lease ran out, or it gave it back)."""
        async with self.engine.begin() as conn:
            token, rows = await claim_rows(conn, move_intents, move_intents.c.lease_until, utc(now), limit, self.lease)
        return [_from_row(row, token) for row in rows]

    async def all(self) -> Sequence[dict[str, Any]]:
        """Every row, for tests and inspection."""
        return await all_rows(self.engine, move_intents)


def _when(value: Any) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


def _from_row(row: Any, token: str) -> Held:
    try:
        actor = json.loads(row["actor"])
    except ValueError:
        actor = {}
    intent = Intent(
        run_id=str(row["run_id"]),
        environment=str(row["environment"]),
        task=row["task"],
        previous=_when(row["previous_time"]),
        new=_when(row["new_time"]),
        actor=actor if isinstance(actor, dict) else {},
    )
    return Held(int(row["id"]), token, intent, utc(row["started_at"]))
