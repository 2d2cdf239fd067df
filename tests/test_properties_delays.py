"""Properties of the delay parser (bot/domain/delays.py), over generated input rather than chosen examples.

Whatever a person types, parse_duration and parse_when either answer or raise DelayError (never anything else);
an answer is always strictly after `now`, at most `max_delay` ahead, on a whole millisecond; what format_duration
writes reads back; parts may come in any order and case; a longer duration never lands earlier.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import assume, given
from hypothesis import strategies as st

from bot.domain.delays import DelayError, DelayProblem, format_duration, instant_problem
from bot.domain.typed_time import parse_duration, parse_when

UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
SPELLINGS = {
    "w": ["w", "wk", "wks", "week", "weeks"],
    "d": ["d", "day", "days"],
    "h": ["h", "hr", "hrs", "hour", "hours"],
    "m": ["m", "min", "mins", "minute", "minutes"],
    "s": ["s", "sec", "secs", "second", "seconds"],
}
SEPARATORS = ["", " ", "  ", ", ", " and "]

nows = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
max_delays = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3650))
# Whole-second durations up to ~190 years, weighted towards the sizes people type.
seconds = st.one_of(st.integers(1, 3_600), st.integers(1, 400 * 86_400), st.integers(1, 10**10))
# Text near the grammar: digits, unit letters, separators, signs and a few strangers, so the parser's every branch
# sees input, plus anything at all.
near_grammar = st.text(alphabet="0123456789 wdhmsrinaecuoty+-,.:TZ\t\n", max_size=40)


@st.composite
def typed_durations(draw: st.DrawFn) -> tuple[str, int]:
    """A duration as a person might type it: each unit at most once, in any order, any spelling and case."""
    units = draw(st.lists(st.sampled_from(list(UNITS)), min_size=1, max_size=5, unique=True))
    counts = [draw(st.integers(0, 10_000)) for _ in units]
    assume(sum(counts) > 0)
    parts = []
    for unit, count in zip(units, counts, strict=True):
        spelling = draw(st.sampled_from(SPELLINGS[unit]))
        gap = draw(st.sampled_from(["", " "]))
        parts.append(f"{count:0{draw(st.integers(0, 3))}d}{gap}{spelling}")
    text = parts[0]
    for part in parts[1:]:
        separator = draw(st.sampled_from(SEPARATORS))
        if separator == "" and not text[-1].isalpha():
            separator = " "
        text += separator + part
    if draw(st.booleans()):
        text = text.upper()
    prefix = draw(st.sampled_from(["", "+", "in ", "IN ", " "]))
    total = sum(count * UNITS[unit] for unit, count in zip(units, counts, strict=True))
    return prefix + text + draw(st.sampled_from(["", " ", "\t"])), total


# Anything at all, text near the grammar, and what people really type (so the answering path is exercised too).
any_text = st.one_of(st.text(max_size=60), near_grammar, typed_durations().map(lambda typed: typed[0]))


# --- never anything but DelayError ---------------------------------------------------------------------------------


@given(any_text)
def test_parse_duration_answers_a_positive_duration_or_raises_delay_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except DelayError as error:
        assert error.text == text and isinstance(error.kind, DelayProblem)
    else:
        assert result > timedelta(0)


@given(any_text, nows, max_delays)
def test_parse_when_answers_within_bounds_or_raises_delay_error(text: str, now: datetime, max_delay: timedelta) -> None:
    try:
        target = parse_when(text, now=now, max_delay=max_delay)
    except DelayError as error:
        assert error.text == text
        return
    assert target.tzinfo is UTC
    assert now < target <= now + max_delay
    assert target.microsecond % 1000 == 0
    assert instant_problem(target, now=now, max_delay=max_delay) is None


# --- what people type --------------------------------------------------------------------------------------------


@given(typed_durations())
def test_a_typed_duration_is_the_sum_of_its_parts(typed: tuple[str, int]) -> None:
    text, total = typed
    assert parse_duration(text) == timedelta(seconds=total)


@given(st.lists(st.tuples(st.sampled_from(list(UNITS)), st.integers(1, 999)), min_size=2, max_size=5), st.randoms())
def test_the_order_of_the_parts_does_not_matter(parts: list[tuple[str, int]], rng: random.Random) -> None:
    unique = list({unit: count for unit, count in parts}.items())
    shuffled = list(unique)
    rng.shuffle(shuffled)
    as_text = " ".join(f"{count}{unit}" for unit, count in unique)
    assert parse_duration(as_text) == parse_duration(" ".join(f"{count}{unit}" for unit, count in shuffled))


@given(typed_durations())
def test_a_negative_or_doubled_duration_is_refused(typed: tuple[str, int]) -> None:
    text, _ = typed
    body = text.strip().removeprefix("+").strip()
    if body.lower().startswith("in "):
        body = body[3:]
    for refused in ("-" + body, f"{body} {body}"):
        try:
            parse_duration(refused)
        except DelayError as error:
            assert error.kind in (DelayProblem.NOT_POSITIVE, DelayProblem.UNREADABLE, DelayProblem.TOO_LONG)
        else:
            raise AssertionError(f"{refused!r} was accepted")


# --- format_duration and parse_duration ----------------------------------------------------------------------------


@given(seconds)
def test_what_format_duration_writes_reads_back_within_half_its_last_unit(total: int) -> None:
    delta = timedelta(seconds=total)
    shown = format_duration(delta)
    read = parse_duration(shown)
    assert format_duration(read) == shown  # reading it back and showing it again changes nothing
    assert abs(delta - read) <= timedelta(seconds=UNITS[shown[-1]] / 2)  # rounded to the last unit shown
    assert "w" not in shown  # no weeks: 365d stays 365d


# The units shown together: days and hours, hours and minutes, seconds alone; counts that cannot carry.
SHOWN_PAIRS = {"d": ("h", 10**5, 23), "h": ("m", 23, 59), "m": ("m", 59, 0), "s": ("s", 59, 0)}


@given(st.sampled_from(list(SHOWN_PAIRS)), st.data())
def test_a_duration_in_the_units_shown_reads_back_exactly(big: str, data: st.DataObject) -> None:
    small, big_max, small_max = SHOWN_PAIRS[big]
    counts = {big: data.draw(st.integers(1, big_max))}
    if small != big:
        counts[small] = data.draw(st.integers(0, small_max))
    delta = timedelta(seconds=sum(count * UNITS[unit] for unit, count in counts.items()))
    assert parse_duration(format_duration(delta)) == delta


@given(st.timedeltas(min_value=timedelta(days=-(10**5)), max_value=timedelta(days=10**5)))
def test_format_duration_shows_at_most_two_parts_and_the_sign(delta: timedelta) -> None:
    shown = format_duration(delta)
    assert 1 <= len(shown.split()) <= 2
    assert shown.startswith("-") == (delta <= -timedelta(milliseconds=500))


# --- parse_when: monotone, and the one rule for instants --------------------------------------------------------------


@given(seconds, seconds, nows, max_delays)
def test_a_longer_duration_never_lands_earlier(first: int, second: int, now: datetime, max_delay: timedelta) -> None:
    shorter, longer = sorted((first, second))
    try:
        late = parse_when(f"{longer}s", now=now, max_delay=max_delay)
    except DelayError as error:
        assert error.kind is DelayProblem.TOO_FAR
        return
    early = parse_when(f"{shorter}s", now=now, max_delay=max_delay)  # within bounds, since the longer one is
    assert early <= late
    assert late - early == timedelta(seconds=longer - shorter)


@given(seconds, nows, max_delays)
def test_a_duration_lands_on_now_plus_the_duration(total: int, now: datetime, max_delay: timedelta) -> None:
    try:
        target = parse_when(f"in {total}s", now=now, max_delay=max_delay)
    except DelayError as error:
        assert error.kind is DelayProblem.TOO_FAR and timedelta(seconds=total) > max_delay
        return
    assert abs(target - (now + timedelta(seconds=total))) <= timedelta(microseconds=500)


offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets), nows, max_delays
)
def test_an_iso_time_is_that_instant_or_refused_as_past_or_too_far(
    moment: datetime, now: datetime, max_delay: timedelta
) -> None:
    text = moment.isoformat()
    ahead = moment - now
    try:
        target = parse_when(text, now=now, max_delay=max_delay)
    except DelayError as error:
        # Only rounding to the millisecond may move an instant across a bound.
        assert timedelta(milliseconds=1) >= ahead or ahead >= max_delay - timedelta(milliseconds=1), error
        assert error.kind is (DelayProblem.PAST if ahead <= timedelta(milliseconds=1) else DelayProblem.TOO_FAR)
        return
    assert abs(target - moment) <= timedelta(microseconds=500)


@given(nows, max_delays, st.timedeltas(min_value=timedelta(days=-4000), max_value=timedelta(days=4000)))
def test_instant_problem_splits_time_into_past_fine_and_too_far(
    now: datetime, max_delay: timedelta, ahead: timedelta
) -> None:
    problem = instant_problem(now + ahead, now=now, max_delay=max_delay)
    if ahead <= timedelta(0):
        assert problem is DelayProblem.PAST
    elif ahead > max_delay:
        assert problem is DelayProblem.TOO_FAR
    else:
        assert problem is None
