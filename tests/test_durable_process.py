"""Confirmed work outlives the process doing it: real `serve` processes stopped by SIGTERM (a deploy) or SIGKILL (a
crash) in the middle of a set of 100 runs or of a single move, on one PostgreSQL with a second process, or on one
SQLite file with a restart. Trigger.dev holds every move until the test lets it answer, so what is in flight when
the signal arrives is known; every wait is on what the fakes or the database report."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.render.ids import Button
from bot.storage import db
from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, BotProcess, SlackSender, bot_env, start_together
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, said
from tests.summaries import CHANNEL
from tests.test_e2e_buttons import click, private_via_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SET_SIZE = 100
IN_FLIGHT = 20  # runs of one set in flight at once (bot/bulk.py CONCURRENCY)
DONE = "done."


async def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    return asyncio.run(_query(url, sql))


@pytest.fixture
def pair(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, postgres: str
) -> Iterator[tuple[BotProcess, BotProcess]]:
    """Two processes on one PostgreSQL, each looking for work let go of every half second."""
    env = bot_env(
        fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres, WORK_POLL_SECONDS="0.5", WORK_LEASE_SECONDS="2"
    )
    started = start_together(env, tmp_path, ["one", "two"])
    try:
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()


def held_moves(fake_trigger: FakeTrigger, count: int) -> None:
    fake_trigger.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) >= count or None, timeout=30)


def moves_per_run(fake_trigger: FakeTrigger) -> Counter[str]:
    found = (re.search(r"/runs/([^/]+)/reschedule", request.path) for request in fake_trigger.calls("POST", RESCHEDULE))
    return Counter(match.group(1) for match in found if match)


def confirm_set(sender: SlackSender, fake_slack: FakeSlack, run_ids: list[str]) -> None:
    prompt = private_via_command(sender, fake_slack, " ".join([*run_ids, "3h"]))
    status, _ = click(sender, fake_slack, prompt, Button.BULK_CONFIRM.action_id, ephemeral=True)
    assert status == 200


def final_summary(fake_slack: FakeSlack) -> dict[str, Any]:
    """The set's one message in the channel, once it says the set is done."""
    message: dict[str, Any] = fake_slack.wait_for(
        lambda: next((m for m in fake_slack.channel_messages(CHANNEL) if DONE in said(m)), None), timeout=60
    )
    return message


def set_dms(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    calls = fake_slack.api_calls("chat.postMessage")
    return [call for call in calls if call.get("channel") == "U111" and Button.BULK_UNDO.action_id in json.dumps(call)]


def finished_on_the_other(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str, run_ids: list[str]
) -> dict[str, Any]:
    """What every stop of a set must end in: each run moved once, one audit row each, one summary message showing
    all 100 moved, one DM with Undo, and nothing of the set left in the database."""
    summary = final_summary(fake_slack)
    assert "*100 moved*, *0 skipped*" in said(summary)
    assert len(fake_slack.channel_messages(CHANNEL)) == 1  # the same message, updated by the process that finished
    fake_slack.wait_for(lambda: set_dms(fake_slack) or None)
    assert len(set_dms(fake_slack)) == 1
    assert moves_per_run(fake_trigger) == Counter({run_id: 1 for run_id in run_ids})
    rows = fake_slack.wait_for(
        lambda: (
            found
            if len(found := query(postgres, "SELECT run_id, outcome FROM audit_events WHERE run_id IS NOT NULL"))
            >= SET_SIZE
            else None
        )
    )
    assert sorted(rows) == sorted((run_id, "rescheduled") for run_id in run_ids)
    fake_slack.wait_for(lambda: query(postgres, "SELECT count(*) FROM set_works") == [(0,)] or None)
    assert query(postgres, "SELECT count(*) FROM set_work_runs") == [(0,)]
    return summary


def test_sigterm_during_a_set_of_100_hands_it_to_the_other_process_which_finishes_it_once(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    one, two = pair
    run_ids = [fake_trigger.add_run(PROD_ENV)["id"] for _ in range(SET_SIZE)]
    release = fake_trigger.hold("POST", RESCHEDULE)
    confirm_set(SlackSender(one.events_url, SIGNING_SECRET), fake_slack, run_ids)
    held_moves(fake_trigger, IN_FLIGHT)
    one.process.send_signal(signal.SIGTERM)
    fake_slack.wait_for(lambda: "Shutting down" in one.log_text())
    release.set()  # the moves in flight answer: the stopping process records them, starts no more, hands the set back
    assert one.process.wait(timeout=30) == 0, one.log_text()
    assert "runs of a confirmed set are left for another process" in one.log_text()
    finished_on_the_other(fake_slack, fake_trigger, postgres, run_ids)
    assert "carrying on a confirmed set of 100 runs for U111" in two.log_text()
    assert "Traceback" not in one.log_text() + two.log_text()


def test_sigkill_during_a_set_of_100_is_read_back_and_finished_by_the_other_process(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    one, two = pair
    run_ids = [fake_trigger.add_run(PROD_ENV)["id"] for _ in range(SET_SIZE)]
    release = fake_trigger.hold("POST", RESCHEDULE)
    confirm_set(SlackSender(one.events_url, SIGNING_SECRET), fake_slack, run_ids)
    held_moves(fake_trigger, IN_FLIGHT)
    one.process.send_signal(signal.SIGKILL)
    assert one.process.wait(timeout=10) == -signal.SIGKILL
    sending = query(postgres, "SELECT count(*) FROM set_work_runs WHERE state = 'sending'")
    assert sending == [(IN_FLIGHT,)]  # written down before their requests went out
    release.set()  # Trigger.dev applies the moves nobody waits for any more
    fake_trigger.wait_for(lambda: len(moves_per_run(fake_trigger)) >= IN_FLIGHT or None)
    finished_on_the_other(fake_slack, fake_trigger, postgres, run_ids)  # the 20 read back as moved, not sent again
    assert "carrying on a confirmed set of 100 runs for U111" in two.log_text()
    assert "Traceback" not in two.log_text()


def test_sigkill_mid_move_is_read_back_by_the_other_process_audited_and_told(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    one, two = pair
    run = fake_trigger.add_run(PROD_ENV)
    release = fake_trigger.hold("POST", RESCHEDULE)
    SlackSender(one.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=fake_slack.new_response_url())
    held_moves(fake_trigger, 1)
    one.process.send_signal(signal.SIGKILL)
    assert one.process.wait(timeout=10) == -signal.SIGKILL
    assert query(postgres, "SELECT run_id FROM move_intents") == [(run["id"],)]  # written down before it was sent
    release.set()
    fake_trigger.wait_for(lambda: fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"] or None)

    def told() -> list[dict[str, Any]] | None:
        calls = fake_slack.api_calls("chat.postMessage")
        found = [call for call in calls if call.get("channel") == "U111" and "restarted while moving" in said(call)]
        return found or None

    [dm] = fake_slack.wait_for(told, timeout=30)
    assert "reading it back shows it moved" in said(dm) and run["id"] in said(dm)
    rows = fake_slack.wait_for(
        lambda: query(postgres, f"SELECT outcome, user_id FROM audit_events WHERE run_id = '{run['id']}'") or None
    )
    assert rows == [("rescheduled", "U111")]
    fake_slack.wait_for(lambda: query(postgres, "SELECT count(*) FROM move_intents") == [(0,)] or None)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1  # read back, never sent again
    assert "read back: moved" in two.log_text()


def test_sigterm_mid_move_finishes_it_in_the_drain_and_leaves_the_other_process_nothing_to_read_back(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    one, two = pair
    run = fake_trigger.add_run(PROD_ENV)
    release = fake_trigger.hold("POST", RESCHEDULE)
    url = fake_slack.new_response_url()
    SlackSender(one.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url)
    held_moves(fake_trigger, 1)
    assert query(postgres, "SELECT run_id FROM move_intents") == [(run["id"],)]
    one.process.send_signal(signal.SIGTERM)
    fake_slack.wait_for(lambda: "Shutting down" in one.log_text())
    release.set()
    assert one.process.wait(timeout=30) == 0, one.log_text()
    [summary] = fake_slack.channel_messages(CHANNEL)  # answered by the stopping process, before it exited
    assert run["id"] in said(summary) and fake_slack.responses(url) == []
    assert query(postgres, f"SELECT outcome FROM audit_events WHERE run_id = '{run['id']}'") == [("rescheduled",)]
    assert query(postgres, "SELECT count(*) FROM move_intents") == [(0,)]  # nothing for the other process to read
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert "restarted while moving" not in json.dumps(fake_slack.api_calls("chat.postMessage"))
    assert "read back" not in two.log_text()
