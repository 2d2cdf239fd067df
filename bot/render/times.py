"""Times in the reader's own terms, for text Slack cannot localise (private replies, form errors, confirmation
dialogs), and the examples every hint offers, computed from now so that none is ever in the past (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot import messages
from bot.domain.typed_time import ReaderZone

_WEEKDAY_WORDS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def spoken(when: datetime, now: datetime, reader: ReaderZone, *, whose: bool = True) -> str:
    """Like "today at 17:30, your time", "tomorrow, Tue 8 Dec at 09:00, your time", "Fri 11 Dec at 14:00, UTC"
    (the year only when it is not this year; seconds only when the time has some). `whose` False leaves out
    whose clock it is (a list of times under a head that says it)."""
    local = when.astimezone(reader.zone)
    today = now.astimezone(reader.zone).date()
    clock = local.strftime("%H:%M:%S" if local.second else "%H:%M")
    day = f"{local:%a} {local.day} {local:%b}" + (f" {local.year}" if local.year != today.year else "")
    ahead = (local.date() - today).days
    if ahead == 0:
        text = messages.spoken_today(clock)
    elif ahead == 1:
        text = messages.spoken_tomorrow(day, clock)
    else:
        text = messages.spoken_day(day, clock)
    return messages.in_zone(text, reader.known) if whose else text


def examples(now: datetime, reader: ReaderZone, *, run_now: bool = True) -> list[str]:
    """What to offer as examples: a duration, natural phrases and a date, all ahead of `now` in the reader's zone
    (a weekday three days on, a date four days on); `now` where **Run now** is offered."""
    local = now.astimezone(reader.zone)
    weekday = _WEEKDAY_WORDS[(local.weekday() + 3) % 7]
    on = (local + timedelta(days=4)).date()
    shown = ["2h", "1h 30m", "tomorrow 9am", f"{weekday} 14:00", "17:30", f"{on:%Y-%m-%d} 09:00"]
    return [*shown, "now"] if run_now else shown


def examples_text(now: datetime, reader: ReaderZone, *, plain: bool = False, run_now: bool = True) -> str:
    """The examples as one line: in code spans for mrkdwn, bare for plain text."""
    shown = examples(now, reader, run_now=run_now)
    quoted = shown if plain else [f"`{example}`" for example in shown]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
