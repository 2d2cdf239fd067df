"""/reschedule end to end: the real bot (served in-process), signed requests, fake Slack and Trigger.dev on loopback."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.domain.actions import Did
from bot.render.mrkdwn import date_token
from tests.e2e_harness import (
    BOT_TOKEN,
    DASHBOARD_URL,
    PROD_ENV,
    PROD_KEY,
    SIGNING_SECRET,
    SlackSender,
    bot_env,
    http_get,
    run_cli,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.summaries import CHANNEL, fallback_summary, only_summary

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
RETRIEVE = r"/api/v3/runs/"


def only_response(fake_slack: FakeSlack, url: str) -> dict[str, Any]:
    posted = fake_slack.wait_for(lambda: fake_slack.responses(url))
    assert len(posted) == 1, posted
    body: dict[str, Any] = posted[0]
    return body


def blocks_text(body: dict[str, Any]) -> str:
    text: str = body.get("text", "")
    return json.dumps(body.get("blocks", [])) + text


def test_healthz_answers_without_calling_anything(
    bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    # The bot learnt who it is (auth.test) once, at start, so no request waits for it before its ack.
    assert len(fake_slack.api_calls("auth.test")) == 1
    calls_before = len(fake_slack.requests)
    response = http_get(bot.url + "/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert fake_trigger.requests == [] and len(fake_slack.requests) == calls_before


@pytest.mark.parametrize(
    "sign_options",
    [{"signature": "v0=" + "0" * 64}, {"unsigned": True}, {"timestamp": str(int(datetime.now(UTC).timestamp()) - 301)}],
    ids=["forged", "unsigned", "stale"],
)
def test_unverified_requests_get_401_and_reach_no_handler(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, sign_options: dict[str, Any]
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    response = slack.command(f"{run['id']} 2h", response_url=url, **sign_options)
    assert response.status_code == 401
    assert fake_trigger.requests == [] and fake_slack.responses(url) == []


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help_is_private_and_immediate(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, text: str
) -> None:
    response = slack.command(text, response_url=fake_slack.new_response_url())
    assert response.status_code == 200
    assert response.json() == {"text": messages.USAGE, "response_type": "ephemeral"}
    assert fake_trigger.requests == []


@pytest.mark.parametrize(
    ("typed", "expected_fragment"),
    [
        ("soon", "I can't read `soon` as a time"),
        ("0m", "`0m` is not in the future"),
        ("2020-01-01T00:00Z", "`2020-01-01T00:00Z` (Wed 1 Jan 2020 at 01:00, your time) has already passed"),
        ("400d", "That is too far ahead: the furthest a run can be moved is 365d from now"),
        ("1,5h", "I can't read `1,5h` as a time"),
        ("friday", "`friday` names a day but not a time of day: try `friday 9am` ("),
    ],
)
def test_bad_times_get_a_specific_answer_and_change_nothing(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, typed: str, expected_fragment: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    response = slack.command(f"{run['id']} {typed}", response_url=fake_slack.new_response_url())
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert expected_fragment in body["text"] and "Examples:" in body["text"]
    assert fake_trigger.requests == []


def test_not_a_run_id_gets_one_line_with_an_example(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    body = slack.command("run_abc 2h", response_url=fake_slack.new_response_url()).json()
    assert body["text"] == messages.not_a_run("run_abc") and len(body["text"].splitlines()) == 1
    assert f"`/reschedule {messages.EXAMPLE_RUN} 2h`" in body["text"]
    assert fake_trigger.requests == []


@pytest.mark.parametrize("after", ["2h --reason", "2h --reason   ", "--env prod 2h --reason"])
def test_a_reason_flag_with_no_reason_is_refused_before_anything_moves(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, after: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    body = slack.command(f"{run['id']} {after}", response_url=fake_slack.new_response_url()).json()
    assert body["response_type"] == "ephemeral" and body["text"] == messages.REASON_FLAG_NEEDS_TEXT
    assert "--reason deploy freeze" in body["text"]
    assert fake_trigger.requests == []


def test_hostile_input_is_escaped_in_the_answer(slack: SlackSender, fake_slack: FakeSlack) -> None:
    body = slack.command("<!channel> 2h", response_url=fake_slack.new_response_url()).json()
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"]


def test_reschedule_posts_the_summary_to_the_channel(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    old = datetime.now(UTC) + timedelta(minutes=30)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=old, tags=["<!channel>", "user_42"], version="20250701.3")
    url = fake_slack.new_response_url()
    before = datetime.now(UTC)
    response = slack.command(f"{run['id']} 2h", response_url=url)
    assert response.status_code == 200 and response.content == b""

    body = only_summary(fake_slack, url)
    new = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert before + timedelta(hours=2) <= new <= datetime.now(UTC) + timedelta(hours=2)
    [summary_post] = [c for c in fake_slack.api_calls("chat.postMessage") if c["channel"] == CHANNEL]
    assert "thread_ts" not in summary_post  # a message of its own in the channel the command was typed in
    text = blocks_text(body)
    assert "<@U111> rescheduled *send-reminder* in *Prod*" in text
    assert date_token(new) in text and date_token(old) in text
    assert f"{DASHBOARD_URL}/runs/{run['id']}" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    # What was sent is the absolute instant the summary shows, so a retry lands on it too.
    [post] = fake_trigger.calls("POST", RESCHEDULE)
    assert post.json == {"delay": new.strftime("%Y-%m-%dT%H:%M:%S.") + f"{new.microsecond // 1000:03d}Z"}
    assert post.headers["authorization"] == f"Bearer {PROD_KEY}"
    assert post.headers["x-trigger-api-version"] == "2025-07-16"
    assert post.headers["user-agent"].startswith("reschedule-bot/")


def test_iso_time_lands_exactly(slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    target = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0, second=0)
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} {target.strftime('%Y-%m-%dT%H:%M')}+00:00", response_url=url)
    body = only_summary(fake_slack, url)
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == target
    assert date_token(target) in blocks_text(body)


def test_dashboard_link_works_as_the_run(slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    link = f"<https://cloud.trigger.dev/projects/v3/proj_abcdefghijklmnopqrst/runs/{run['id']}>"
    slack.command(f"{link} in 1 hour", response_url=url)
    assert run["id"] in blocks_text(only_summary(fake_slack, url))
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1


def test_acknowledged_before_trigger_dev_answers(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    access_check = fake_trigger.hold("GET", RETRIEVE)
    url = fake_slack.new_response_url()
    response = slack.command(f"{run['id']} 2h", response_url=url)
    # Slack got its 200 while Trigger.dev was still holding the bot's first request.
    assert response.status_code == 200
    assert not access_check.is_set() and fake_slack.responses(url) == [] and fake_slack.channel_messages(CHANNEL) == []
    fake_trigger.wait_for(lambda: fake_trigger.calls("GET", RETRIEVE))
    access_check.set()
    assert run["id"] in blocks_text(only_summary(fake_slack, url))


def test_show_run_is_private(slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    run = fake_trigger.add_run(PROD_ENV, status="EXECUTING", task_identifier="nightly-sync")
    url = fake_slack.new_response_url()
    slack.command(run["id"], response_url=url)
    body = only_response(fake_slack, url)
    assert body["response_type"] == "ephemeral"
    assert "*nightly-sync* in *Prod*" in blocks_text(body) and "Executing" in blocks_text(body)
    assert fake_trigger.calls("POST", RESCHEDULE) == []


@pytest.mark.parametrize("status", ["FAILED", "EXECUTING", "COMPLETED", "CANCELED", "EXPIRED", "QUEUED"])
def test_runs_that_are_not_delayed_are_left_alone(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, status: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV, status=status)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    body = only_response(fake_slack, url)
    assert body["response_type"] == "ephemeral"
    assert body["text"] == messages.not_delayed(run["id"], status, "send-reminder")
    assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_run_that_starts_between_read_and_write_is_reported_as_it_is_now(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    access_check = fake_trigger.hold("POST", RESCHEDULE)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
    fake_trigger.set_status(run["id"], "EXECUTING")
    access_check.set()
    body = only_response(fake_slack, url)
    assert body["text"] == messages.not_delayed(run["id"], "EXECUTING", "send-reminder")


def test_unknown_run_is_answered_quickly_naming_the_environment(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    url = fake_slack.new_response_url()
    slack.command("run_cm9k2x7ab000108l5ghf2d1qz 2h", response_url=url)
    body = only_response(fake_slack, url)
    assert body["text"] == messages.run_not_found("run_cm9k2x7ab000108l5ghf2d1qz", "*Prod*")
    # The retrieve route's 404 says x-should-retry: true; the bot asks once all the same.
    assert len(fake_trigger.calls("GET", RETRIEVE)) == 1


def test_rate_limit_is_waited_out(slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.rate_limit(times=1, reset_in=0.3)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    assert run["id"] in blocks_text(only_summary(fake_slack, url))
    assert len(fake_trigger.calls("GET", RETRIEVE)) == 2


def test_rate_limit_beyond_the_deadline_is_told(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.rate_limit(times=10, reset_in=60)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    assert only_response(fake_slack, url)["text"] == messages.RATE_LIMITED
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]


def test_unavailable_after_retries_is_told(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.fail_next("GET", RETRIEVE, 503, {"error": "Service Unavailable"}, times=10)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    assert only_response(fake_slack, url)["text"] == messages.UNAVAILABLE
    assert len(fake_trigger.calls("GET", RETRIEVE)) >= 2


def test_network_errors_are_retried(slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.drop_next("POST", RESCHEDULE)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    assert run["id"] in blocks_text(only_summary(fake_slack, url))
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 2


def test_rejected_key_is_explained_without_the_key(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    revoked = "tr_prod_revokedrevokedrevoked123"
    env = bot_env(fake_slack, fake_trigger, tmp_path, TRIGGER_SECRET_KEY=revoked)
    with InProcessBot(env, log_path=tmp_path / "bot.log") as process:
        url = fake_slack.new_response_url()
        SlackSender(process.events_url, SIGNING_SECRET).command("run_cm9k2x7ab000108l5ghf2d1qz 2h", response_url=url)
        body = only_response(fake_slack, url)
        log = process.log_text()
    assert body["text"] == messages.key_rejected("Prod")
    assert revoked not in json.dumps(body) and revoked not in log


def test_secrets_never_reach_the_log(
    bot: InProcessBot, slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    only_summary(fake_slack, url)
    log = bot.log_text()
    assert "rescheduled run=" in log
    for secret in (PROD_KEY, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in log


def test_a_rejected_bot_token_stops_the_process_at_start(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, fake_trigger, tmp_path, SLACK_BOT_TOKEN="xoxb-revoked-1234")
    result = run_cli(["serve", "--host", "127.0.0.1", "--port", "0"], env, tmp_path)
    assert result.returncode == 2
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in result.stderr
    assert "xoxb-revoked-1234" not in result.stderr and "Traceback" not in result.stderr


def test_socket_mode_with_a_rejected_app_token_stops_at_start(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, fake_trigger, tmp_path, SLACK_APP_TOKEN="xapp-1-A111-revoked")
    result = run_cli(["socket"], env, tmp_path)
    assert result.returncode == 2
    assert "Slack rejected SLACK_APP_TOKEN (invalid_auth)" in result.stderr
    assert "xapp-1-A111-revoked" not in result.stderr and "Traceback" not in result.stderr
    [call] = fake_slack.api_calls("apps.connections.open")
    assert call is not None


def test_missing_configuration_stops_the_process_naming_every_variable(tmp_path: Path) -> None:
    result = run_cli(["serve"], {"MAX_DELAY": "forever"}, tmp_path)
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TRIGGER_SECRET_KEY", "MAX_DELAY"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- answers that come after the deadline


def audit_row(tmp_path: Path, fake: FakeSlack, run_id: str) -> dict[str, Any]:
    """The bot's (only) audit record for `run_id`, once it is written."""

    def read() -> dict[str, Any] | None:
        path = tmp_path / "bot.sqlite3"
        if not path.exists():
            return None
        with sqlite3.connect(path) as conn:
            conn.row_factory = sqlite3.Row
            try:
                rows = [dict(r) for r in conn.execute("SELECT * FROM audit_events WHERE run_id = ?", (run_id,))]
            except sqlite3.OperationalError:
                return None
        assert len(rows) <= 1, rows
        return rows[0] if rows else None

    row: dict[str, Any] = fake.wait_for(read)
    return row


def test_a_move_applied_but_answered_after_the_deadline_is_told_as_moved(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """Trigger.dev applies the reschedule but answers long after TRIGGER_DEADLINE: the bot reads the run again."""
    old = datetime.now(UTC) + timedelta(minutes=30)
    target = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0, second=0)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=old)
    late = fake_trigger.answer_late("POST", RESCHEDULE)
    env = bot_env(fake_slack, fake_trigger, tmp_path, TRIGGER_DEADLINE="2")
    with InProcessBot(env, log_path=tmp_path / "bot.log") as process:
        url = fake_slack.new_response_url()
        SlackSender(process.events_url, SIGNING_SECRET).command(
            f"{run['id']} {target.strftime('%Y-%m-%dT%H:%M')}Z", response_url=url
        )
        body = only_summary(fake_slack, url)
        row = audit_row(tmp_path, fake_slack, run["id"])
        log = process.log_text()
    assert not late.is_set()  # the answer never came while the bot was deciding
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == target
    text = blocks_text(body)
    assert "<@U111> rescheduled *send-reminder* in *Prod*" in text
    assert date_token(target) in text and date_token(old) in text
    assert "not answering" not in text
    assert [r.method for r in fake_trigger.requests] == ["GET", "POST", "GET"]  # found, moved, read back
    assert "confirmed by reading back" in log
    assert row["outcome"] == "rescheduled" and row["error"] is None


@pytest.mark.parametrize("fault", ["held", "gateway-504"])
def test_a_move_not_applied_and_not_answered_in_time_is_told_as_still_at_the_previous_time(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, fault: str
) -> None:
    """Trigger.dev does not apply the reschedule: it holds the request past the deadline, or a gateway answers
    504 on every attempt. The run is read again and still shows its previous time."""
    old = datetime.now(UTC) + timedelta(minutes=30)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=old)
    if fault == "held":
        fake_trigger.hold("POST", RESCHEDULE)  # released (and applied) only when the fake stops, after the test
    else:
        fake_trigger.fail_next("POST", RESCHEDULE, 504, "Gateway Timeout", times=10)
    env = bot_env(fake_slack, fake_trigger, tmp_path, TRIGGER_DEADLINE="2")
    with InProcessBot(env, log_path=tmp_path / "bot.log") as process:
        url = fake_slack.new_response_url()
        SlackSender(process.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url)
        body = only_response(fake_slack, url)
        row = audit_row(tmp_path, fake_slack, run["id"])
        assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]
    assert body["response_type"] == "ephemeral"
    assert body["text"] == messages.not_applied(run["id"], "send-reminder", date_token(old))
    assert fake_trigger.requests[-1].method == "GET"  # read back after the move
    assert row["outcome"] == "unknown" and row["error"].startswith("NotApplied:")


def test_the_dm_links_to_the_summary_the_bot_posted(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url)
    summary = only_summary(fake_slack, url)
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
    permalink = f"https://example.slack.com/archives/{CHANNEL}/p{summary['ts'].replace('.', '')}"
    assert [c["message_ts"] for c in fake_slack.api_calls("chat.getPermalink")] == [summary["ts"]]
    # One line (what moved, from when to when, where the summary is) and Undo; the details are in the summary.
    [line] = [block["text"]["text"] for block in dm["blocks"] if block["type"] == "section"]
    task = f"<{DASHBOARD_URL}/runs/{run['id']}|send-reminder>"
    previous, new = run["delayedUntil"], fake_trigger.get_run(run["id"])["delayedUntil"]
    where = messages.where_posted(CHANNEL, permalink)
    assert line == messages.dm_line(Did.MOVED, task, "Prod", date_token(previous), date_token(new), where)
    assert [block["type"] for block in dm["blocks"]] == ["section", "actions"]
    assert [element["text"]["text"] for element in dm["blocks"][1]["elements"]] == ["Undo"]


@pytest.mark.parametrize(
    ("channel", "error"),
    [("G0PRIVATE", "not_in_channel"), ("D0OTHERDM", "channel_not_found"), ("C0ARCHIVED", "is_archived")],
    ids=["private-channel-without-the-bot", "dm-without-the-bot", "archived"],
)
def test_a_channel_the_bot_cannot_post_in_gets_the_summary_through_the_response_url(
    bot: InProcessBot, slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, channel: str, error: str
) -> None:
    fake_slack.forbid_channel(channel, error)
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url, channel_id=channel)
    summary = fallback_summary(fake_slack, url)
    new = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert "<@U111> rescheduled *send-reminder* in *Prod*" in blocks_text(summary)
    assert date_token(new) in blocks_text(summary) and summary["replace_original"] is False
    [tried] = fake_slack.api_calls("chat.postMessage")[:1]
    assert tried["channel"] == channel and channel not in fake_slack.messages
    # The person hears nothing alarming: no private warning, and a DM saying where, without a note.
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
    [line] = [block["text"]["text"] for block in dm["blocks"] if block["type"] == "section"]
    assert "You moved" in line and line.endswith(f" {messages.where_channel(channel)}")  # no link: no message of ours
    assert ":warning:" not in blocks_text(dm)
    assert fake_slack.responses(url) == [summary] and fake_slack.ephemerals == []
    assert f"summary not posted by the bot in {channel} ({error})" in bot.log_text()


def test_a_summary_post_that_gets_no_answer_is_not_sent_again_and_the_dm_says_it_may_be_there(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    # Slack reads the post and the connection drops before any answer (each retry too): it may have landed.
    fake_slack.drop_next("POST", r"/api/chat\.postMessage$", times=3)
    slack.command(f"{run['id']} 2h", response_url=url)
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
    assert messages.summary_uncertain(CHANNEL) in blocks_text(dm)
    assert fake_slack.responses(url) == []  # not posted again through the response_url: it could show twice
    sent = fake_slack.calls("POST", r"/api/chat\.postMessage$")
    assert len(sent) == 3 + 1  # the summary (tried three times, each dropped unanswered), then the DM
    assert fake_slack.channel_messages(CHANNEL) == []
    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
