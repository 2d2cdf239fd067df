"""The `serve` process itself stopped under load: SIGTERM while moves are in flight, and SIGKILL mid-move then a
restart on the same database. (tests/test_shutdown.py covers one move in flight and the drain running out.)"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from bot.storage import db
from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, BotProcess, SlackSender, bot_env, fresh_trigger_id, http_get
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, audit_of, said, sqlite_rows
from tests.summaries import CHANNEL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sigterm_with_moves_in_flight_refuses_new_requests_finishes_both_and_exits_0(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV), fake_trigger.add_run(PROD_ENV)]
    release = fake_trigger.hold("POST", RESCHEDULE)  # both moves wait at Trigger.dev until released
    env = bot_env(fake_slack, fake_trigger, tmp_path, TRIGGER_DEADLINE="10", SHUTDOWN_GRACE="30")
    with BotProcess(env, log_path=tmp_path / "bot.log") as process:
        slack = SlackSender(process.events_url, SIGNING_SECRET)
        urls = [fake_slack.new_response_url() for _ in runs]
        for run, url in zip(runs, urls, strict=True):
            assert slack.command(f"{run['id']} 2h", response_url=url).status_code == 200
        fake_trigger.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 2)
        process.process.send_signal(signal.SIGTERM)
        fake_slack.wait_for(lambda: "Shutting down" in process.log_text())
        # No longer listening (refused, or reset from the backlog): the platform sends it to another process.
        with pytest.raises(httpx.TransportError):
            slack.command(f"{runs[0]['id']} 1d", response_url=fake_slack.new_response_url())
        assert process.process.poll() is None  # still finishing what it acknowledged
        release.set()
        code = process.process.wait(timeout=30)
        log = process.log_text()
    assert code == 0, log
    posted = fake_slack.channel_messages(CHANNEL)
    assert len(posted) == 2 and all(message["ts"] and message["bot_id"] == "B0BOT" for message in posted)
    for run, url in zip(runs, urls, strict=True):
        assert fake_slack.responses(url) == []  # each summary is the bot's own message in the channel
        assert len([message for message in posted if run["id"] in said(message)]) == 1
        assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 2
    assert "Traceback" not in log and "audit_fallback" not in log


def test_sigkill_mid_move_then_a_restart_is_healthy_with_the_database_intact_and_nothing_twice(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """The move in flight is applied by Trigger.dev once released, and nobody answers it at once (no process was
    left to); everything recorded before stays, once."""
    done, killed = fake_trigger.add_run(PROD_ENV), fake_trigger.add_run(PROD_ENV)
    env = bot_env(fake_slack, fake_trigger, tmp_path)
    path = tmp_path / "bot.sqlite3"
    killed_trigger_id = fresh_trigger_id()
    with BotProcess(env, log_path=tmp_path / "one.log") as first:
        slack = SlackSender(first.events_url, SIGNING_SECRET)
        url = fake_slack.new_response_url()
        slack.command(f"{done['id']} 2h", response_url=url)
        fake_slack.wait_for(lambda: audit_of(path, done["id"]))
        release = fake_trigger.hold("POST", RESCHEDULE)
        killed_url = fake_slack.new_response_url()
        slack.command(f"{killed['id']} 2h", response_url=killed_url, trigger_id=killed_trigger_id)
        fake_trigger.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 2)
        first.process.send_signal(signal.SIGKILL)
        assert first.process.wait(timeout=10) == -signal.SIGKILL
    release.set()  # Trigger.dev applies the move nobody is waiting for any more
    fake_trigger.wait_for(lambda: fake_trigger.get_run(killed["id"])["delayedUntil"] != killed["delayedUntil"])

    with BotProcess(env, log_path=tmp_path / "two.log") as second:
        assert http_get(second.url + "/healthz").status_code == 200
        again = SlackSender(second.events_url, SIGNING_SECRET)
        # Slack does not resend a command, but a copy of the killed one (same trigger_id) must not move it twice.
        again.command(f"{killed['id']} 2h", response_url=fake_slack.new_response_url(), trigger_id=killed_trigger_id)
        fake_slack.wait_for(lambda: "ignored a replayed command" in second.log_text())
        url = fake_slack.new_response_url()
        again.command(f"{done['id']} 1d", response_url=url)
        fake_slack.wait_for(lambda: len(audit_of(path, done["id"])) == 2)
    assert sqlite_rows(path, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [{"version_num": db.LATEST}]
    assert audit_of(path, done["id"]) == [("rescheduled", None), ("rescheduled", None)]
    # Not read back yet: its lease (WORK_LEASE_SECONDS) outlasts this test (tests/test_durable_process.py reads it).
    assert audit_of(path, killed["id"]) == []
    assert fake_slack.responses(killed_url) == []
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 3
    assert "Traceback" not in second.log_text()
