"""The digest end to end: the in-process bot with DIGEST_CHANNEL and a schedule time that just passed posts the
runs coming due to the fake Slack channel, once; two bots sharing one PostgreSQL database (in one process, and as
two `serve` processes) post it once between them, and a process started later does not post it again."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.render.ids import Button
from tests.e2e_harness import PROD_ENV, STAGING_KEY, BotProcess, bot_env, settle
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot

pytestmark = pytest.mark.e2e

CHANNEL = "C0DIGEST"
STAGING_ENV = "env_staging"


def just_passed() -> str:
    """A DIGEST_SCHEDULE whose one time of day (UTC) is the minute before this one: its slot is due now."""
    return (datetime.now(UTC) - timedelta(minutes=1)).strftime("%H:%M")


def digest_env(**overrides: str | None) -> dict[str, str | None]:
    return {"DIGEST_CHANNEL": CHANNEL, "DIGEST_SCHEDULE": just_passed(), "DIGEST_TIMEZONE": "UTC", **overrides}


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def texts(message: dict[str, Any]) -> list[str]:
    out = []
    for block in message["blocks"]:
        if block["type"] == "section":
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out.append(block["elements"][0]["text"])
    return out


def test_a_slot_that_just_passed_posts_one_digest_grouped_by_environment_and_task(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    now = datetime.now(UTC)
    first = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=1), task_identifier="send-reminder")
    other = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=2), task_identifier="cleanup")
    second = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=3), task_identifier="send-reminder")
    staging = fake_trigger.add_run(STAGING_ENV, delayed_until=now + timedelta(minutes=30), task_identifier="sync")
    fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=20))  # beyond the 12h window
    fake_trigger.add_run(PROD_ENV, status="EXECUTING")
    # An access rule keeps everyone but U9 out of prod: the digest, posted by the bot to a channel, lists it anyway.
    _, bot = start(TRIGGER_SECRET_KEYS=STAGING_KEY, ACCESS__PROD__USERS="U9", **digest_env())
    wait_for(lambda: bool(fake_slack.messages.get(CHANNEL)))
    settle(bot, fake_slack, fake_trigger)
    posts = fake_slack.messages[CHANNEL]
    assert len(posts) == 1
    lines = texts(posts[0])
    assert lines[0] == messages.digest_head(4, "12h")
    headings = [line for line in lines if "\n" not in line][1:]
    assert headings == ["*Staging*", "*sync* · 1 run", "*Prod*", "*send-reminder* · 2 runs", "*cleanup* · 1 run"]
    buttons = [
        (json.loads(element["value"])["r"], element["action_id"])
        for block in posts[0]["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    expected = [staging["id"], first["id"], second["id"], other["id"]]
    assert buttons == [(run_id, Button.RESCHEDULE.action_id) for run_id in expected]


def test_nothing_coming_due_is_one_line(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(days=2))
    start(**digest_env(DIGEST_WINDOW="6h"))
    wait_for(lambda: bool(fake_slack.messages.get(CHANNEL)))
    posts = fake_slack.messages[CHANNEL]
    assert [texts(post) for post in posts] == [[messages.digest_empty("6h")]]


def test_nothing_coming_due_posts_nothing_with_skip_empty(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    _, bot = start(**digest_env(DIGEST_SKIP_EMPTY="true"))
    wait_for(lambda: claimed_slots(tmp_path / "bot.sqlite3") == 1)  # this process took the slot
    settle(bot, fake_slack, fake_trigger)  # and decided about it
    assert CHANNEL not in fake_slack.messages
    assert "not posted (DIGEST_SKIP_EMPTY)" in bot.log_text()


def claimed_slots(path: Path) -> int:
    """How many digest slots a process has taken, in the bot's SQLite database (0 before it is created)."""
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return int(conn.execute("SELECT count(*) FROM digest_posts").fetchone()[0]) if "digest_posts" in tables else 0


def test_without_a_digest_channel_nothing_is_posted(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    _, bot = start(DIGEST_SCHEDULE=just_passed())
    settle(bot, fake_slack, fake_trigger, quiet=0.5)
    assert fake_slack.api_calls("chat.postMessage") == []
    assert "digest" not in bot.log_text()


def test_two_bots_sharing_postgresql_post_the_digest_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str, tmp_path: Path
) -> None:
    fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres, **digest_env())
    # Both bots log to the same root logger: each log file holds the lines of both.
    with InProcessBot(env, log_path=tmp_path / "one.log") as one, InProcessBot(env, log_path=tmp_path / "two.log"):

        def decided() -> bool:
            return "posted to" in one.log_text() and "posted by another process" in one.log_text()

        wait_for(decided)
        settle(one, fake_slack, fake_trigger)
        log = one.log_text()
    assert log.count(f"posted to {CHANNEL}") == 1
    assert log.count("posted by another process") == 1
    assert len(fake_slack.messages[CHANNEL]) == 1
    assert len(fake_slack.api_calls("chat.postMessage")) == 1


@pytest.mark.slow
def test_two_serve_processes_sharing_postgresql_post_the_digest_once_and_a_late_one_does_not_repeat_it(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str, tmp_path: Path
) -> None:
    fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres, **digest_env())
    # Started together, they race for the slot that just passed; a third starts once it has been posted.
    with ThreadPoolExecutor(max_workers=2) as pool:
        starting = [pool.submit(BotProcess, env, tmp_path / f"{name}.log") for name in ("one", "two")]
        processes = [future.result() for future in starting]
    try:
        wait_for(lambda: sum("posted to" in p.log_text() for p in processes) == 1)
        wait_for(lambda: any("posted by another process" in p.log_text() for p in processes))
        with BotProcess(env, tmp_path / "late.log") as late:
            wait_for(lambda: "posted by another process" in late.log_text())
            assert f"posted to {CHANNEL}" not in late.log_text()
    finally:
        for process in processes:
            process.stop()
    logs = "".join(process.log_text() for process in processes)
    assert logs.count(f"posted to {CHANNEL}") == 1
    assert len(fake_slack.messages[CHANNEL]) == 1
    assert len(fake_slack.api_calls("chat.postMessage")) == 1


def test_a_shutdown_while_a_digest_is_being_posted_finishes_the_post(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    listing = fake_trigger.hold("GET", r"/api/v1/runs$")
    bot = InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, **digest_env()), log_path=tmp_path / "bot.log")
    try:
        fake_trigger.wait_for(lambda: fake_trigger.calls("GET", r"/api/v1/runs$") or None)
        stopping = threading.Thread(target=bot.stop)  # the deploy's SIGTERM, with the digest's listing in flight
        stopping.start()
        # The stop is under way (the loop cancelled, the drain waiting for the post) while the listing is held.
        wait_for(lambda: "waiting for 1 action(s) in flight" in bot.log_text())
    finally:
        listing.set()
    stopping.join(timeout=30)
    assert not stopping.is_alive()
    # Its slot was claimed by this process: the drain finished the post rather than leaving the slot unposted.
    assert len(fake_slack.messages.get(CHANNEL, [])) == 1
    assert f"posted to {CHANNEL}" in bot.log_text()


def test_reschedule_from_the_digest_leaves_the_digest_and_posts_the_summary_in_its_thread(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    from tests.test_e2e_buttons import click
    from tests.test_e2e_shortcut_modal import submission, wait_form

    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    sender, _ = start(**digest_env())
    wait_for(lambda: bool(fake_slack.messages.get(CHANNEL)))
    [digest_post] = fake_slack.messages[CHANNEL]
    before = json.dumps(digest_post["blocks"])
    value = next(
        element["value"]
        for block in digest_post["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if json.loads(element["value"])["r"] == run["id"]
    )
    _, url = click(sender, fake_slack, digest_post, Button.RESCHEDULE.action_id, channel_id=CHANNEL, value=value)
    form = wait_form(fake_slack)
    assert sender.interaction(submission(form, text="3h")).status_code == 200
    wait_for(lambda: len(fake_slack.messages.get(CHANNEL, [])) == 2)
    digest_now, summary = fake_slack.messages[CHANNEL]
    assert json.dumps(digest_now["blocks"]) == before  # the digest still lists every run
    assert summary["thread_ts"] == digest_now["ts"] and "rescheduled" in json.dumps(summary["blocks"])
    assert fake_slack.responses(url) == [] and fake_slack.api_calls("chat.update") == []
