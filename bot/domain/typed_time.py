"""Read what a person types as "when": one small grammar for every place a time is typed.

Accepted (any case, in the person's own timezone):

* durations: ``2h``, ``1h 30m``, ``1h30m``, ``in 2 hours``, ``90 minutes``, ``1.5h``, ``+45m``, ``2d and 3h``,
  ``in an hour``, ``half an hour``, ``an hour and a half``, ``2 and a half hours``;
* an instant with an offset: ``2026-12-09T09:00Z``, ``2026-12-09 09:00+01:00``, ``2026-12-09 09:00 UTC``;
* a wall-clock phrase: a day (``today``, ``tonight``, ``tomorrow``, a weekday, ``next <weekday>``, a date such as
  ``2026-12-09``, ``9 Dec``, ``Dec 9 2027``) and a time (``9am``, ``5:30pm``, ``17:30``, ``at 9``, ``noon``,
  ``midnight``), in either order; a time alone is today if still ahead, else tomorrow;
* ``now``: start the run at once.

The text is first bounded (:data:`MAX_TYPED`), then cut into tokens in one pass, then read by a small grammar
over the tokens: the whole reader is linear in the length of the input. A wall-clock phrase is resolved on the
local date and converted with the zone's own rules (zoneinfo), so ``tomorrow 9am`` is 09:00 local even across a
daylight-saving change. A time that does not exist (skipped by a change) is moved on by the length of the gap; a
time that happens twice is the first of the two still ahead.

Rules for days: a weekday is the next such day, today if the time is still ahead; ``next <weekday>`` is the first
such day after today, never today; a date without a year is this year if still ahead, else next year.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.delays import DelayError, DelayProblem, instant_problem, round_to_milliseconds

__all__ = [
    "MAX_TYPED",
    "UTC_READER",
    "ReaderZone",
    "When",
    "parse_duration",
    "parse_when",
    "read_time",
    "wall_clock",
    "zone_named",
]

MAX_TYPED = 100  # characters; longer input is refused before it is read

_MICROSECOND = timedelta(microseconds=1)
_UNIT_SECONDS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ALIASES: dict[str, str] = {
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "w"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
}
_SMALLER_UNIT = {"w": "d", "d": "h", "h": "m", "m": "s"}  # `2h 30` is 2h 30m
_WEEKDAYS: dict[str, int] = {
    **dict.fromkeys(("mon", "monday"), 0),
    **dict.fromkeys(("tue", "tues", "tuesday"), 1),
    **dict.fromkeys(("wed", "weds", "wednesday"), 2),
    **dict.fromkeys(("thu", "thur", "thurs", "thursday"), 3),
    **dict.fromkeys(("fri", "friday"), 4),
    **dict.fromkeys(("sat", "saturday"), 5),
    **dict.fromkeys(("sun", "sunday"), 6),
}
_MONTHS: dict[str, int] = {
    **dict.fromkeys(("jan", "january"), 1),
    **dict.fromkeys(("feb", "february"), 2),
    **dict.fromkeys(("mar", "march"), 3),
    **dict.fromkeys(("apr", "april"), 4),
    **dict.fromkeys(("may",), 5),
    **dict.fromkeys(("jun", "june"), 6),
    **dict.fromkeys(("jul", "july"), 7),
    **dict.fromkeys(("aug", "august"), 8),
    **dict.fromkeys(("sep", "sept", "september"), 9),
    **dict.fromkeys(("oct", "october"), 10),
    **dict.fromkeys(("nov", "november"), 11),
    **dict.fromkeys(("dec", "december"), 12),
}
_DAY_WORDS = {"today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1}
_NOW_WORDS = frozenset({"now", "run now", "right now", "asap"})
_ORDINALS = frozenset({"st", "nd", "rd", "th"})
_OTHER_WORDS = frozenset({"in", "at", "on", "and", "from", "next", "this", "am", "pm", "noon", "midday", "midnight"})
_OTHER_WORDS |= frozenset({"utc", "gmt"})
_ONE_WORDS = frozenset({"a", "an"})  # `an hour`, `a day`; `half an hour` (half is known below)
# A part of the day is no exact time: `tomorrow morning` is answered with the hour it usually means, to confirm.
_PARTS_OF_DAY = {"morning": "9am", "afternoon": "2pm", "evening": "6pm", "night": "9pm"}
_OTHER_WORDS |= _ONE_WORDS | {"half"} | frozenset(_PARTS_OF_DAY)
_KNOWN_WORDS = frozenset({*_UNIT_ALIASES, *_WEEKDAYS, *_MONTHS, *_DAY_WORDS, *_NOW_WORDS, *_ORDINALS, *_OTHER_WORDS})
_SPELLED_WORDS = sorted(word for word in _KNOWN_WORDS if len(word) >= 4 and " " not in word)  # what a typo may be
_MAX_DIGITS = 18  # more significant digits than this is beyond any timedelta: clamp instead of building huge ints
_CLAMPED = 10**18
_Fail = Callable[[str], DelayError]


class _Kind(enum.Enum):
    NUM = "num"  # digits, optionally ".digits"
    CLOCK = "clock"  # h:mm or h:mm:ss
    DATE = "date"  # yyyy-mm-dd
    WORD = "word"  # ASCII letters
    MARK = "mark"  # one of + - ,


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str  # the word, the digits, the mark
    spaced: bool  # preceded by whitespace (or the start)
    parts: tuple[str, ...] = ()  # CLOCK: (h, m[, s]); DATE: (y, m, d); NUM: (digits, fraction)


@dataclass(frozen=True, slots=True)
class When:
    """What a typed time resolved to.

    `target` None means **Run now**. `shift` is the duration when one was typed (a push moves each run by it);
    `rolled` is true when a time alone had already passed today and means tomorrow; `gap` when the wall-clock
    time does not exist that day (a daylight-saving change) and was moved on by the gap.
    """

    target: datetime | None
    shift: timedelta | None = None
    rolled: bool = False
    gap: bool = False
    asks_first: bool = False  # `next <weekday>`: the date is shown, and confirmed, before anything moves
    local: bool = False  # read on the person's own clock (a day or a time of day), not a duration or an offset
    plus: bool = False  # a duration typed with a plus (`+30m`), which people may read as added to the run's time

    @property
    def run_now(self) -> bool:
        return self.target is None


@dataclass(frozen=True, slots=True)
class ReaderZone:
    """A person's timezone: `known` false when their Slack timezone could not be read (then `zone` is UTC, and
    every reply says "UTC"). `name` is what to carry in a form's metadata."""

    zone: tzinfo = UTC
    known: bool = False
    name: str | None = None


UTC_READER = ReaderZone()


def zone_named(name: str | None) -> ReaderZone:
    """The IANA zone `name` (a person's Slack `tz`); UTC, not known, when it is missing or not a zone."""
    if name and len(name) <= 64:
        try:
            return ReaderZone(ZoneInfo(name), True, name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC_READER


def read_time(text: str, *, now: datetime, zone: tzinfo, max_delay: timedelta, limit: int = MAX_TYPED) -> When:
    """Read `text` as typed by a person whose timezone is `zone`; `limit`: the most characters read (longer text is
    refused before it is looked at).

    Raises:
        DelayError: EMPTY, TOO_LONG, UNREADABLE (with a suggestion when a misspelt word was the only trouble:
            `tomorow 9am`), NO_TIME (with a suggestion), NOT_POSITIVE, PAST or TOO_FAR (with the resolved instant).
        ValueError: If ``now`` is naive (a programming error).
    """
    try:
        return _read_time(text, now=now, zone=zone, max_delay=max_delay, limit=limit)
    except DelayError as exc:
        if exc.kind is not DelayProblem.UNREADABLE or exc.suggestion is not None:
            raise
        stripped = " ".join(text.split()).lower()
        if len(stripped) <= MAX_TYPED and _names_the_past(stripped):
            raise DelayError(DelayProblem.NOT_POSITIVE, text, "names the past") from None
        for why, complete in _COMPLETIONS:
            completed = complete(stripped)
            offer = None if completed is None else _offered(completed, now=now, zone=zone, max_delay=max_delay)
            if offer is not None:
                raise DelayError(DelayProblem.UNREADABLE, text, why, suggestion=offer) from None
        respelled = _respelled(stripped) if len(stripped) <= MAX_TYPED else None
        if respelled is None:
            raise
        try:
            when = _read_time(respelled, now=now, zone=zone, max_delay=max_delay, limit=limit)
        except DelayError as again:  # `tomorow` alone: the day it names, at the time it would be suggested
            if again.kind is not DelayProblem.NO_TIME or again.suggestion is None:
                raise exc from None
            raise DelayError(DelayProblem.UNREADABLE, text, "misspelt", suggestion=again.suggestion) from None
        if when.target is None:
            raise
        raise DelayError(DelayProblem.UNREADABLE, text, "misspelt", suggestion=(respelled, when.target)) from None


def _names_the_past(stripped: str) -> bool:
    """Whether `stripped`, which the grammar cannot read, points back in time: `yesterday`, `2h ago`, `last friday`.
    Said as a time that is not ahead rather than as something unreadable."""
    words = stripped.split(" ")
    if "yesterday" in words:
        return True
    return len(words) > 1 and (words[-1] == "ago" or (words[0] == "last" and words[1] in _WEEKDAYS))


def _part_of_day(stripped: str) -> str | None:
    """For `tomorrow morning`, `friday evening`, `this afternoon` (a day, or none, and a part of the day): the same
    day at the hour that part usually means."""
    words = stripped.split(" ")
    hour = _PARTS_OF_DAY.get(words[-1])
    if hour is None or len(words) > 4:
        return None
    day = " ".join(word for word in words[:-1] if word != "this") or ("tonight" if words[-1] == "night" else "today")
    return f"{day} {hour}"


def _unit_completed(stripped: str) -> str | None:
    """For `2h 30`, `1 day 6`, `in 30`: a duration whose last number has no unit, as people write `2h 30` for two
    hours and a half and `in 30` for half an hour. The number given the unit after the one before it (`2h 30m`,
    `1 day 6h`), or minutes after a lone `in`; None for anything else."""
    words = stripped.split(" ")
    if len(words) < 2 or len(stripped) > MAX_TYPED or not words[-1].isdigit():
        return None
    unit = _UNIT_ALIASES.get(words[-2].lstrip("0123456789."))
    smaller = "m" if words == ["in", words[-1]] else _SMALLER_UNIT.get(unit or "")  # `in 30`: minutes, as in chat
    if smaller is None:
        return None
    return f"{' '.join(words[:-1])} {words[-1]}{smaller}"


def _at_hour(stripped: str) -> str | None:
    """For `9` alone: `at 9`, the next 09:00 (an hour the grammar reads only after `at` or a day, since a number alone
    may as well be a duration)."""
    return f"at {stripped}" if stripped.isdigit() and len(stripped) <= 2 and int(stripped) <= 23 else None


def _offered(text: str, *, now: datetime, zone: tzinfo, max_delay: timedelta) -> tuple[str, datetime] | None:
    """`text` and the instant it names, when it reads as a time ahead (to offer it as a suggestion); else None."""
    try:
        when = _read_time(text, now=now, zone=zone, max_delay=max_delay, limit=MAX_TYPED)
    except DelayError:
        return None
    return (text, when.target) if when.target is not None else None


# What an unreadable text is offered, in this order, when it reads as a time ahead: `tomorrow morning`, `2h 30`, `9`.
_COMPLETIONS: tuple[tuple[str, Callable[[str], str | None]], ...] = (
    ("a part of the day", _part_of_day),
    ("a number without its unit", _unit_completed),
    ("an hour alone", _at_hour),
)


def _respelled(stripped: str) -> str | None:
    """`stripped` with each word the grammar does not know but one of its words resembles closely (`tomorow`,
    `wednsday`, `minuts`) spelled as that word; None when no word changes. Only words of four letters or more are
    respelled, into words as long: short ones are too easily another word."""
    words = stripped.split(" ")
    changed = False
    for index, word in enumerate(words):
        if not 4 <= len(word) <= 16 or not word.isascii() or not word.isalpha() or word in _KNOWN_WORDS:
            continue
        scores = sorted(
            ((difflib.SequenceMatcher(None, word, known).ratio(), known) for known in _SPELLED_WORDS), reverse=True
        )
        (best, known), (runner_up, _) = scores[0], scores[1]
        if best >= 0.8 and best > runner_up:  # `munday` is as close to sunday as to monday: no guess
            words[index], changed = _counted(known, words[index - 1] if index else ""), True
    return " ".join(words) if changed else None


def _counted(unit: str, before: str) -> str:
    """A unit respelt after a number, in the number's form: `3 hourz` is 3 hours, `1 minuts` 1 minute."""
    if not before.replace(".", "", 1).isdigit() or unit not in _UNIT_ALIASES:
        return unit
    singular = unit.removesuffix("s")
    form = singular if before == "1" else f"{singular}s"
    return form if form in _UNIT_ALIASES else unit


def _read_time(text: str, *, now: datetime, zone: tzinfo, max_delay: timedelta, limit: int) -> When:
    """`read_time` as the grammar reads it, without suggestions."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if len(text) > limit * 4:  # a cheap bound before even stripping
        raise DelayError(DelayProblem.TOO_LONG, text)
    stripped = " ".join(text.split()).lower()
    if not stripped:
        raise DelayError(DelayProblem.EMPTY, text)
    if len(stripped) > limit:
        raise DelayError(DelayProblem.TOO_LONG, text)
    if stripped in _NOW_WORDS:
        return When(None)
    now_utc = now.astimezone(UTC)
    iso = _iso(stripped, text, zone, now_utc)
    if iso is not None:
        return When(_checked(iso[0], text, now_utc, max_delay), gap=iso[1], local=iso[2])
    tokens = _tokens(stripped, text)
    micros = _duration_micros(tokens, text)
    if micros is not None:
        if micros > max_delay // _MICROSECOND:
            raise DelayError(DelayProblem.TOO_FAR, text)
        shift = timedelta(microseconds=micros)
        try:
            target = round_to_milliseconds(now_utc + shift)
        except OverflowError:
            raise DelayError(DelayProblem.TOO_FAR, text, "beyond the representable range") from None
        plus = any(token.kind is _Kind.MARK and token.text == "+" for token in tokens[:2])  # `+30m`, `in +30m`
        return When(target, shift=shift, plus=plus)
    phrase = _phrase(tokens, text)
    return _resolve(phrase, text, stripped, now_utc, zone, max_delay)


def parse_when(text: str, *, now: datetime, max_delay: timedelta, zone: tzinfo = UTC) -> datetime:
    """The instant `text` asks for (a duration, an instant or a wall-clock phrase in `zone`); `now` is refused
    here (it is not an instant: surfaces that offer **Run now** use :func:`read_time`)."""
    when = read_time(text, now=now, zone=zone, max_delay=max_delay)
    if when.target is None:
        raise DelayError(DelayProblem.UNREADABLE, text, "not an instant")
    return when.target


def parse_duration(text: str) -> timedelta:
    """A positive duration ("6h", "1d 12h", "in 2 days", "1.5h") in the same grammar as :func:`read_time`.

    Raises:
        DelayError: EMPTY, TOO_LONG, UNREADABLE or NOT_POSITIVE (TOO_FAR beyond what a timedelta holds).
    """
    if len(text) > MAX_TYPED * 4:
        raise DelayError(DelayProblem.TOO_LONG, text)
    stripped = " ".join(text.split()).lower()
    if not stripped:
        raise DelayError(DelayProblem.EMPTY, text)
    if len(text) > MAX_TYPED * 4 or len(stripped) > MAX_TYPED:
        raise DelayError(DelayProblem.TOO_LONG, text)
    micros = _duration_micros(_tokens(stripped, text), text)
    if micros is None:
        raise DelayError(DelayProblem.UNREADABLE, text, "not a duration")
    try:
        return timedelta(microseconds=micros)
    except OverflowError:
        raise DelayError(DelayProblem.TOO_FAR, text, "beyond the representable range") from None


# --- tokens ----------------------------------------------------------------------------------------------------------


def _digits(text: str, start: int) -> int:
    end = start
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return end


def _tokens(text: str, original: str) -> list[_Token]:
    """Cut lower-cased `text` into tokens in one left-to-right pass."""
    tokens: list[_Token] = []
    index, spaced = 0, True
    while index < len(text):
        char = text[index]
        if char == " ":
            index, spaced = index + 1, True
            continue
        if "0" <= char <= "9":
            end = _digits(text, index)
            head = text[index:end]
            nxt = text[end : end + 2]
            if len(nxt) == 2 and nxt[0] == ":" and nxt[1].isascii() and nxt[1].isdigit():
                parts = [head]
                while end + 1 < len(text) and text[end] == ":" and "0" <= text[end + 1] <= "9" and len(parts) < 3:
                    stop = _digits(text, end + 1)
                    parts.append(text[end + 1 : stop])
                    end = stop
                tokens.append(_Token(_Kind.CLOCK, text[index:end], spaced, tuple(parts)))
            elif len(head) == 4 and nxt[:1] == "-" and nxt[1:].isascii() and nxt[1:].isdigit():
                month_end = _digits(text, end + 1)
                if text[month_end : month_end + 1] != "-":
                    raise DelayError(DelayProblem.UNREADABLE, original, "not a date")
                day_end = _digits(text, month_end + 1)
                parts = [head, text[end + 1 : month_end], text[month_end + 1 : day_end]]
                if not parts[2]:
                    raise DelayError(DelayProblem.UNREADABLE, original, "not a date")
                tokens.append(_Token(_Kind.DATE, text[index:day_end], spaced, tuple(parts)))
                end = day_end
            elif len(nxt) == 2 and nxt[0] == "." and nxt[1].isascii() and nxt[1].isdigit():
                frac_end = _digits(text, end + 1)
                tokens.append(_Token(_Kind.NUM, text[index:frac_end], spaced, (head, text[end + 1 : frac_end])))
                end = frac_end
            else:
                tokens.append(_Token(_Kind.NUM, head, spaced, (head, "")))
            index, spaced = end, False
        elif "a" <= char <= "z":
            end = index
            while end < len(text) and "a" <= text[end] <= "z":
                end += 1
            tokens.append(_Token(_Kind.WORD, text[index:end], spaced))
            index, spaced = end, False
        elif char in "+-,":
            tokens.append(_Token(_Kind.MARK, char, spaced))
            index, spaced = index + 1, False
        else:
            raise DelayError(DelayProblem.UNREADABLE, original, f"unexpected {char!r}")
    return tokens


def _bounded_int(digits: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > _MAX_DIGITS:
        return _CLAMPED
    return int(significant or "0")


# --- durations -------------------------------------------------------------------------------------------------------


def _duration_micros(tokens: list[_Token], original: str) -> int | None:
    """Microseconds of a duration, None when the tokens are not one (NOT_POSITIVE for zero or a minus sign,
    UNREADABLE for a unit given twice)."""
    pos, end = 0, len(tokens)
    if pos < end and tokens[pos].text == "in" and tokens[pos].kind is _Kind.WORD:
        if pos + 1 >= end or not tokens[pos + 1].spaced:
            return None
        pos += 1
    negative = False
    if pos < end and tokens[pos].kind is _Kind.MARK and tokens[pos].text in "+-":
        negative = tokens[pos].text == "-"
        pos += 1
    if end - pos >= 2 and [t.text for t in tokens[end - 2 :]] == ["from", "now"]:
        end -= 2
    seen: dict[str, int] = {}
    while True:
        if pos >= end:
            return None
        amount = _amount(tokens, pos, end)
        if amount is None:
            return None
        parts, pos = amount
        unit = _UNIT_ALIASES.get(tokens[pos + 1].text) if pos + 1 < end and tokens[pos + 1].kind is _Kind.WORD else None
        if unit is None:
            return None
        if unit in seen:
            raise DelayError(DelayProblem.UNREADABLE, original, f"unit {unit!r} given twice")
        whole, fraction = parts
        pos += 2
        and_a_half = 0 if fraction else _and_a_half(tokens, pos, end)  # an hour and a half
        seen[unit] = _micros(whole, "5" if and_a_half else fraction, unit)
        pos += and_a_half
        if pos == end:
            break
        if tokens[pos].text in (",", "and"):
            pos += 1
            if pos >= end:
                return None
    total = sum(seen.values())
    if negative or total == 0:
        raise DelayError(DelayProblem.NOT_POSITIVE, original)
    return total


def _amount(tokens: list[_Token], pos: int, end: int) -> tuple[tuple[str, ...], int] | None:
    """The number a unit follows at `pos` (`2`, `1.5`, `an`, `half an`, `half`) as (whole, fraction) digits, and the
    position of its last token; None when there is none."""
    token = tokens[pos]
    if token.kind is _Kind.NUM:
        whole, fraction = token.parts
        and_a_half = _and_a_half(tokens, pos + 1, end)  # 2 and a half hours
        if and_a_half and not fraction:
            return (whole, "5"), pos + and_a_half
        return token.parts, pos
    if token.text in _ONE_WORDS:  # an hour, a day
        return ("1", ""), pos
    if token.text == "half":  # half an hour, half a day, half hour
        return ("0", "5"), pos + 1 if pos + 1 < end and tokens[pos + 1].text in _ONE_WORDS else pos
    return None


def _micros(whole: str, fraction: str, unit: str) -> int:
    """`whole`.`fraction` (digits; at most six of the fraction count) of `unit`, in microseconds."""
    scale = _UNIT_SECONDS[unit] * 1_000_000
    fraction = fraction[:6]
    return _bounded_int(whole) * scale + (_bounded_int(fraction) * scale // 10 ** len(fraction) if fraction else 0)


def _and_a_half(tokens: list[_Token], pos: int, end: int) -> int:
    """How many tokens `and a half` (or `and half`) takes at `pos`; 0 when it is not there."""
    words = [token.text for token in tokens[pos : min(end, pos + 3)]]
    if words == ["and", "a", "half"]:
        return 3
    return 2 if words[:2] == ["and", "half"] else 0


# --- wall-clock phrases ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Phrase:
    day_word: str | None = None  # today, tonight, tomorrow
    weekday: int | None = None
    next_week: bool = False  # "next <weekday>"
    on_date: tuple[int | None, int, int] | None = None  # (year or None, month, day)
    clock: time | None = None
    bare_hour: bool = False  # "tomorrow 9", "at 9": an hour without am/pm or minutes
    meridiem: bool = False

    @property
    def has_day(self) -> bool:
        return self.day_word is not None or self.weekday is not None or self.on_date is not None


def _phrase(tokens: list[_Token], original: str) -> _Phrase:
    return _PhraseReader(tokens, original).read()


class _PhraseReader:
    """Reads a day and a time, in either order, from the tokens; each token is looked at a bounded number of
    times."""

    def __init__(self, tokens: list[_Token], original: str) -> None:
        self.tokens, self.original = tokens, original
        self.phrase = _Phrase()
        self.pos = 0
        self.at = False

    def fail(self, why: str) -> DelayError:
        return DelayError(DelayProblem.UNREADABLE, self.original, why)

    def word(self, at_pos: int) -> str | None:
        if at_pos < len(self.tokens) and self.tokens[at_pos].kind is _Kind.WORD:
            return self.tokens[at_pos].text
        return None

    def read(self) -> _Phrase:
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            if token.kind is _Kind.WORD:
                self.read_word(token.text)
            elif token.kind is _Kind.MARK and token.text == ",":
                self.pos += 1
            elif token.kind is _Kind.DATE:
                self.set_day()
                year, month, day = (_bounded_int(part) for part in token.parts)
                self.phrase.on_date = (year, month, day)
                self.pos += 1
            elif token.kind is _Kind.CLOCK:
                self.read_clock(token)
            elif token.kind is _Kind.NUM and not token.parts[1]:
                self.read_number(token.text)
            else:
                raise self.fail(f"unexpected {token.text!r}")
        phrase = self.phrase
        if phrase.bare_hour and not (self.at or phrase.has_day):
            raise self.fail("a number without a unit")
        if phrase.clock is None and not phrase.has_day:
            raise self.fail("neither a day nor a time")
        return phrase

    def set_day(self) -> None:
        if self.phrase.has_day:
            raise self.fail("two days")

    def set_time(self, clock: time, *, bare: bool = False, meridiem: bool = False) -> None:
        if self.phrase.clock is not None:
            raise self.fail("two times")
        self.phrase.clock, self.phrase.bare_hour, self.phrase.meridiem = clock, bare, meridiem

    def read_word(self, text: str) -> None:
        phrase = self.phrase
        if text in _DAY_WORDS:
            self.set_day()
            phrase.day_word = text
            self.pos += 1
        elif text in ("next", "this") and self.word(self.pos + 1) in _WEEKDAYS:
            self.set_day()
            phrase.weekday = _WEEKDAYS[self.tokens[self.pos + 1].text]
            phrase.next_week = text == "next"
            self.pos += 2
        elif text in _WEEKDAYS:
            self.set_day()
            phrase.weekday = _WEEKDAYS[text]
            self.pos += 1
        elif text in _MONTHS:
            self.set_day()
            self.pos = _month_first(self.tokens, self.pos, phrase, self.fail)
        elif text in ("noon", "midday", "midnight"):
            self.set_time(time(0, 0) if text == "midnight" else time(12, 0))
            self.pos += 1
        elif text in ("at", "on") and not self.at:
            self.at = text == "at"
            self.pos += 1
        else:
            raise self.fail(f"unknown word {text!r}")

    def read_clock(self, token: _Token) -> None:
        hour, minute, second = (_bounded_int(part) for part in (*token.parts, "0")[:3])
        if len(token.parts[1]) != 2 or (len(token.parts) == 3 and len(token.parts[2]) != 2):
            raise self.fail("minutes need two digits")
        after = self.word(self.pos + 1)
        meridiem = after in ("am", "pm")
        hour = _meridiem(hour, after, self.fail) if meridiem else hour
        if hour > 23 or minute > 59 or second > 59:
            raise self.fail("no such time")
        self.set_time(time(hour, minute, second), meridiem=meridiem)
        self.pos += 2 if meridiem else 1

    def read_number(self, text: str) -> None:
        after = self.word(self.pos + 1)
        if after in _MONTHS:  # "9 dec", "9 december 2026"
            self.set_day()
            self.pos = _day_first(self.tokens, self.pos, self.phrase, self.fail)
        elif after in ("am", "pm"):
            self.set_time(time(_meridiem(_bounded_int(text), after, self.fail), 0), meridiem=True)
            self.pos += 2
        elif len(text) <= 2 and _bounded_int(text) <= 23:
            self.set_time(time(_bounded_int(text), 0), bare=True)
            self.pos += 1
        else:
            raise self.fail("a number without a unit")


def _meridiem(hour: int, which: str | None, fail: _Fail) -> int:
    if not 1 <= hour <= 12:
        raise fail("am/pm hours go from 1 to 12")
    return hour % 12 + (12 if which == "pm" else 0)


def _ordinal_day(tokens: list[_Token], pos: int, fail: _Fail) -> tuple[int, int]:
    """A day of the month at `pos` ("9", "9th"); returns (day, next position)."""
    if pos >= len(tokens) or tokens[pos].kind is not _Kind.NUM or tokens[pos].parts[1] or len(tokens[pos].text) > 2:
        raise fail("a month needs a day")
    day = _bounded_int(tokens[pos].text)
    pos += 1
    if (
        pos < len(tokens)
        and tokens[pos].kind is _Kind.WORD
        and not tokens[pos].spaced
        and tokens[pos].text in _ORDINALS
    ):
        pos += 1
    return day, pos


def _year(tokens: list[_Token], pos: int) -> tuple[int | None, int]:
    """An optional four-digit year at `pos` (after an optional comma)."""
    look = pos + 1 if pos < len(tokens) and tokens[pos].text == "," else pos
    if look < len(tokens) and tokens[look].kind is _Kind.NUM and len(tokens[look].text) == 4:
        if look + 1 < len(tokens) and tokens[look + 1].text in ("am", "pm"):
            return None, pos
        return _bounded_int(tokens[look].text), look + 1
    return None, pos


def _month_first(tokens: list[_Token], pos: int, phrase: _Phrase, fail: _Fail) -> int:
    """ "dec 9", "december 9th 2026"."""
    month = _MONTHS[tokens[pos].text]
    if pos + 2 < len(tokens) and tokens[pos + 2].text in ("am", "pm") and tokens[pos + 1].kind is _Kind.NUM:
        # "dec 9am" is not a date
        raise fail("a month needs a day")
    day, pos = _ordinal_day(tokens, pos + 1, fail)
    year, pos = _year(tokens, pos)
    phrase.on_date = (year, month, day)
    return pos


def _day_first(tokens: list[_Token], pos: int, phrase: _Phrase, fail: _Fail) -> int:
    """ "9 dec", "9 december 2026"."""
    day = _bounded_int(tokens[pos].text)
    if len(tokens[pos].text) > 2:
        raise fail("no such day")
    month = _MONTHS[tokens[pos + 1].text]
    year, pos = _year(tokens, pos + 2)
    phrase.on_date = (year, month, day)
    return pos


def _resolve(phrase: _Phrase, original: str, stripped: str, now: datetime, zone: tzinfo, max_delay: timedelta) -> When:
    local_now = now.astimezone(zone)
    today = local_now.date()
    if phrase.clock is None:
        raise DelayError(DelayProblem.NO_TIME, original, suggestion=_suggestion(stripped, now, zone, max_delay))
    clock = phrase.clock
    if phrase.day_word == "tonight" and phrase.bare_hour and 1 <= clock.hour <= 11:
        clock = clock.replace(hour=clock.hour + 12)
    rolled = False
    if phrase.on_date is not None:
        target, gap = _on_date(phrase.on_date, clock, now, zone, original)
    else:
        if phrase.day_word is not None:
            day = today + timedelta(days=_DAY_WORDS[phrase.day_word])
        elif phrase.weekday is not None:
            ahead = (phrase.weekday - today.weekday()) % 7
            if phrase.next_week and ahead == 0:
                ahead = 7
            day = today + timedelta(days=ahead)
        else:
            day = today
        target, gap = wall_clock(day, clock, zone, now)
        if target <= now and phrase.day_word is None and not phrase.next_week:
            day += timedelta(days=7 if phrase.weekday is not None else 1)
            target, gap = wall_clock(day, clock, zone, now)
            rolled = phrase.weekday is None
    checked = _checked(target, original, now, max_delay)
    return When(checked, rolled=rolled, gap=gap, asks_first=phrase.next_week, local=True)


def _on_date(
    on_date: tuple[int | None, int, int], clock: time, now: datetime, zone: tzinfo, original: str
) -> tuple[datetime, bool]:
    year, month, day = on_date
    if year is not None:
        try:
            return wall_clock(date(year, month, day), clock, zone, now)
        except (ValueError, OverflowError):
            raise DelayError(DelayProblem.UNREADABLE, original, "no such date") from None
    this_year = now.astimezone(zone).year
    for candidate in range(this_year, this_year + 8):  # 29 Feb comes back within eight years
        try:
            target, gap = wall_clock(date(candidate, month, day), clock, zone, now)
        except (ValueError, OverflowError):
            continue
        if target > now or candidate > this_year:
            return target, gap
    raise DelayError(DelayProblem.UNREADABLE, original, "no such date")


def wall_clock(day: date, clock: time, zone: tzinfo, now: datetime) -> tuple[datetime, bool]:
    """The instant the clocks of `zone` show `clock` on `day`, as UTC, and whether that time does not exist (a
    daylight-saving gap: moved on by the gap's length). A time shown twice (the clocks go back) is the first of the
    two that is after `now`."""
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC), False
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:  # a gap
        return first.astimezone(UTC), True
    earlier, later = sorted((first.astimezone(UTC), second.astimezone(UTC)))
    return (earlier if earlier > now else later), False


def _checked(target: datetime, original: str, now: datetime, max_delay: timedelta) -> datetime:
    """`target` rounded to the millisecond, or DelayError PAST / TOO_FAR naming it."""
    problem = instant_problem(target, now=now, max_delay=max_delay)
    if problem is None:
        try:
            target = round_to_milliseconds(target.astimezone(UTC))
        except OverflowError:
            raise DelayError(DelayProblem.TOO_FAR, original, "beyond the representable range") from None
        problem = instant_problem(target, now=now, max_delay=max_delay)
    if problem is not None:
        shown: datetime | None = None
        if 1 < target.year < 9999:  # at the calendar's ends no zone can show it: the refusal does without
            shown = target.astimezone(UTC)
        raise DelayError(problem, original, resolved=shown)
    return target


def _iso(stripped: str, original: str, zone: tzinfo, now: datetime) -> tuple[datetime, bool, bool] | None:
    """An ISO 8601 date-time ("2026-12-09T09:00Z", "2026-12-09 09:00 utc"; without an offset: in `zone`), whether
    it fell in a daylight-saving gap, and whether it was read on the person's clock (no offset). None when
    `stripped` is not one (it may still be a phrase such as "2026-12-09 9am")."""
    if len(stripped) < 11 or not (stripped[:4].isascii() and stripped[:4].isdigit() and stripped[4] == "-"):
        return None
    candidate = stripped
    for suffix in (" utc", " gmt", "utc", "gmt"):
        if candidate.endswith(suffix):
            candidate = candidate[: -len(suffix)] + "+00:00"
            break
    if candidate.endswith("z"):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate.upper())
    except ValueError:
        return None
    if candidate[10:11] not in ("t", " "):
        return None
    if parsed.utcoffset() is None:
        try:
            return (*wall_clock(parsed.date(), parsed.time(), zone, now), True)
        except OverflowError:  # at the ends of the calendar: long past, or far beyond any limit
            kind = DelayProblem.PAST if parsed.year < now.year else DelayProblem.TOO_FAR
            raise DelayError(kind, original, "beyond the representable range") from None
    return parsed, False, False  # checked (and turned to UTC) by the caller: far years must not overflow here


def _suggestion(stripped: str, now: datetime, zone: tzinfo, max_delay: timedelta) -> tuple[str, datetime] | None:
    """For a day without a time: the same day at 9am (or the next whole hour, today), or tomorrow 9am."""
    hour = now.astimezone(zone).hour + 1
    tries = [f"{stripped} {'9pm' if stripped.split(' ')[0] == 'tonight' else '9am'}"]
    if hour <= 23:
        tries.append(f"{stripped} {hour}:00")
    tries.append("tomorrow 9am")
    return next((offer for text in tries if (offer := _offered(text, now=now, zone=zone, max_delay=max_delay))), None)
