"""Private messages kept for later: what Slack could not take when it was sent, in the database until it is sent.

A row holds one message for one person (text, and blocks as JSON), why it could not be sent, when it was made,
when to try it next and how many tries it had. Every process runs the loop in bot/late.py; a process takes due
rows by writing its own lease token and a lease time into them (`claim`), as bot/storage/follow_ups.py does: an
UPDATE that only touches rows whose lease has expired, so two processes never hold the same row. On PostgreSQL the
rows are first picked with `SELECT … FOR UPDATE SKIP LOCKED`; SQLite has one writer at a time and the UPDATE's
condition is enough. What is done with a claimed row afterwards (`sent`, `rearm`) names the token.

Messages are kept off the caller's path (`keep_soon`): queued, written together by a background task, and at
shutdown flushed within the flush budget. A database that is down too loses the message, with a log line; it never
raises into the caller.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.batches import BatchWriter
from bot.storage.db import outbox, utc
from bot.storage.leases import all_rows, claim_rows, held

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # longer than one message's send (chat.postMessage, bounded by the client's timeout)
WAIT_STEPS = (1.0, 3.0, 6.0, 12.0, 30.0)  # the waits between attempts, in OUTBOX_RETRY_SECONDS (10 s, 30 s, … 5 min)


def waits(retry_seconds: float) -> tuple[float, ...]:
    """The waits between attempts for OUTBOX_RETRY_SECONDS: 10 s, 30 s, 1 min, 2 min, 5 min for 10 s (the late DMs
    and the channel messages Slack could not update alike)."""
    return tuple(step * retry_seconds for step in WAIT_STEPS)


@dataclass(frozen=True, slots=True)
class Letter:
    """A private message to keep: for `user_id` in `team_id`, first tried `at` and refused for `error`."""

    team_id: str
    user_id: str
    text: str
    blocks: list[dict[str, Any]] | None
    error: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Kept:
    """A claimed row: the message, its history, and the token that holds it."""

    id: int
    team_id: str
    user_id: str
    text: str
    blocks: list[dict[str, Any]] | None
    error: str
    created_at: datetime
    attempts: int
    token: str


def _row(letter: Letter) -> dict[str, Any]:
    return {
        "team_id": letter.team_id[:32],
        "user_id": letter.user_id[:32],
        "text": letter.text,
        "blocks": json.dumps(letter.blocks) if letter.blocks else None,
        "error": letter.error[:64],
        "created_at": utc(letter.at),
        "next_attempt_at": utc(letter.at),  # the loop's next tick tries it
        "attempts": 0,
        "lease_until": None,
        "lease_token": None,
    }


class Outbox:
    """The store of kept messages, on SQLite or PostgreSQL through the same code."""

    def __init__(
        self, engine: AsyncEngine, lease: timedelta = LEASE, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self.lease = lease
        self.clock = clock
        self._batches = BatchWriter(self.keep, self._failed, self._lost)

    def keep_soon(self, team_id: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None, error: str) -> None:
        """Keep a message off the caller's path: those queued meanwhile are written together; a failure is
        logged (the message is lost), never raised."""
        self._batches.add(
            Letter(team_id=team_id, user_id=user_id, text=text, blocks=blocks, error=error, at=self.clock())
        )

    async def flush(self, timeout: float) -> None:
        """At shutdown: wait up to `timeout` for the queued writes; what is still unwritten then is logged and
        lost, and nothing is queued after this."""
        await self._batches.close(timeout)

    @staticmethod
    def _failed(batch: Sequence[Letter], exc: Exception) -> None:
        for letter in batch:
            log.error("outbox: the message to %s is lost: the database failed (%s)", letter.user_id, type(exc).__name__)

    @staticmethod
    def _lost(batch: Sequence[Letter]) -> None:
        for letter in batch:
            log.error("outbox: the message to %s is lost: shutting down", letter.user_id)

    async def keep(self, letters: Sequence[Letter]) -> None:
        """Write messages now, in one transaction."""
        if not letters:
            return
        async with self.engine.begin() as conn:
            await conn.execute(insert(outbox), [_row(letter) for letter in letters])
        for letter in letters:
            log.info("outbox: a message to %s is kept, to be sent when Slack takes it", letter.user_id)

    async def claim(self, now: datetime, limit: int) -> list[Kept]:
        """Take up to `limit` rows due at `now` whose lease is free (never held, or expired), oldest due first."""
        async with self.engine.begin() as conn:
            token, rows = await claim_rows(conn, outbox, outbox.c.next_attempt_at, utc(now), limit, self.lease)
            claimed: list[Kept] = []
            for row in rows:
                try:
                    claimed.append(_from_row(row, token))
                except (ValueError, TypeError):  # blocks that are not JSON: written by something else
                    log.warning("outbox: the message to %s has an unreadable row; dropped", row["user_id"])
                    await conn.execute(delete(outbox).where(outbox.c.id == row["id"]))
        return sorted(claimed, key=lambda item: item.id)

    async def renew(self, item: Kept) -> bool:
        """Hold the row for another lease, just before sending it; False when it is no longer ours (our lease ran
        out and another process claimed it, or it is gone): then it must not be sent from here."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(outbox).where(*_held(item)).values(lease_until=utc(self.clock()) + self.lease)
            )
        return bool(result.rowcount)

    async def sent(self, item: Kept) -> None:
        """Forget the message (it was sent, or it never can be)."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(outbox).where(*_held(item)))

    async def rearm(self, item: Kept, next_attempt_at: datetime) -> None:
        """Try again at `next_attempt_at`, one more attempt counted; the lease is given back."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(*_held(item))
                .values(
                    next_attempt_at=utc(next_attempt_at),
                    attempts=outbox.c.attempts + 1,
                    lease_until=None,
                    lease_token=None,
                )
            )

    async def release(self, item: Kept) -> None:
        """Give the lease back unchanged: the row is due again at once (its send was cut off at shutdown)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(outbox).where(*_held(item)).values(lease_until=None, lease_token=None))

    async def all(self) -> Sequence[dict[str, Any]]:
        """Every row, for tests and inspection."""
        return await all_rows(self.engine, outbox)


def _held(item: Kept) -> tuple[Any, ...]:
    return held(outbox, item.id, item.token)


def _from_row(row: Any, token: str) -> Kept:
    blocks = json.loads(row["blocks"]) if row["blocks"] else None
    if blocks is not None and not isinstance(blocks, list):
        raise ValueError("blocks are not a list")
    return Kept(
        id=int(row["id"]),
        team_id=str(row["team_id"]),
        user_id=str(row["user_id"]),
        text=str(row["text"]),
        blocks=blocks,
        error=str(row["error"]),
        created_at=utc(row["created_at"]),
        attempts=int(row["attempts"]),
        token=token,
    )
