"""Two `serve` processes on different ports sharing one PostgreSQL, as a deployment runs several web processes
behind one request URL: started together they migrate once, requests spread over both make one audit trail and one
history, and a copy of a request is acted on by only one of them; a Home opened through one is published again by the
other after a move made there."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot import messages
from bot.render.mrkdwn import date_token
from bot.storage import db
from tests.e2e_harness import (
    DASHBOARD_URL,
    PROD_ENV,
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    bot_env,
    fresh_trigger_id,
    start_together,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, only_response
from tests.summaries import CHANNEL, wait_summary
from tests.test_e2e_buttons import click, private_via_command, summary_via_command
from tests.test_e2e_home import open_home, published, row_of, texts
from tests.test_e2e_unfurl import link_event

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def pair(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, postgres: str
) -> Iterator[tuple[BotProcess, BotProcess]]:
    """Two processes started at the same moment on one PostgreSQL."""
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres)
    started = start_together(env, tmp_path, ["one", "two"])
    try:
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()


async def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    return asyncio.run(_query(url, sql))


def test_two_processes_on_one_postgresql_migrate_once_keep_one_trail_and_act_on_a_copy_once(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    """One pair of processes (starting them costs most of the time) for the three promises in turn."""
    migrated_together(pair, postgres)
    spread_over_both(pair, fake_slack, fake_trigger, postgres)
    copy_sent_to_both(pair, fake_slack, fake_trigger, postgres)
    event_retried_to_the_other(pair, fake_slack, fake_trigger)


def event_retried_to_the_other(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    """Slack retries an Events API delivery it thinks failed, here to the other process: handled once."""
    one, two = pair
    run = fake_trigger.add_run(PROD_ENV)
    event = link_event([f"{DASHBOARD_URL}/runs/{run['id']}"])
    assert SlackSender(one.events_url, SIGNING_SECRET).event(event).status_code == 200
    fake_slack.wait_for(lambda: fake_slack.api_calls("chat.unfurl") or None)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert SlackSender(two.events_url, SIGNING_SECRET).event(event, headers=retry).status_code == 200
    fake_slack.wait_for(lambda: "ignored a redelivered link_shared event" in two.log_text() or None)
    assert len(fake_slack.api_calls("chat.unfurl")) == 1


def migrated_together(pair: tuple[BotProcess, BotProcess], postgres: str) -> None:
    one, two = pair
    applied = re.findall(r"applied database migration (\d+)", one.log_text() + two.log_text())
    assert sorted(applied) == db.revisions()  # each step once, by one of them
    assert query(postgres, "SELECT version_num FROM alembic_version") == [(db.LATEST,)]


def spread_over_both(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    one, two = (SlackSender(process.events_url, SIGNING_SECRET) for process in pair)
    first, second = fake_trigger.add_run(PROD_ENV), fake_trigger.add_run(PROD_ENV)
    summary = summary_via_command(one, fake_slack, f"{first['id']} 2h")
    summary_via_command(two, fake_slack, f"{second['id']} 3h")
    status, url = click(two, fake_slack, summary, "rb1:push_1h")  # the button lands on the other process
    assert status == 200 and only_response(fake_slack, url)["replace_original"] is True

    def audit() -> list[tuple[Any, ...]]:
        return query(postgres, "SELECT run_id, outcome FROM audit_events ORDER BY id")

    def three() -> list[tuple[Any, ...]] | None:
        found = audit()
        return found if len(found) >= 3 else None

    rows = fake_slack.wait_for(three)
    assert sorted(rows) == sorted([(first["id"], "rescheduled")] * 2 + [(second["id"], "rescheduled")])
    for sender in (one, two):
        mine = json.dumps(private_via_command(sender, fake_slack, "history")["blocks"])
        assert first["id"] in mine and second["id"] in mine
        on_run = json.dumps(private_via_command(sender, fake_slack, f"history {first['id']}")["blocks"])
        assert first["id"] in on_run and second["id"] not in on_run
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 3
    assert audit() == rows  # reading history recorded nothing


def copy_sent_to_both(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    first, second = pair
    run = fake_trigger.add_run(PROD_ENV)
    posts = len(fake_trigger.calls("POST", RESCHEDULE))
    summaries = len(fake_slack.channel_messages(CHANNEL))
    trigger_id = fresh_trigger_id()
    url = fake_slack.new_response_url()
    SlackSender(first.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url, trigger_id=trigger_id)
    assert run["id"] in json.dumps(wait_summary(fake_slack, CHANNEL, summaries + 1)["blocks"])
    SlackSender(second.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url, trigger_id=trigger_id)
    fake_slack.wait_for(lambda: "ignored a replayed command" in second.log_text())
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == posts + 1
    assert len(fake_slack.channel_messages(CHANNEL)) == summaries + 1 and fake_slack.responses(url) == []
    audited = f"SELECT outcome FROM audit_events WHERE run_id = '{run['id']}'"
    fake_slack.wait_for(lambda: query(postgres, audited) != [])  # audit rows are written off the request's path
    assert query(postgres, audited) == [("rescheduled",)]


def test_a_home_opened_through_one_process_is_published_again_by_the_other_after_a_move_made_there(
    pair: tuple[BotProcess, BotProcess], fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str
) -> None:
    """Slack sends the Home's open to one process and the person's next command to the other: the process that
    records the move finds the open in the database and publishes the Home again, with the move in it."""
    one, two = pair
    first = open_home(SlackSender(one.events_url, SIGNING_SECRET), fake_slack)
    assert messages.HOME_NO_HISTORY in texts(first)
    fake_slack.wait_for(lambda: query(postgres, "SELECT team_id, user_id FROM home_views") == [("T111", "U111")])

    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=3))
    summary_via_command(SlackSender(two.events_url, SIGNING_SECRET), fake_slack, f"{run['id']} 4h")
    second = published(fake_slack, "U111", 2)
    shown = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert messages.home_starts(date_token(shown)) in row_of(second, run["id"])[0]
    assert "App Home of U111 refreshed after a move" in two.log_text()  # published by the process that moved it
    assert "refreshed after a move" not in one.log_text()
    assert "Traceback" not in one.log_text() + two.log_text()
