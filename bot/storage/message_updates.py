"""Channel messages Slack could not update: "message X should show this", a row per message (the newest state asked
for wins), updated by whichever process's loop takes it (bot/message_fixes.py) when Slack is back, tried again
with growing waits as bot/storage/outbox.py does for private messages. A process takes due rows by writing its lease
token and lease time into them (bot/storage/leases.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import message_updates, upsert, utc
from bot.storage.leases import all_rows, claim_rows, held

LEASE = timedelta(minutes=2)
Clock = Callable[[], datetime]


_FRESH = ("text", "blocks", "error", "next_attempt_at")  # what a newer wish for the same message replaces


@dataclass(frozen=True, slots=True)
class Wanted:
    """A claimed row: the message, the state it should show, its history, and the token that holds it."""

    id: int
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    created_at: datetime
    attempts: int
    token: str


class MessageUpdates:
    """The store, on SQLite or PostgreSQL through the same code."""

    def __init__(self, engine: AsyncEngine, lease: timedelta = LEASE, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.engine, self.lease, self.clock = engine, lease, clock

    async def want(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None, error: str) -> None:
        """Message `ts` in `channel` should show `text`/`blocks`: kept (replacing any older state asked for), due
        at once."""
        now = utc(self.clock())
        values = {
            "channel": channel[:32],
            "ts": ts[:32],
            "text": text,
            "blocks": json.dumps(blocks) if blocks else None,
            "error": error[:64],
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        async with self.engine.begin() as conn:
            statement = upsert(conn.dialect.name, message_updates, ("channel", "ts"), _FRESH)
            await conn.execute(statement, values)

    async def forget(self, channel: str, ts: str) -> None:
        """The message was updated since: nothing older is to be shown in it."""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(message_updates).where(message_updates.c.channel == channel, message_updates.c.ts == ts)
            )

    async def claim(self, now: datetime, limit: int) -> list[Wanted]:
        async with self.engine.begin() as conn:
            token, rows = await claim_rows(
                conn, message_updates, message_updates.c.next_attempt_at, utc(now), limit, self.lease
            )
        return [_from_row(row, token) for row in rows]

    async def done(self, item: Wanted) -> None:
        """Shown (or never can be): forget it, unless a newer state was asked for meanwhile."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(message_updates).where(*_held(item), message_updates.c.text == item.text))
            await conn.execute(update(message_updates).where(*_held(item)).values(lease_until=None, lease_token=None))

    async def rearm(self, item: Wanted, next_attempt_at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(message_updates)
                .where(*_held(item))
                .values(
                    next_attempt_at=utc(next_attempt_at),
                    attempts=message_updates.c.attempts + 1,
                    lease_until=None,
                    lease_token=None,
                )
            )

    async def release(self, item: Wanted) -> None:
        """Give the row back unchanged: due again at once (its process stopped before updating the message)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(message_updates).where(*_held(item)).values(lease_until=None, lease_token=None))

    async def all(self) -> Sequence[dict[str, Any]]:
        return await all_rows(self.engine, message_updates)


def _held(item: Wanted) -> tuple[Any, ...]:
    return held(message_updates, item.id, item.token)


def _from_row(row: Any, token: str) -> Wanted:
    try:
        blocks = json.loads(row["blocks"]) if row["blocks"] else None
    except ValueError:
        blocks = None
    return Wanted(
        id=int(row["id"]),
        channel=str(row["channel"]),
        ts=str(row["ts"]),
        text=str(row["text"]),
        blocks=blocks if isinstance(blocks, list) else None,
        created_at=utc(row["created_at"]),
        attempts=int(row["attempts"]),
        token=token,
    )
