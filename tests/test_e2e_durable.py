"""Confirmed work told truthfully, end to end with signed requests and the fakes: an Undo (of a set or of one move)
never overwrites a later move by someone else, and a set's summary Slack could not update during an outage is
updated once Slack is back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.render.ids import Button
from bot.render.mrkdwn import date_token
from tests.e2e_harness import PROD_ENV, SlackSender
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, said, sqlite_rows
from tests.summaries import CHANNEL
from tests.test_e2e_bulk import channel_summary, confirm, delayed_until, undo_result
from tests.test_e2e_buttons import click, private_via_command, summary_via_command, wait_one

pytestmark = pytest.mark.e2e

UNDO = Button.BULK_UNDO.action_id


def test_a_sets_undo_leaves_a_run_someone_moved_since_where_they_put_it_and_names_them(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, _ = start()
    fake_slack.add_user("U222")
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(3)]
    previous = {run["id"]: delayed_until(fake_trigger, run["id"]) for run in runs}
    prompt = private_via_command(sender, fake_slack, " ".join([*(run["id"] for run in runs), "3h"]))
    url, _ = confirm(sender, fake_slack, prompt)
    summary = channel_summary(fake_slack, url)
    later = runs[1]["id"]
    someone = fake_slack.new_response_url()
    sender.command(f"{later} 10h", response_url=someone, user_id="U222", channel_id="C222")
    fake_slack.wait_for(lambda: fake_slack.channel_messages("C222") or None)
    theirs = delayed_until(fake_trigger, later)

    click(sender, fake_slack, summary, UNDO)
    body = json.dumps(undo_result(fake_slack, summary)["blocks"])
    assert "*2 moved*, *1 skipped*" in body
    assert f"|{later}> in Prod: not put back (moved since by <@U222>; left at {date_token(theirs)})" in body
    assert delayed_until(fake_trigger, later) == theirs  # their move stands
    for run in (runs[0], runs[2]):
        assert delayed_until(fake_trigger, run["id"]) == previous[run["id"]]
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 3 + 1 + 2


def test_a_single_moves_undo_leaves_a_run_someone_moved_since_and_says_who(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_user("U222")
    run = fake_trigger.add_run(PROD_ENV)
    mine = summary_via_command(slack, fake_slack, f"{run['id']} 2h")
    slack.command(f"{run['id']} 10h", response_url=fake_slack.new_response_url(), user_id="U222", channel_id="C222")
    fake_slack.wait_for(lambda: fake_slack.channel_messages("C222") or None)
    theirs = delayed_until(fake_trigger, run["id"])
    _, url = click(slack, fake_slack, mine, "rb1:undo")
    [told] = wait_one(fake_slack, url)
    assert f"`{run['id']}` was not put back: it was moved since by <@U222>; left at {date_token(theirs)}" in said(told)
    assert delayed_until(fake_trigger, run["id"]) == theirs
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 2


def test_a_sets_summary_slack_could_not_update_during_an_outage_is_updated_when_it_is_back(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    sender, _ = start(OUTBOX_RETRY_SECONDS="0.4")
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(12)]
    release = fake_trigger.hold("POST", RESCHEDULE)
    prompt = private_via_command(sender, fake_slack, " ".join([*(run["id"] for run in runs), "3h"]))
    click(sender, fake_slack, prompt, Button.BULK_CONFIRM.action_id, ephemeral=True)
    [early] = fake_slack.wait_for(lambda: fake_slack.channel_messages(CHANNEL) or None)
    assert "done." not in said(early)
    fake_slack.refuse_connections()  # Slack is down while the set moves
    release.set()
    path = tmp_path / "bot.sqlite3"
    fake_trigger.wait_for(
        lambda: (
            [row for row in sqlite_rows(path, "SELECT * FROM message_updates") if "12 of 12 runs moved" in row["text"]]
            or None
        ),
        timeout=30,
    )
    fake_slack.accept_connections()

    def corrected() -> dict[str, Any] | None:
        [message] = fake_slack.channel_messages(CHANNEL)
        return message if "done." in said(message) else None

    message = fake_slack.wait_for(corrected, timeout=30)
    assert message["ts"] == early["ts"] and "*12 moved*, *0 skipped*" in said(message)
    fake_slack.wait_for(lambda: sqlite_rows(path, "SELECT * FROM message_updates") == [] or None)
