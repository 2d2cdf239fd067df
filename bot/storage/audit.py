"""The audit trail: every attempt (success, refusal, failure) is recorded, and nothing is ever lost.

Writes happen in the background so they never delay an answer to Slack. A failed write is retried; when the
database stays unavailable the full record is written to the log as one structured line (`audit_fallback`) at
once, and kept: every BACKFILL_SECONDS the records held are tried again, and once the database is back they are
stored (each once) and the back-fill is logged. Only records still held at shutdown (or beyond MAX_HELD) are in
the log alone.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import metrics
from bot.domain.audit import AuditRecord, Outcome
from bot.storage.db import audit_events, utc
from bot.storage.transactions import shared

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
MAX_BATCH = 200
BACKFILL_SECONDS = 30.0  # how often records held through an outage are tried again
MAX_HELD = 10_000  # records held for the back-fill; beyond this they are in the log only
WriteOutcome = Literal["stored", "unavailable", "rejected"]
Listener = Callable[["AuditRecord"], Awaitable[None]]


def _utc(value: Any) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


_OUTCOMES = {outcome.value: outcome for outcome in Outcome}  # an unknown stored value reads as FAILED


def _from_row(data: Any) -> AuditRecord:
    return AuditRecord(
        at=_utc(data["at"]) or datetime.fromtimestamp(0, UTC),
        team_id=data["team_id"],
        user_id=data["user_id"],
        channel_id=data["channel_id"],
        surface=data["surface"],
        outcome=_OUTCOMES.get(data["outcome"], Outcome.FAILED),
        input=data["input"],
        environment=data["environment"],
        run_id=data["run_id"],
        task=data["task"],
        previous_time=_utc(data["previous_time"]),
        new_time=_utc(data["new_time"]),
        error=data["error"],
        user_team_id=data.get("user_team_id"),
        enterprise_id=data.get("enterprise_id"),
        request_id=data.get("request_id"),
        approved_by=data.get("approved_by"),
    )


_INSERT = audit_events.insert()


class AuditLog:
    """Records attempts in the background and answers history questions.

    Args:
        engine: the database; None keeps only the log line (used when no database can be built).
        listeners: called with every record after it is stored (or logged), e.g. the AUDIT_CHANNEL poster.
        retry_waits: the waits between write attempts.
        sleep: injected so tests control time.
    """

    def __init__(
        self,
        engine: AsyncEngine | None,
        listeners: Sequence[Listener] = (),
        retry_waits: Sequence[float] = (0.2, 1.0, 3.0),
        sleep: Sleep = asyncio.sleep,
        backfill_seconds: float = BACKFILL_SECONDS,
    ) -> None:
        self.engine = engine
        self.listeners = list(listeners)
        self.retry_waits = tuple(retry_waits)
        self.sleep = sleep
        self._queue: list[AuditRecord] = []  # recorded, not yet taken by the writer
        self._writing: list[AuditRecord] = []  # the batch the writer is storing now
        self._writer: asyncio.Task[None] | None = None
        self._notifying: set[asyncio.Task[None]] = set()
        self.backfill_seconds = backfill_seconds
        self._held: list[AuditRecord] = []  # logged as audit_fallback; stored once the database is back
        self._backfill: asyncio.Task[None] | None = None
        self._back = asyncio.Event()  # the database is known to answer again: back-fill now, not at the next tick
        self._closing = False

    def record(self, entry: AuditRecord) -> None:
        """Store `entry` without making the caller wait. Records that arrive while a write is in progress are
        stored together in the next one (one transaction), so a burst costs a few writes, not one per record."""
        self._queue.append(replace(entry, input=entry.input[:2000], error=(entry.error or None) and entry.error[:2000]))
        metrics.audit_pending(1)
        if self._writer is None or self._writer.done():
            # In a context of its own: the writer serves every request, so its lines carry none's request id.
            self._writer = asyncio.get_running_loop().create_task(self._drain(), context=contextvars.Context())

    async def flush(self, timeout: float | None = None) -> None:
        """Wait for every write in flight (at shutdown, and in tests). Whatever is still unwritten when `timeout`
        runs out is written to the log as `audit_fallback` lines, then abandoned: nothing is lost. Records held for
        the back-fill are in the log already; the back-fill stops (and none starts after this)."""
        self._closing = True
        try:
            await self._wait_for_writes(timeout)
        finally:
            await self._stop_backfill()

    async def _stop_backfill(self) -> None:
        backfill, self._backfill = self._backfill, None
        if backfill is not None:
            backfill.cancel()
            await asyncio.gather(backfill, return_exceptions=True)
        if self._held:
            log.warning(
                "%d audit records were not stored (the database did not come back); their audit_fallback lines are "
                "in the log",
                len(self._held),
            )
            self._held = []

    async def _wait_for_writes(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while waiting := [task for task in (self._writer, *self._notifying) if task is not None and not task.done()]:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            _, pending = await asyncio.wait(waiting, timeout=left)
            if not pending:
                continue  # the writer may have started listeners meanwhile: wait for those too
            if self._writer in pending:
                abandoned = (*self._writing, *self._queue)
                for entry in abandoned:
                    log.error("audit_fallback %s", entry.as_json())
                metrics.audit_pending(-len(abandoned))
                metrics.audit_failed(len(abandoned))
                self._writing, self._queue = [], []
            for task in pending:
                task.cancel()
            return

    async def _drain(self) -> None:
        while self._queue:
            self._writing, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            batch = self._writing
            outcome = await self._write(batch)
            if outcome == "rejected" and len(batch) > 1:  # one bad record must not take the others with it
                for entry in batch:
                    if await self._write([entry]) != "stored":
                        self._fall_back(entry)
            elif outcome == "unavailable":
                for entry in batch:
                    self._fall_back(entry)
                self._hold(batch)
            elif outcome != "stored":
                for entry in batch:
                    self._fall_back(entry)
            self._writing = []
            metrics.audit_pending(-len(batch))
            if self.listeners:
                task = asyncio.get_running_loop().create_task(self._notify(batch), context=contextvars.Context())
                self._notifying.add(task)
                task.add_done_callback(self._notifying.discard)

    def _hold(self, batch: Sequence[AuditRecord]) -> None:
        """Keep records the database could not take, to store them once it is back."""
        if self.engine is None:
            return
        if self._closing:  # shutting down: these records are in the log, and nothing is left to write them later
            return
        room = MAX_HELD - len(self._held)
        self._held.extend(batch[:room])
        if len(batch) > room:
            log.error("audit back-fill full: %d records are in the log only", len(batch) - max(room, 0))
        if self._held and (self._backfill is None or self._backfill.done()):
            self._backfill = asyncio.get_running_loop().create_task(self._fill_back(), context=contextvars.Context())

    def database_back(self) -> None:
        """The database answers again (its schema was just created or upgraded): the records held meanwhile are
        stored now rather than at the next back-fill tick."""
        if self._held:
            self._back.set()

    async def _pause(self) -> None:
        """BACKFILL_SECONDS, or less when the database is known to be back."""
        if self._back.is_set():
            self._back.clear()
            return
        waits = {asyncio.ensure_future(self.sleep(self.backfill_seconds)), asyncio.ensure_future(self._back.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when the back-fill itself is cancelled (at shutdown): no wait is left pending
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        self._back.clear()

    async def _fill_back(self) -> None:
        while self._held:
            await self._pause()
            batch = self._held[:MAX_BATCH]
            outcome = await self._write(batch, retry=False)
            if outcome == "unavailable":
                continue
            del self._held[: len(batch)]
            if outcome == "stored":
                log.info("audit back-filled %d records held while the database was unavailable", len(batch))
            else:
                for entry in batch:  # already in the log; try each alone, so one bad record keeps no other out
                    if await self._write([entry], retry=False) == "stored":
                        log.info("audit back-filled 1 record held while the database was unavailable")

    @staticmethod
    def _fall_back(entry: AuditRecord) -> None:
        log.error("audit_fallback %s", entry.as_json())
        metrics.audit_failed()

    async def _notify(self, batch: Sequence[AuditRecord]) -> None:
        for entry in batch:
            for listener in self.listeners:
                try:
                    await listener(entry)
                except Exception:
                    log.exception("audit listener failed")

    async def _write(self, batch: Sequence[AuditRecord], retry: bool = True) -> WriteOutcome:
        """Store `batch` in one transaction (shared with other stores' writes: bot/storage/transactions.py):
        "stored", "unavailable" (the database, after the retries) or "rejected" (something other than the database
        being away, e.g. a value it cannot take: not retried)."""
        if self.engine is None:
            return "unavailable"

        def insert(conn: Connection) -> None:
            conn.execute(_INSERT, [_row(entry) for entry in batch])

        waits = (*self.retry_waits, None) if retry else (None,)
        for attempt, wait in enumerate(waits, start=1):
            try:
                await shared(self.engine).later(insert)
                return "stored"
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("audit write attempt %d failed: %s", attempt, type(exc).__name__)
                if wait is None:
                    return "unavailable"
                await self.sleep(wait)
            except Exception as exc:
                log.warning("audit write refused: %s", type(exc).__name__)
                return "rejected"
        return "unavailable"

    async def for_user(self, team_id: str, user_id: str, limit: int = 15) -> list[AuditRecord]:
        """A person's most recent attempts, newest first."""
        query = (
            select(audit_events)
            .where(audit_events.c.user_id == user_id, audit_events.c.team_id == team_id)
            .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
            .limit(limit)
        )
        return await self._query(query)

    async def moves_by(self, team_id: str, user_id: str, limit: int = 200) -> list[AuditRecord]:
        """A person's most recent successful moves, newest first (at most `limit` rows: a bounded read on the
        (user_id, at) index however long their history)."""
        query = (
            select(audit_events)
            .where(
                audit_events.c.user_id == user_id,
                audit_events.c.team_id == team_id,
                audit_events.c.outcome == Outcome.RESCHEDULED.value,
                audit_events.c.run_id.is_not(None),
            )
            .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
            .limit(limit)
        )
        return await self._query(query)

    async def for_run(self, run_id: str, limit: int = 30) -> list[AuditRecord]:
        """Everything done to a run, newest first."""
        query = (
            select(audit_events)
            .where(audit_events.c.run_id == run_id)
            .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
            .limit(limit)
        )
        return await self._query(query)

    async def _query(self, query: Any) -> list[AuditRecord]:
        if self.engine is None:
            raise AuditUnavailable("no database")
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise AuditUnavailable(type(exc).__name__) from exc
        return [_from_row(row) for row in rows]


class AuditUnavailable(Exception):
    """History cannot be read right now."""


_FIELDS = tuple(field.name for field in fields(AuditRecord))


def _row(entry: AuditRecord) -> dict[str, object]:
    """The record's fields as a row. Not `dataclasses.asdict`, which deep-copies every value: they are all
    immutable (text, datetimes, an enum), and copying the datetimes cost more than the rest of the write."""
    return {name: getattr(entry, name) for name in _FIELDS}
