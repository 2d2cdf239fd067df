"""Tests for bot.domain.delays: parsing "when" texts, formatting durations and API delay strings."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.domain.delays import DelayError, DelayProblem, format_duration, format_until, to_api_delay
from bot.domain.typed_time import parse_when

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
MAX = timedelta(days=30)


def when(text: str, *, now: datetime = NOW, max_delay: timedelta = MAX) -> datetime:
    return parse_when(text, now=now, max_delay=max_delay)


def problem(text: str, *, now: datetime = NOW, max_delay: timedelta = MAX) -> DelayProblem:
    with pytest.raises(DelayError) as caught:
        parse_when(text, now=now, max_delay=max_delay)
    assert caught.value.text == text
    return caught.value.kind


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the server's own grammar
        ("45s", timedelta(seconds=45)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1hr", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("30m1h", timedelta(hours=1, minutes=30)),
        ("1hr30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1m30s", timedelta(minutes=1, seconds=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("1w1d1h1m1s", timedelta(weeks=1, days=1, hours=1, minutes=1, seconds=1)),
        ("90m", timedelta(minutes=90)),
        ("007m", timedelta(minutes=7)),
        # what people type
        ("1H30M", timedelta(hours=1, minutes=30)),
        ("1Hr", timedelta(hours=1)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1 h 30 m", timedelta(hours=1, minutes=30)),
        ("1h  30m", timedelta(hours=1, minutes=30)),
        ("1h\t30m", timedelta(hours=1, minutes=30)),
        ("1h, 30m", timedelta(hours=1, minutes=30)),
        ("1 hour and 30 minutes", timedelta(hours=1, minutes=30)),
        ("  2h  ", timedelta(hours=2)),
        ("\n2h\n", timedelta(hours=2)),
        ("+2h", timedelta(hours=2)),
        ("+ 2h", timedelta(hours=2)),
        ("in 2h", timedelta(hours=2)),
        ("In 2h", timedelta(hours=2)),
        ("IN 2H", timedelta(hours=2)),
        ("in 1h 30m", timedelta(hours=1, minutes=30)),
        ("in 2 hours", timedelta(hours=2)),
        # spelled units
        ("5min", timedelta(minutes=5)),
        ("5mins", timedelta(minutes=5)),
        ("1 minute", timedelta(minutes=1)),
        ("10 minutes", timedelta(minutes=10)),
        ("1 hour", timedelta(hours=1)),
        ("3 hours", timedelta(hours=3)),
        ("2hrs", timedelta(hours=2)),
        ("1 day", timedelta(days=1)),
        ("3 Days", timedelta(days=3)),
        ("1 week", timedelta(weeks=1)),
        ("2 weeks", timedelta(weeks=2)),
        ("1wk", timedelta(weeks=1)),
        ("30sec", timedelta(seconds=30)),
        ("30 secs", timedelta(seconds=30)),
        ("1 second", timedelta(seconds=1)),
        ("30 seconds", timedelta(seconds=30)),
        ("2 days 3 hours", timedelta(days=2, hours=3)),
    ],
)
def test_durations_count_from_now(text: str, expected: timedelta) -> None:
    assert when(text) == NOW + expected


@pytest.mark.parametrize(
    "text",
    [
        "1h1h",  # the server would count it once; we refuse to guess
        "1h2h",
        "1h1hr",  # h and hr are the same unit
        "1 hour 30 mins 2 hours",
        "5m 10 minutes",
        "1,5h",
        "10",  # no unit
        "h",
        "1y",
        "1ms",
        "1mo",
        "1 month",
        "1hrs30",
        "1h30",
        "1h,",
        "1h and",
        "and 1h",
        "1h,,30m",
        "in2h",
        "in",
        "+",
        "-",
        "++2h",
        "now",  # not an instant: the surfaces that offer Run now read it with read_time
        "½h",
        "２h",  # full-width digit
        "Jan 1 2030 9 9",
        "1",
    ],
)
def test_unreadable_texts(text: str) -> None:
    assert problem(text) is DelayProblem.UNREADABLE


@pytest.mark.parametrize("text", ["0s", "0m", "0h0m", "00000h", "0 minutes", "-2h", "in -2h", "-0s", "- 1d"])
def test_zero_or_negative_durations_are_not_positive(text: str) -> None:
    assert problem(text) is DelayProblem.NOT_POSITIVE


@pytest.mark.parametrize("text", ["", " ", "\t\n  "])
def test_blank_is_empty(text: str) -> None:
    assert problem(text) is DelayProblem.EMPTY


def test_duration_exactly_at_max_delay_is_allowed() -> None:
    assert when("30d") == NOW + MAX


@pytest.mark.parametrize("text", ["30d1s", "31d", "5w", "721h"])
def test_duration_beyond_max_delay_is_too_far(text: str) -> None:
    assert problem(text) is DelayProblem.TOO_FAR


@pytest.mark.parametrize(
    "text",
    [
        "100000000000w",
        "99999999999999999999999999d",
        "9" * 90 + "s",  # longer than any timedelta
        "1" + "0" * 40 + "m 5s",
    ],
)
def test_huge_durations_are_too_far_not_overflow(text: str) -> None:
    assert problem(text) is DelayProblem.TOO_FAR
    assert problem(text, max_delay=timedelta.max) is DelayProblem.TOO_FAR


def test_duration_past_datetime_max_is_too_far_even_with_unbounded_max_delay() -> None:
    # 500000 weeks fits in a timedelta but not after 2026 in a datetime.
    assert problem("500000w", max_delay=timedelta.max) is DelayProblem.TOO_FAR


def test_huge_number_with_zero_padding_is_still_zero() -> None:
    assert problem("0" * 60 + "s") is DelayProblem.NOT_POSITIVE


def test_repeated_unit_error_is_not_masked_by_size() -> None:
    assert problem("100000000000w1w") is DelayProblem.UNREADABLE


def test_negative_sign_on_unreadable_text_is_unreadable() -> None:
    assert problem("-banana") is DelayProblem.UNREADABLE


# --- absolute date-times -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01T09:00Z", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01 09:00:00Z", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01T09:00:00+00:00", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01T09:00+01:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),
        ("2026-12-01 09:00+01:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),
        ("2026-12-01T09:00:00-05:30", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01T09:00:00.250Z", datetime(2026, 12, 1, 9, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-12-01t09:00z", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01 09:00 UTC", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01 09:00 utc", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01T09:00GMT", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("  2026-12-01T09:00:00Z  ", datetime(2026, 12, 1, 9, tzinfo=UTC)),
    ],
)
def test_iso_date_times_with_a_zone(text: str, expected: datetime) -> None:
    result = when(text)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01 UTC",  # a date alone is not an instant
        "2026-13-01T09:00:00Z",
        "2026-12-32T09:00:00Z",
        "2026-12-01T25:00:00Z",
        "2026-12-01T09:00:00+25:00",
        "2026-12-01T09:00:00Z tomorrow",
        "2026-12-01T09:00:00 CET",
    ],
)
def test_naive_or_invalid_iso_is_unreadable(text: str) -> None:
    assert problem(text) is DelayProblem.UNREADABLE


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T12:00:00Z",  # equal to now
        "2026-11-29T11:59:59Z",
        "2026-11-29T12:30:00+01:00",  # 11:30 UTC
        "2020-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # would underflow if converted to UTC naively
    ],
)
def test_iso_not_after_now_is_past(text: str) -> None:
    assert problem(text) is DelayProblem.PAST


def test_iso_beyond_max_delay_is_too_far() -> None:
    assert when("2026-12-29T12:00:00Z") == NOW + MAX
    assert problem("2026-12-29T12:00:00.001Z") is DelayProblem.TOO_FAR
    assert problem("2030-01-01T00:00:00Z") is DelayProblem.TOO_FAR


def test_iso_past_datetime_max_in_utc_is_too_far_not_overflow() -> None:
    # Valid locally, but 9999-12-31T23:00 at -05:00 is in year 10000 in UTC.
    assert problem("9999-12-31T23:00:00-05:00", max_delay=timedelta.max) is DelayProblem.TOO_FAR


def test_iso_that_rounds_to_now_is_past() -> None:
    now = datetime(2026, 11, 29, 12, 0, 0, 123_100, tzinfo=UTC)
    # 100 µs after now, but it rounds down to 12:00:00.123, which is not after now.
    assert problem("2026-11-29T12:00:00.1232Z", now=now) is DelayProblem.PAST


# --- the result ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("microsecond", "expected_microsecond"),
    [(0, 0), (123_456, 123_000), (123_499, 123_000), (123_500, 124_000), (999_999, 0)],
)
def test_duration_result_is_rounded_to_milliseconds(microsecond: int, expected_microsecond: int) -> None:
    now = NOW.replace(microsecond=microsecond)
    result = when("1h", now=now)
    assert result.microsecond == expected_microsecond
    assert result.microsecond % 1000 == 0
    assert abs(result - (now + timedelta(hours=1))) <= timedelta(microseconds=500)


def test_rounding_carries_into_the_next_second() -> None:
    now = datetime(2026, 12, 31, 23, 59, 59, 999_600, tzinfo=UTC)
    assert when("1s", now=now) == datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_iso_result_is_rounded_to_milliseconds() -> None:
    assert when("2026-12-01T09:00:00.1234567Z") == datetime(2026, 12, 1, 9, 0, 0, 123_000, tzinfo=UTC)
    assert when("2026-12-01T09:00:00.1235Z") == datetime(2026, 12, 1, 9, 0, 0, 124_000, tzinfo=UTC)


def test_result_is_utc_even_when_now_has_another_zone() -> None:
    tokyo = timezone(timedelta(hours=9))
    now = NOW.astimezone(tokyo)
    result = when("2h", now=now)
    assert result.tzinfo is UTC
    assert result == NOW + timedelta(hours=2)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware") as caught:
        parse_when("1h", now=NOW.replace(tzinfo=None), max_delay=MAX)
    assert not isinstance(caught.value, DelayError)


# --- DelayError ----------------------------------------------------------------------------------


def test_delay_error_is_a_value_error_with_kind_and_text() -> None:
    with pytest.raises(ValueError) as caught:
        parse_when(" 1h1h ", now=NOW, max_delay=MAX)
    error = caught.value
    assert isinstance(error, DelayError)
    assert error.kind is DelayProblem.UNREADABLE
    assert error.text == " 1h1h "
    assert "1h1h" in str(error)


def test_delay_error_message_is_short_for_long_input() -> None:
    error = DelayError(DelayProblem.TOO_FAR, "9" * 5000)
    assert len(str(error)) < 120
    assert error.text == "9" * 5000


def test_delay_problem_is_a_str_enum() -> None:
    assert {kind.value for kind in DelayProblem} == {
        "unreadable",
        "not_positive",
        "past",
        "too_far",
        "empty",
        "too_long",
        "no_time",
    }
    assert str(DelayProblem.PAST) == "past"
    assert f"{DelayProblem.TOO_FAR}" == "too_far"
    assert pickle.loads(pickle.dumps(DelayProblem.TOO_FAR)) is DelayProblem.TOO_FAR


# --- format_duration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=400), "0s"),
        (timedelta(milliseconds=600), "1s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=89), "1m"),
        (timedelta(seconds=90), "2m"),  # to the minute, half up
        (timedelta(minutes=30), "30m"),
        (timedelta(hours=2), "2h"),
        (timedelta(hours=1, minutes=30), "1h 30m"),
        (timedelta(hours=1, minutes=30, seconds=59), "1h 31m"),  # rounded to the minute
        (timedelta(hours=1, seconds=5), "1h"),
        (timedelta(days=1, hours=12), "1d 12h"),
        (timedelta(days=1, minutes=30), "1d 1h"),  # from a day, to the hour, half up
        (timedelta(days=1, hours=2, minutes=59), "1d 3h"),
        (timedelta(weeks=2, days=3), "17d"),
        (timedelta(weeks=2, days=3, hours=4), "17d 4h"),
        (timedelta(days=30), "30d"),
        (timedelta(weeks=1), "7d"),
        (timedelta(days=365), "365d"),  # never "52w 1d"
        (timedelta(hours=23, minutes=59, seconds=40), "1d"),  # one rule: the same instant reads the same
        (timedelta(hours=23, minutes=59, seconds=20), "23h 59m"),
        (timedelta(hours=1, minutes=29, seconds=59, microseconds=999_500), "1h 30m"),  # rounds to seconds
        (timedelta(minutes=-90), "-1h 30m"),
        (timedelta(milliseconds=-400), "0s"),
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


def test_format_duration_of_a_parsed_delay_reads_back_as_typed() -> None:
    now = NOW.replace(microsecond=999_700)  # the target is rounded up by 0.3 ms
    assert format_duration(when("1h30m", now=now) - now) == "1h 30m"


# --- to_api_delay --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (datetime(2026, 12, 1, 9, tzinfo=UTC), "2026-12-01T09:00:00.000Z"),
        (datetime(2026, 12, 1, 9, 0, 0, 250_000, tzinfo=UTC), "2026-12-01T09:00:00.250Z"),
        (datetime(2026, 12, 1, 9, 0, 0, 123_456, tzinfo=UTC), "2026-12-01T09:00:00.123Z"),
        (datetime(2026, 12, 1, 9, 0, 0, 123_500, tzinfo=UTC), "2026-12-01T09:00:00.124Z"),
        (datetime(2026, 12, 1, 23, 59, 59, 999_700, tzinfo=UTC), "2026-12-02T00:00:00.000Z"),
        (datetime(2026, 12, 1, 10, tzinfo=timezone(timedelta(hours=1))), "2026-12-01T09:00:00.000Z"),
        (datetime(2026, 12, 1, 4, tzinfo=timezone(timedelta(hours=-5))), "2026-12-01T09:00:00.000Z"),
    ],
)
def test_to_api_delay(target: datetime, expected: str) -> None:
    assert to_api_delay(target) == expected


def test_to_api_delay_round_trips_through_parse_when() -> None:
    target = when("in 1 hour 30 min", now=NOW.replace(microsecond=4_321))
    text = to_api_delay(target)
    assert text == "2026-11-29T13:30:00.004Z"
    assert when(text) == target


def test_to_api_delay_rejects_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        to_api_delay(datetime(2026, 12, 1, 9))


def test_two_lists_drawn_in_the_same_minute_read_a_run_the_same() -> None:
    run_at = datetime(2026, 12, 8, 9, 0, 30, tzinfo=UTC)
    drawn = [datetime(2026, 12, 7, 9, 0, second, tzinfo=UTC) for second in (1, 29, 31, 59)]
    assert {format_until(run_at, now) for now in drawn} == {"1d"}
    drawn = [datetime(2026, 12, 8, 8, 59, second, tzinfo=UTC) for second in (0, 40)]
    assert {format_until(run_at, now) for now in drawn} == {"1m"}
    assert format_until(run_at, datetime(2026, 12, 8, 9, 0, 0, tzinfo=UTC)) == "30s"
