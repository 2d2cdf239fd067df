"""The operator's view of one command: its log lines (text and JSON) and its audit row share one request id, and
no secret reaches the log in either format. The real bot served in-process against the fakes, with signed requests.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import logs, wiring
from bot.slack.socket_client import SocketModeDoor
from tests.e2e_harness import (
    BOT_TOKEN,
    PROD_ENV,
    PROD_KEY,
    SIGNING_SECRET,
    bot_env,
    fresh_trigger_id,
    load_settings,
    settle,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.summaries import CHANNEL, only_summary
from tests.test_e2e_digest import CHANNEL as DIGEST_CHANNEL
from tests.test_e2e_digest import digest_env

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
SECRETS = (PROD_KEY, BOT_TOKEN, SIGNING_SECRET)


def audit_row(tmp_path: Path, run_id: str) -> dict[str, Any]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        [row] = conn.execute("SELECT * FROM audit_events WHERE run_id = ?", (run_id,)).fetchall()
    return dict(row)


def move_once(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, log_format: str) -> tuple[str, str]:
    """One `/reschedule <run> 2h` whose first reschedule attempt gets a 503 (so the client logs a retry), at DEBUG;
    the bot is stopped (audit flushed) before returning the run id and the whole log."""
    sender, bot = start(LOG_LEVEL="DEBUG", LOG_FORMAT=log_format)
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.fail_next("POST", RESCHEDULE, 503, {"error": "upstream hiccup"})
    url = fake_slack.new_response_url()
    assert sender.command(f"{run['id']} 2h", response_url=url).status_code == 200
    only_summary(fake_slack, url)  # the move's summary, posted in the channel by the bot
    bot.stop()
    return run["id"], bot.log_text()


def test_text_lines_of_a_command_carry_the_request_id_of_its_audit_row(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run_id, log = move_once(start, fake_slack, fake_trigger, "text")
    request_id = audit_row(tmp_path, run_id)["request_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)
    tagged = [line for line in log.splitlines() if f"[{request_id}]" in line]
    [request_line] = [line for line in tagged if "slack request kind=command" in line]
    assert "surface=command team=T111 user=U111 outcome=acked status=200 ack_ms=" in request_line
    trigger_lines = [line for line in log.splitlines() if " bot.trigger.client " in line]
    assert any("→ 503" in line for line in trigger_lines) and any("→ 200" in line for line in trigger_lines)
    assert all(f"[{request_id}]" in line for line in trigger_lines)  # the retrieve, the 503 and the retried move
    [outcome_line] = [line for line in log.splitlines() if f"rescheduled run={run_id}" in line]
    assert f"[{request_id}]" in outcome_line
    for secret in SECRETS:
        assert secret not in log


def test_json_lines_all_parse_and_carry_the_request_id_of_the_audit_row(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run_id, log = move_once(start, fake_slack, fake_trigger, "json")
    lines = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= line.keys() for line in lines)
    request_id = audit_row(tmp_path, run_id)["request_id"]
    [request_line] = [line for line in lines if line["message"].startswith("slack request kind=command")]
    assert request_line["request_id"] == request_id
    assert {k: request_line[k] for k in ("kind", "surface", "team", "user", "outcome", "status")} == {
        "kind": "command",
        "surface": "command",
        "team": "T111",
        "user": "U111",
        "outcome": "acked",
        "status": 200,
    }
    assert isinstance(request_line["ack_ms"], float)
    trigger_lines = [line for line in lines if line["logger"] == "bot.trigger.client"]
    assert len(trigger_lines) >= 3 and {line["request_id"] for line in trigger_lines} == {request_id}
    [outcome_line] = [line for line in lines if line.get("outcome") == "rescheduled"]
    assert outcome_line["request_id"] == request_id
    assert (outcome_line["run_id"], outcome_line["environment"], outcome_line["user"]) == (run_id, "prod", "U111")
    for secret in SECRETS:
        assert secret not in log


def test_each_request_has_its_own_id(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, bot = start(LOG_FORMAT="json")
    for _ in range(3):
        sender.command("help", response_url=fake_slack.new_response_url())
    bot.stop()
    lines = [json.loads(line) for line in bot.log_text().splitlines()]
    ids = [line["request_id"] for line in lines if line["message"].startswith("slack request")]
    assert len(ids) == 3 and len(set(ids)) == 3 and all(ids)


class SocketClient:
    """Stands in for the Socket Mode connection: keeps the answers the handler sends back."""

    def __init__(self) -> None:
        self.sent: list[SocketModeResponse] = []
        self.logger = logging.getLogger("tests.socket_client")

    async def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.sent.append(response)


async def test_socket_mode_requests_get_an_id_and_a_line_too(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Socket Mode requests do not pass bot/server.py: its handler gives them their id and their line."""
    env = bot_env(fake_slack, fake_trigger, tmp_path, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN="xapp-1-A111-test")
    out = io.StringIO()
    handler = logs.handler("json")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    caplog.set_level(logging.INFO)
    logging.getLogger().addHandler(handler)
    bot = wiring.build(load_settings("socket", env), socket_mode=True)
    await bot.start()
    client = SocketClient()
    try:
        run = fake_trigger.add_run(PROD_ENV)
        url = fake_slack.new_response_url()
        fields = {"command": "/reschedule", "text": f"{run['id']} 2h", "team_id": "T111", "user_id": "U111"}
        fields |= {"channel_id": "C111", "api_app_id": "A111", "response_url": url, "trigger_id": fresh_trigger_id()}
        request = SocketModeRequest(type="slash_commands", envelope_id="e1", payload=fields)
        door = SocketModeDoor(bot.app, "xapp-1-A111-test", ping_interval=10)
        door.client = client  # type: ignore[assignment]  # acknowledgements go to the stand-in
        await door.handle(client, request)  # type: ignore[arg-type]
        for _ in range(500):  # the move runs on this loop after the acknowledgement
            if fake_slack.channel_messages(CHANNEL):
                break
            await asyncio.sleep(0.02)
    finally:
        await bot.aclose()
        logging.getLogger().removeHandler(handler)
    assert [response.envelope_id for response in client.sent] == ["e1"]  # acknowledged over the socket
    only_summary(fake_slack, url)  # the move was answered: its summary is in the channel
    request_id = audit_row(tmp_path, run["id"])["request_id"]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    [request_line] = [line for line in lines if line["message"].startswith("slack request kind=command")]
    assert (request_line["request_id"], request_line["user"], request_line["outcome"]) == (request_id, "U111", "acked")
    [outcome_line] = [line for line in lines if line.get("outcome") == "rescheduled"]
    assert outcome_line["request_id"] == request_id


def test_a_digest_has_a_request_id_of_its_own(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    _, bot = start(LOG_LEVEL="DEBUG", **digest_env())
    fake_slack.wait_for(lambda: fake_slack.messages.get(DIGEST_CHANNEL))
    settle(bot, fake_slack, fake_trigger)  # the digest's work is over, its last line written
    bot.stop()
    lines = bot.log_text().splitlines()
    [posted] = [line for line in lines if "digest for" in line and "posted to" in line]
    found = re.search(r"\[(digest-[0-9a-f]{16})\]", posted)
    assert found is not None
    listed = [line for line in lines if " bot.trigger.client " in line]  # the list of DELAYED runs, at DEBUG
    assert listed and all(f"[{found.group(1)}]" in line for line in listed)


FORGED_LINE = "2099-01-01 00:00:00,000 CRITICAL bot.rescheduler: rescheduled run=run_forged env=prod by=U999"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_trigger_dev_error_text_cannot_forge_a_log_line(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, log_format: str
) -> None:
    sender, bot = start(LOG_LEVEL="DEBUG", LOG_FORMAT=log_format)
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.fail_next("POST", RESCHEDULE, 400, {"error": f"bad\n{FORGED_LINE}\n\x1b[2K"})
    url = fake_slack.new_response_url()
    assert sender.command(f"{run['id']} 2h", response_url=url).status_code == 200
    fake_slack.wait_for(lambda: fake_slack.responses(url) or fake_slack.channel_messages(CHANNEL))
    bot.stop()
    log = bot.log_text()
    assert "bad\\n2099-01-01" in log or "bad\\\\n2099-01-01" in log  # the error text is there, escaped …
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith("2099") or "\x1b" in line]  # … on no line of its own
    if log_format == "json":
        assert all(json.loads(line) for line in lines)
