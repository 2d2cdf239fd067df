"""The operator's view of one command: its log lines (text and JSON) and its audit row share one request id, and
no secret reaches the log in either format. The real bot served in-process against the fakes, with signed requests.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_harness import BOT_TOKEN, PROD_ENV, PROD_KEY, SIGNING_SECRET
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger

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
    fake_slack.wait_for(lambda: fake_slack.responses(url))
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
