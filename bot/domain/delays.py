"""Parse what a person types as "when" into the instant a delayed run should start.

Two forms are accepted:

* a relative duration in the server's grammar ``^(\\d+(?:w|d|hr|h|m|s))+$`` plus what people type in
  Slack: any case, spaces between parts, ``,`` or ``and`` between parts, a leading ``+`` or ``in``, and
  spelled units (``mins``, ``hours``, ``days``...);
* an absolute ISO 8601 date-time with ``Z``, an offset or a trailing ``UTC``/``GMT``.

The result is always an aware UTC datetime rounded to whole milliseconds, computed once from the ``now``
given by the caller, and sent to Trigger.dev as an absolute ISO string (:func:`to_api_delay`) so that a
retried request lands on the same instant. Errors carry a :class:`DelayProblem` kind only; the wording
shown to people lives in the app's messages module.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DelayError",
    "DelayProblem",
    "format_duration",
    "instant_problem",
    "parse_duration",
    "parse_when",
    "to_api_delay",
    "tomorrow_at",
]

_MICROSECOND = timedelta(microseconds=1)

# Canonical unit → seconds. The server's units are w, d, h (alias hr), m and s.
_UNIT_SECONDS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}

# Every spelling we accept (after lower-casing) → canonical unit.
_UNIT_ALIASES: dict[str, str] = {
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "w"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
}

# One "<number><unit>" part followed by an optional separator. A "," or "and" separator must be
# followed by another part, so "1h," and "1h and" are rejected.
_PART_RE = re.compile(r"([0-9]+)\s*([a-z]+)(?:\s*,\s*(?=[0-9])|\s+and\s+(?=[0-9])|\s*)")
_IN_PREFIX_RE = re.compile(r"^in\s+")
_ISO_START_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UTC_SUFFIX_RE = re.compile(r"\s*(?:UTC|GMT)$")

# More significant digits than this is beyond any timedelta; clamp instead of building huge ints.
_MAX_DIGITS = 18
_CLAMPED = 10**18


class DelayProblem(enum.StrEnum):
    """Why a "when" text was refused."""

    EMPTY = "empty"
    UNREADABLE = "unreadable"
    NOT_POSITIVE = "not_positive"
    PAST = "past"
    TOO_FAR = "too_far"


class DelayError(ValueError):
    """A "when" text that cannot be used; ``kind`` says why and ``text`` is what the user typed."""

    kind: DelayProblem
    text: str

    def __init__(self, kind: DelayProblem, text: str, detail: str = "") -> None:
        self.kind = kind
        self.text = text
        shown = text if len(text) <= 60 else text[:57] + "..."
        suffix = f": {detail}" if detail else ""
        super().__init__(f"{kind.value} delay {shown!r}{suffix}")


def parse_when(text: str, *, now: datetime, max_delay: timedelta) -> datetime:
    """Turn a duration ("1h30m", "in 2 hours") or an ISO date-time into the target instant.

    Args:
        text: What the user typed.
        now: The current time (timezone-aware); durations count from it.
        max_delay: The furthest allowed target, relative to ``now``.

    Returns:
        The target as an aware UTC datetime rounded to whole milliseconds, strictly after ``now``.

    Raises:
        DelayError: With ``kind`` EMPTY, UNREADABLE, NOT_POSITIVE, PAST or TOO_FAR.
        ValueError: If ``now`` is naive (a programming error, not a user error).
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    stripped = text.strip()
    if not stripped:
        raise DelayError(DelayProblem.EMPTY, text)
    now_utc = now.astimezone(UTC)
    if _ISO_START_RE.match(stripped):
        return _absolute_target(stripped, text, now=now_utc, max_delay=max_delay)
    return _relative_target(stripped, text, now=now_utc, max_delay=max_delay)


def parse_duration(text: str) -> timedelta:
    """Read a positive duration ("6h", "1d 12h", "in 2 days") in the same grammar as :func:`parse_when`.

    Raises:
        DelayError: With ``kind`` EMPTY, UNREADABLE or NOT_POSITIVE (and TOO_FAR beyond what a timedelta holds).
    """
    stripped = text.strip()
    if not stripped:
        raise DelayError(DelayProblem.EMPTY, text)
    seconds = _positive_seconds(stripped, text)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise DelayError(DelayProblem.TOO_FAR, text, "beyond the representable range") from None


def format_duration(delta: timedelta) -> str:
    """Format a duration compactly for people, e.g. "45s", "1h 30m", "1d 12h", "2w 3d".

    The duration is rounded to whole seconds, then shown with its two largest non-zero units among
    w, d, h, m and s; smaller units are dropped (not rounded), so "1d 2h 59m" shows as "1d 2h".
    Anything under half a second is "0s"; negative durations get a leading "-".

    Args:
        delta: The duration to show.

    Returns:
        The compact text.
    """
    micros = delta // _MICROSECOND
    sign = "-" if micros < 0 else ""
    remaining = (abs(micros) + 500_000) // 1_000_000
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return sign + " ".join(parts)


def to_api_delay(target: datetime) -> str:
    """Format an instant the way we send it to Trigger.dev: ISO 8601 UTC with milliseconds and "Z".

    Args:
        target: A timezone-aware instant; sub-millisecond parts are rounded half up.

    Returns:
        For example "2026-12-01T09:00:00.000Z".

    Raises:
        ValueError: If ``target`` is naive.
    """
    if target.utcoffset() is None:
        raise ValueError("target must be timezone-aware")
    utc = _round_to_milliseconds(target.astimezone(UTC))
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _round_to_milliseconds(moment: datetime) -> datetime:
    """Round half up to a whole millisecond (may raise OverflowError at datetime.max)."""
    milliseconds = (moment.microsecond + 500) // 1000
    return moment.replace(microsecond=0) + timedelta(milliseconds=milliseconds)


def _absolute_target(stripped: str, text: str, *, now: datetime, max_delay: timedelta) -> datetime:
    """The target for an ISO 8601 date-time; ``now`` is aware UTC."""
    candidate = _UTC_SUFFIX_RE.sub("+00:00", stripped.upper())
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise DelayError(DelayProblem.UNREADABLE, text, "not an ISO 8601 date-time") from None
    if parsed.utcoffset() is None:
        raise DelayError(DelayProblem.UNREADABLE, text, "date-time without a timezone is ambiguous")
    problem = instant_problem(parsed, now=now, max_delay=max_delay)  # aware subtraction cannot overflow
    if problem is not None:
        raise DelayError(problem, text)
    try:
        target = _round_to_milliseconds(parsed.astimezone(UTC))
    except OverflowError:
        raise DelayError(DelayProblem.TOO_FAR, text, "beyond the representable range") from None
    problem = instant_problem(target, now=now, max_delay=max_delay)  # rounding may take a sub-ms lead away
    if problem is not None:
        raise DelayError(problem, text)
    return target


def instant_problem(when: datetime, *, now: datetime, max_delay: timedelta) -> DelayProblem | None:
    """The one rule for every instant a person asks for, whatever the surface: after `now`, and at most
    `max_delay` ahead. Returns PAST, TOO_FAR or None (fine)."""
    ahead = when - now
    if ahead <= timedelta(0):
        return DelayProblem.PAST
    if ahead > max_delay:
        return DelayProblem.TOO_FAR
    return None


def _relative_target(stripped: str, text: str, *, now: datetime, max_delay: timedelta) -> datetime:
    """The target for a duration such as "1h30m"; ``now`` is aware UTC."""
    seconds = _positive_seconds(stripped, text)
    if seconds * 1_000_000 > max_delay // _MICROSECOND:
        raise DelayError(DelayProblem.TOO_FAR, text)
    try:
        return _round_to_milliseconds(now + timedelta(seconds=seconds))
    except OverflowError:
        raise DelayError(DelayProblem.TOO_FAR, text, "beyond the representable range") from None


def _positive_seconds(stripped: str, text: str) -> int:
    """The seconds of a duration as typed ("in 2h", "+90m"); NOT_POSITIVE for a signed-negative or zero one."""
    body = _IN_PREFIX_RE.sub("", stripped.lower(), count=1)
    negative = body.startswith("-")
    body = body.removeprefix("-" if negative else "+").lstrip()
    seconds = _duration_seconds(body, text)
    if negative or seconds == 0:
        raise DelayError(DelayProblem.NOT_POSITIVE, text)
    return seconds


def _duration_seconds(body: str, text: str) -> int:
    """Total seconds of a lower-cased duration body like "1h 30m"; each unit may appear once."""
    seen: dict[str, int] = {}
    position = 0
    while position < len(body) or not seen:
        part = _PART_RE.match(body, position)
        if part is None:
            raise DelayError(DelayProblem.UNREADABLE, text, "not a duration")
        unit = _UNIT_ALIASES.get(part[2])
        if unit is None:
            raise DelayError(DelayProblem.UNREADABLE, text, f"unknown unit {part[2]!r}")
        if unit in seen:
            raise DelayError(DelayProblem.UNREADABLE, text, f"unit {unit!r} given twice")
        seen[unit] = _bounded_int(part[1])
        position = part.end()
    return sum(count * _UNIT_SECONDS[unit] for unit, count in seen.items())


def _bounded_int(digits: str) -> int:
    """The value of a digit string, clamped so absurd inputs stay cheap (still far beyond any limit)."""
    significant = digits.lstrip("0")
    if len(significant) > _MAX_DIGITS:
        return _CLAMPED
    return int(significant or "0")


def tomorrow_at(now: datetime, tz_name: str | None, hour: int = 9) -> tuple[datetime, bool]:
    """Tomorrow at `hour`:00 in the IANA timezone `tz_name` (a person's Slack timezone), as UTC.

    Returns the instant and whether the timezone was understood; an unknown or missing zone means UTC.
    """
    zone: tzinfo = UTC
    understood = False
    if tz_name:
        try:
            zone = ZoneInfo(tz_name)
            understood = True
        except (ZoneInfoNotFoundError, ValueError):
            understood = False
    local = now.astimezone(zone)
    day = local.date() + timedelta(days=1)
    return datetime.combine(day, time(hour, 0), tzinfo=zone).astimezone(UTC), understood
