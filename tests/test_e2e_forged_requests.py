"""Forged, stale and unsigned requests of every kind are refused at the front door, before any handler runs.

tests/test_e2e_command.py covers the slash command and tests/test_e2e_trust_boundary.py malformed timestamps and
unsigned odd bodies; here each other kind of request (a click on Run now, a modal submission, the message shortcut,
an Events API callback) that would act if it were signed is sent forged, signed with another secret, stale, from
the future, with its body or timestamp swapped after signing, or unsigned: each is a 401 with one log line, and
neither Slack nor Trigger.dev hears anything of it. A signed body over the bound is refused (413) unread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest

from bot.render import ids
from bot.render.ids import Button, ButtonValue
from bot.slack.body import MAX_BODY_BYTES
from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, example_payload, fresh_trigger_id, http_post, settle, sign
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot

pytestmark = pytest.mark.e2e

FORM = "application/x-www-form-urlencoded"


def run_now_click(run_id: str, response_url: str) -> tuple[bytes, str]:
    click = example_payload("block_actions")
    click.update(response_url=response_url, trigger_id=fresh_trigger_id())
    value = ButtonValue.of(run_id, "prod").encode()
    click["actions"] = [{"action_id": Button.RUN_NOW.action_id, "value": value, "type": "button", "block_id": "b"}]
    return b"payload=" + quote(json.dumps(click)).encode(), FORM


def modal_submission(run_id: str, response_url: str) -> tuple[bytes, str]:
    submission = example_payload("view_submission")
    submission["trigger_id"] = fresh_trigger_id()
    submission["view"]["callback_id"] = ids.MODAL_CALLBACK_ID
    metadata = {"v": 1, "origin": {"kind": "shortcut", "response_url": response_url}, "runs": {run_id: "prod"}}
    submission["view"]["private_metadata"] = json.dumps(metadata)
    when = {"type": "plain_text_input", "value": "2h"}
    submission["view"]["state"] = {"values": {ids.BLOCK_WHEN_TEXT: {ids.ACTION_WHEN_TEXT: when}}}
    return b"payload=" + quote(json.dumps(submission)).encode(), FORM


def shortcut(run_id: str, response_url: str) -> tuple[bytes, str]:
    payload = example_payload("message_action")
    payload.update(callback_id=ids.SHORTCUT_CALLBACK_ID, response_url=response_url, trigger_id=fresh_trigger_id())
    payload["message"]["text"] = f"Run {run_id} failed"
    return b"payload=" + quote(json.dumps(payload)).encode(), FORM


def link_shared(run_id: str, response_url: str) -> tuple[bytes, str]:
    event = example_payload("event_link_shared")
    event["event"]["links"] = [{"domain": "cloud.trigger.test", "url": f"https://cloud.trigger.test/runs/{run_id}"}]
    return json.dumps(event).encode(), "application/json"


KINDS: dict[str, Callable[[str, str], tuple[bytes, str]]] = {
    "run-now-click": run_now_click,
    "modal-submission": modal_submission,
    "shortcut": shortcut,
    "link-shared": link_shared,
}


def forged_headers(way: str, body: bytes, content_type: str) -> tuple[dict[str, str], bytes]:
    """Headers (and the body actually sent) for a request that was forged in `way`."""
    now = int(time.time())
    headers = {"Content-Type": content_type}
    ts = str(now)
    if way == "unsigned":
        return headers, body
    if way == "another-secret":
        signature = sign("not-" + SIGNING_SECRET, ts, body)
    elif way == "stale":
        ts = str(now - 360)  # beyond the five minutes allowed, whatever a second tick does
        signature = sign(SIGNING_SECRET, ts, body)
    elif way == "from-the-future":
        ts = str(now + 360)
        signature = sign(SIGNING_SECRET, ts, body)
    elif way == "body-swapped":
        signature = sign(SIGNING_SECRET, ts, b"payload=%7B%7D")
    elif way == "timestamp-swapped":
        signature = sign(SIGNING_SECRET, str(now - 60), body)
    elif way == "signature-only":
        return {**headers, "X-Slack-Signature": sign(SIGNING_SECRET, ts, body)}, body
    elif way == "uppercase-hex":
        signature = sign(SIGNING_SECRET, ts, body).upper().replace("V0=", "v0=")
    else:  # "truncated"
        signature = sign(SIGNING_SECRET, ts, body)[:-1]
    return {**headers, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}, body


WAYS = [
    "unsigned",
    "another-secret",
    "stale",
    "from-the-future",
    "body-swapped",
    "timestamp-swapped",
    "signature-only",
    "uppercase-hex",
    "truncated",
]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_forged_request_of_any_kind_is_a_401_and_nothing_runs(
    bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger, kind: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    slack_calls_before = len(fake_slack.requests)  # auth.test, once at start
    for way in WAYS:
        body, content_type = KINDS[kind](run["id"], url)
        headers, sent = forged_headers(way, body, content_type)
        response = http_post(bot.events_url, content=sent, headers=headers)
        assert response.status_code == 401 and response.text == "invalid request signature", way
    settle(bot, fake_slack, fake_trigger)
    assert fake_trigger.requests == [] and len(fake_slack.requests) == slack_calls_before
    log = bot.log_text().splitlines()
    assert len([line for line in log if "refused an unverified request" in line]) == len(WAYS)
    assert not [line for line in log if "malformed request" in line or "replayed" in line or "Traceback" in line]


def test_the_same_requests_signed_are_acted_on(
    bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    """The control for the test above: each request, signed properly, is answered 200 and, except the event (the bot
    does not unfurl links), reaches its handler and Trigger.dev."""
    for kind, make in sorted(KINDS.items()):
        run = fake_trigger.add_run(PROD_ENV)
        body, content_type = make(run["id"], fake_slack.new_response_url())
        ts = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts}
        headers["X-Slack-Signature"] = sign(SIGNING_SECRET, ts, body)
        response = http_post(bot.events_url, content=body, headers=headers)
        assert response.status_code == 200, (kind, response.text)
        if kind != "link-shared":
            fake_trigger.wait_for(partial(fake_trigger.calls, "*", f"/runs/{run['id']}"))
    assert "refused an unverified request" not in bot.log_text()


def test_a_signed_body_over_the_bound_is_refused_unread(
    bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    body, _ = run_now_click(run["id"], fake_slack.new_response_url())
    padded: Any = body + b"&pad=" + b"x" * (MAX_BODY_BYTES - len(body))  # still a valid form, and signed
    ts = str(int(time.time()))
    headers = {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, padded),
    }
    response = http_post(bot.events_url, content=padded, headers=headers)
    assert response.status_code == 413
    settle(bot, fake_trigger)
    assert fake_trigger.requests == []
    log = bot.log_text()
    assert "refused a request body over" in log and "unverified" not in log and "malformed request" not in log
