"""Delays: why a typed time was refused, the one rule for an instant a person asks for, how a duration reads, and
how an instant is sent to Trigger.dev.

What people type is read by bot/domain/typed_time.py. Every result is an aware UTC datetime rounded to whole
milliseconds, sent to Trigger.dev as an absolute ISO string (:func:`to_api_delay`) so that a retried request lands on
the same instant. Errors carry a :class:`DelayProblem` kind (and, where it helps, the instant the text resolved to
or a suggestion); the wording shown to people lives in the app's messages module.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, time, timedelta, tzinfo

__all__ = [
    "DelayError",
    "DelayProblem",
    "format_duration",
    "format_until",
    "instant_problem",
    "round_to_milliseconds",
    "to_api_delay",
    "tomorrow_at",
]

_MICROSECOND = timedelta(microseconds=1)


class DelayProblem(enum.StrEnum):
    """Why a "when" text was refused."""

    EMPTY = "empty"
    UNREADABLE = "unreadable"
    NOT_POSITIVE = "not_positive"
    PAST = "past"
    TOO_FAR = "too_far"
    TOO_LONG = "too_long"
    NO_TIME = "no_time"  # a day without a time of day


class DelayError(ValueError):
    """A "when" text that cannot be used; ``kind`` says why and ``text`` is what the user typed. ``resolved``: the
    instant it named (PAST, TOO_FAR); ``suggestion``: a text with a time that would do, and its instant (NO_TIME, and
    UNREADABLE when a misspelt word was the trouble)."""

    kind: DelayProblem
    text: str
    resolved: datetime | None
    suggestion: tuple[str, datetime] | None

    def __init__(
        self,
        kind: DelayProblem,
        text: str,
        detail: str = "",
        *,
        resolved: datetime | None = None,
        suggestion: tuple[str, datetime] | None = None,
    ) -> None:
        self.kind = kind
        self.text = text
        self.resolved = resolved
        self.suggestion = suggestion
        shown = text if len(text) <= 60 else text[:57] + "..."
        suffix = f": {detail}" if detail else ""
        super().__init__(f"{kind.value} delay {shown!r}{suffix}")


def format_duration(delta: timedelta) -> str:
    """A duration as people read it: "45s", "30m", "1h 30m", "1d 12h", "365d".

    One rule: under a minute, whole seconds; under a day, hours and minutes, rounded to the minute; from a day,
    days and hours, rounded to the hour (half up each time, so "23h 59m 40s" reads "1d" everywhere). No weeks:
    "365d" stays "365d". Negative durations get a leading "-".
    """
    micros = delta // _MICROSECOND
    sign = "-" if micros < 0 else ""
    seconds = (abs(micros) + 500_000) // 1_000_000
    if seconds < 60:
        return f"{sign}{seconds}s" if seconds else "0s"
    minutes = (seconds + 30) // 60
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return sign + " ".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m")) if n)
    hours = (seconds + 1800) // 3600
    days, hours = divmod(hours, 24)
    return sign + " ".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h")) if n)


def format_until(target: datetime, now: datetime) -> str:
    """How far ahead `target` is, read the same way by every list drawn in the same minute: counted between the
    clock minutes of both instants (a run at 09:00 seen at 08:59:50 is "1m" away); in seconds only within the
    same clock minute."""
    if _minute(target) == _minute(now):
        return format_duration(target - now)
    return format_duration(_minute(target) - _minute(now))


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


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
    utc = round_to_milliseconds(target.astimezone(UTC))
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def round_to_milliseconds(moment: datetime) -> datetime:
    """Round half up to a whole millisecond (may raise OverflowError at datetime.max)."""
    milliseconds = (moment.microsecond + 500) // 1000
    return moment.replace(microsecond=0) + timedelta(milliseconds=milliseconds)


def instant_problem(when: datetime, *, now: datetime, max_delay: timedelta) -> DelayProblem | None:
    """The one rule for every instant a person asks for, whatever the surface: after `now`, and at most
    `max_delay` ahead. Returns PAST, TOO_FAR or None (fine)."""
    ahead = when - now
    if ahead <= timedelta(0):
        return DelayProblem.PAST
    if ahead > max_delay:
        return DelayProblem.TOO_FAR
    return None


def tomorrow_at(now: datetime, zone: tzinfo, hour: int = 9) -> datetime:
    """Tomorrow at `hour`:00 on the clocks of `zone` (a person's timezone), as UTC, with the zone's own rules."""
    day = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(hour, 0), tzinfo=zone).astimezone(UTC)
