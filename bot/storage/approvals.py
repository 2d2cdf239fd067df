"""Requests for approval in protected environments, kept in the database so any process may decide one, once.

A decision is a conditional UPDATE from `pending` (… WHERE key = ? AND state = 'pending' RETURNING …): two Approve
clicks reaching two processes decide the request once; the second finds it decided and is told by whom. The expiry
loop (bot/approval_expiry.py) claims due pending rows with a lease (bot/storage/leases.py), so one process looks at
each; expiring is the same conditional UPDATE, so a click and the expiry never both win.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.approvals import RECHECK, State
from bot.storage.db import approval_requests, utc
from bot.storage.leases import free, held

LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class RunAsked:
    """One run of a request: its id, the environment it is in, and its start time when the request was made."""

    run_id: str
    env_name: str
    before: datetime | None
    task: str = ""


@dataclass(frozen=True, slots=True)
class NewRequest:
    """What is known when a move is asked in a protected environment."""

    team_id: str
    user_id: str
    channel_id: str | None
    surface: str
    input: str
    environment: str
    runs: tuple[RunAsked, ...]
    when: datetime | None
    reason: str
    created_at: datetime
    expires_at: datetime
    user_team_id: str | None = None
    enterprise_id: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRequest(NewRequest):
    """A stored request, with its key, state and decision."""

    id: int = 0
    key: str = ""
    state: State = State.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    message_channel: str | None = None
    message_ts: str | None = None
    lease_token: str | None = None

    @property
    def is_set(self) -> bool:
        return len(self.runs) > 1


@dataclass(slots=True)
class ApprovalStore:
    engine: AsyncEngine

    async def add(self, new: NewRequest) -> ApprovalRequest:
        key = secrets.token_urlsafe(12)
        values = {
            "key": key,
            "team_id": new.team_id,
            "user_id": new.user_id,
            "user_team_id": new.user_team_id,
            "enterprise_id": new.enterprise_id,
            "channel_id": new.channel_id,
            "surface": new.surface[:16],
            "input": new.input[:2000],
            "thread_ts": new.thread_ts,
            "environment": new.environment,
            "runs": _runs_json(new.runs),
            "when_at": new.when,
            "reason": new.reason or None,
            "state": State.PENDING.value,
            "created_at": new.created_at,
            "expires_at": new.expires_at,
            "check_at": min(new.expires_at, new.created_at + RECHECK),
        }
        async with self.engine.begin() as conn:
            row = (
                (await conn.execute(approval_requests.insert().values(**values).returning(*approval_requests.c)))
                .mappings()
                .one()
            )
        return _from_row(row)

    async def shown_at(self, request_id: int, channel: str | None, ts: str | None) -> None:
        """Where the request message is (to update it when the request is decided or expires)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(approval_requests)
                .where(approval_requests.c.id == request_id)
                .values(message_channel=channel, message_ts=ts)
            )

    async def get(self, key: str) -> ApprovalRequest | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(approval_requests).where(approval_requests.c.key == key))).mappings().first()
            )
        return _from_row(row) if row is not None else None

    async def decide(self, key: str, state: State, by: str | None, now: datetime) -> ApprovalRequest | None:
        """Take the request from pending to `state`, once across processes: the request, or None when it was no
        longer pending (decided, or expired, already)."""
        statement = (
            update(approval_requests)
            .where(approval_requests.c.key == key, approval_requests.c.state == State.PENDING.value)
            .values(state=state.value, decided_by=by, decided_at=now, lease_until=None, lease_token=None)
            .returning(*approval_requests.c)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(statement)).mappings().first()
        return _from_row(row) if row is not None else None

    async def claim_due(self, now: datetime, limit: int) -> list[ApprovalRequest]:
        """Lease up to `limit` pending requests whose check is due and whose lease is free."""
        token = secrets.token_hex(16)
        table = approval_requests
        due = and_(table.c.state == State.PENDING.value, table.c.check_at <= now, free(table, now))
        async with self.engine.begin() as conn:
            picked = select(table.c.id).where(due).order_by(table.c.check_at, table.c.id).limit(limit)
            if conn.dialect.name == "postgresql":
                picked = picked.with_for_update(skip_locked=True)
            ids = list((await conn.execute(picked)).scalars())
            if not ids:
                return []
            taken = update(table).where(table.c.id.in_(ids), due).values(lease_until=now + LEASE, lease_token=token)
            rows = (await conn.execute(taken.returning(*table.c))).mappings().all()
        return [_from_row(row) for row in rows]

    async def check_later(self, request: ApprovalRequest, at: datetime) -> None:
        """A claimed request still pending: looked at again at `at`, its lease given back."""
        assert request.lease_token is not None
        async with self.engine.begin() as conn:
            await conn.execute(
                update(approval_requests)
                .where(*held(approval_requests, request.id, request.lease_token))
                .values(check_at=at, lease_until=None, lease_token=None)
            )

    async def approved_for(self, run_id: str, limit: int = 20) -> Sequence[ApprovalRequest]:
        """The approved requests that moved `run_id`, newest first (for an Undo that needs no new approval)."""
        table = approval_requests
        statement = (
            select(table)
            .where(table.c.state == State.APPROVED.value, table.c.runs.contains(f'"{run_id}"'))
            .order_by(table.c.decided_at.desc(), table.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_from_row(row) for row in rows]


def _runs_json(runs: Sequence[RunAsked]) -> str:
    return json.dumps([[r.run_id, r.env_name, r.before.isoformat() if r.before else None, r.task] for r in runs])


def _at(value: Any) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


def _from_row(row: Any) -> ApprovalRequest:
    runs = tuple(
        RunAsked(
            str(entry[0]),
            str(entry[1]),
            utc(datetime.fromisoformat(entry[2])) if entry[2] else None,
            str(entry[3]) if len(entry) > 3 else "",
        )
        for entry in json.loads(row["runs"])
    )
    created, expires = _at(row["created_at"]), _at(row["expires_at"])
    assert created is not None and expires is not None
    return ApprovalRequest(
        team_id=row["team_id"],
        user_id=row["user_id"],
        channel_id=row["channel_id"],
        surface=row["surface"],
        input=row["input"],
        environment=row["environment"],
        runs=runs,
        when=_at(row["when_at"]),
        reason=row["reason"] or "",
        created_at=created,
        expires_at=expires,
        user_team_id=row["user_team_id"],
        enterprise_id=row["enterprise_id"],
        thread_ts=row["thread_ts"],
        id=row["id"],
        key=row["key"],
        state=State(row["state"]),
        decided_by=row["decided_by"],
        decided_at=_at(row["decided_at"]),
        message_channel=row["message_channel"],
        message_ts=row["message_ts"],
        lease_token=row["lease_token"],
    )
