"""The trust boundary, probed as an attacker would against the running server.

Nothing runs for a request before its signature is verified; bodies are bounded before they are read; no input,
verified or not, produces a 5xx or a traceback; a replayed copy is not acted on; replies always find a route.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from bot import messages
from bot.slack.body import MAX_BODY_BYTES
from tests.e2e_harness import (
    PROD_ENV,
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    example_payload,
    fresh_trigger_id,
    http_get,
    http_post,
    settle,
    sign,
)
from tests.fakes._server import WAIT_SECONDS, wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"


def signed_form_headers(body: bytes) -> dict[str, str]:
    """Headers Slack would send with this form body, signed now (sent as is, so a copy is a byte-for-byte replay)."""
    ts = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
    }


def lines_with(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def command_body(response_url: str, text: str = "help", **changes: str) -> bytes:
    fields = {
        "command": "/reschedule",
        "text": text,
        "team_id": "T111",
        "channel_id": "C111",
        "user_id": "U111",
        "response_url": response_url,
        "trigger_id": fresh_trigger_id(),
        **changes,
    }
    return urlencode({k: v for k, v in fields.items() if v}).encode()


# --- 1 and 3: unverified requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["abc", "1e3", "12x", "", "9" * 30])
@pytest.mark.parametrize("shape", ["command", "payload", "json"])
def test_an_unverified_request_with_a_malformed_timestamp_is_a_401_and_nothing_runs(
    bot: BotProcess, fake_slack: FakeSlack, fake_trigger: FakeTrigger, timestamp: str, shape: str
) -> None:
    url = fake_slack.new_response_url()
    if shape == "command":
        body, content_type = command_body(url), "application/x-www-form-urlencoded"
    elif shape == "payload":
        payload = {"type": "block_actions", "response_url": url, "actions": [{"action_id": "rb1:run_now"}]}
        body, content_type = ("payload=" + quote(json.dumps(payload))).encode(), "application/x-www-form-urlencoded"
    else:
        body, content_type = json.dumps({"type": "event_callback", "response_url": url}).encode(), "application/json"
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=abc"}
    response = http_post(bot.events_url, content=body, headers=headers)
    assert response.status_code == 401
    settle(bot, fake_slack, fake_trigger)
    assert fake_slack.responses(url) == [] and fake_trigger.requests == []
    calls = [c for c in fake_slack.requests if not c.path.endswith("auth.test")]
    assert calls == []
    log = bot.log_text()
    assert "Traceback" not in log and len(lines_with(log, "refused an unverified request")) == 1


@pytest.mark.parametrize(
    "body",
    [b"payload=not-json", b"payload=null", b"payload=%5B%5D", b"\xff\xfe\xfa", b"[" * 5000 + b"]" * 5000, b""],
    ids=["not-json", "null", "list", "not-utf8", "deep", "empty"],
)
def test_unverified_odd_bodies_are_a_401_with_one_short_log_line(bot: BotProcess, body: bytes) -> None:
    response = http_post(bot.events_url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401
    log = bot.log_text()
    assert "Traceback" not in log and lines_with(log, "refused an unverified request: no signature")


# --- 2: bounded bodies ------------------------------------------------------------------------------------------


def test_a_body_over_the_bound_is_refused_with_413_before_it_is_read(bot: BotProcess) -> None:
    big = b"x" * (MAX_BODY_BYTES + 1)
    assert http_post(bot.events_url, content=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length at all: chunked, and larger than it would admit
        for _ in range(8):
            yield b"y" * (MAX_BODY_BYTES // 4)

    assert http_post(bot.events_url, content=chunks()).status_code == 413
    assert "Traceback" not in bot.log_text()


def test_a_lying_content_length_does_not_get_past_the_bound(bot: BotProcess) -> None:
    host, port = "127.0.0.1", int(bot.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"z" * 65536
        try:
            for _ in range(40):  # 2.5 MB in chunks, whatever the header claims
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close the connection as soon as it has refused
        answer = conn.recv(4096)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] in (b"400", b"413")
    assert http_get(bot.url + "/healthz").status_code == 200


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_stays_flat_under_a_stream_of_huge_unsigned_bodies(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Any
) -> None:
    from tests.e2e_harness import bot_env

    with BotProcess(bot_env(fake_slack, fake_trigger, tmp_path), log_path=tmp_path / "bot.log") as process:
        before = rss_kib(process.process.pid)

        def fifty_megabytes() -> Iterator[bytes]:
            for _ in range(50):
                yield b"a" * (1 << 20)

        for _ in range(5):
            response = http_post(process.events_url, content=fifty_megabytes(), headers={"Content-Length": "52428800"})
            assert response.status_code == 413
        for _ in range(5):
            assert http_post(process.events_url, content=fifty_megabytes()).status_code == 413
        grown_mib = (rss_kib(process.process.pid) - before) / 1024
        assert grown_mib < 20, f"RSS grew by {grown_mib:.0f} MiB"


# --- 3 and 4: verified but malformed ----------------------------------------------------------------------------


def interaction(**fields: Any) -> dict[str, Any]:
    payload = example_payload("block_actions")
    payload.update(fields)
    return payload


MALFORMED: list[tuple[str, bytes, str]] = [
    ("actions-empty", ("payload=" + quote(json.dumps(interaction(actions=[])))).encode(), "missing actions"),
    ("actions-null", ("payload=" + quote(json.dumps(interaction(actions=None)))).encode(), "missing actions"),
    ("actions-strings", ("payload=" + quote(json.dumps(interaction(actions=["x"])))).encode(), "action_id"),
    ("team-string", ("payload=" + quote(json.dumps(interaction(team="T1")))).encode(), "team is not an object"),
    ("payload-not-json", b"payload=%7Bnope", "not readable JSON"),
    ("payload-null", b"payload=null", "not an object"),
    ("payload-list", b"payload=%5B1%5D", "not an object"),
    ("not-utf8", b"payload=\xff\xfe", "not UTF-8"),
    ("deep", b"payload=" + quote("[" * 5000 + "]" * 5000).encode(), "not readable JSON"),
    ("no-type", b"payload=%7B%7D", "no request type"),
]


@pytest.mark.parametrize(("body", "reason"), [(b, r) for _, b, r in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_signed_malformed_payloads_get_a_4xx_and_one_warning_naming_what_is_wrong(
    bot: BotProcess, fake_slack: FakeSlack, fake_trigger: FakeTrigger, body: bytes, reason: str
) -> None:
    headers = signed_form_headers(body)
    response = http_post(bot.events_url, content=body, headers=headers)
    assert response.status_code == 400
    log = bot.log_text()
    assert "Traceback" not in log
    [line] = lines_with(log, "ignored a malformed request")
    assert reason in line
    assert fake_trigger.requests == []


def test_a_view_submission_without_a_view_type_is_refused_not_a_500(slack: SlackSender, bot: BotProcess) -> None:
    payload = example_payload("view_submission")
    del payload["view"]["type"]
    assert slack.interaction(payload).status_code == 400
    assert "missing view.type" in bot.log_text() and "Traceback" not in bot.log_text()


def test_a_json_content_type_on_a_form_body_is_refused_not_a_500(bot: BotProcess, fake_slack: FakeSlack) -> None:
    sender = SlackSender(bot.events_url, SIGNING_SECRET)
    response = sender.post(command_body(fake_slack.new_response_url()), "application/json")
    assert response.status_code == 400 and "Traceback" not in bot.log_text()


def test_an_interaction_nobody_listens_for_is_acknowledged_with_one_line(slack: SlackSender, bot: BotProcess) -> None:
    payload = interaction(actions=[{"action_id": "someone_elses_button", "value": "x"}])
    payload["type"] = "block_suggestion"
    response = slack.interaction(payload)
    assert response.status_code in (200, 404)
    assert "Traceback" not in bot.log_text() and lines_with(bot.log_text(), "no listener for a block_suggestion")


# --- 5: no user, team or channel --------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["user_id", "team_id", "channel_id"])
def test_a_signed_command_without_a_user_team_or_channel_changes_nothing(
    bot: BotProcess, fake_slack: FakeSlack, fake_trigger: FakeTrigger, missing: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    sender = SlackSender(bot.events_url, SIGNING_SECRET)
    body = command_body(url, f"{run['id']} 2h", **{missing: ""})
    response = sender.post(body, "application/x-www-form-urlencoded")
    assert response.status_code == 400
    settle(bot, fake_slack, fake_trigger)
    assert fake_trigger.calls("POST", RESCHEDULE) == [] and fake_slack.responses(url) == []
    assert lines_with(bot.log_text(), "ignored a malformed request: command: missing")


def test_a_signed_click_without_a_user_moves_nothing(
    slack: SlackSender, bot: BotProcess, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    payload = interaction(
        user={"name": "someone"},
        response_url=fake_slack.new_response_url(),
        actions=[{"action_id": "rb1:run_now", "value": json.dumps({"v": 1, "r": run["id"]})}],
    )
    assert slack.interaction(payload).status_code == 400
    settle(bot, fake_slack, fake_trigger)
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    assert lines_with(bot.log_text(), "block_actions: missing the user")


def test_a_command_whose_text_says_payload_is_read_as_the_command_it_is(
    slack: SlackSender, bot: BotProcess, fake_slack: FakeSlack
) -> None:
    """Bolt is handed the body the front door checked: its own form reader takes any body containing the word
    "payload" for an interaction and would have found nothing to answer."""
    response = slack.command("run_payload 2h", response_url=fake_slack.new_response_url())
    assert response.status_code == 200
    assert response.json()["text"] == messages.not_a_run("run_payload")


# --- 6: replays -------------------------------------------------------------------------------------------------


def test_the_same_signed_command_sent_twice_acts_once(
    bot: BotProcess, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    body = command_body(url, f"{run['id']} 2h")
    headers = signed_form_headers(body)
    assert http_post(bot.events_url, content=body, headers=headers).status_code == 200
    fake_slack.wait_for(lambda: fake_slack.channel_messages("C111"))
    replay = http_post(bot.events_url, content=body, headers=headers)
    assert replay.status_code == 200 and replay.content == b""
    settle(bot, fake_slack, fake_trigger)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert lines_with(bot.log_text(), "ignored a replayed command")


@pytest.mark.slow
def test_a_replay_sent_to_another_process_sharing_the_database_is_ignored_there(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Any
) -> None:
    from tests.e2e_harness import bot_env

    env = bot_env(fake_slack, fake_trigger, tmp_path)
    with (
        BotProcess(env, log_path=tmp_path / "one.log") as one,
        BotProcess(env, log_path=tmp_path / "two.log") as two,
    ):
        run = fake_trigger.add_run(PROD_ENV)
        url = fake_slack.new_response_url()
        body = command_body(url, f"{run['id']} 2h")
        headers = signed_form_headers(body)
        assert http_post(one.events_url, content=body, headers=headers).status_code == 200
        fake_slack.wait_for(lambda: fake_slack.channel_messages("C111"))
        assert http_post(two.events_url, content=body, headers=headers).status_code == 200
        settle(two, fake_slack, fake_trigger)
        assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
        assert lines_with(two.log_text(), "ignored a replayed command")


def test_a_replayed_click_is_ignored(
    slack: SlackSender, bot: BotProcess, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    payload = interaction(
        trigger_id="111.222.click-once",
        response_url=fake_slack.new_response_url(),
        actions=[{"action_id": "rb1:run_now", "value": json.dumps({"v": 1, "r": run["id"]})}],
    )
    assert slack.interaction(payload, keep_trigger_id=True).status_code == 200
    fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
    assert slack.interaction(payload, keep_trigger_id=True).status_code == 200
    settle(bot, fake_slack, fake_trigger)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert lines_with(bot.log_text(), "ignored a replayed block_actions")


# --- 9: every reply has a fallback ------------------------------------------------------------------------------


def test_a_failure_reply_refused_by_the_response_url_arrives_as_an_ephemeral_message(
    slack: SlackSender, bot: BotProcess, fake_slack: FakeSlack
) -> None:
    dead_url = fake_slack.url + "/response/expired"  # the fake answers 404, like an expired response_url
    slack.command("run_cm9k2x7ab000108l5ghf2d1qz 2h", response_url=dead_url, user_id="U111", channel_id="C111")
    ephemeral = fake_slack.wait_for(lambda: fake_slack.ephemerals)
    assert ephemeral[0]["user"] == "U111" and ephemeral[0]["channel"] == "C111"
    assert "run_cm9k2x7ab000108l5ghf2d1qz" in ephemeral[0]["text"]
    assert lines_with(bot.log_text(), "response_url post refused: 404")


def test_when_the_channel_refuses_too_the_reply_arrives_by_dm(
    slack: SlackSender, bot: BotProcess, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV, status="EXECUTING")
    fake_slack.forbid_channel("C0PRIVATE", "channel_not_found")
    dead_url = fake_slack.url + "/response/expired"
    slack.command(f"{run['id']} 2h", response_url=dead_url, user_id="U111", channel_id="C0PRIVATE")
    posted = fake_slack.wait_for(
        lambda: [call for call in fake_slack.api_calls("chat.postMessage") if call["channel"] == "U111"]
    )
    assert messages.not_delayed(run["id"], "Executing", "send-reminder")[:40] in posted[0]["text"]
    log = bot.log_text()
    assert lines_with(log, "response_url post refused") and lines_with(log, "chat.postEphemeral to C0PRIVATE failed")


def test_a_client_that_goes_away_mid_body_gets_no_500_and_leaves_no_traceback(bot: BotProcess) -> None:
    host, port = "127.0.0.1", int(bot.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
    # Said once the bot has read what there was of the body (on a busy machine, maybe well after the client left).
    went_away = "a client went away before sending its whole body"
    wait_for(lambda: lines_with(bot.log_text(), went_away), WAIT_SECONDS, bot.log_text)
    settle(bot)  # the request the client gave up on is over
    assert http_get(bot.url + "/healthz").status_code == 200
    log = bot.log_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    assert lines_with(log, went_away)


def test_a_move_whose_summary_cannot_be_posted_is_still_told_when_dms_are_off(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Any
) -> None:
    from tests.e2e_harness import bot_env
    from tests.inprocess import InProcessBot

    run = fake_trigger.add_run(PROD_ENV)
    env = bot_env(fake_slack, fake_trigger, tmp_path, DM_CONFIRMATIONS="false")
    # Slack rate-limits the bot's post in the channel beyond its retries, and the response_url has expired.
    fake_slack.rate_limit("chat.postMessage", times=3, retry_after=0)
    with InProcessBot(env, log_path=tmp_path / "bot.log") as served:
        sender = SlackSender(served.events_url, SIGNING_SECRET)
        sender.command(f"{run['id']} 2h", response_url=fake_slack.url + "/response/expired", channel_id="C111")
        told = fake_slack.wait_for(lambda: fake_slack.ephemerals)
    assert told[0]["user"] == "U111" and "rescheduled" in told[0]["text"]
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert len(fake_slack.api_calls("chat.postMessage")) == 3 and "C111" not in fake_slack.messages
