"""Shutdown spends the platform's grace period deliberately and never loses an acknowledged move silently."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot import messages, settings, shutdown, wiring
from bot.domain.audit import Outcome
from bot.inflight import move_started
from bot.rescheduler import Actor
from bot.settings import Settings
from tests.e2e_harness import BOT_TOKEN, PROD_ENV, PROD_KEY, SIGNING_SECRET, BotProcess, SlackSender, bot_env
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger

RESCHEDULE = r"/api/v1/runs/.+/reschedule"


def test_the_longest_deadline_leaves_room_for_read_back_and_replies_within_the_grace_period() -> None:
    grace = 30.0
    assert shutdown.drain_seconds(grace) + shutdown.TELL_SECONDS + shutdown.FLUSH_SECONDS < grace
    assert shutdown.longest_deadline(grace) + shutdown.CONFIRM_SECONDS + shutdown.REPLY_SECONDS <= (
        shutdown.drain_seconds(grace)
    )
    defaults = Settings(_env_file=None)
    assert defaults.trigger_deadline <= shutdown.longest_deadline(defaults.shutdown_grace)


def test_a_deadline_longer_than_the_grace_period_allows_stops_the_process_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TRIGGER_SECRET_KEY": PROD_KEY,
        "TRIGGER_DEADLINE": "30",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("serve")
    assert "TRIGGER_DEADLINE is 30 s" in str(caught.value) and "at most 15" in str(caught.value)
    monkeypatch.setenv("SHUTDOWN_GRACE", "60")
    assert settings.load("serve").trigger_deadline == 30


@pytest.mark.e2e
@pytest.mark.slow
def test_sigterm_during_a_move_finishes_it_answers_the_person_audits_it_and_exits_0_in_time(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, fake_trigger, tmp_path, TRIGGER_DEADLINE="2", SHUTDOWN_GRACE="20")
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.answer_late("POST", RESCHEDULE)  # applied at once, answered only after the bot gave up
    with BotProcess(env, log_path=tmp_path / "bot.log") as process:
        url = fake_slack.new_response_url()
        SlackSender(process.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url)
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
        sent_at = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        code = process.process.wait(timeout=25)
        took = time.monotonic() - sent_at
    assert code == 0 and took < 20, (code, took, process.log_text())
    [summary] = fake_slack.channel_messages("C111")  # posted by the bot in the channel before it exited
    assert run["id"] in str(summary["blocks"]) and fake_slack.responses(url) == []
    rows = sqlite3.connect(tmp_path / "bot.sqlite3").execute("SELECT outcome FROM audit_events").fetchall()
    assert rows == [("rescheduled",)]
    assert "Traceback" not in process.log_text()


@pytest.mark.e2e
def test_sigterm_right_after_the_acknowledgement_still_carries_out_the_command(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """The command is acknowledged, then its trigger_id is claimed in the database before its work begins; a stop
    signal arriving while the claim waits on a locked database must not drop the command."""
    env = bot_env(fake_slack, fake_trigger, tmp_path, SHUTDOWN_GRACE="20")
    run = fake_trigger.add_run(PROD_ENV)
    with BotProcess(env, log_path=tmp_path / "bot.log") as process:
        locker = sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None, timeout=5)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # the claim cannot be written until COMMIT
            url = fake_slack.new_response_url()
            answer = SlackSender(process.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url)
            assert answer.status_code == 200
            process.process.send_signal(signal.SIGTERM)
            fake_slack.wait_for(lambda: fake_slack.channel_messages("C111"), timeout=15)
        finally:
            locker.execute("COMMIT")
            locker.close()
        code = process.process.wait(timeout=25)
    assert code == 0, process.log_text()
    [summary] = fake_slack.channel_messages("C111")
    assert run["id"] in str(summary["blocks"]) and len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    rows = sqlite3.connect(tmp_path / "bot.sqlite3").execute("SELECT outcome FROM audit_events").fetchall()
    assert rows == [("rescheduled",)]
    assert "Traceback" not in process.log_text()


def settings_for(fake_slack: FakeSlack, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        trigger_secret_key=SecretStr(PROD_KEY),
        slack_api_url=fake_slack.api_url,
        database_url=SecretStr(f"sqlite:///{tmp_path}/bot.sqlite3"),
    )


async def bot_with_short_drain(
    fake_slack: FakeSlack, tmp_path: Path
) -> tuple[wiring.Bot, list[str], Callable[[str], Awaitable[bool]]]:
    """A started bot whose drain lasts one second (no real grace period to wait), and a `tell` that keeps what
    it was given."""
    bot = wiring.build(settings_for(fake_slack, tmp_path))
    bot.shutdown_grace = 8.0
    await bot.start()
    told: list[str] = []

    async def tell(text: str) -> bool:
        told.append(text)
        return True

    return bot, told, tell


async def test_work_still_unfinished_when_the_drain_ends_is_audited_as_unknown_and_told(
    fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot, told, tell = await bot_with_short_drain(fake_slack, tmp_path)
    started = asyncio.Event()

    async def stuck() -> None:
        actor = Actor("U111", "T111", "C111", "command", "/reschedule run_x 2h")
        async with bot.deps.inflight.work("/reschedule run_x 2h", actor, tell):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await started.wait()
    with caplog.at_level(logging.WARNING):
        await bot.aclose()
    task.cancel()
    assert told == [messages.shutdown_interrupted("/reschedule run_x 2h")]
    assert "unfinished at shutdown: /reschedule run_x 2h" in caplog.text
    rows = sqlite3.connect(tmp_path / "bot.sqlite3").execute("SELECT outcome, user_id, error FROM audit_events")
    assert rows.fetchall() == [("unknown", "U111", "the bot shut down before finishing")]


async def test_a_form_moving_several_runs_accounts_for_each_move_still_in_flight(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    bot, told, tell = await bot_with_short_drain(fake_slack, tmp_path)
    started = asyncio.Event()

    async def two_runs() -> None:
        actor = Actor("U111", "T111", "C111", "modal", "2h")
        async with bot.deps.inflight.work("reschedule run_a, run_b (2h)", actor, tell):
            move_started("run_a", "prod")
            bot.deps.rescheduler.record(actor, Outcome.RESCHEDULED, run_id="run_a")  # the first one landed
            move_started("run_b", "prod")  # the second is in flight when the drain ends
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(two_runs())
    await started.wait()
    await bot.aclose()
    assert task.cancelled()  # stopped before the clients it uses were closed
    assert told == [messages.shutdown_interrupted("reschedule run_a, run_b (2h)")]
    rows = sqlite3.connect(tmp_path / "bot.sqlite3").execute("SELECT run_id, outcome, environment FROM audit_events")
    assert sorted(rows.fetchall()) == [("run_a", "rescheduled", None), ("run_b", "unknown", "prod")]
