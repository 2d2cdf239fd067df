"""Summary cards that follow their run, end to end: the real bot (served in-process) moves a run to a time a few
seconds ahead, its card (the DM confirmation, posted with chat.postMessage, so it has a ts) is followed in the
database, and shortly after that time the bot reads the run and updates the card on the fake Slack to what
happened. FOLLOW_POLL_SECONDS and FOLLOW_GRACE_SECONDS are set small so nothing waits for real minutes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

from bot import messages
from bot.domain.follow import KEEP
from bot.render.ids import Button
from bot.render.mrkdwn import date_token
from bot.storage import db
from bot.storage.follow_ups import Card, FollowRequest, FollowUps
from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, BotProcess, SlackSender, bot_env, settle
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.summaries import CHANNEL, wait_summary
from tests.test_e2e_buttons import click, private_via_command

pytestmark = pytest.mark.e2e

DM = "DU111"  # where the fake Slack keeps the bot's DMs with U111
FAST = {"FOLLOW_POLL_SECONDS": "0.05", "FOLLOW_GRACE_SECONDS": "0.2"}
RETRIEVE = r"^/api/v3/runs/"
T = TypeVar("T")


def wait_for(condition: Callable[[], T | Literal[False] | None], timeout: float = 20.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
    return found


def rows(url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        engine = db.create_engine(url)
        try:
            return list(await FollowUps(engine).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/bot.sqlite3"  # the database bot_env gives the bot


def dm_card(fake_slack: FakeSlack, run_id: str, index: int = 0) -> dict[str, Any]:
    """The `index`-th DM confirmation about `run_id`, as the fake Slack holds it now (chat.update edits it)."""
    cards = [m for m in fake_slack.messages.get(DM, []) if run_id in json.dumps(m.get("blocks"))]
    return cards[index]


def channel_card(fake_slack: FakeSlack, run_id: str, index: int = 0) -> dict[str, Any]:
    """The `index`-th summary about `run_id` the bot posted in the command's channel, as it is now."""
    cards = [m for m in fake_slack.channel_messages(CHANNEL) if run_id in json.dumps(m.get("blocks"))]
    return cards[index]


def move(sender: SlackSender, fake_slack: FakeSlack, run_id: str, when: str, url: str, count: int = 1) -> str:
    """/reschedule the run from CHANNEL; wait for its two cards (the summary in the channel, the DM) and for both
    to be followed; the DM card's ts."""
    sender.command(f"{run_id} {when}", response_url=fake_slack.new_response_url(), channel_id=CHANNEL)
    wait_for(lambda: len([m for m in fake_slack.messages.get(DM, []) if run_id in json.dumps(m)]) >= count, what="DM")
    ts = str(dm_card(fake_slack, run_id, count - 1)["ts"])
    posted = str(channel_card(fake_slack, run_id, count - 1)["ts"])
    wait_for(lambda: {ts, posted} <= {row["ts"] for row in rows(url)}, what="both cards followed")
    return ts


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"])


def card_says(card: Callable[[FakeSlack, str, int], dict[str, Any]], *at: Any, text: str) -> Callable[[], bool]:
    """A condition: the card `card(*at)` (dm_card or channel_card, with its arguments) shows `text`."""
    return lambda: text in text_of(card(*at))


def action_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def updates(fake_slack: FakeSlack, ts: str) -> list[dict[str, Any]]:
    return [call for call in fake_slack.api_calls("chat.update") if call.get("ts") == ts]


def test_a_card_follows_its_run_from_delayed_to_executing_to_completed(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, _ = start(**FAST)
    ts = move(sender, fake_slack, run["id"], "2s", sqlite_url(tmp_path))
    card = dm_card(fake_slack, run["id"])
    assert "You moved" in text_of(card) and action_ids(card) == [Button.UNDO.action_id]
    [row] = [row for row in rows(sqlite_url(tmp_path)) if row["ts"] == ts]
    assert (row["channel"], row["run_id"], row["environment"]) == (DM, run["id"], "prod")
    assert Card.model_validate_json(row["card"]).user_id == "U111"
    assert Card.model_validate_json(row["card"]).kind == "dm"

    fake_trigger.set_status(run["id"], "EXECUTING")
    wait_for(lambda: "Executing" in text_of(dm_card(fake_slack, run["id"])), what="Executing shown")
    card = dm_card(fake_slack, run["id"])
    assert action_ids(card) == [] and "Delayed" not in text_of(card)
    assert "You moved" in text_of(card)  # still says what moved, from when to when
    assert len(rows(sqlite_url(tmp_path))) == 2  # a started run is still followed (the DM and the channel's card)

    fake_trigger.set_status(run["id"], "COMPLETED")
    wait_for(lambda: "Completed" in text_of(dm_card(fake_slack, run["id"])), what="Completed shown")
    wait_for(lambda: rows(sqlite_url(tmp_path)) == [], what="the follow-up done")
    assert action_ids(dm_card(fake_slack, run["id"])) == []
    assert len(updates(fake_slack, ts)) == 2  # one per change: executing, completed


def test_a_commands_summary_in_the_channel_follows_its_run_to_completed(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """The summary /reschedule posts in the channel is the bot's own message (chat.postMessage), so it is
    followed like the DM: DELAYED until its time, then what happened, with no buttons once the run ends."""
    url = sqlite_url(tmp_path)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, _ = start(**FAST)
    move(sender, fake_slack, run["id"], "2s", url)
    card = channel_card(fake_slack, run["id"])
    ts = card["ts"]
    assert "Delayed" in text_of(card) and Button.PUSH_1H.action_id in action_ids(card)
    [row] = [row for row in rows(url) if row["channel"] == CHANNEL]
    assert (row["ts"], row["run_id"], row["environment"], row["shown_status"]) == (ts, run["id"], "prod", "DELAYED")
    assert Card.model_validate_json(row["card"]).kind == "channel"
    shown = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert abs(_utc(row["shown_until"]) - shown) < timedelta(milliseconds=1)

    fake_trigger.set_status(run["id"], "EXECUTING")
    wait_for(lambda: "Executing" in text_of(channel_card(fake_slack, run["id"])), what="Executing shown")
    assert action_ids(channel_card(fake_slack, run["id"])) == []
    assert "<@U111> rescheduled" in text_of(channel_card(fake_slack, run["id"]))
    fake_trigger.set_status(run["id"], "COMPLETED")
    wait_for(lambda: "Completed" in text_of(channel_card(fake_slack, run["id"])), what="Completed shown")
    wait_for(lambda: rows(url) == [], what="the follow-ups done")
    card = channel_card(fake_slack, run["id"])
    assert action_ids(card) == [] and "Delayed" not in text_of(card)
    assert len(updates(fake_slack, ts)) == 2  # executing, completed: on the message in the channel itself
    assert {call["channel"] for call in updates(fake_slack, ts)} == {CHANNEL}
    assert len(fake_slack.channel_messages(CHANNEL)) == 1  # updated in place, never posted again


def test_the_summary_posted_after_a_confirm_prompt_follows_its_run(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """In an environment that asks first, the summary posted once Confirm is clicked is the bot's own message too."""
    url = sqlite_url(tmp_path)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, _ = start(CONFIRM_ENVIRONMENTS=None, **FAST)  # the default: prod asks first
    prompt = private_via_command(sender, fake_slack, f"{run['id']} 2s")
    click(sender, fake_slack, prompt, Button.CONFIRM.action_id, ephemeral=True)
    ts = wait_summary(fake_slack)["ts"]
    wait_for(lambda: any((row["channel"], row["ts"]) == (CHANNEL, ts) for row in rows(url)), what="card followed")
    fake_trigger.set_status(run["id"], "COMPLETED")
    wait_for(lambda: "Completed" in text_of(channel_card(fake_slack, run["id"])), what="Completed shown")
    wait_for(lambda: rows(url) == [], what="the follow-ups done")
    assert action_ids(channel_card(fake_slack, run["id"])) == [] and len(updates(fake_slack, ts)) == 1


def test_a_summary_sent_through_the_response_url_is_not_followed(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """A channel the bot cannot post in: the summary goes through the response_url, which gives no message to
    update, so only the DM follows the run (and the log says why)."""
    url = sqlite_url(tmp_path)
    fake_slack.forbid_channel("G0PRIVATE", "not_in_channel")
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, bot = start(**FAST)
    response_url = fake_slack.new_response_url()
    sender.command(f"{run['id']} 1h", response_url=response_url, channel_id="G0PRIVATE")
    ts: str = wait_for(lambda: fake_slack.messages.get(DM), what="DM")[0]["ts"]
    wait_for(lambda: rows(url), what="the DM followed")
    assert [(row["channel"], row["ts"]) for row in rows(url)] == [(DM, ts)]
    [summary] = fake_slack.responses(response_url)
    assert summary["response_type"] == "in_channel" and run["id"] in json.dumps(summary["blocks"])
    assert "summary not posted by the bot in G0PRIVATE (not_in_channel)" in bot.log_text()


def test_a_run_moved_elsewhere_shows_its_new_time_on_every_card_and_is_followed_again(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, _ = start(**FAST)
    first = move(sender, fake_slack, run["id"], "1h", url)
    second = move(sender, fake_slack, run["id"], "2s", url, count=2)
    # The second move makes the first card stale: it is brought up to date at once, showing the new time.
    soon = fake_trigger.get_run(run["id"])["delayedUntil"]
    wait_for(lambda: date_token(soon) in text_of(dm_card(fake_slack, run["id"], 0)), what="first card updated")
    # Then the run is moved behind the bot's back (the dashboard); both cards follow it there.
    later = datetime.now(UTC) + timedelta(hours=3)
    fake_trigger.set_delayed_until(run["id"], later)
    shown = fake_trigger.get_run(run["id"])["delayedUntil"]
    for index in (0, 1):
        wait_for(card_says(dm_card, fake_slack, run["id"], index, text=date_token(shown)), what="new time")
    for index in (0, 1):
        card = dm_card(fake_slack, run["id"], index)
        # The DM keeps saying where the person's move happened, and that the run has moved since.
        assert "send-reminder> in *Prod*, which you rescheduled in <#C111>" in text_of(card)
        assert f"has a new start time: {date_token(shown)}" in text_of(card)
        assert action_ids(card) == []  # no Undo of a move that is no longer the last
    moved_head = messages.follow_moved("U111", "send-reminder", "Prod")
    for index in (0, 1):  # the cards in the channel say who moved it, and that it has moved since
        wait_for(card_says(channel_card, fake_slack, run["id"], index, text=moved_head), what="channel card")
        assert date_token(shown) in text_of(channel_card(fake_slack, run["id"], index))

    def rearmed() -> bool:
        found = rows(url)
        return all(abs(_utc(row["shown_until"]) - shown) < timedelta(seconds=1) for row in found)

    wait_for(rearmed, what="both re-armed for the new time")
    for row in rows(url):
        assert _utc(row["check_at"]) == _utc(row["shown_until"]) + timedelta(seconds=0.2)
        assert row["lease_token"] is None
    posted = {channel_card(fake_slack, run["id"], index)["ts"] for index in (0, 1)}
    assert {row["ts"] for row in rows(url)} == {first, second} | posted


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def test_a_restart_between_post_and_due_time_loses_no_follow_up(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    # The first process looks for due cards once, at start (an hour between ticks): it never gets to this one.
    slow = bot_env(fake_slack, fake_trigger, tmp_path, FOLLOW_POLL_SECONDS="3600", FOLLOW_GRACE_SECONDS="0.2")
    with InProcessBot(slow, log_path=tmp_path / "first.log") as first:
        ts = move(SlackSender(first.events_url, SIGNING_SECRET), fake_slack, run["id"], "1s", url)
    assert len(rows(url)) == 2 and updates(fake_slack, ts) == []  # the DM and the channel's card
    fake_trigger.set_status(run["id"], "COMPLETED")
    with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, **FAST), log_path=tmp_path / "second.log"):
        wait_for(lambda: "Completed" in text_of(dm_card(fake_slack, run["id"])), what="Completed shown")
        wait_for(lambda: rows(url) == [], what="the follow-up done")
    assert len(updates(fake_slack, ts)) == 1
    assert "Completed" in text_of(channel_card(fake_slack, run["id"]))


def test_two_bots_sharing_postgresql_update_each_card_exactly_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str, tmp_path: Path
) -> None:
    run_ids = [
        fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))["id"] for _ in range(4)
    ]
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres, **FAST)
    with InProcessBot(env, log_path=tmp_path / "one.log") as one, InProcessBot(env, log_path=tmp_path / "two.log"):
        sender = SlackSender(one.events_url, SIGNING_SECRET)
        cards = [move(sender, fake_slack, run_id, "1s", postgres) for run_id in run_ids]
        for run_id in run_ids:
            fake_trigger.set_status(run_id, "COMPLETED")
        wait_for(lambda: rows(postgres) == [], what="every follow-up done")
        for run_id in run_ids:
            assert "Completed" in text_of(dm_card(fake_slack, run_id))
            assert "Completed" in text_of(channel_card(fake_slack, run_id))
        settle(one, fake_slack, fake_trigger, quiet=0.5)  # several more ticks of both: nothing left for either
    posted = [channel_card(fake_slack, run_id)["ts"] for run_id in run_ids]
    assert [len(updates(fake_slack, ts)) for ts in cards + posted] == [1] * 8
    assert len(fake_slack.api_calls("chat.update")) == 8


@pytest.mark.slow
def test_two_serve_processes_sharing_postgresql_update_each_card_exactly_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str, tmp_path: Path
) -> None:
    """The same, with two `serve` processes: the cards are posted through one, both follow, each card is updated
    once by whichever claims it."""
    run_ids = [
        fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))["id"] for _ in range(3)
    ]
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres, **FAST)
    with BotProcess(env, log_path=tmp_path / "one.log") as one, BotProcess(env, log_path=tmp_path / "two.log") as two:
        sender = SlackSender(one.events_url, SIGNING_SECRET)
        cards = [move(sender, fake_slack, run_id, "1s", postgres) for run_id in run_ids]
        for run_id in run_ids:
            fake_trigger.set_status(run_id, "COMPLETED")
        wait_for(lambda: rows(postgres) == [], what="every follow-up done")
        for run_id in run_ids:
            assert "Completed" in text_of(dm_card(fake_slack, run_id))
            assert "Completed" in text_of(channel_card(fake_slack, run_id))
        settle(one, fake_slack, fake_trigger, quiet=0.5)  # several more ticks of both: nothing left for either
        logs = one.log_text() + two.log_text()
    posted = [channel_card(fake_slack, run_id)["ts"] for run_id in run_ids]
    assert [len(updates(fake_slack, ts)) for ts in cards + posted] == [1] * 6
    assert len(fake_slack.api_calls("chat.update")) == 6
    assert "Traceback" not in logs


def test_a_follow_up_beyond_the_bound_is_dropped_without_a_read(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    old = datetime.now(UTC) - KEEP - timedelta(minutes=5)
    card = Card(user_id="U111", previous=old - timedelta(hours=1), new=old)

    async def seed() -> None:
        engine = db.create_engine(url)
        try:
            await db.migrate(engine)
            await FollowUps(engine).follow(
                FollowRequest("C111", "1700000000.000100", run["id"], "prod", old, card, old, old)
            )
        finally:
            await engine.dispose()

    asyncio.run(seed())
    _, bot = start(**FAST)
    wait_for(lambda: rows(url) == [], what="the follow-up dropped")
    settle(bot, fake_slack, fake_trigger)
    assert "stopped following" in bot.log_text()
    assert fake_slack.api_calls("chat.update") == []
    assert fake_trigger.calls("GET", RETRIEVE + run["id"]) == []


def test_a_deleted_message_drops_its_follow_up(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, bot = start(**FAST)
    ts = move(sender, fake_slack, run["id"], "1s", url)
    fake_slack.delete_message(DM, ts)
    fake_trigger.set_status(run["id"], "COMPLETED")
    wait_for(lambda: rows(url) == [], what="the follow-up dropped")
    assert f"card {DM}/{ts} cannot be updated (message_not_found); it stops following" in bot.log_text()
    assert len(updates(fake_slack, ts)) == 1


def test_a_transient_slack_failure_keeps_the_follow_up_for_the_next_tick(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, bot = start(**FAST)
    ts = move(sender, fake_slack, run["id"], "1s", url)
    fake_slack.fail_next("chat.update", "internal_error")
    fake_trigger.set_status(run["id"], "FAILED")
    wait_for(lambda: rows(url) == [], what="the follow-up done")
    assert "chat.update of" in bot.log_text() and "(internal_error); trying again next tick" in bot.log_text()
    posted = channel_card(fake_slack, run["id"])["ts"]
    # One of the two cards' update was refused once and done on a later tick; the other was updated once.
    assert sorted([len(updates(fake_slack, ts)), len(updates(fake_slack, posted))]) == [1, 2]
    assert "Failed" in text_of(dm_card(fake_slack, run["id"]))
    assert "Failed" in text_of(channel_card(fake_slack, run["id"]))
