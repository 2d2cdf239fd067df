"""Confirmed sets carried out to the end, whichever process does it: a row per set (who confirmed it, its time, its
one message in the channel) and a row per run of the set with its state: `pending` (not tried yet), `sending`
(written down before its request went to Trigger.dev: the outcome is read back if its process stops), `done` (its
outcome, as the summary shows it).

The process that takes the Confirm creates the rows holding the set's lease and renews it while it works. A process
stopping gives the lease back after its runs in flight are done (bot/slack/set_run.py); one that dies lets it run
out. Every process's loop claims a set whose lease is free (bot/storage/leases.py: `FOR UPDATE SKIP LOCKED` on
PostgreSQL) and carries on with the runs not done; once the summary and the DM are out, the rows are deleted.

Who confirmed it is kept as JSON (`actor`): the fields of the action path's Actor, which this layer does not import.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import set_work_runs, set_works, utc
from bot.storage.leases import all_rows, claim_rows, held

LEASE = timedelta(seconds=60)
Clock = Callable[[], datetime]

PENDING, SENDING, DONE = "pending", "sending", "done"


@dataclass(frozen=True, slots=True)
class SetRun:
    """One run of a set: where it is in the set, its state and, once done, its outcome."""

    position: int
    run_id: str
    environment: str
    state: str = PENDING
    back: datetime | None = None  # an Undo: the time this run goes back to
    given: datetime | None = None  # an Undo: the time the undone move gave it
    target: datetime | None = None  # a push: this run's own new time
    outcome: str | None = None
    env_title: str = ""
    detail: str = ""
    previous: datetime | None = None
    new: datetime | None = None


@dataclass(frozen=True, slots=True)
class HeldSet:
    """A set this process holds, with everything needed to carry it on."""

    id: int
    token: str
    actor: dict[str, Any]
    when: datetime | None
    thread_ts: str | None
    summary_channel: str | None
    summary_ts: str | None
    total: int
    runs: tuple[SetRun, ...] = ()
    shift: timedelta | None = None  # a push: how far each run goes back from its own time (each has its target)


class SetWorks:
    """The store, on SQLite or PostgreSQL through the same code."""

    def __init__(self, engine: AsyncEngine, lease: timedelta = LEASE, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.engine, self.lease, self.clock = engine, lease, clock

    async def create(
        self,
        actor: dict[str, Any],
        when: datetime | None,
        runs: Sequence[SetRun],
        thread_ts: str | None = None,
        shift: timedelta | None = None,
    ) -> HeldSet:
        """Write the set and its runs down, all pending, held by this process."""
        now = utc(self.clock())
        token = secrets.token_hex(16)
        async with self.engine.begin() as conn:
            values = {
                "actor": json.dumps(actor),
                "when_at": when,
                "shift_ms": shift // timedelta(milliseconds=1) if shift is not None else None,
                "thread_ts": thread_ts,
                "total": len(runs),
                "state": "running",
                "created_at": now,
                "due_at": now,
                "lease_until": now + self.lease,
                "lease_token": token,
            }
            set_id = int(
                (await conn.execute(insert(set_works).values(**values).returning(set_works.c.id))).scalar_one()
            )
            if runs:
                await conn.execute(insert(set_work_runs), [_run_row(set_id, run) for run in runs])
        return HeldSet(set_id, token, actor, when, thread_ts, None, None, len(runs), tuple(runs), shift)

    async def summary_posted(self, item: HeldSet, channel: str, ts: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(set_works).where(set_works.c.id == item.id).values(summary_channel=channel, summary_ts=ts)
            )

    async def renew(self, item: HeldSet) -> bool:
        """Hold the set for another lease; False when it is no longer ours."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(set_works)
                .where(*held(set_works, item.id, item.token))
                .values(lease_until=utc(self.clock()) + self.lease)
            )
        return bool(result.rowcount)

    async def release(self, item: HeldSet) -> None:
        """Give the set back: any process carries it on at once."""
        now = utc(self.clock())
        async with self.engine.begin() as conn:
            await conn.execute(
                update(set_works)
                .where(*held(set_works, item.id, item.token))
                .values(lease_until=now - timedelta(microseconds=1), lease_token=None, due_at=now)
            )

    async def claim(self, now: datetime) -> HeldSet | None:
        """Take one set whose lease is free, with its runs."""
        async with self.engine.begin() as conn:
            token, rows = await claim_rows(conn, set_works, set_works.c.due_at, utc(now), 1, self.lease)
            if not rows:
                return None
            row = rows[0]
            runs = (
                (
                    await conn.execute(
                        select(set_work_runs)
                        .where(set_work_runs.c.set_id == row["id"])
                        .order_by(set_work_runs.c.position)
                    )
                )
                .mappings()
                .all()
            )
        try:
            actor = json.loads(row["actor"])
        except ValueError:
            actor = {}
        return HeldSet(
            id=int(row["id"]),
            token=token,
            actor=actor if isinstance(actor, dict) else {},
            when=_when(row["when_at"]),
            shift=timedelta(milliseconds=int(row["shift_ms"])) if row["shift_ms"] is not None else None,
            thread_ts=row["thread_ts"],
            summary_channel=row["summary_channel"],
            summary_ts=row["summary_ts"],
            total=int(row["total"]),
            runs=tuple(_from_run_row(run) for run in runs),
        )

    async def sending(self, set_id: int, run_id: str, previous: datetime | None) -> None:
        """The run's request is about to go to Trigger.dev."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(set_work_runs)
                .where(set_work_runs.c.set_id == set_id, set_work_runs.c.run_id == run_id)
                .values(state=SENDING, previous_time=previous)
            )

    async def pending(self, set_id: int, run_id: str) -> None:
        """The run is to be tried (again): its request was not applied, or never went out."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(set_work_runs)
                .where(set_work_runs.c.set_id == set_id, set_work_runs.c.run_id == run_id)
                .values(state=PENDING)
            )

    async def done(self, set_id: int, run: SetRun) -> None:
        """The run's outcome."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(set_work_runs)
                .where(set_work_runs.c.set_id == set_id, set_work_runs.c.run_id == run.run_id)
                .values(
                    state=DONE,
                    outcome=run.outcome,
                    env_title=run.env_title[:64],
                    detail=run.detail,
                    previous_time=run.previous,
                    new_time=run.new,
                )
            )

    async def finish(self, item: HeldSet) -> None:
        """The set is carried out, its summary and DM sent: forget it."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(set_work_runs).where(set_work_runs.c.set_id == item.id))
            await conn.execute(delete(set_works).where(set_works.c.id == item.id))

    async def all(self) -> Sequence[dict[str, Any]]:
        return await all_rows(self.engine, set_works)

    async def all_runs(self) -> Sequence[dict[str, Any]]:
        return await all_rows(self.engine, set_work_runs)


def _when(value: Any) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


def _run_row(set_id: int, run: SetRun) -> dict[str, Any]:
    return {
        "set_id": set_id,
        "position": run.position,
        "run_id": run.run_id[:64],
        "environment": run.environment[:64],
        "back_time": run.back,
        "given_time": run.given,
        "target_time": run.target,
        "state": run.state,
        "outcome": run.outcome,
        "env_title": run.env_title[:64] or None,
        "detail": run.detail or None,
        "previous_time": run.previous,
        "new_time": run.new,
    }


def _from_run_row(row: Any) -> SetRun:
    return SetRun(
        position=int(row["position"]),
        run_id=str(row["run_id"]),
        environment=str(row["environment"]),
        state=str(row["state"]),
        back=_when(row["back_time"]),
        given=_when(row["given_time"]),
        target=_when(row["target_time"]),
        outcome=row["outcome"],
        env_title=row["env_title"] or "",
        detail=row["detail"] or "",
        previous=_when(row["previous_time"]),
        new=_when(row["new_time"]),
    )
