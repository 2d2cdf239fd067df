"""The real `python -m bot serve` process: each surface once end to end, and what only a process shows (its
log on stderr, SIGTERM and the exit code).

Every other end-to-end test uses the same bot served inside the test process (tests/inprocess.py), which is
much faster; these make sure the command line builds and serves that same bot. The command line's start-up
checks (settings errors, a rejected token, migrate) run the process too: see run_cli in test_e2e_command.py
and test_e2e_teams.py.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.storage import db
from tests.e2e_harness import (
    BOT_TOKEN,
    PROD_ENV,
    PROD_KEY,
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    refusing_address,
    run_cli,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.test_e2e_buttons import click, summary_via_command, wait_one
from tests.test_e2e_shortcut_modal import open_form, submission, thread_posts, wait_result
from tests.test_runs import current_alert

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
# A graceful shutdown on SIGTERM ends the process with status 0 (bot.server: the signal uvicorn raises again after
# shutting down meets a handler that does nothing, rather than killing a process platforms would read as crashed).
SIGTERM_EXIT = 0


def test_command_moves_the_run_and_nothing_secret_reaches_stderr(
    bot_process: BotProcess, process_slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    before = datetime.now(UTC)
    message = summary_via_command(process_slack, fake_slack, f"{run['id']} 2h")
    assert "<@U111> rescheduled *send-reminder* in *Prod*" in json.dumps(message["blocks"])
    new = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert before + timedelta(hours=2) <= new <= datetime.now(UTC) + timedelta(hours=2)
    log = bot_process.log_text()
    assert "rescheduled run=" in log
    for secret in (PROD_KEY, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in log


def test_button_moves_the_run_from_the_time_shown(
    process_slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    message = summary_via_command(process_slack, fake_slack, f"{run['id']} 2h")
    shown = fake_trigger.get_run(run["id"])["delayedUntil"]
    status, url = click(process_slack, fake_slack, message, "rb1:push_1h")
    assert status == 200
    [update] = wait_one(fake_slack, url)
    assert update["replace_original"] is True
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == shown + timedelta(hours=1)


def test_shortcut_opens_the_form_and_its_submission_moves_the_run(
    process_slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    message = current_alert(run["id"])
    form = open_form(process_slack, fake_slack, message)
    response = process_slack.interaction(submission(form, text="2h"))
    assert response.status_code == 200 and response.json()["response_action"] == "update"
    wait_result(fake_slack)
    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
    [post] = thread_posts(fake_slack)
    assert post["thread_ts"] == message["ts"]


def test_sigterm_finishes_an_acknowledged_move_then_exits_cleanly(
    bot_process: BotProcess, process_slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    access_check = fake_trigger.hold("POST", RESCHEDULE)
    url = fake_slack.new_response_url()
    assert process_slack.command(f"{run['id']} 2h", response_url=url).status_code == 200
    fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))

    bot_process.process.send_signal(signal.SIGTERM)
    releaser = threading.Timer(0.5, access_check.set)  # Trigger.dev answers while the process is shutting down
    releaser.start()
    try:
        assert bot_process.process.wait(timeout=15) == SIGTERM_EXIT
    finally:
        releaser.cancel()
        access_check.set()

    [summary] = fake_slack.channel_messages("C111")  # posted by the bot in the channel before it exited
    assert run["id"] in json.dumps(summary["blocks"]) and fake_slack.responses(url) == []
    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
    log = bot_process.log_text()
    assert "Application shutdown complete" in log and "Traceback" not in log


def test_start_up_names_the_request_url_once_and_bolt_has_nothing_to_warn_about(bot_process: BotProcess) -> None:
    """SLACK_BOT_TOKEN is in the process environment, as on any platform: Bolt reads it, and the bot gives Bolt
    its own client and authorizer; nothing is unused by mistake, so the log does not say so."""
    log = bot_process.log_text()
    lines = [line for line in log.splitlines() if "Request URL" in line]
    assert len(lines) == 1, log
    assert f"listening on http://127.0.0.1:{bot_process.port}." in lines[0]
    assert "https://<your host>/slack/events" in lines[0] and f"port {bot_process.port}" in lines[0]
    assert "will be unused" not in log and "will be ignored" not in log and " WARNING " not in log, log
    # Its database was a new file: the process created the schema at start, every revision in turn.
    applied = re.findall(r"applied database migration (\d+)", log)
    assert applied == db.revisions() and f"database schema at version {db.LATEST}" in log, log


def test_a_port_already_taken_is_said_plainly(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken, refusing_address() as slack:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env_without_slack(tmp_path, f"http://{slack}/api/")
        result = run_cli(["serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def _env_without_slack(tmp_path: Path, slack_api_url: str) -> dict[str, str]:
    """Settings `serve` accepts; Slack refuses connections (auth.test at start only warns), nothing is moved."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "TRIGGER_SECRET_KEY": PROD_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3",
    }
