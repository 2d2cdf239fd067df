"""Sets of runs awaiting their Confirm, kept in the database so any process can confirm them, and only once.

A set also keeps what its prompt found, so its Confirm asks Trigger.dev nothing again: each run's environment (its
second element), and as a third element an object: the run as the prompt read it (`{"run": {...}}`: id, status,
task, delayed time) or that it was in none of the environments the person may act in (`{"missing": true}`).

A set's summary and DM carry an Undo button whose key names an *undo set* kept the same way: the runs moved, each
with its own previous time (`back`) and the time the move gave it (`given`: the Undo leaves a run someone moved
since), a third and fourth element of each run in the same JSON column (no schema change). A *push* (**Push all
back…** with a duration) is kept in the same column as an object: how far (`push_ms`) and the runs, each with its own
new time (`target`, in the object a run of an ordinary set also carries: what its prompt found). Only
the person who moved the set may take it, once, within SET_TTL_SECONDS.

A hundred run ids do not fit in a button's value, so the prompt's buttons carry a random key and the set (fixed when
the prompt was shown) is stored here. `take` deletes as it reads (DELETE … RETURNING), so two Confirm clicks reaching
two processes move the set once. Sets expire after SET_TTL_SECONDS. When the database cannot be reached, a set is
kept in this process only (logged): the person can still confirm, as long as the click reaches the same process.
A set that cannot be read or taken because the database does not answer raises `SetsUnavailable` (not "no such
set"): it is still there, and the same click works once the database is back.
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

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.runs import Run
from bot.storage.db import bulk_sets, from_unix, utc

log = logging.getLogger(__name__)

SET_TTL_SECONDS = 15 * 60  # a confirmation prompt is good for this long
PRUNE_EVERY_SECONDS = 60.0
Clock = Callable[[], float]
_FAILURES = (SQLAlchemyError, OSError, TimeoutError)


class SetsUnavailable(Exception):
    """The database did not answer: whether the set exists (and is still to be taken) is unknown for now."""


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
    given: tuple[datetime | None, ...] = ()  # an undo set: the time the move gave each run (it goes back only from it)
    seen: tuple[Run | None, ...] = ()  # each run as the prompt read it (None: not read), in the order of `runs`
    missing: frozenset[str] = frozenset()  # runs the prompt found in none of the environments the person may act in
    targets: tuple[datetime, ...] = ()  # a push: each run's own new time, in the order of `runs`
    shift: timedelta | None = None  # a push: how far each run goes back from its own time

    @property
    def is_undo(self) -> bool:
        return bool(self.back)

    def seen_as(self, run_id: str) -> Run | None:
        """The run as the prompt read it, if it did."""
        return next((run for run in self.seen if run is not None and run.id == run_id), None)

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
        given: Sequence[datetime | None] = (),
        seen: Sequence[Run | None] = (),
        missing: frozenset[str] = frozenset(),
        targets: Sequence[datetime] = (),
        shift: timedelta | None = None,
    ) -> BulkSet:
        """Fix a set. `seen`, `missing`: what its prompt found (see BulkSet), for a Confirm that asks nothing again."""
        if back and len(back) != len(runs):
            raise ValueError("an undo set needs one previous time per run")
        if seen and len(seen) != len(runs):
            raise ValueError("a set's runs as read need one entry per run")
        if given and len(given) != len(runs):
            raise ValueError("an undo set names the time given to each run, or none")
        if (targets or shift is not None) and (len(targets) != len(runs) or back or shift is None):
            raise ValueError("a push needs its shift and one new time per run, and is not an undo")
        key = secrets.token_urlsafe(12)
        bulk = BulkSet(
            key,
            user_id,
            team_id,
            tuple(runs),
            when,
            self.clock(),
            tuple(back),
            thread_ts,
            tuple(given),
            tuple(seen),
            missing,
            tuple(targets),
            shift,
        )
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
        """The set, if it exists and has not expired (SetsUnavailable: the database did not answer)."""
        bulk = self._local.get(key)
        if bulk is None and self.engine is not None:
            try:
                async with self.engine.connect() as conn:
                    row = (await conn.execute(select(bulk_sets).where(bulk_sets.c.key == key))).mappings().first()
            except _FAILURES as exc:
                log.warning("could not read bulk set: %s", type(exc).__name__)
                raise SetsUnavailable from exc
            bulk = _from_row(row) if row is not None else None
        return bulk if bulk is not None and self._fresh(bulk) else None

    async def take(self, key: str) -> BulkSet | None:
        """Remove and return the set: a second Confirm, in this process or another, finds nothing (SetsUnavailable:
        the database did not answer, and the set was not taken)."""
        bulk = self._local.pop(key, None)
        if bulk is None and self.engine is not None:
            try:
                async with self.engine.begin() as conn:
                    statement = delete(bulk_sets).where(bulk_sets.c.key == key).returning(*bulk_sets.c)
                    row = (await conn.execute(statement)).mappings().first()
            except _FAILURES as exc:
                log.warning("could not take bulk set: %s", type(exc).__name__)
                raise SetsUnavailable from exc
            bulk = _from_row(row) if row is not None else None
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
    if bulk.back:  # an undo set: each run's previous time, and the time the move gave it when known
        return [
            [*pair, at.isoformat(), *([given.isoformat()] if given else [])]
            for pair, at, given in zip(bulk.runs, bulk.back, bulk.given or [None] * len(bulk.runs), strict=True)
        ]
    entries: list[list[Any]] = []
    seen = bulk.seen or tuple(None for _ in bulk.runs)
    targets: Sequence[datetime | None] = bulk.targets or tuple(None for _ in bulk.runs)
    for (run_id, env_name), run, target in zip(bulk.runs, seen, targets, strict=True):
        found: dict[str, Any] = {}
        if run is not None:
            found["run"] = _run_json(run)
        elif run_id in bulk.missing:
            found["missing"] = True
        if target is not None:
            found["target"] = target.isoformat()
        entries.append([run_id, env_name, found] if found else [run_id, env_name])
    if bulk.targets and bulk.shift is not None:
        return {"push_ms": bulk.shift // timedelta(milliseconds=1), "runs": entries}
    return entries


def _run_json(run: Run) -> dict[str, Any]:
    """What a Confirm needs of a run read at the prompt, in the API's own shape (read back with Run.from_api)."""
    until = run.delayed_until.isoformat() if run.delayed_until else None
    return {"id": run.id, "status": run.status_label, "taskIdentifier": run.task_identifier, "delayedUntil": until}


def _seen(entry: Any) -> Run | None:
    found = entry.get("run") if isinstance(entry, dict) else None
    if not isinstance(found, dict):
        return None
    try:
        return Run.from_api(found)
    except ValidationError:
        return None


def _target(entry: Any) -> datetime | None:
    at = entry.get("target") if isinstance(entry, dict) else None
    return utc(datetime.fromisoformat(at)) if isinstance(at, str) else None


def _from_row(row: Any) -> BulkSet:
    when = utc(row["when_at"]) if isinstance(row["when_at"], datetime) else row["when_at"]
    created = utc(row["created_at"])
    stored = json.loads(row["runs"])
    shift: timedelta | None = None
    if isinstance(stored, dict):  # a push
        shift = timedelta(milliseconds=int(stored["push_ms"]))
        stored = stored["runs"]
    runs = tuple((str(entry[0]), str(entry[1])) for entry in stored)
    back = tuple(
        utc(datetime.fromisoformat(entry[2])) for entry in stored if len(entry) > 2 and isinstance(entry[2], str)
    )
    given = tuple(
        utc(datetime.fromisoformat(entry[3])) if len(entry) > 3 and isinstance(entry[3], str) else None
        for entry in stored
    )
    if len(back) != len(runs):
        back, given = (), ()
    extra = [entry[2] if len(entry) > 2 and isinstance(entry[2], dict) else None for entry in stored]
    seen = tuple(_seen(entry) for entry in extra)
    missing = frozenset(
        run_id for (run_id, _), entry in zip(runs, extra, strict=True) if entry and entry.get("missing")
    )
    found_targets = [_target(entry) for entry in extra]
    targets = tuple(at for at in found_targets if at is not None) if shift is not None else ()
    if len(targets) != len(runs):
        targets, shift = (), None
    thread = row["thread_ts"] if isinstance(row["thread_ts"], str) else None
    return BulkSet(
        row["key"],
        row["user_id"],
        row["team_id"],
        runs,
        when,
        created.timestamp(),
        back,
        thread,
        given,
        seen if any(seen) else (),
        missing,
        targets,
        shift,
    )


__all__ = ["SET_TTL_SECONDS", "BulkSet", "BulkSets"]
