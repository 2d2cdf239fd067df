"""Slack entirely unreachable (the Web API *and* the response_url host refuse connections) while a move is made,
against the real bot served in-process: the run moves once and the audit trail says so; what the person could not
be told is kept in the database (bot/storage/outbox.py) and sent to them as DMs once Slack is back, each once and
saying it is late, by this process or by the next one after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_harness import BOT_TOKEN, PROD_ENV, SIGNING_SECRET, SlackSender, bot_env, settle
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, audit_of, said, sqlite_rows
from tests.inprocess import InProcessBot
from tests.test_e2e_bulk import confirm
from tests.test_e2e_buttons import private_via_command
from tests.test_e2e_shortcut_modal import CHANNEL, USER, dms

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEPT = "SELECT * FROM outbox ORDER BY id"
PERMALINK = r"^/api/chat\.getPermalink$"


@pytest.fixture
def hooks() -> Iterator[FakeSlack]:
    """Where response_urls point, apart from the Web API (as hooks.slack.com is from slack.com/api)."""
    with FakeSlack(BOT_TOKEN) as fake:
        yield fake


def served(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> InProcessBot:
    env = bot_env(fake_slack, fake_trigger, tmp_path, OUTBOX_RETRY_SECONDS="0.2")
    return InProcessBot(env, log_path=tmp_path / "bot.log")


def move_while_slack_is_down(
    bot: InProcessBot, fake_slack: FakeSlack, hooks: FakeSlack, run_id: str, path: Path
) -> list[dict[str, Any]]:
    """`/reschedule <run> 2h` with both Slack hosts refusing connections; the rows kept once both are written."""
    url = hooks.new_response_url()
    SlackSender(bot.events_url, SIGNING_SECRET).command(f"{run_id} 2h", response_url=url)
    # Each route is tried with the client's connection retries first (bot/slack/app.py), longer on a loaded machine.
    kept = fake_slack.wait_for(lambda: len(rows := sqlite_rows(path, KEPT)) == 2 and rows, timeout=30)
    settle(bot, timeout=30)  # the move's work is over
    assert "could not tell U111 by any route now" in bot.log_text()
    assert hooks.responses(url) == []
    return kept


def late_dms(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    return [message for message in dms(fake_slack) if "Sent late: Slack could not be reached at" in said(message)]


def delivered_once(fake_slack: FakeSlack, run_id: str) -> bool:
    """The DM confirmation (it names the run and has its blocks) and the note that the channel has not seen the
    summary, each once, whichever was sent first."""
    said_late = sorted((said(message) for message in late_dms(fake_slack)), key=lambda text: run_id in text)
    note, confirmation = said_late
    return run_id in confirmation and run_id not in note and "the channel has not seen it" in note


def test_with_slack_unreachable_the_person_hears_back_by_late_dms_once_it_is_back(
    fake_slack: FakeSlack, hooks: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    path = tmp_path / "bot.sqlite3"
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        fake_slack.refuse_connections()
        hooks.refuse_connections()
        try:
            kept = move_while_slack_is_down(bot, fake_slack, hooks, run["id"], path)
        finally:
            fake_slack.accept_connections()
            hooks.accept_connections()
        fake_slack.wait_for(lambda: len(late_dms(fake_slack)) == 2)
        fake_slack.wait_for(lambda: sqlite_rows(path, KEPT) == [])  # sent and forgotten: nothing is sent again
        log = bot.log_text()
    assert len(dms(fake_slack)) == len(late_dms(fake_slack)) == len(kept) == 2
    assert delivered_once(fake_slack, run["id"])
    assert all(row["user_id"] == USER and row["team_id"] == "T111" for row in kept)
    assert fake_slack.channel_messages(CHANNEL) == []
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(path, run["id"]) == [("rescheduled", None)]
    assert "Traceback" not in log and BOT_TOKEN not in log


def test_a_restart_before_slack_is_back_still_delivers_what_was_kept(
    fake_slack: FakeSlack, hooks: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    path = tmp_path / "bot.sqlite3"
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        fake_slack.refuse_connections()
        hooks.refuse_connections()
        kept = move_while_slack_is_down(bot, fake_slack, hooks, run["id"], path)
        # stopped while Slack is still down: nothing was delivered by this process
    first_log = bot.log_text()
    fake_slack.accept_connections()
    hooks.accept_connections()
    assert dms(fake_slack) == [] and len(kept) == 2
    with served(fake_slack, fake_trigger, tmp_path) as again:
        fake_slack.wait_for(lambda: len(late_dms(fake_slack)) == 2)
        fake_slack.wait_for(lambda: sqlite_rows(path, KEPT) == [])
        log = again.log_text()
    assert len(dms(fake_slack)) == 2 and delivered_once(fake_slack, run["id"])
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(path, run["id"]) == [("rescheduled", None)]
    assert "Traceback" not in first_log + log


def test_a_sets_dm_slack_could_not_take_arrives_late_once(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """The set's summary is posted; its DM, which links to it, meets a Slack error that may pass (the permalink is
    held so the DM is the next chat.postMessage): the DM arrives late, once."""
    sender, bot = start(OUTBOX_RETRY_SECONDS="0.2")
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(2)]
    prompt = private_via_command(sender, fake_slack, " ".join([*(run["id"] for run in runs), "2h"]))
    permalink = fake_slack.hold("*", PERMALINK)
    confirm(sender, fake_slack, prompt)
    fake_slack.wait_for(lambda: fake_slack.calls("*", PERMALINK))
    fake_slack.fail_next("chat.postMessage", "internal_error")
    permalink.set()
    [late] = fake_slack.wait_for(lambda: late_dms(fake_slack))
    fake_slack.wait_for(lambda: sqlite_rows(tmp_path / "bot.sqlite3", KEPT) == [])
    assert dms(fake_slack) == [late] and "2 of 2 runs moved" in said(late) and "Undo" in said(late)
    assert len(fake_slack.channel_messages(CHANNEL)) == 1 and len(fake_trigger.calls("POST", RESCHEDULE)) == 2
    assert "could not DM the bulk result to U111: internal_error; kept to be sent later" in bot.log_text()
    assert "Traceback" not in bot.log_text()
