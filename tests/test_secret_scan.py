"""The scan of everything captured (tests/secret_scan.py) can fail, names the place, and runs at the session's end.

A scan that never fails proves nothing, so each sink is planted with a secret here, on a scan of its own (the
session's scan is left alone), and a small pytest session is run whose only test logs a secret.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e_harness import (
    BOT_TOKEN,
    PROD_ENV,
    PROD_KEY,
    REPO_ROOT,
    SIGNING_SECRET,
    SlackSender,
    bot_env,
    http_post,
    run_in_process,
)
from tests.fakes._server import FakeServer
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.secret_scan import SESSION, TEST_SECRETS, SecretScan
from tests.summaries import only_summary


def failure_of(scan: SecretScan) -> str:
    with pytest.raises(AssertionError) as failed:
        scan.check()
    return str(failed.value)


@pytest.mark.e2e
def test_a_secret_in_a_request_a_fake_received_fails_naming_the_fake_and_the_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scan = SecretScan(TEST_SECRETS)
    monkeypatch.setattr(FakeServer, "observers", [scan.add_request])  # planted here only, not in the session's scan
    with FakeSlack(BOT_TOKEN) as fake:
        auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
        http_post(fake.api_url + "auth.test", headers=auth)  # the header the API needs is not a leak
        scan.check()
        http_post(fake.api_url + "chat.postMessage", json={"channel": "C1", "text": f"hi {BOT_TOKEN}"}, headers=auth)
    message = failure_of(scan)
    assert "SLACK_BOT_TOKEN in FakeSlack POST /api/chat.postMessage" in message
    assert BOT_TOKEN not in message  # the failure names the secret, never shows it


def test_a_secret_url_encoded_in_a_log_file_fails_naming_the_file(tmp_path: Path) -> None:
    scan = SecretScan(TEST_SECRETS)
    log = tmp_path / "bot.log"
    log.write_text("INFO bot: all good\n")
    scan.add_file(log)
    scan.check()
    log.write_text(f"WARNING bot: posted key={quote(PROD_KEY + '/x')}\n")
    scan.add_file(log)
    assert f"TRIGGER_SECRET_KEY (prod) in log file {log}" in failure_of(scan)


PLANTED_TEST = """
import logging

def test_clean():
    logging.getLogger("bot").warning("nothing secret here")

def test_logs_the_secret():
    logging.getLogger("bot").warning("signing with %s", {secret!r})
"""
CONFTEST = "from tests.secret_scan import no_secret_in_anything_captured, pytest_runtest_logreport  # noqa: F401\n"


def run_session(folder: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_planted.py").write_text(test_source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", str(folder)],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e  # a pytest session in a process of its own
def test_a_secret_in_a_captured_log_record_fails_the_session_at_its_end(tmp_path: Path) -> None:
    planted = run_session(tmp_path, PLANTED_TEST.format(secret=SIGNING_SECRET))
    assert planted.returncode == 1, planted.stdout
    assert "2 passed, 1 error" in planted.stdout
    assert "ERROR at teardown of test_logs_the_secret" in planted.stdout
    assert "SLACK_SIGNING_SECRET in test_planted.py::test_logs_the_secret [Captured log call]" in planted.stdout


@pytest.mark.e2e  # a pytest session in a process of its own
def test_a_session_with_nothing_secret_passes(tmp_path: Path) -> None:
    clean = run_session(tmp_path, PLANTED_TEST.format(secret="not-a-secret"))
    assert clean.returncode == 0, clean.stdout


def test_the_sessions_scan_sees_a_running_bots_traffic_and_log(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """The sinks of the session's scan are wired: a command's Slack and Trigger.dev calls, the bot's log and what a
    `reschedule-bot` command prints reach it."""
    run = fake_trigger.add_run(PROD_ENV)
    before = SESSION.scanned
    with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path), log_path=tmp_path / "bot.log") as served:
        url = fake_slack.new_response_url()
        SlackSender(served.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url)
        only_summary(fake_slack, url)  # the move's summary, posted in the channel by the bot
        seen_while_serving = SESSION.scanned - before
    assert seen_while_serving >= 3  # auth.test, the run's GET and the reschedule POST at least
    after_stop = SESSION.scanned - before
    assert after_stop > seen_while_serving  # and the log file, read when the bot stopped
    run_in_process(["migrate"], bot_env(fake_slack, fake_trigger, tmp_path), tmp_path)
    assert SESSION.scanned - before == after_stop + 1  # and what a command printed
