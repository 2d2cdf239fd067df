"""The reader of typed times (bot/domain/typed_time.py): each accepted form, each known trap, the daylight-saving
edges, and its cost on long adversarial input."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.delays import DelayError, DelayProblem
from bot.domain.typed_time import MAX_TYPED, When, read_time, wall_clock, zone_named

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Monday 7 Dec 2026, 13:30 in Berlin (12:30 UTC).
NOW = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
YEAR = timedelta(days=365)


def read(text: str, now: datetime = NOW, zone: ZoneInfo = BERLIN, max_delay: timedelta = YEAR) -> When:
    return read_time(text, now=now, zone=zone, max_delay=max_delay)


def assert_suggests(text: str, kind: DelayProblem, meant: str) -> None:
    """`text` is refused as `kind`, suggesting `meant`, which reads as the instant the suggestion names."""
    error = refused(text)
    assert error.kind is kind
    assert error.suggestion is not None and error.suggestion[0] == meant
    assert read(meant).target == error.suggestion[1]


def local(text: str, now: datetime = NOW, zone: ZoneInfo = BERLIN) -> datetime:
    target = read(text, now, zone).target
    assert target is not None
    assert target.tzinfo is UTC
    return target.astimezone(zone).replace(tzinfo=None)


def refused(text: str, now: datetime = NOW, zone: ZoneInfo = BERLIN, max_delay: timedelta = YEAR) -> DelayError:
    with pytest.raises(DelayError) as caught:
        read(text, now, zone, max_delay)
    return caught.value


# --- what people type ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 9am", datetime(2026, 12, 8, 9, 0)),
        ("tomorrow 09:00", datetime(2026, 12, 8, 9, 0)),
        ("tomorrow at 9", datetime(2026, 12, 8, 9, 0)),
        ("Tomorrow At 9AM", datetime(2026, 12, 8, 9, 0)),
        ("9am tomorrow", datetime(2026, 12, 8, 9, 0)),
        ("today 17:30", datetime(2026, 12, 7, 17, 30)),
        ("tonight 22:00", datetime(2026, 12, 7, 22, 0)),
        ("tonight 10", datetime(2026, 12, 7, 22, 0)),  # tonight, a bare hour is in the evening
        ("17:30", datetime(2026, 12, 7, 17, 30)),
        ("5:30pm", datetime(2026, 12, 7, 17, 30)),
        ("5 pm", datetime(2026, 12, 7, 17, 0)),
        ("3pm", datetime(2026, 12, 7, 15, 0)),  # dateparser answers None here with an aware base
        ("at 17:30", datetime(2026, 12, 7, 17, 30)),
        ("at 08:00", datetime(2026, 12, 8, 8, 0)),  # passed this morning: tomorrow, never this morning
        ("mon 14:00", datetime(2026, 12, 7, 14, 0)),  # today is Monday and 14:00 is still ahead
        ("mon 9am", datetime(2026, 12, 14, 9, 0)),  # today's 9am has passed: next Monday
        ("monday 2pm", datetime(2026, 12, 7, 14, 0)),
        ("fri 9am", datetime(2026, 12, 11, 9, 0)),
        ("next friday 9am", datetime(2026, 12, 11, 9, 0)),  # the first Friday after today
        ("next monday 14:00", datetime(2026, 12, 14, 14, 0)),  # never today
        ("this friday 9am", datetime(2026, 12, 11, 9, 0)),
        ("2026-12-09 09:00", datetime(2026, 12, 9, 9, 0)),
        ("2026-12-09T09:00", datetime(2026, 12, 9, 9, 0)),  # no offset: the person's timezone
        ("2026-12-09 9am", datetime(2026, 12, 9, 9, 0)),
        ("9 Dec 09:00", datetime(2026, 12, 9, 9, 0)),
        ("Dec 9 9am", datetime(2026, 12, 9, 9, 0)),
        ("dec 9th, 9am", datetime(2026, 12, 9, 9, 0)),
        ("9 December 2026 9am", datetime(2026, 12, 9, 9, 0)),
        ("Jan 4 9am", datetime(2027, 1, 4, 9, 0)),  # a date without a year: the next one ahead
        ("6 Dec 9am", datetime(2027, 12, 6, 9, 0)),
        ("noon", datetime(2026, 12, 8, 12, 0)),  # noon has passed today
        ("midnight", datetime(2026, 12, 8, 0, 0)),
        ("tomorrow noon", datetime(2026, 12, 8, 12, 0)),
        ("12am", datetime(2026, 12, 8, 0, 0)),
        ("12pm", datetime(2026, 12, 8, 12, 0)),
        ("2026-12-09T09:00Z", datetime(2026, 12, 9, 10, 0)),
        ("2026-12-09 09:00 UTC", datetime(2026, 12, 9, 10, 0)),
        ("2026-12-09T09:00:00+01:00", datetime(2026, 12, 9, 9, 0)),
    ],
)
def test_each_accepted_form_lands_on_the_named_wall_clock_time(text: str, expected: datetime) -> None:
    assert local(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("in 2 hours", timedelta(hours=2)),
        ("90 minutes", timedelta(minutes=90)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("0.25d", timedelta(hours=6)),
        ("2 hours from now", timedelta(hours=2)),
        ("2d and 3h", timedelta(days=2, hours=3)),
        # what people type in chat
        ("in an hour", timedelta(hours=1)),
        ("An hour", timedelta(hours=1)),
        ("a day", timedelta(days=1)),
        ("a week and a day", timedelta(days=8)),
        ("half an hour", timedelta(minutes=30)),
        ("in half an hour", timedelta(minutes=30)),
        ("half hour", timedelta(minutes=30)),
        ("half a day", timedelta(hours=12)),
        ("an hour and a half", timedelta(minutes=90)),
        ("in 2 hours and a half", timedelta(minutes=150)),
        ("2 and a half hours", timedelta(minutes=150)),
        ("a day and a half", timedelta(hours=36)),
        ("1h and half", timedelta(minutes=90)),
    ],
)
def test_durations_count_from_now_and_say_they_are_durations(text: str, expected: timedelta) -> None:
    when = read(text)
    assert when.target == NOW + expected
    assert when.shift == expected


def test_now_means_run_now() -> None:
    for text in ("now", " NOW ", "run now"):
        when = read(text)
        assert when.run_now and when.target is None


def test_a_time_alone_that_has_passed_today_says_it_means_tomorrow() -> None:
    assert read("at 08:00").rolled is True
    assert read("17:30").rolled is False


def test_next_weekday_is_shown_before_anything_moves() -> None:
    assert read("next friday 9am").asks_first is True
    assert read("friday 9am").asks_first is False


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        (datetime(2026, 12, 11, 7, 0, tzinfo=UTC), "next friday 9am", date(2026, 12, 18)),  # on a Friday: a week on
        (datetime(2026, 12, 11, 7, 0, tzinfo=UTC), "friday 9am", date(2026, 12, 11)),  # still ahead today
        (datetime(2026, 12, 10, 7, 0, tzinfo=UTC), "next friday 9am", date(2026, 12, 11)),  # on Thursday: tomorrow
        (datetime(2026, 12, 12, 7, 0, tzinfo=UTC), "next friday 9am", date(2026, 12, 18)),
    ],
)
def test_one_rule_for_next_weekday(now: datetime, text: str, expected: date) -> None:
    assert local(text, now).date() == expected


# --- refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "suggested"),
    [
        ("2026-12-09", "2026-12-09 9am"),
        ("next friday", "next friday 9am"),
        ("tomorrow", "tomorrow 9am"),
        ("tonight", "tonight 9pm"),
    ],
)
def test_a_day_without_a_time_is_refused_with_a_suggestion_that_has_one(text: str, suggested: str) -> None:
    assert_suggests(text, DelayProblem.NO_TIME, suggested)


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("tomorrow morning", "tomorrow 9am"),
        ("Friday evening", "friday 6pm"),
        ("this afternoon", "today 2pm"),
        ("afternoon", "today 2pm"),
        ("tomorrow night", "tomorrow 9pm"),
        ("night", "tonight 9pm"),
        ("next monday morning", "next monday 9am"),
    ],
)
def test_a_part_of_the_day_is_answered_with_the_hour_it_usually_means(text: str, meant: str) -> None:
    assert_suggests(text, DelayProblem.UNREADABLE, meant)


@pytest.mark.parametrize("text", ["this morning", "morning", "tomorrow 9am morning", "a b c d morning"])
def test_a_part_of_the_day_already_past_or_around_a_time_gets_no_guess(text: str) -> None:
    error = refused(text)  # at NOW, 13:30 in Berlin, this morning is over
    assert error.kind is DelayProblem.UNREADABLE and error.suggestion is None


def test_today_without_a_time_suggests_a_time_still_ahead() -> None:
    error = refused("today")
    assert error.suggestion is not None
    assert error.suggestion[1] > NOW


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("today 08:00", DelayProblem.PAST),
        ("2026-12-01 09:00", DelayProblem.PAST),
        ("2020-01-01T00:00Z", DelayProblem.PAST),
        ("0001-01-01 00:30", DelayProblem.PAST),  # before the calendar's start in UTC: past, not a crash
        ("9999-12-31 23:59", DelayProblem.TOO_FAR),
        ("9 december 2027 9am", DelayProblem.TOO_FAR),
    ],
)
def test_past_or_too_far_is_refused_naming_the_instant(text: str, kind: DelayProblem) -> None:
    error = refused(text)
    assert error.kind is kind
    if not text.startswith(("0001", "9999")):
        assert error.resolved is not None and error.resolved.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "soon",
        "10",
        "in2h",
        "1h,",
        "1h and",
        "dec 9am",
        "13pm",
        "25:00",
        "9:5",
        "tomorrow friday 9am",
        "9am 10am",
        "1y",
        "1 month",
        "1,5h",
        "½h",
        "２h",
        "2026-13-01 09:00",
        "30 feb 2027 9am",
        "2026-12-01T09:00:00 CET",
        "a",
        "an",
        "half",
        "in a",
        "2 a",
        "half a",
        "a 2h",
        "an and a day",
    ],
)
def test_what_is_not_a_time_is_unreadable(text: str) -> None:
    assert refused(text).kind is DelayProblem.UNREADABLE


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("tomorow 9am", "tomorrow 9am"),
        ("wensday 14:00", "wednesday 14:00"),
        ("3 minuts", "3 minutes"),
        ("in 2 hourss", "in 2 hours"),
        ("in 3 hourz", "in 3 hours"),  # counted: the plural, though `hour` is closer
        ("1 minuts", "1 minute"),
        ("decmber 9 9am", "december 9 9am"),
        ("tmorrow", "tomorrow 9am"),  # the word respelt names a day: the time is suggested too
    ],
)
def test_a_misspelt_word_is_unreadable_with_the_text_it_was_probably_meant_as(text: str, meant: str) -> None:
    assert_suggests(text, DelayProblem.UNREADABLE, meant)


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("2h 30", "2h 30m"),
        ("1 day 6", "1 day 6h"),
        ("in 1h 5", "in 1h 5m"),
        ("2 weeks 3", "2 weeks 3d"),
        ("1m 30", "1m 30s"),
        ("in 30", "in 30m"),  # said in chat: half an hour
        ("9", "at 9"),  # an hour alone: the grammar reads it only after `at` or a day
    ],
)
def test_a_number_without_its_unit_or_an_hour_alone_is_offered_what_it_likely_means(text: str, meant: str) -> None:
    assert_suggests(text, DelayProblem.UNREADABLE, meant)


@pytest.mark.parametrize("text", ["2h 30x", "30 2", "2s 30", "friday 9 30", "in 0", "24", "930"])
def test_no_unit_is_guessed_after_a_second_nor_after_something_that_is_no_duration(text: str) -> None:
    """`2h 30x`: a word, not a missing unit; `30 2`: no duration before it; `2s 30`: nothing is smaller than a second;
    `friday 9 30`: a day and a time, not a duration; `in 0`: no time ahead to offer; `24`, `930`: no hour."""
    error = refused(text)
    assert error.kind is DelayProblem.UNREADABLE and error.suggestion is None


@pytest.mark.parametrize("text", ["munday", "soon", "xyz 9am", "toady 08:00", "nxt friday 9am"])
def test_no_guess_when_two_words_are_as_close_or_the_respelt_text_does_not_do_either(text: str) -> None:
    """`munday`: monday or sunday; `toady 08:00`: today 08:00 has passed; `nxt`: too short to guess."""
    error = refused(text)
    assert error.kind is DelayProblem.UNREADABLE and error.suggestion is None


@pytest.mark.parametrize("text", ["-2h", "0s", "in -2h", "0 minutes"])
def test_zero_or_negative_durations_are_not_positive(text: str) -> None:
    assert refused(text).kind is DelayProblem.NOT_POSITIVE


@pytest.mark.parametrize(
    "text", ["yesterday", "Yesterday 9am", "2h ago", "3 days ago", "last friday", "last Monday 9am"]
)
def test_a_time_that_points_back_is_not_in_the_future_rather_than_unreadable(text: str) -> None:
    error = refused(text)
    assert error.kind is DelayProblem.NOT_POSITIVE and error.text == text


@pytest.mark.parametrize("text", ["last", "ago", "the last run", "lastly 9am"])
def test_words_about_the_past_elsewhere_are_still_just_unreadable(text: str) -> None:
    assert refused(text).kind is DelayProblem.UNREADABLE


def test_long_input_is_refused_before_it_is_read() -> None:
    assert refused("1" * (MAX_TYPED + 1)).kind is DelayProblem.TOO_LONG
    assert refused(" " * 100_000 + "2h").kind is DelayProblem.TOO_LONG


def test_an_unknown_or_missing_zone_is_utc_and_says_so() -> None:
    assert zone_named("Europe/Berlin").known is True
    for name in (None, "", "Mars/Olympus", "../etc/passwd", "x" * 500):
        reader = zone_named(name)
        assert reader.known is False and reader.zone is UTC


# --- daylight saving -----------------------------------------------------------------------------------------------


def test_tomorrow_9am_is_9am_local_across_a_spring_change() -> None:
    # Saturday 27 Mar 2027 in Berlin (CET, +01:00); Sunday the clocks go to CEST (+02:00).
    now = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    target = read("tomorrow 9am", now).target
    assert target == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # not 08:00 UTC, a +01:00 captured today


def test_tomorrow_9am_is_9am_local_across_an_autumn_change_in_new_york() -> None:
    now = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # Saturday, EDT (-04:00); Sunday is EST (-05:00)
    assert read("tomorrow 9am", now, NEW_YORK).target == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)


def test_a_time_in_the_spring_gap_moves_on_by_the_gap() -> None:
    now = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    when = read("tomorrow 02:30", now)
    assert when.gap is True
    assert when.target is not None
    assert when.target.astimezone(BERLIN).replace(tzinfo=None) == datetime(2027, 3, 28, 3, 30)


def test_a_time_shown_twice_in_autumn_is_the_first_still_ahead() -> None:
    day, at = date(2026, 10, 25), time(2, 30)  # Berlin: 02:30 happens at 00:30 UTC and again at 01:30 UTC
    first, _ = wall_clock(day, at, BERLIN, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    second, _ = wall_clock(day, at, BERLIN, datetime(2026, 10, 25, 1, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert second == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert read("02:30", datetime(2026, 10, 25, 1, 0, tzinfo=UTC)).target == second


# --- cost ----------------------------------------------------------------------------------------------------------

ADVERSARIAL = [
    " " * 100_000,
    "1" * 100_000,
    "1h " * 33_333,
    "9 " * 50_000,
    "2026-" * 20_000,
    "dec 9 " * 16_666,
    "\t\n " * 33_333 + "x",
    " " * 99_990 + "UTC",
    "1:" * 50_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_a_hundred_thousand_characters_are_answered_at_once(text: str) -> None:
    started = clock.perf_counter()
    with pytest.raises(DelayError) as caught:
        read(text)
    elapsed = clock.perf_counter() - started
    print(f"capped reader, {len(text)} characters: {elapsed * 1000:.2f} ms")
    assert caught.value.kind is DelayProblem.TOO_LONG


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_the_grammar_itself_reads_a_hundred_thousand_characters_in_linear_time(text: str) -> None:
    """Without the length cap: the grammar alone answers 100,000 characters, once, in one pass (printed, not
    asserted as a time: the machine may be busy)."""
    started = clock.perf_counter()
    with pytest.raises(DelayError) as caught:
        read_time(text, now=NOW, zone=BERLIN, max_delay=YEAR, limit=10**6)
    elapsed = clock.perf_counter() - started
    print(f"uncapped grammar, {len(text)} characters: {elapsed * 1000:.1f} ms")
    assert caught.value.kind in (DelayProblem.EMPTY, DelayProblem.UNREADABLE)  # read to the end, not cut short
