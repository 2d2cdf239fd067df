"""Confirmed work told truthfully, end to end with signed requests and the fakes: an Undo (of a set or of one move)
never overwrites a later move by someone else, and a set's summary Slack could not update during an outage is
updated once Slack is back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.render.ids import Button
from bot.render.mrkdwn import date_token
from bot.storage import db
from bot.storage.set_work import SENDING, SetRun, SetWorks
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


@pytest.mark.slow
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


async def _hand_back(path: Path, when: datetime, runs: list[SetRun], previous: datetime) -> None:
    """A set as a process that stopped mid-way leaves it: runs done, one in flight (`sending`), the rest pending."""
    engine = db.create_engine(f"sqlite:///{path}")
    try:
        store = SetWorks(engine)
        actor = {"user_id": "U111", "team_id": "T111", "channel_id": CHANNEL, "surface": "button", "input": ""}
        held = await store.create(actor, when, runs)
        for run in runs:
            if run.state == SENDING:
                await store.sending(held.id, run.run_id, previous)
            elif run.outcome:
                await store.done(held.id, run)
        await store.release(held)
    finally:
        await engine.dispose()


def test_a_set_handed_back_is_carried_on_sending_again_only_what_reading_back_shows_not_applied(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    start(WORK_POLL_SECONDS="0.2")
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    applied, not_applied, pending = (fake_trigger.add_run(PROD_ENV) for _ in range(3))
    previous = delayed_until(fake_trigger, not_applied["id"])
    fake_trigger.set_delayed_until(applied["id"], when)  # its request landed before the process stopped
    done = fake_trigger.add_run(PROD_ENV)
    runs = [
        SetRun(0, done["id"], "prod", outcome="moved", env_title="Prod", previous=previous, new=when),
        SetRun(1, applied["id"], "prod", state=SENDING),
        SetRun(2, not_applied["id"], "prod", state=SENDING),
        SetRun(3, pending["id"], "prod"),
    ]
    asyncio.run(_hand_back(tmp_path / "bot.sqlite3", when, runs, previous))

    summary = fake_slack.wait_for(
        lambda: next((m for m in fake_slack.channel_messages(CHANNEL) if "done." in said(m)), None), timeout=30
    )
    assert "*4 moved*, *0 skipped*" in said(summary)
    sent = sorted(request.path for request in fake_trigger.calls("POST", RESCHEDULE))
    assert sent == sorted(f"/api/v1/runs/{run['id']}/reschedule" for run in (not_applied, pending))  # once each
    for run in (applied, not_applied, pending):
        assert delayed_until(fake_trigger, run["id"]) == when

    def dms() -> list[dict[str, Any]]:
        calls = fake_slack.api_calls("chat.postMessage")
        return [call for call in calls if call.get("channel") == "U111" and UNDO in said(call)]

    fake_slack.wait_for(lambda: dms() or None)
    fake_slack.wait_for(lambda: sqlite_rows(tmp_path / "bot.sqlite3", "SELECT * FROM set_works") == [] or None)
    assert len(dms()) == 1

    def three_rows() -> list[dict[str, Any]] | None:
        found = sqlite_rows(tmp_path / "bot.sqlite3")
        return found if len(found) >= 3 else None

    rows = fake_slack.wait_for(three_rows)
    audit = {row["run_id"]: row["outcome"] for row in rows}
    assert audit == {run["id"]: "rescheduled" for run in (applied, not_applied, pending)}  # the read-back one too
