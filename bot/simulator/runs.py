"""A simulated run, its statuses (v4 names, and the legacy names older clients get) and its JSON as the server
renders it (`RetrieveRunResponse`, or a `ListRunResponseItem` in a list)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["API_VERSION", "V4_STATUSES", "SimulatedRun", "api_status", "iso", "render_run"]

API_VERSION = "2025-07-16"  # with this `x-trigger-api-version`, statuses have their v4 names

V4_STATUSES = (
    "DELAYED",
    "PENDING_VERSION",
    "QUEUED",
    "DEQUEUED",
    "EXECUTING",
    "WAITING",
    "COMPLETED",
    "CANCELED",
    "FAILED",
    "CRASHED",
    "SYSTEM_FAILURE",
    "EXPIRED",
    "TIMED_OUT",
)
LEGACY_NAMES = frozenset({"WAITING_FOR_DEPLOY", "EXECUTING", "REATTEMPTING", "FROZEN", "INTERRUPTED"})
# How a v4 status is named for a client that does not send the version header (every other name is unchanged).
LEGACY_STATUS = {"DEQUEUED": "EXECUTING", "WAITING": "FROZEN"}
QUEUED_STATUSES = frozenset({"QUEUED", "WAITING_FOR_DEPLOY", "DELAYED", "PENDING_VERSION"})
EXECUTING_STATUSES = frozenset({"EXECUTING", "REATTEMPTING", "FROZEN", "DEQUEUED"})
COMPLETED_STATUSES = frozenset({"COMPLETED", "CANCELED", "FAILED", "CRASHED", "INTERRUPTED", "SYSTEM_FAILURE"})


@dataclass(slots=True)
class SimulatedRun:
    """A run as the server stores it: a v4 status, aware UTC datetimes truncated to milliseconds."""

    id: str
    env: str  # the environment it lives in: ids are looked up per environment
    task: str
    status: str
    created_at: datetime
    updated_at: datetime
    delayed_until: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    finishes_at: datetime | None = None  # when a run the engine started completes (None: it keeps its status)
    tags: tuple[str, ...] = ()
    version: str | None = None
    idempotency_key: str | None = None
    is_test: bool = False
    ttl: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other fields (payload, metadata, ...), sent as given


def iso(value: datetime) -> str:
    """`Date.prototype.toISOString()`: UTC, milliseconds, a trailing Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def api_status(v4_status: str, api_version: str | None) -> str:
    return v4_status if api_version == API_VERSION else LEGACY_STATUS.get(v4_status, v4_status)


def render_run(run: SimulatedRun, api_version: str | None, *, listed: bool = False) -> dict[str, Any]:
    """A RetrieveRunResponse, or with `listed` a ListRunResponseItem; unset optional fields are omitted."""
    status = api_status(run.status, api_version)
    completed = status in COMPLETED_STATUSES
    body: dict[str, Any] = {
        "id": run.id,
        "taskIdentifier": run.task,
        "status": status,
        "createdAt": iso(run.created_at),
        "updatedAt": iso(run.updated_at),
    }
    for name, value in (
        ("delayedUntil", run.delayed_until),
        ("startedAt", run.started_at),
        ("finishedAt", run.finished_at),
    ):
        if value is not None:
            body[name] = iso(value)
    body |= {
        "costInCents": 0,
        "baseCostInCents": 0,
        "durationMs": 0,
        "isTest": run.is_test,
        "depth": 0,
        "tags": list(run.tags),
        "isQueued": status in QUEUED_STATUSES,
        "isExecuting": status in EXECUTING_STATUSES,
        "isCompleted": completed,
        "isFailed": completed and status != "COMPLETED",
        "isSuccess": status == "COMPLETED",
        "isCancelled": status == "CANCELED",
        "isWaiting": status == "WAITING",
    }
    for name, optional in (("version", run.version), ("idempotencyKey", run.idempotency_key), ("ttl", run.ttl)):
        if optional is not None:
            body[name] = optional
    for name, value in run.extra.items():
        body[name] = iso(value) if isinstance(value, datetime) else value
    if listed:
        body["env"] = {"id": run.env, "name": run.env}
        return body
    body |= {"triggerFunction": "trigger", "attemptCount": 0, "attempts": [], "relatedRuns": {"children": []}}
    return body
