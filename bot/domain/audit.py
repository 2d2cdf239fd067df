"""What the audit trail records: one attempt, who made it, where, and how it ended. Pure data, no storage."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    RESCHEDULED = "rescheduled"
    REFUSED = "refused"
    NOT_DELAYED = "not_delayed"
    NOT_FOUND = "not_found"
    INVALID_INPUT = "invalid_input"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a move was sent but whether it was applied could not be confirmed
    APPROVAL_REQUESTED = "approval_requested"  # a move in a protected environment, waiting for an approver
    APPROVAL_REJECTED = "approval_rejected"  # recorded as the approver who rejected it
    APPROVAL_EXPIRED = "approval_expired"  # recorded as the person who asked


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One attempt: when, who, where, what was asked, and what came of it."""

    at: datetime
    team_id: str
    user_id: str
    channel_id: str | None
    surface: str
    outcome: Outcome
    input: str = ""
    environment: str | None = None
    run_id: str | None = None
    task: str | None = None
    previous_time: datetime | None = None
    new_time: datetime | None = None
    error: str | None = None
    user_team_id: str | None = None
    enterprise_id: str | None = None
    request_id: str | None = None  # the Slack request (or scheduled job) it came from, as on its log lines
    approved_by: str | None = None  # a move in a protected environment: the approver

    def as_json(self) -> str:
        data = asdict(self)
        return json.dumps({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()})


def latest_per_run(records: Iterable[AuditRecord], limit: int) -> list[AuditRecord]:
    """The newest record of each distinct run (by run id and environment), newest first, at most `limit`.

    `records` must already be newest first (as the audit trail answers); records without a run are skipped.
    """
    seen: set[tuple[str, str | None]] = set()
    latest: list[AuditRecord] = []
    for record in records:
        if record.run_id is None or (record.run_id, record.environment) in seen:
            continue
        seen.add((record.run_id, record.environment))
        latest.append(record)
        if len(latest) >= limit:
            break
    return latest


class AuditTrail(Protocol):
    """Where the action path records each attempt (bot/storage/audit.py's AuditLog; a list in tests)."""

    def record(self, entry: AuditRecord) -> None: ...

    async def for_run(self, run_id: str, limit: int = 30) -> list[AuditRecord]:
        """Everything recorded for a run, newest first (who moved it last, for an Undo that finds it moved since)."""
        ...
