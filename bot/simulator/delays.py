"""How the server reads a reschedule's `delay`: the body schema, `parseDelay` and its duration grammar."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DelayRefused", "parse_date", "parse_duration_ms", "resolve_delay"]

JS_MAX_DATE_MS = 8.64e15
DURATION_RE = re.compile(r"^([0-9]+(?:w|d|hr|h|m|s))+$")
DURATION_UNITS = (
    (re.compile(r"([0-9]+)w"), 7 * 86_400_000),
    (re.compile(r"([0-9]+)d"), 86_400_000),
    (re.compile(r"([0-9]+)(?:hr|h)"), 3_600_000),
    (re.compile(r"([0-9]+)m"), 60_000),
    (re.compile(r"([0-9]+)s"), 1_000),
)
SOMETHING_WRONG = "Something went wrong, please try again."


class DelayRefused(Exception):
    """The server refuses the delay with this status and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def to_ms(value: datetime) -> datetime:
    """Truncated to milliseconds, as a JS Date is."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_duration_ms(text: str) -> int | None:
    """`parseNaturalLanguageDurationInMs`: lowercase units w/d/h|hr/m/s, first match per unit, summed."""
    if len(text) > 100 or not DURATION_RE.match(text):
        return None
    total = 0
    for pattern, unit_ms in DURATION_UNITS:
        found = pattern.search(text)
        if found:
            total += int(found.group(1)) * unit_ms
    return total


def parse_date(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return to_ms(value if value.tzinfo else value.replace(tzinfo=UTC))


def resolve_delay(body: Any, now: datetime) -> datetime:
    """The route's body schema plus `parseDelay`, in the server's order; raises DelayRefused with its refusal."""
    if not isinstance(body, dict) or "delay" not in body:
        raise DelayRefused(400, "Invalid request body")
    delay = body["delay"]
    if isinstance(delay, str):
        return _delay_from_string(delay, now)
    # z.coerce.date(): new Date(value); null → the epoch, booleans → 0/1 ms, objects and arrays → Invalid Date.
    if delay is None or isinstance(delay, bool | int | float):
        millis = float(delay or 0)
        if math.isfinite(millis) and abs(millis) <= JS_MAX_DATE_MS:
            try:
                return datetime.fromtimestamp(int(millis) / 1000, UTC)
            except (OverflowError, ValueError, OSError):  # beyond Python's year 9999
                raise DelayRefused(500, SOMETHING_WRONG) from None
    raise DelayRefused(400, "Invalid request body")


def _delay_from_string(raw: str, now: datetime) -> datetime:
    invalid = DelayRefused(400, f"Invalid delay: {raw}")
    if raw == "":
        raise invalid
    as_date = parse_date(raw)
    if as_date is not None:
        if as_date <= now:
            raise invalid
        return as_date
    millis = parse_duration_ms(raw)
    if millis is None:
        raise invalid
    try:
        return now + timedelta(milliseconds=millis)
    except OverflowError:  # JS gets an Invalid Date, and toISOString() throws inside the route's try
        raise DelayRefused(500, SOMETHING_WRONG) from None
