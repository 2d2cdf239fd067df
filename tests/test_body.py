"""Reading a verified body: what Slack sends is read as Bolt would; anything else is Malformed, naming why."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from bot.slack import body
from bot.slack.body import Malformed
from tests.e2e_harness import example_payload

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def form_payload(payload: Any) -> bytes:
    return ("payload=" + quote(json.dumps(payload))).encode()


def command_fields(**changes: str) -> dict[str, str]:
    fields = dict(example_payload("slash_command"))
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def test_a_slash_command_is_read_as_its_fields() -> None:
    data = body.parse(urlencode(command_fields()).encode(), FORM)
    assert data["command"] == "/reschedule" and body.check(data) == "command"


def test_a_command_whose_text_says_payload_is_still_a_command() -> None:
    # Bolt's own parser returns {} for any form body containing the word "payload".
    data = body.parse(urlencode(command_fields(text="payload 2h")).encode(), FORM)
    assert data["text"] == "payload 2h" and body.check(data) == "command"


@pytest.mark.parametrize("name", ["block_actions", "message_action", "view_submission"])
def test_slacks_example_interactions_pass(name: str) -> None:
    data = body.parse(form_payload(example_payload(name)), FORM + "; charset=utf-8")
    assert body.check(data) == name


def test_events_and_url_verification_pass_without_a_person() -> None:
    assert body.check(body.parse(json.dumps(example_payload("url_verification")).encode(), JSON)) == "url_verification"
    assert body.check(body.parse(json.dumps(example_payload("event_link_shared")).encode(), JSON)) == "event_callback"


@pytest.mark.parametrize(
    ("raw", "content_type", "reason"),
    [
        (b"payload=not-json", FORM, "payload is not readable JSON"),
        (b"payload=null", FORM, "body is not an object"),
        (b"payload=%5B1%2C2%5D", FORM, "body is not an object"),
        (b"\xff\xfe\x00", FORM, "body is not UTF-8"),
        (b"command=%2Freschedule&text=x", JSON, "body is not readable JSON"),
        (b"[" * 5000 + b"]" * 5000, JSON, "body is not readable JSON"),
        (b"{}", "text/plain", "unsupported content type"),
        ("&".join(f"f{i}=1" for i in range(100)).encode(), FORM, "too many form fields"),
    ],
)
def test_unreadable_bodies_are_malformed(raw: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        body.parse(raw, content_type)


def block_actions(**changes: Any) -> dict[str, Any]:
    payload = example_payload("block_actions")
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (block_actions(actions=[]), "missing actions"),
        (block_actions(actions=None), "missing actions"),
        (block_actions(actions=["x"]), "without an action_id"),
        (block_actions(actions=[{"action_id": 5}]), "without an action_id"),
        (block_actions(actions=[{"action_id": "a", "value": {"x": 1}}]), "wrong type"),
        (block_actions(user=None), "missing the user"),
        (block_actions(user={"id": ""}), "missing the user"),
        (block_actions(user="U1"), "user is not an object"),
        (block_actions(team="T1"), "team is not an object"),
        (block_actions(team=None, user={"id": "U1"}), "missing the workspace"),
        (block_actions(trigger_id=None), "missing trigger_id"),
        (block_actions(authorizations="x"), "authorizations"),
        (block_actions(container={"type": "message", "message_ts": 5}), "container.message_ts is not text"),
        (block_actions(container={"type": "message", "is_ephemeral": "yes"}), "is_ephemeral"),
        (block_actions(response_url=["x"]), "response_url is not text"),
        (block_actions(response_url="javascript:alert(1)"), "response_url is not a URL"),
        (block_actions(trigger_id=7), "trigger_id is not text"),
        ({"type": 5}, "no request type"),
        ({}, "no request type"),
        ({"type": "event_callback", "event": "x"}, "event is not an object"),
        ({"type": "event_callback", "event": {"user": "x", "channel": []}}, "missing event.type"),
        ({"type": "event_callback", "event": {"type": "link_shared", "channel": []}}, "channel is not an object"),
        ({"type": "event_callback", "event": {"type": "link_shared", "message": "x"}}, "message is not an object"),
    ],
)
def test_block_actions_and_events_missing_what_listeners_read_are_malformed(
    payload: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Malformed, match=reason):
        body.check(payload)


def view_submission(**view_changes: Any) -> dict[str, Any]:
    payload = example_payload("view_submission")
    payload["view"].update(view_changes)
    payload["view"] = {k: v for k, v in payload["view"].items() if v is not None}
    return payload


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (view_submission(type=None), "missing view.type"),
        (view_submission(callback_id=None), "missing view.callback_id"),
        (view_submission(private_metadata=["x"]), "private_metadata is not a string"),
        (view_submission(state={"values": []}), "state.values"),
        (view_submission(state={"values": {"b": {"a": "x"}}}), "state.values"),
        (view_submission(state="x"), "state.values"),
    ],
)
def test_view_submissions_missing_what_the_form_reader_uses_are_malformed(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        body.check(payload)


def test_an_org_wide_install_submission_has_a_workspace_through_the_view() -> None:
    payload = view_submission(app_installed_team_id="T0INSTALL")
    payload["team"] = None
    payload["user"] = {"id": "U1"}
    assert body.check(payload) == "view_submission"


@pytest.mark.parametrize("missing", ["user_id", "team_id", "channel_id", "response_url", "trigger_id"])
def test_a_command_missing_a_field_it_needs_is_malformed(missing: str) -> None:
    fields = command_fields()
    del fields[missing]
    with pytest.raises(Malformed):
        body.check(body.parse(urlencode(fields).encode(), FORM))


def test_a_message_shortcut_needs_its_channel() -> None:
    payload = example_payload("message_action")
    payload["channel"] = {}
    with pytest.raises(Malformed, match=r"channel\.id"):
        body.check(payload)


# --- Socket Mode envelopes: the same checks, on the message as it arrives ---------------------------------------


def frame(kind: str, payload: Any, envelope_id: str = "e-1") -> str:
    return json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True})


def click(**changes: Any) -> dict[str, Any]:
    return {**example_payload("block_actions"), **changes}


FUNCTION_EXECUTED = {
    "type": "event_callback",
    "team_id": "T111",
    "api_app_id": "A111",
    "event_id": "Ev1",
    "event": {
        "type": "function_executed",
        "function": {"id": "Fn1", "callback_id": "reschedule_run", "title": "Reschedule a run"},
        "inputs": {"run": "run_x", "when": "2h"},
        "function_execution_id": "Fx1",
        "workflow_execution_id": "Wx1",
        "event_ts": "1700000000.000100",
        "bot_access_token": "xwfp-not-used",
    },
}


@pytest.mark.parametrize(
    ("kind", "payload", "what"),
    [
        ("slash_commands", command_fields(), "command"),
        ("interactive", example_payload("block_actions"), "block_actions"),
        ("interactive", example_payload("view_submission"), "view_submission"),
        ("events_api", example_payload("event_link_shared"), "event_callback"),
        ("events_api", FUNCTION_EXECUTED, "event_callback"),  # any well-formed event Bolt routes passes
    ],
)
def test_well_formed_envelopes_pass_with_their_kind(kind: str, payload: dict[str, Any], what: str) -> None:
    assert body.envelope(frame(kind, payload)) == body.Envelope("e-1", what)


def test_slacks_own_messages_go_on_to_slack_sdk() -> None:
    assert body.envelope('{"type": "hello", "num_connections": 1}') is None
    assert body.envelope('{"type": "disconnect", "reason": "refresh_requested"}') is None


@pytest.mark.parametrize(
    ("text", "reason", "envelope_id"),
    [
        (frame("slash_commands", command_fields(user_id=None)), "command: missing the user", "e-1"),  # type: ignore[arg-type]
        (frame("slash_commands", command_fields(user_id="")), "command: missing the user", "e-1"),
        (frame("slash_commands", command_fields(team_id=None)), "command: missing the workspace", "e-1"),  # type: ignore[arg-type]
        (frame("interactive", click(user=None)), "block_actions: missing the user", "e-1"),
        (frame("interactive", click(actions=[])), "block_actions: missing actions", "e-1"),
        (frame("interactive", click(team="T111")), "team is not an object", "e-1"),
        (frame("interactive", click(container="x")), "container is not an object", "e-1"),
        (frame("interactive", None), "interactive: payload is not an object", "e-1"),
        (frame("interactive", [1]), "interactive: payload is not an object", "e-1"),
        (frame("interactive", command_fields()), "interactive: carries a command payload", "e-1"),
        (frame("events_api", example_payload("block_actions")), "events_api: carries a block_actions payload", "e-1"),
        (frame("slash_commands", example_payload("event_link_shared")), "carries a event_callback payload", "e-1"),
        (frame("mystery", command_fields()), "unknown envelope type 'mystery'", "e-1"),
        ('{"envelope_id": "e-2", "type": "interactive", "payload": ' + "[" * 200_000 + "]" * 200_000 + "}",
         "message is not readable JSON", "e-2"),
        ('{"envelope_id": "e-3", "payload": "' + "x" * (1 << 20) + '"}', "message over 1048576 bytes", "e-3"),
        ('{"envelope_id": "e-4", "type": "interactive", "payload": {', "message is not readable JSON", "e-4"),
        ("[]", "message is not an object", None),
        ('{"envelope_id": 5, "type": "interactive", "payload": {}}', "envelope_id is not what Slack sends", None),
        (b"\xff", "message is not UTF-8", None),
    ],
)  # fmt: skip
def test_malformed_envelopes_are_refused_with_their_id_when_it_can_be_read(
    text: str | bytes, reason: str, envelope_id: str | None
) -> None:
    with pytest.raises(body.MalformedEnvelope) as refused:
        body.envelope(text)
    assert reason in str(refused.value) and refused.value.envelope_id == envelope_id


def test_json_with_a_lone_surrogate_is_malformed_and_a_surrogate_pair_is_not() -> None:
    """A lone surrogate cannot be written as UTF-8: anything that later encodes the text (a form's metadata, a log
    line in JSON) would fail, so the front door refuses it; a pair is one character (an emoji) and passes."""
    lone = b'{"type": "event_callback", "team_id": "T111", "event": {"type": "app_mention", "text": "\\ud800"}}'
    with pytest.raises(Malformed, match="surrogate"):
        body.parse(lone, "application/json")
    pair = lone.replace(b"\\ud800", b"\\ud83d\\ude00")
    assert body.parse(pair, "application/json")["event"]["text"] == "\U0001f600"
