"""When the digest of runs coming due is posted: DIGEST_SCHEDULE's times of day in DIGEST_TIMEZONE, as instants.

Pure: times of day and a zone in, UTC instants out. A time that does not exist on a day (the hour skipped when
clocks go forward) is taken as the moment after the shift; a time that happens twice (clocks go back) is posted
once, at its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def parse_schedule(text: str) -> tuple[time, ...]:
    """`09:00,17:30` → the times of day, sorted, without repeats; ValueError for anything else."""
    times: set[time] = set()
    for part in (item.strip() for item in text.split(",")):
        if not part:
            continue
        hours, sep, minutes = part.partition(":")
        if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2 or len(hours) > 2:
            raise ValueError(f"use times of day like 09:00,17:30, not {part[:20]!r}")
        if int(hours) > 23 or int(minutes) > 59:
            raise ValueError(f"{part} is not a time of day (00:00 to 23:59)")
        times.add(time(int(hours), int(minutes)))
    return tuple(sorted(times))


def zone(name: str) -> ZoneInfo:
    """An IANA zone (`Europe/Paris`, `UTC`); ValueError when unknown."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"use an IANA time zone like Europe/Paris or UTC, not {name[:40]!r}") from exc


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    local = datetime.combine(day, at, tzinfo=tz)  # fold=0: the first occurrence, or the shift's later side
    return local.astimezone(UTC).replace(second=0, microsecond=0)


def _around(times: tuple[time, ...], tz: ZoneInfo, now: datetime) -> list[datetime]:
    today = now.astimezone(tz).date()
    days = [today + timedelta(days=offset) for offset in (-2, -1, 0, 1, 2)]
    return sorted({_instant(day, at, tz) for day in days for at in times})


def latest_slot(times: tuple[time, ...], tz: ZoneInfo, now: datetime) -> datetime | None:
    """The most recent scheduled instant at or before `now` (None with no times)."""
    past = [slot for slot in _around(times, tz, now) if slot <= now]
    return past[-1] if past else None


def next_slot(times: tuple[time, ...], tz: ZoneInfo, now: datetime) -> datetime | None:
    """The first scheduled instant after `now` (None with no times)."""
    ahead = [slot for slot in _around(times, tz, now) if slot > now]
    return ahead[0] if ahead else None
