"""Sets of runs awaiting their Confirm, kept in the database so any process can confirm them, and only once.

A set's summary and DM carry an Undo button whose key names an *undo set* kept the same way: the runs moved, each
with its own previous time (`back`), a third element of each run in the same JSON column (no schema change). A
*push* (**Push all back…** with a duration) is kept in the same column as an object: how far (`shift`) and each run
with its own new time (`targets`). Only
the person who moved the set may take it, once, within SET_TTL_SECONDS.

A hundred run ids do not fit in a button's value, so the prompt's buttons carry a random key and the set (fixed when
the prompt was shown) is stored here. `take` deletes as it reads (DELETE … RETURNING), so two Confirm clicks reaching
two processes move the set once. Sets expire after SET_TTL_SECONDS. When the database cannot be reached, a set is
kept in this process only (logged): the person can still confirm, as long as the click reaches the same process.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import bulk_sets, from_unix, utc

log = logging.getLogger(__name__)

SET_TTL_SECONDS = 15 * 60  # a confirmation prompt is good for this long
PRUNE_EVERY_SECONDS = 60.0
Clock = Callable[[], float]
_FAILURES = (SQLAlchemyError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class BulkSet:
    """A set fixed when the prompt (or the list) was shown: exactly these runs (id → environment name where found,
    "" when it was not), to `when` (None: not chosen yet, a list's **Push all back…**), by `user_id` in `team_id`."""

    key: str
    user_id: str
    team_id: str
    runs: tuple[tuple[str, str], ...]
    when: datetime | None
    created: float  # Unix time
    back: tuple[datetime, ...] = ()  # an undo set: each run's own previous time, in the order of `runs`
    thread_ts: str | None = None  # the summary goes in this thread of the channel (a set from a message shortcut)
    targets: tuple[datetime, ...] = ()  # a push: each run's own new time, in the order of `runs`
    shift: timedelta | None = None  # a push: how far each run goes back from its own time

    @property
    def is_undo(self) -> bool:
        return bool(self.back)

    @property
    def awaiting_time(self) -> bool:
        """A list's set whose time is not chosen yet (its **Push all back…**)."""
        return self.when is None and not self.back and not self.targets


@dataclass(slots=True)
class BulkSets:
    """The store. `engine` None keeps sets in this process (unit tests)."""

    engine: AsyncEngine | None = None
    ttl: float = SET_TTL_SECONDS
    clock: Clock = time.time
    _local: dict[str, BulkSet] = field(default_factory=dict)
    _pruned_at: float = 0.0

    async def add(
        self,
        user_id: str,
        team_id: str,
        runs: Sequence[tuple[str, str]],
        when: datetime | None,
        back: Sequence[datetime] = (),
        thread_ts: str | None = None,
        targets: Sequence[datetime] = (),
        shift: timedelta | None = None,
    ) -> BulkSet:
        if back and len(back) != len(runs):
            raise ValueError("an undo set needs one previous time per run")
        if (targets or shift is not None) and (len(targets) != len(runs) or back or shift is None):
            raise ValueError("a push needs its shift and one new time per run, and is not an undo")
        key = secrets.token_urlsafe(12)
        created = self.clock()
        bulk = BulkSet(key, user_id, team_id, tuple(runs), when, created, tuple(back), thread_ts, tuple(targets), shift)
        if self.engine is None:
            self._local[bulk.key] = bulk
            return bulk
        try:
            async with self.engine.begin() as conn:
                await conn.execute(bulk_sets.insert().values(**_row(bulk)))
                if bulk.created - self._pruned_at >= PRUNE_EVERY_SECONDS:
                    self._pruned_at = bulk.created
                    await conn.execute(
                        delete(bulk_sets).where(bulk_sets.c.created_at < from_unix(bulk.created - self.ttl))
                    )
        except _FAILURES as exc:
            log.warning("bulk set kept in this process only: the database did not answer (%s)", type(exc).__name__)
            self._local[bulk.key] = bulk
        return bulk

    async def get(self, key: str) -> BulkSet | None:
        bulk = self._local.get(key)
        if bulk is None and self.engine is not None:
            try:
                async with self.engine.connect() as conn:
                    row = (await conn.execute(select(bulk_sets).where(bulk_sets.c.key == key))).first()
            except _FAILURES as exc:
                log.warning("could not read bulk set: %s", type(exc).__name__)
                return None
            bulk = _from_row(row._mapping) if row is not None else None
        return bulk if bulk is not None and self._fresh(bulk) else None

    async def take(self, key: str) -> BulkSet | None:
        """Remove and return the set: a second Confirm, in this process or another, finds nothing."""
        bulk = self._local.pop(key, None)
        if bulk is None and self.engine is not None:
            try:
                async with self.engine.begin() as conn:
                    statement = delete(bulk_sets).where(bulk_sets.c.key == key).returning(*bulk_sets.c)
                    row = (await conn.execute(statement)).first()
            except _FAILURES as exc:
                log.warning("could not take bulk set: %s", type(exc).__name__)
                return None
            bulk = _from_row(row._mapping) if row is not None else None
        return bulk if bulk is not None and self._fresh(bulk) else None

    def _fresh(self, bulk: BulkSet) -> bool:
        return self.clock() - bulk.created <= self.ttl


def _row(bulk: BulkSet) -> dict[str, Any]:
    return {
        "key": bulk.key,
        "user_id": bulk.user_id,
        "team_id": bulk.team_id,
        "runs": json.dumps(_entries(bulk)),
        "when_at": bulk.when,
        "created_at": from_unix(bulk.created),
        "thread_ts": bulk.thread_ts,
    }


def _entries(bulk: BulkSet) -> Any:
    if bulk.back:
        return [[*pair, at.isoformat()] for pair, at in zip(bulk.runs, bulk.back, strict=True)]
    if bulk.targets and bulk.shift is not None:
        runs = [[*pair, at.isoformat()] for pair, at in zip(bulk.runs, bulk.targets, strict=True)]
        return {"push_ms": bulk.shift // timedelta(milliseconds=1), "runs": runs}
    return [list(pair) for pair in bulk.runs]


def _from_row(row: Any) -> BulkSet:
    when = utc(row["when_at"]) if isinstance(row["when_at"], datetime) else row["when_at"]
    created = utc(row["created_at"])
    stored = json.loads(row["runs"])
    shift: timedelta | None = None
    if isinstance(stored, dict):  # a push
        shift = timedelta(milliseconds=int(stored["push_ms"]))
        stored = stored["runs"]
    runs = tuple((str(entry[0]), str(entry[1])) for entry in stored)
    third = tuple(utc(datetime.fromisoformat(entry[2])) for entry in stored if len(entry) > 2)
    if len(third) != len(runs):
        third = ()
    back, targets = ((), third) if shift is not None else (third, ())
    if shift is not None and not targets:
        shift = None
    thread = row["thread_ts"] if isinstance(row["thread_ts"], str) else None
    created_at = created.timestamp()
    return BulkSet(row["key"], row["user_id"], row["team_id"], runs, when, created_at, back, thread, targets, shift)


__all__ = ["SET_TTL_SECONDS", "BulkSet", "BulkSets"]
