"""Versioned action ids, callback ids and button values: every interactive payload is validated here.

Action ids look like `rb1:push_1h`; values are compact JSON validated by `ButtonValue`. A payload from an
older or foreign version, or a value that does not parse, becomes `ForeignPayload`, which surfaces answer with a
private message instead of an exception.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

VERSION = "rb1"
ACTION_PATTERN = re.compile(r"^rb\d+:")
SHORTCUT_CALLBACK_ID = "reschedule_from_message"
MODAL_CALLBACK_ID = f"{VERSION}:modal"
MODAL_QUESTION_CALLBACK_ID = f"{VERSION}:modal_question"  # the form's "are you sure" (now, next <weekday>)

# Modal block and action ids (the keys of `response_action: errors` are block ids).
BLOCK_WHEN_TEXT = "when_text"
BLOCK_WHEN_AT = "when_at"
BLOCK_RUNS = "runs"
BLOCK_ENV = "env"
ACTION_WHEN_TEXT = "when_text_input"
ACTION_WHEN_AT = "when_at_input"
ACTION_RUNS = "runs_input"
ACTION_ENV = "env_input"
BLOCK_REASON = "reason"  # a protected environment: why, for the approver
ACTION_REASON = "reason_input"
LIST_BLOCK_PREFIX = "list:"  # the block ids of the private list's rows: a move from one keeps the list


class Button(StrEnum):
    """Every button the bot renders."""

    PUSH_1H = "push_1h"
    PUSH_1D = "push_1d"
    TOMORROW_9 = "tomorrow_9"
    OTHER = "other"
    RESCHEDULE = "reschedule"
    RUN_NOW = "run_now"
    UNDO = "undo"
    OPEN = "open"
    CONFIRM = "confirm"
    CANCEL = "cancel"
    BULK_CONFIRM = "bulk_confirm"
    BULK_CANCEL = "bulk_cancel"
    BULK_PUSH_ALL = "bulk_push_all"
    BULK_UNDO = "bulk_undo"
    APPROVE = "approve"  # a request in a protected environment (bot/slack/approvals.py)
    REJECT = "reject"

    @property
    def action_id(self) -> str:
        return f"{VERSION}:{self.value}"


class ForeignPayload(ValueError):
    """An action id or value this version of the bot did not produce."""


def _ms(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


StrictMs = Annotated[int, Field(strict=True, ge=0, le=4_102_444_800_000)]


class ButtonValue(BaseModel):
    """What a button carries: the run, its environment, and the times the message showed when it was rendered.

    `a` is the start time the message showed, `p` the previous one (for Undo), `t` a chosen target (for the
    confirm prompt of the slash command). Times are epoch milliseconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, ge=1, le=1)
    r: str = Field(pattern=r"^run_[A-Za-z0-9]{20,30}$")
    e: str = Field(default="", max_length=40)
    # Strict whole milliseconds between 1970 and 2100: a tampered value is refused here, not an error later.
    a: StrictMs | None = None
    p: StrictMs | None = None
    t: StrictMs | None = None

    @classmethod
    def of(
        cls,
        run_id: str,
        env: str,
        shown: datetime | None = None,
        previous: datetime | None = None,
        target: datetime | None = None,
    ) -> ButtonValue:
        return cls(r=run_id, e=env, a=_ms(shown), p=_ms(previous), t=_ms(target))

    def encode(self) -> str:
        return json.dumps(self.model_dump(exclude_none=True), separators=(",", ":"))

    @property
    def run_id(self) -> str:
        return self.r

    @property
    def shown(self) -> datetime | None:
        return _dt(self.a)

    @property
    def previous(self) -> datetime | None:
        return _dt(self.p)

    @property
    def target(self) -> datetime | None:
        return _dt(self.t)


BULK_BUTTONS = frozenset({Button.BULK_CONFIRM, Button.BULK_CANCEL, Button.BULK_PUSH_ALL, Button.BULK_UNDO})
# Approve / Reject carry the key of their request, in the same shape as a set's key.
APPROVAL_BUTTONS = frozenset({Button.APPROVE, Button.REJECT})
BULK_MODAL_CALLBACK_ID = f"{VERSION}:bulk_when"
BULK_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,40}$")


class BulkValue(BaseModel):
    """What a bulk Confirm / Cancel carries: the key of the set fixed when the prompt was shown (a hundred run
    ids do not fit in a button's 2,000 characters; the set is kept by the bot). A set's Undo carries the key of
    its undo set (the runs moved, each with its own previous time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, ge=1, le=1)
    k: str = Field(pattern=BULK_KEY_PATTERN.pattern)

    def encode(self) -> str:
        return json.dumps(self.model_dump(), separators=(",", ":"))


def parse_bulk_action(action: dict[str, Any]) -> BulkValue:
    """The value of a bulk Confirm / Cancel (its action id already validated by `parse_action`)."""
    try:
        return BulkValue.model_validate_json(str(action.get("value", "")))
    except ValidationError as exc:
        raise ForeignPayload("a bulk button carries a malformed value") from exc


def parse_action(action: dict[str, Any]) -> tuple[Button, ButtonValue | None]:
    """Validate one entry of a block_actions payload's `actions`."""
    action_id = str(action.get("action_id", ""))
    prefix, _, name = action_id.partition(":")
    if prefix != VERSION:
        raise ForeignPayload(f"action id {action_id[:60]!r} is not from this version")
    try:
        button = Button(name)
    except ValueError as exc:
        raise ForeignPayload(f"unknown button {name[:40]!r}") from exc
    raw = action.get("value")
    if raw is None:
        if button in (Button.OPEN, Button.CANCEL):
            return button, None
        raise ForeignPayload(f"button {name} carries no value")
    if button in BULK_BUTTONS or button in APPROVAL_BUTTONS:  # its value is read by parse_bulk_action
        parse_bulk_action(action)
        return button, None
    try:
        return button, ButtonValue.model_validate_json(str(raw))
    except ValidationError as exc:
        raise ForeignPayload(f"button {name} carries a malformed value") from exc
