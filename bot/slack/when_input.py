"""The two time inputs of every form (a typed time, or a picked date and time), read and checked together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import messages
from bot.domain.delays import DelayError, DelayProblem, format_duration, instant_problem
from bot.domain.typed_time import UTC_READER, ReaderZone, read_time
from bot.render import ids
from bot.render.times import examples_text, spoken


@dataclass(frozen=True, slots=True)
class WhenInput:
    """The time chosen (None when `errors` says why not), inline errors by block id, and what to record as the
    person's input."""

    target: datetime | None
    errors: dict[str, str]
    typed: str
    shift: timedelta | None = None  # a duration was typed (a push moves each run by it)
    run_now: bool = False  # `now` was typed where Run now is offered: `target` is None, with no error
    asks_first: bool = False  # a day the person should see before anything moves (`next friday 9am`)


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


def read_when(
    state: dict[str, Any],
    now: datetime,
    max_delay: timedelta,
    reader: ReaderZone = UTC_READER,
    *,
    run_now: bool = False,
) -> WhenInput:
    """Exactly one of the two inputs must be filled, with a time ahead and within `max_delay`; a typed time of day
    is on the clocks of `reader`'s zone. `run_now`: `now` is accepted (a form for one run)."""
    typed_value = value_of(state, ids.BLOCK_WHEN_TEXT, ids.ACTION_WHEN_TEXT).get("value")
    text = typed_value.strip() if isinstance(typed_value, str) else ""
    picked = value_of(state, ids.BLOCK_WHEN_AT, ids.ACTION_WHEN_AT).get("selected_date_time")
    limit = format_duration(max_delay)
    errors: dict[str, str] = {}
    target: datetime | None = None
    shift: timedelta | None = None
    starts_now = asks_first = False
    if not text and picked is None:
        errors[ids.BLOCK_WHEN_TEXT] = messages.MODAL_NEITHER
    elif text and picked is not None:
        errors[ids.BLOCK_WHEN_TEXT] = messages.MODAL_BOTH
    elif text:
        try:
            when = read_time(text, now=now, zone=reader.zone, max_delay=max_delay)
            target, shift, asks_first = when.target, when.shift, when.asks_first
            starts_now = target is None
            if starts_now and not run_now:
                errors[ids.BLOCK_WHEN_TEXT] = messages.MODAL_RUN_NOW
        except DelayError as exc:
            errors[ids.BLOCK_WHEN_TEXT] = plain_problem(exc, text[:60], now, reader, limit)
    elif (seconds := _epoch_seconds(picked)) is None:
        errors[ids.BLOCK_WHEN_AT] = messages.MODAL_AT_UNREADABLE
    else:
        target = datetime.fromtimestamp(seconds, tz=UTC)
        problem = instant_problem(target, now=now, max_delay=max_delay)
        if problem is DelayProblem.PAST:
            errors[ids.BLOCK_WHEN_AT] = messages.instant_past(f"That date and time ({spoken(target, now, reader)})")
        elif problem is DelayProblem.TOO_FAR:
            errors[ids.BLOCK_WHEN_AT] = messages.instant_too_far(limit)
    if errors:
        target = None
    typed = text or (f"picked {target.isoformat()}" if target else "")
    return WhenInput(target, errors, typed, shift, starts_now and not errors, asks_first)


def plain_problem(exc: DelayError, typed: str, now: datetime, reader: ReaderZone, limit: str) -> str:
    """A form's inline error for a typed time: plain text, with the instant it named and examples valid now."""
    resolved = spoken(exc.resolved, now, reader) if exc.resolved else None
    suggestion = (exc.suggestion[0], spoken(exc.suggestion[1], now, reader)) if exc.suggestion else None
    examples = examples_text(now, reader, plain=True, run_now=False)
    return messages.delay_problem_plain(exc.kind, typed, limit, examples, resolved, suggestion)


def _epoch_seconds(picked: object) -> int | None:
    """A date-time picker's value (Unix seconds, as a number or a string of ASCII digits) or None."""
    text = str(picked)
    if not (text.isascii() and text.isdigit()) or len(text) > 11:
        return None
    return int(text)


def when_hint(now: datetime, reader: ReaderZone, *, run_now: bool = True) -> str:
    """The typed time's hint, computed now for this reader."""
    return messages.hint_when_text(examples_text(now, reader, plain=True, run_now=run_now), reader.known)
