"""What a card that follows its run does when it looks at the run again: pure, from the run's status and time.

A card shows a DELAYED run until a time. Shortly after that time the run is read once and the card is brought up
to date: the run has moved (it shows the new time, and looks again after that one), it has started (it shows the
status, and looks again later, less and less often), or it has ended (it shows how, and stops following).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.runs import SAME_INSTANT, RunStatus

# Statuses a run does not leave: the card shows it and stops following.
ENDED = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.CANCELED,
        RunStatus.FAILED,
        RunStatus.CRASHED,
        RunStatus.SYSTEM_FAILURE,
        RunStatus.INTERRUPTED,
        RunStatus.EXPIRED,
        RunStatus.TIMED_OUT,
    }
)
KEEP = timedelta(days=7)  # a card stops following this long after the time it shows
MAX_RECHECK = timedelta(hours=1)  # a started run is looked at least this often


class Step(StrEnum):
    WAIT = "wait"  # still DELAYED at the time shown (Trigger.dev has not started it yet): look again soon
    MOVED = "moved"  # still DELAYED, at another time: show it, look again after it
    STARTED = "started"  # running (or any status it will leave): show it, look again later
    ENDED = "ended"  # a status it will not leave: show it, stop


@dataclass(frozen=True, slots=True)
class Next:
    """What to do: the step, whether the card must be redrawn, when to look again (None: never) and the start
    time the card will show."""

    step: Step
    redraw: bool
    check_at: datetime | None
    shown_until: datetime


def due(shown_until: datetime, grace: timedelta) -> datetime:
    """When a card showing `shown_until` first looks at its run again."""
    return shown_until + grace


def later(now: datetime, shown_until: datetime, grace: timedelta) -> datetime:
    """The next look at a run past its time: after as long as it has been past it (at least `grace`, at most
    MAX_RECHECK), so a long run costs a few reads a day, not one per tick."""
    return now + min(MAX_RECHECK, max(grace, now - shown_until))


def next_step(
    status: RunStatus,
    status_label: str,
    delayed_until: datetime | None,
    shown_until: datetime,
    shown_status: str,
    now: datetime,
    grace: timedelta,
) -> Next:
    """The step for a card showing `shown_until` and `shown_status`, given the run as just read."""
    if status is RunStatus.DELAYED:
        if delayed_until is not None and abs(delayed_until - shown_until) > SAME_INSTANT:
            return Next(Step.MOVED, True, due(delayed_until, grace), delayed_until)
        return Next(Step.WAIT, False, later(now, shown_until, grace), shown_until)
    redraw = status_label != shown_status
    if status in ENDED:
        return Next(Step.ENDED, redraw, None, shown_until)
    return Next(Step.STARTED, redraw, later(now, shown_until, grace), shown_until)
