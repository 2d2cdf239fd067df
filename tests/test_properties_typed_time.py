"""Properties of wall-clock phrases (bot/domain/typed_time.py) over zones with unusual rules and many reference
instants, thick around their daylight-saving changes: the answer is in the future, at the named wall-clock time
(unless that time does not exist that day), on the named day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.delays import DelayError, DelayProblem
from bot.domain.typed_time import read_time

ZONES = [
    ZoneInfo(name)
    for name in ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham")
]
WEEKDAYS = ["monday", "tue", "wednesday", "thu", "fri", "saturday", "sun"]
MAX_DELAY = timedelta(days=400)


def _changes(zone: ZoneInfo) -> list[datetime]:
    """The instants (to the hour) at which `zone`'s offset changes, 2026 to 2028."""
    found = []
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment.year < 2029:
        moment += timedelta(minutes=30)
        now_offset = moment.astimezone(zone).utcoffset()
        if now_offset != offset:
            found.append(moment)
            offset = now_offset
    return found


CHANGES = [change for zone in ZONES for change in _changes(zone)]

nows = st.one_of(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 1), timezones=st.just(UTC)),
    st.tuples(st.sampled_from(CHANGES), st.integers(-3 * 86_400, 3 * 86_400)).map(
        lambda pair: pair[0] + timedelta(seconds=pair[1])
    ),
)
clocks = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))


def as_typed(hour: int, minute: int, style: int) -> str:
    if style == 0:
        return f"{hour:02d}:{minute:02d}"
    if style == 1:
        return f"{hour}:{minute:02d}"
    twelve = hour % 12 or 12
    return f"{twelve}:{minute:02d}{'am' if hour < 12 else 'pm'}"


def local_wall(target: datetime, zone: ZoneInfo) -> tuple[date, int, int]:
    moment = target.astimezone(zone)
    return moment.date(), moment.hour, moment.minute


def exists(day: date, hour: int, minute: int, zone: ZoneInfo) -> bool:
    """Whether the clocks of `zone` show this time on `day` (not skipped by a change)."""
    naive = datetime(day.year, day.month, day.day, hour, minute)
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def check(text: str, now: datetime, zone: ZoneInfo, hour: int, minute: int) -> tuple[date, date] | None:
    """Read `text`: the answer is after now and at hour:minute local (unless skipped that day). Returns (the day it
    landed on, today) for the caller to check the day; None when it was refused as past (only 'today')."""
    try:
        when = read_time(text, now=now, zone=zone, max_delay=MAX_DELAY)
    except DelayError as error:
        assert error.kind is DelayProblem.PAST and text.startswith("today"), (text, now, zone, error.kind)
        assert error.resolved is not None and error.resolved <= now
        return None
    assert when.target is not None
    assert when.target > now
    day, got_hour, got_minute = local_wall(when.target, zone)
    if exists(day, hour, minute, zone):
        assert (got_hour, got_minute) == (hour, minute), (text, now, zone, when)
        assert when.gap is False
    else:  # skipped by a change: moved on by the gap (at most an hour), never earlier
        assert when.gap is True
        named = datetime(day.year, day.month, day.day, hour, minute)
        shown = when.target.astimezone(zone).replace(tzinfo=None)
        assert timedelta(0) < shown - named <= timedelta(hours=1), (text, now, zone, shown)
    return day, now.astimezone(zone).date()


@settings(max_examples=400)
@given(nows, st.sampled_from(ZONES), clocks, st.integers(0, 2))
def test_a_time_alone_is_today_if_still_ahead_else_tomorrow(
    now: datetime, zone: ZoneInfo, clock: tuple[int, int], style: int
) -> None:
    hour, minute = clock
    landed = check(as_typed(hour, minute, style), now, zone, hour, minute)
    assert landed is not None
    day, today = landed
    assert day in (today, today + timedelta(days=1))
    if day == today + timedelta(days=1):  # only when today's was not ahead
        today_at = datetime(today.year, today.month, today.day, hour, minute, tzinfo=zone)
        assert not exists(today, hour, minute, zone) or today_at.astimezone(UTC) <= now


@settings(max_examples=400)
@given(nows, st.sampled_from(ZONES), clocks, st.integers(0, 2))
def test_tomorrow_is_the_next_local_date(now: datetime, zone: ZoneInfo, clock: tuple[int, int], style: int) -> None:
    hour, minute = clock
    landed = check(f"tomorrow {as_typed(hour, minute, style)}", now, zone, hour, minute)
    assert landed is not None
    day, today = landed
    assert day == today + timedelta(days=1) or not exists(today + timedelta(days=1), hour, minute, zone)


@settings(max_examples=400)
@given(nows, st.sampled_from(ZONES), clocks, st.integers(0, 6), st.booleans())
def test_a_weekday_is_that_day_next_or_today_if_still_ahead(
    now: datetime, zone: ZoneInfo, clock: tuple[int, int], weekday: int, next_week: bool
) -> None:
    hour, minute = clock
    text = f"{'next ' if next_week else ''}{WEEKDAYS[weekday]} {as_typed(hour, minute, 0)}"
    landed = check(text, now, zone, hour, minute)
    assert landed is not None
    day, today = landed
    ahead = (day - today).days
    if exists(day, hour, minute, zone) or day.weekday() == weekday:
        assert day.weekday() == weekday
        assert (1 if next_week else 0) <= ahead <= 7


@settings(max_examples=300)
@given(nows, st.sampled_from(ZONES), clocks, st.integers(1, 120))
def test_a_date_is_that_date(now: datetime, zone: ZoneInfo, clock: tuple[int, int], days_on: int) -> None:
    hour, minute = clock
    on = now.astimezone(zone).date() + timedelta(days=days_on)
    landed = check(f"{on:%Y-%m-%d} {hour:02d}:{minute:02d}", now, zone, hour, minute)
    assert landed is not None
    assert landed[0] == on or not exists(on, hour, minute, zone)
    landed = check(f"{on.day} {on:%b} {on.year} {as_typed(hour, minute, 2)}", now, zone, hour, minute)
    assert landed is not None
    assert landed[0] == on or not exists(on, hour, minute, zone)


@settings(max_examples=300)
@given(nows, st.sampled_from(ZONES), clocks)
def test_today_is_today_or_refused_as_past_naming_the_instant(
    now: datetime, zone: ZoneInfo, clock: tuple[int, int]
) -> None:
    hour, minute = clock
    landed = check(f"today {hour:02d}:{minute:02d}", now, zone, hour, minute)
    if landed is not None:
        day, today = landed
        assert day == today or not exists(today, hour, minute, zone)


@settings(max_examples=300)
@given(st.text(alphabet="0123456789 :apmtodyrwnexhfiusjbcDUTCZ+-,.", max_size=40), nows, st.sampled_from(ZONES))
def test_anything_typed_is_answered_in_the_future_or_refused_with_a_delay_error(
    text: str, now: datetime, zone: ZoneInfo
) -> None:
    try:
        when = read_time(text, now=now, zone=zone, max_delay=MAX_DELAY)
    except DelayError as error:
        assert error.text == text
        return
    assert when.target is None or now < when.target <= now + MAX_DELAY


def _gaps() -> list[tuple[ZoneInfo, datetime, timedelta]]:
    """Each skipped stretch of wall-clock time: (zone, a skipped wall time, the length of the gap)."""
    found = []
    for zone in ZONES:
        for change in _changes(zone):
            after = change.astimezone(zone).replace(tzinfo=None)
            before = (change - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None) + timedelta(seconds=1)
            if after > before:
                middle = before + (after - before) / 2
                found.append((zone, middle.replace(second=0, microsecond=0), after - before))
    return found


GAPS = _gaps()


@given(st.sampled_from(GAPS), st.integers(60, 6 * 86_400))
def test_a_skipped_wall_clock_time_moves_on_by_the_gap(gap: tuple[ZoneInfo, datetime, timedelta], early: int) -> None:
    zone, skipped, length = gap
    now = skipped.replace(tzinfo=zone).astimezone(UTC) - timedelta(seconds=early)
    when = read_time(f"{skipped:%Y-%m-%d %H:%M}", now=now, zone=zone, max_delay=MAX_DELAY)
    assert when.gap is True and when.target is not None
    assert when.target.astimezone(zone).replace(tzinfo=None) - skipped == length
