"""Summary cards that follow their run: one row per posted card of a DELAYED run, in the database.

A row says which message (channel, ts) shows which run, the start time and status the card shows, what re-drawing
it needs (`card`, JSON typed by `Card`), and when to look at the run again (`check_at`). Every process runs the
loop in bot/follow.py; a process takes due rows by writing its own lease token and a lease time into them
(`claim`): an UPDATE that only touches rows whose lease has expired, so two processes never hold the same row.
On PostgreSQL the rows are first picked with `SELECT … FOR UPDATE SKIP LOCKED`, so claimers do not wait for each
other; SQLite has one writer at a time and the UPDATE's condition is enough. Everything done with a claimed row
afterwards (`done`, `rearm`, `release`) names the token, so a process whose lease ran out changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import bindparam, delete, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.actions import Did
from bot.storage.batches import BatchWriter
from bot.storage.db import follow_ups, upsert, utc
from bot.storage.leases import all_rows, claim_rows, free, held
from bot.storage.transactions import shared

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # longer than one follow-up's work (one read, one chat.update, each time-bounded)


class Card(BaseModel):
    """What re-drawing a card needs besides the run: who moved it, from when, to when, what the action was, and
    which card it is
    (`channel`: a summary in a channel; `dm`: the DM confirmation, whose head says where the move happened)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_id: str
    previous: datetime | None
    new: datetime
    at: datetime | None = None
    kind: Literal["channel", "dm"] = "channel"
    where: str = ""
    did: Did = Did.MOVED  # a move, an Undo (the card offers no Undo again) or Run now (no buttons)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A claimed row: the message, the run, what the card shows, and the token that holds it."""

    id: int
    channel: str
    ts: str
    run_id: str
    environment: str
    shown_until: datetime
    shown_status: str
    card: Card
    check_at: datetime
    token: str


_CARD = ("channel", "ts")  # a card's row is its message's
_REPLACED = ("run_id", "environment", "shown_until", "shown_status", "card", "check_at", "lease_until", "lease_token")

# The other cards of a run (b_run_id, b_environment) that show another time than b_shown_until and would look later
# than b_now: they look at b_check_at (= b_now). Built once: run with a parameter row per run and time shown.
_LOOK_NOW = (
    update(follow_ups)
    .where(
        follow_ups.c.run_id == bindparam("b_run_id"),
        follow_ups.c.environment == bindparam("b_environment"),
        follow_ups.c.shown_until != bindparam("b_shown_until"),
        follow_ups.c.check_at > bindparam("b_now"),
    )
    .values(check_at=bindparam("b_check_at"))
)


def _row(request: FollowRequest) -> dict[str, Any]:
    """The row of a card newly followed; a card already followed keeps its id and created_at, the rest is replaced."""
    return {
        "channel": request.channel,
        "ts": request.ts,
        "created_at": utc(request.now),
        "run_id": request.run_id,
        "environment": request.environment,
        "shown_until": utc(request.shown_until),
        "shown_status": "DELAYED",
        "card": request.card.model_dump_json(),
        "check_at": utc(request.check_at),
        "lease_until": None,
        "lease_token": None,
    }


@dataclass(frozen=True, slots=True)
class FollowRequest:
    """Follow the message (channel, ts), which now shows the run DELAYED until `shown_until` (a message shown
    again, after a click on it, replaces its row); look at it at `check_at`. Every other card of the run showing
    another time is looked at on the next tick, so it shows the new one."""

    channel: str
    ts: str
    run_id: str
    environment: str
    shown_until: datetime
    card: Card
    check_at: datetime
    now: datetime


class FollowUps:
    """The store of follow-ups, on SQLite or PostgreSQL through the same code."""

    def __init__(self, engine: AsyncEngine, lease: timedelta = LEASE) -> None:
        self.engine = engine
        self.lease = lease
        self._batches = BatchWriter(self._write, self._failed, self._lost)

    def follow_soon(self, request: FollowRequest) -> None:
        """Follow a card off the caller's path: the requests queued meanwhile are written together, in one
        transaction (a move's channel card and its DM are one write); a failure is logged, never raised."""
        self._batches.add(request)

    async def flush(self, timeout: float) -> None:
        """At shutdown: wait up to `timeout` for the queued writes; what is still unwritten then is logged and
        abandoned (those cards do not follow their run), and nothing is queued after this."""
        await self._batches.close(timeout)

    async def _write(self, batch: list[FollowRequest]) -> None:
        await shared(self.engine).later(lambda conn: self._follow_in(conn, batch))

    @staticmethod
    def _failed(batch: Sequence[FollowRequest], exc: Exception) -> None:
        for request in batch:
            log.warning(
                "the card %s/%s will not follow run %s: %s",
                request.channel,
                request.ts,
                request.run_id,
                type(exc).__name__,
            )

    @staticmethod
    def _lost(batch: Sequence[FollowRequest]) -> None:
        for request in batch:
            log.warning(
                "the card %s/%s will not follow run %s: shutting down", request.channel, request.ts, request.run_id
            )

    async def follow(self, request: FollowRequest) -> None:
        """Follow one card now (see FollowRequest)."""
        await self._write([request])

    @staticmethod
    def _follow_in(conn: Connection, batch: Sequence[FollowRequest]) -> None:
        """Insert or replace each card's row (one statement for the batch; a card queued twice, as it was last),
        then have every other card of each run that shows another time looked at on the next tick (one statement
        for the batch, a parameter row per run and time shown). The cards just written show that time, so the
        update leaves them be; the usual move's run has no other card, and its row of the update finds none."""
        latest = list({(request.channel, request.ts): request for request in batch}.values())  # a card once
        conn.execute(upsert(conn.dialect.name, follow_ups, _CARD, _REPLACED), [_row(request) for request in latest])
        now_of: dict[tuple[str, str, datetime], datetime] = {}
        for request in latest:
            key = (request.run_id, request.environment, utc(request.shown_until))
            now_of[key] = max(now_of.get(key, utc(request.now)), utc(request.now))
        conn.execute(
            _LOOK_NOW,
            [
                {"b_run_id": run_id, "b_environment": env, "b_shown_until": shown, "b_now": now, "b_check_at": now}
                for (run_id, env, shown), now in now_of.items()
            ],
        )

    async def claim(self, now: datetime, limit: int) -> list[FollowUp]:
        """Take up to `limit` rows due at `now` whose lease is free (never held, or expired), soonest first."""
        async with self.engine.begin() as conn:
            token, rows = await claim_rows(conn, follow_ups, follow_ups.c.check_at, utc(now), limit, self.lease)
            claimed: list[FollowUp] = []
            for row in rows:
                try:
                    claimed.append(_from_row(row, token))
                except ValidationError:  # written by something else than this bot: nothing to redraw it from
                    log.warning(
                        "follow-ups: card %s/%s has an unreadable row; it stops following", row["channel"], row["ts"]
                    )
                    await conn.execute(delete(follow_ups).where(follow_ups.c.id == row["id"]))
        return sorted(claimed, key=lambda item: (item.check_at, item.id))

    async def drop_stale(self, now: datetime, keep: timedelta) -> int:
        """Delete the rows whose shown time is more than `keep` ago (not held by anyone); how many went."""
        now = utc(now)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(follow_ups).where(follow_ups.c.shown_until < now - keep, free(follow_ups, now))
            )
        return int(result.rowcount or 0)

    async def done(self, item: FollowUp) -> None:
        """Stop following the card (it shows how its run ended, or it cannot be updated any more)."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(follow_ups).where(*_held(item)))

    async def rearm(
        self, item: FollowUp, check_at: datetime, shown_until: datetime | None = None, shown_status: str | None = None
    ) -> None:
        """Look again at `check_at`, remembering what the card now shows; the lease is given back."""
        values: dict[str, Any] = {"check_at": utc(check_at), "lease_until": None, "lease_token": None}
        if shown_until is not None:
            values["shown_until"] = utc(shown_until)
        if shown_status is not None:
            values["shown_status"] = shown_status[:32]
        async with self.engine.begin() as conn:
            await conn.execute(update(follow_ups).where(*_held(item)).values(**values))

    async def release(self, item: FollowUp) -> None:
        """Give the lease back unchanged: the row is due again on the next tick (a transient failure)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(follow_ups).where(*_held(item)).values(lease_until=None, lease_token=None))

    async def refresh_others(self, item: FollowUp, shown_until: datetime, now: datetime) -> None:
        """Every other card of `item`'s run that shows another time than `shown_until` is looked at now."""
        now = utc(now)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(follow_ups)
                .where(
                    follow_ups.c.run_id == item.run_id,
                    follow_ups.c.environment == item.environment,
                    follow_ups.c.shown_until != utc(shown_until),
                    follow_ups.c.check_at > now,
                    follow_ups.c.id != item.id,
                )
                .values(check_at=now)
            )

    async def all(self) -> Sequence[dict[str, Any]]:
        """Every row, for tests and inspection."""
        return await all_rows(self.engine, follow_ups)


def _held(item: FollowUp) -> tuple[Any, ...]:
    return held(follow_ups, item.id, item.token)


def _from_row(row: Any, token: str) -> FollowUp:
    return FollowUp(
        id=int(row["id"]),
        channel=str(row["channel"]),
        ts=str(row["ts"]),
        run_id=str(row["run_id"]),
        environment=str(row["environment"]),
        shown_until=utc(row["shown_until"]),
        shown_status=str(row["shown_status"]),
        card=Card.model_validate_json(row["card"]),
        check_at=utc(row["check_at"]),
        token=token,
    )
