"""Typed views of Trigger.dev responses, tolerant of fields and statuses the API adds later."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Trigger.dev keeps milliseconds and a time shown in Slack may have lost them: two instants this close are the same.
SAME_INSTANT = timedelta(seconds=1)


class RunStatus(StrEnum):
    """Run statuses as sent with `x-trigger-api-version: 2025-07-16`, plus the legacy names and UNKNOWN."""

    DELAYED = "DELAYED"
    PENDING_VERSION = "PENDING_VERSION"
    QUEUED = "QUEUED"
    DEQUEUED = "DEQUEUED"
    EXECUTING = "EXECUTING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    SYSTEM_FAILURE = "SYSTEM_FAILURE"
    EXPIRED = "EXPIRED"
    TIMED_OUT = "TIMED_OUT"
    # Legacy names a server may still send without the version header.
    WAITING_FOR_DEPLOY = "WAITING_FOR_DEPLOY"
    REATTEMPTING = "REATTEMPTING"
    FROZEN = "FROZEN"
    INTERRUPTED = "INTERRUPTED"
    UNKNOWN = "UNKNOWN"


# A run that was DELAYED and is now anything but these has started (it may even have finished already).
NOT_STARTED = frozenset({RunStatus.DELAYED, RunStatus.CANCELED, RunStatus.EXPIRED})


class Run(BaseModel):
    """The fields of a RetrieveRunResponse the bot uses. Unknown fields are ignored, unknown statuses kept."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^run_[A-Za-z0-9]{1,40}$")  # safe to show unescaped, and to put in a button
    status: RunStatus = RunStatus.UNKNOWN
    raw_status: str = ""
    task_identifier: str = Field(default="", alias="taskIdentifier")
    version: str | None = None
    tags: tuple[str, ...] = ()
    idempotency_key: str | None = Field(default=None, alias="idempotencyKey")
    is_test: bool = Field(default=False, alias="isTest")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    delayed_until: datetime | None = Field(default=None, alias="delayedUntil")
    started_at: datetime | None = Field(default=None, alias="startedAt")
    finished_at: datetime | None = Field(default=None, alias="finishedAt")
    expired_at: datetime | None = Field(default=None, alias="expiredAt")
    ttl: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Run:
        """Parse a run body, keeping the status string even when it is not one we know."""
        raw = str(data.get("status", ""))
        status = RunStatus(raw) if raw in RunStatus.__members__ else RunStatus.UNKNOWN
        return cls.model_validate({**data, "status": status, "raw_status": raw})

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, list):
            return tuple(str(item) for item in value)
        return value

    @property
    def is_delayed(self) -> bool:
        return self.status is RunStatus.DELAYED

    @property
    def status_label(self) -> str:
        """The status as the server named it (so an unknown new status is still shown truthfully)."""
        return self.raw_status or self.status.value
