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

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.batches import BatchedCalls, BatchWriter
from bot.storage.db import move_intents, utc
from bot.storage.leases import all_rows, claim_rows, held
from bot.storage.transactions import shared

log = logging.getLogger(__name__)

BATCH_ROWS = 500  # rows per transaction at most (9 parameters each, well within SQLite's and PostgreSQL's limits)
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
        self._writes: BatchedCalls[Intent | Held, Held] = BatchedCalls(self._write, most=BATCH_ROWS)
        self._forgets: BatchWriter[Held] = BatchWriter(self._forget, self._not_forgotten, self._lost)

    async def open(self, intent: Intent) -> Held:
        """Write the move down, held by this process for one lease. Moves written down at the same time share one
        transaction (a burst of commands costs a few, not one each)."""
        return await self._writes.submit(intent)

    async def close(self, item: Held) -> None:
        """The move's outcome is recorded: forget it (in the same transaction as other moves written or forgotten
        at that moment)."""
        await self._writes.submit(item)

    def forget_soon(self, item: Held) -> None:
        """As `close`, off the caller's path: the row goes with the next transaction (bot/storage/transactions.py).
        Until it does, a process that dies leaves the row, read back later like any move left in flight."""
        self._forgets.add(item)

    async def flush(self, timeout: float) -> None:
        """At shutdown: wait up to `timeout` for the rows being forgotten; those left are read back later."""
        await self._forgets.close(timeout)

    async def _forget(self, batch: list[Held]) -> None:
        keys = [{"row_id": item.id, "token": item.token} for item in batch]

        def forget(conn: Connection) -> None:
            conn.execute(_FORGET, keys)

        await shared(self.engine).later(forget)

    @staticmethod
    def _not_forgotten(batch: Sequence[Held], exc: Exception) -> None:
        log.warning("%d settled moves not forgotten (%s): they will be read back", len(batch), type(exc).__name__)

    @staticmethod
    def _lost(batch: Sequence[Held]) -> None:
        log.warning("%d settled moves not forgotten before shutdown: they will be read back", len(batch))

    async def _write(self, batch: list[Intent | Held]) -> list[Held]:
        """One transaction, shared with other stores' writes (bot/storage/transactions.py): the rows of the
        intents in `batch` inserted, those of the Held ones deleted; the answer to each intent is its row, to each
        Held itself."""
        now = utc(self.clock())
        opening = [(item, secrets.token_hex(16)) for item in batch if isinstance(item, Intent)]
        closing = [item for item in batch if isinstance(item, Held)]

        def work(conn: Connection) -> dict[str, int]:
            ids: dict[str, int] = {}
            if opening:
                rows = [_values(intent, token, now, self.lease) for intent, token in opening]
                ids = {str(token): int(row_id) for row_id, token in conn.execute(_OPEN, rows).all()}
            if closing:
                keys = [{"row_id": item.id, "token": item.token} for item in closing]
                conn.execute(_FORGET, keys)
            return ids

        ids = await shared(self.engine).run(work)
        held_rows = iter([Held(ids[token], token, intent, now) for intent, token in opening])
        return [next(held_rows) if isinstance(item, Intent) else item for item in batch]

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


# One statement whatever the batch's size, its rows as parameters, so it is compiled once per process (SQLAlchemy
# sends them as one multi-row INSERT … RETURNING: "insertmanyvalues").
_OPEN = insert(move_intents).returning(move_intents.c.id, move_intents.c.lease_token)
_FORGET = delete(move_intents).where(
    move_intents.c.id == bindparam("row_id"), move_intents.c.lease_token == bindparam("token")
)


def _values(intent: Intent, token: str, now: datetime, lease: timedelta) -> dict[str, Any]:
    return {
        "run_id": intent.run_id[:64],
        "environment": intent.environment[:64],
        "task": (intent.task or "")[:255] or None,
        "previous_time": intent.previous,
        "new_time": intent.new,
        "actor": json.dumps(intent.actor),
        "started_at": now,
        "lease_until": now + lease,
        "lease_token": token,
    }


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
