"""The in-process harness behaves like the process where the tests rely on it, and leaves nothing behind."""

from __future__ import annotations

import inspect
import logging
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from packaging.specifiers import SpecifierSet

from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, SlackSender, bot_env
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import UVICORN_INTERNALS, UVICORN_SERVING_SETS, UVICORN_VERSIONS, InProcessBot

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"


def test_the_installed_uvicorn_is_one_the_harness_was_written_for() -> None:
    """tests/inprocess.py stops its server with uvicorn's internals (to skip two fixed 0.1 s pauses per test): an
    upgrade past the range it was written for fails here, by name, before it fails every end-to-end test."""
    assert uvicorn.__version__ in SpecifierSet(",".join(UVICORN_VERSIONS)), (
        "tests/inprocess.py reimplements uvicorn's Server.shutdown; compare it with this version's, then widen "
        "UVICORN_VERSIONS"
    )
    server = uvicorn.Server(uvicorn.Config(app="tests.inprocess:nothing"))
    missing = [name for name in UVICORN_INTERNALS if not hasattr(server, name)]
    source = inspect.getsource(uvicorn.Server)
    missing += [name for name in UVICORN_SERVING_SETS if f"{name} =" not in source]
    assert missing == [], f"uvicorn.Server no longer has {missing}: tests/inprocess.py needs a look"


def test_stop_finishes_an_acknowledged_move_as_sigterm_does(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    access_check = fake_trigger.hold("POST", RESCHEDULE)
    url = fake_slack.new_response_url()
    with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path), log_path=tmp_path / "bot.log") as served:
        assert SlackSender(served.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url).is_success
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
        releaser = threading.Timer(0.3, access_check.set)  # Trigger.dev answers while the bot is stopping
        releaser.start()
        served.stop()
        releaser.join()
    [summary] = fake_slack.channel_messages("C111")  # posted by the bot in the channel before it stopped
    assert run["id"] in str(summary["blocks"]) and fake_slack.responses(url) == []
    assert "Application shutdown complete" in served.log_text()


def bot_threads() -> list[str]:
    """Threads other than the fakes' per-request handlers (one may still be finishing the bot's last call)."""
    return sorted(thread.name for thread in threading.enumerate() if "process_request_thread" not in thread.name)


def test_nothing_is_left_behind(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (bot_threads(), list(root.handlers), root.level, logging.getLogger("httpx").level)
    served = InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, LOG_LEVEL="DEBUG"), log_path=tmp_path / "a.log")
    served.stop()
    # A closed SQLite connection's worker thread ends just after the close returns: give it a moment.
    deadline = time.monotonic() + 2
    while bot_threads() != before[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    after = (bot_threads(), list(root.handlers), root.level, logging.getLogger("httpx").level)
    assert after == before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", served.port), timeout=1):
        pass
    logging.getLogger("bot").warning("after the bot stopped")
    assert "after the bot stopped" not in served.log_text()


def test_only_the_given_settings_are_read(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_DELAY", "forever")
    monkeypatch.setenv("ACCESS__NOWHERE__USERS", "U1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TRIGGER_DEADLINE=-1\nDATABASE_URL=mysql://nope\n")
    with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path), log_path=tmp_path / "bot.log") as served:
        assert "database schema at version" in served.log_text()
