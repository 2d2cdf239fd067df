"""What a followed card does when it looks at its run again (bot/domain/follow.py), and how it is redrawn
(bot/render/follow.py): pure functions, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import messages
from bot.domain.environments import Environment
from bot.domain.follow import MAX_RECHECK, Step, next_step
from bot.domain.runs import Run, RunStatus
from bot.render.controls import DM_BUTTONS, SUMMARY_BUTTONS, Controls
from bot.render.follow import followed_summary
from bot.render.mrkdwn import date_token
from bot.render.summary import Attribution

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)
ENV = Environment(name="prod", title="Prod")
URL = "https://cloud.trigger.test/runs/run_cm9k2x7ab000108l5ghf2d1qz"


def test_still_delayed_at_the_time_shown_waits_without_a_redraw() -> None:
    result = next_step(RunStatus.DELAYED, "DELAYED", T0, T0, "DELAYED", T0 + GRACE, GRACE)
    assert (result.step, result.redraw, result.check_at) == (Step.WAIT, False, T0 + 2 * GRACE)


def test_moved_to_another_time_redraws_and_looks_after_the_new_time() -> None:
    later = T0 + timedelta(hours=2)
    result = next_step(RunStatus.DELAYED, "DELAYED", later, T0, "DELAYED", T0 + GRACE, GRACE)
    assert (result.step, result.redraw, result.check_at, result.shown_until) == (Step.MOVED, True, later + GRACE, later)


def test_a_time_that_lost_its_milliseconds_is_the_same_time() -> None:
    result = next_step(RunStatus.DELAYED, "DELAYED", T0 + timedelta(milliseconds=400), T0, "DELAYED", T0, GRACE)
    assert result.step is Step.WAIT


@pytest.mark.parametrize("status", [RunStatus.EXECUTING, RunStatus.QUEUED, RunStatus.WAITING, RunStatus.UNKNOWN])
def test_started_redraws_once_then_looks_again_less_and_less_often(status: RunStatus) -> None:
    first = next_step(status, status.value, None, T0, "DELAYED", T0 + GRACE, GRACE)
    assert (first.step, first.redraw, first.check_at) == (Step.STARTED, True, T0 + 2 * GRACE)
    an_hour_on = T0 + timedelta(minutes=20)
    again = next_step(status, status.value, None, T0, status.value, an_hour_on, GRACE)
    assert (again.redraw, again.check_at) == (False, an_hour_on + timedelta(minutes=20))
    days_on = T0 + timedelta(days=2)
    assert next_step(status, status.value, None, T0, status.value, days_on, GRACE).check_at == days_on + MAX_RECHECK


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.EXPIRED])
def test_ended_redraws_and_stops(status: RunStatus) -> None:
    result = next_step(status, status.value, None, T0, "EXECUTING", T0 + GRACE, GRACE)
    assert (result.step, result.redraw, result.check_at) == (Step.ENDED, True, None)
    assert next_step(status, status.value, None, T0, status.value, T0, GRACE).redraw is False


def run(status: str, until: datetime | None = None) -> Run:
    body = {"id": "run_cm9k2x7ab000108l5ghf2d1qz", "status": status, "taskIdentifier": "send-reminder"}
    if until is not None:
        body["delayedUntil"] = until.isoformat()
    return Run.from_api(body)


def texts(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks)


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


ACTION = Attribution(user_id="U111", previous=T0 - timedelta(hours=1), new=T0, at=T0 - timedelta(hours=2))


def test_a_completed_run_keeps_who_moved_it_and_loses_its_buttons() -> None:
    controls = Controls(now=T0 + GRACE, confirm=False, buttons=SUMMARY_BUTTONS)
    drawn = followed_summary(run("COMPLETED"), ENV, URL, ACTION, controls, moved=False)
    assert "rescheduled" in texts(drawn.blocks) and "Completed" in texts(drawn.blocks)
    assert buttons(drawn.blocks) == []


def test_a_run_moved_elsewhere_shows_its_own_time_and_says_so() -> None:
    later = T0 + timedelta(hours=3)
    controls = Controls(now=T0 + GRACE, confirm=False, buttons=SUMMARY_BUTTONS)
    drawn = followed_summary(run("DELAYED", later), ENV, URL, ACTION, controls, moved=True)
    assert messages.follow_moved("U111", "send-reminder", "Prod") in texts(drawn.blocks)
    assert date_token(later) in texts(drawn.blocks)
    assert "rb1:undo" not in buttons(drawn.blocks) and "rb1:push_1h" in buttons(drawn.blocks)


def test_a_dm_card_keeps_its_head() -> None:
    controls = Controls(now=T0 + GRACE, confirm=False, buttons=DM_BUTTONS)
    drawn = followed_summary(run("EXECUTING"), ENV, URL, ACTION, controls, moved=False, where="in <#C111>")
    assert messages.dm_head("send-reminder", "Prod", "in <#C111>") in texts(drawn.blocks)
    assert buttons(drawn.blocks) == []


def test_a_dm_card_whose_run_was_moved_elsewhere_still_says_where_the_move_happened() -> None:
    later = T0 + timedelta(hours=3)
    controls = Controls(now=T0 + GRACE, confirm=False, buttons=DM_BUTTONS)
    drawn = followed_summary(run("DELAYED", later), ENV, URL, ACTION, controls, moved=True, where="in <#C111>")
    assert messages.follow_moved_dm("send-reminder", "Prod", "in <#C111>") in texts(drawn.blocks)
    assert date_token(later) in texts(drawn.blocks)
