"""The two time inputs of every form (a typed time, or a picked date and time), read and checked together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import messages
from bot.domain.delays import DelayError, DelayProblem, format_duration, instant_problem, parse_when
from bot.render import ids


@dataclass(frozen=True, slots=True)
class WhenInput:
    """The time chosen (None when `errors` says why not), inline errors by block id, and what to record as the
    person's input."""

    target: datetime | None
    errors: dict[str, str]
    typed: str


def state_values(view: dict[str, Any]) -> dict[str, Any]:
    """`view.state.values`, or {} when a tampered view has none."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


def value_of(state: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    """One input's entry in `state.values` ({} when absent or not an object)."""
    entry = state.get(block)
    entry = entry.get(action) if isinstance(entry, dict) else None
    return entry if isinstance(entry, dict) else {}


def read_when(state: dict[str, Any], now: datetime, max_delay: timedelta) -> WhenInput:
    """Exactly one of the two inputs must be filled, with a time ahead and within `max_delay`."""
    typed_value = value_of(state, ids.BLOCK_WHEN_TEXT, ids.ACTION_WHEN_TEXT).get("value")
    text = typed_value.strip() if isinstance(typed_value, str) else ""
    picked = value_of(state, ids.BLOCK_WHEN_AT, ids.ACTION_WHEN_AT).get("selected_date_time")
    limit = format_duration(max_delay)
    errors: dict[str, str] = {}
    target: datetime | None = None
    if not text and picked is None:
        errors[ids.BLOCK_WHEN_TEXT] = messages.MODAL_NEITHER
    elif text and picked is not None:
        errors[ids.BLOCK_WHEN_TEXT] = messages.MODAL_BOTH
    elif text:
        try:
            target = parse_when(text, now=now, max_delay=max_delay)
        except DelayError as exc:
            errors[ids.BLOCK_WHEN_TEXT] = messages.delay_problem_plain(exc.kind, text[:60], limit)
    elif (seconds := _epoch_seconds(picked)) is None:
        errors[ids.BLOCK_WHEN_AT] = messages.MODAL_AT_UNREADABLE
    else:
        target = datetime.fromtimestamp(seconds, tz=UTC)
        problem = instant_problem(target, now=now, max_delay=max_delay)
        if problem is DelayProblem.PAST:
            errors[ids.BLOCK_WHEN_AT] = messages.MODAL_AT_PAST
        elif problem is DelayProblem.TOO_FAR:
            errors[ids.BLOCK_WHEN_AT] = messages.instant_too_far(limit)
    if errors:
        target = None
    typed = text or (f"picked {target.isoformat()}" if target else "")
    return WhenInput(target, errors, typed)


def _epoch_seconds(picked: object) -> int | None:
    """A date-time picker's value (Unix seconds, as a number or a string of ASCII digits) or None."""
    text = str(picked)
    if not (text.isascii() and text.isdigit()) or len(text) > 11:
        return None
    return int(text)
