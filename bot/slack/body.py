"""The front door's checks, the same for both doors: a Slack request's size, shape, person and workspace.

Bolt parses bodies itself, and raises on what Slack never sends (a JSON content type on a form, `payload=` that is
not JSON, a list, deep nesting, `actions: []`, `team` as a string…), which became 500s with tracebacks. Here a body
is parsed once, strictly, and refused with one short reason when it is not what Slack sends; Bolt is then given
exactly what was checked. Over HTTP (bot/server.py) this runs after the signature has been verified; over Socket
Mode (bot/slack/socket_client.py) `envelope` runs on each message as it arrives on the socket, before slack_sdk
reads it, with the same bound and the same `check` of the payload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 1 << 20  # Slack's requests are a few kB; a modal submission stays well under this
MAX_FORM_FIELDS = 64

# Nested objects Bolt's request context reads with `.get` (see slack_bolt.request.internals): each must be an
# object (or null) wherever it appears, or Bolt raises while building the context.
OBJECT_FIELDS = (
    "team",
    "user",
    "channel",
    "enterprise",
    "view",
    "container",
    "message",
    "event",
    "item",
    "previous_message",
    "assistant_thread",
    "function_data",
    "state",
    "function",  # a function_executed event's step (Bolt's matcher reads function.callback_id)
    "inputs",
)

# What each kind of request must carry (dotted paths to non-empty strings), beyond a user and a workspace.
REQUIRED: dict[str, tuple[str, ...]] = {
    "command": ("command", "channel_id", "response_url", "trigger_id"),
    "block_actions": ("trigger_id",),
    "view_submission": ("view.id", "view.type", "view.callback_id"),
    "view_closed": ("view.id", "view.type", "view.callback_id"),
    "message_action": ("callback_id", "channel.id", "trigger_id", "response_url"),
    "shortcut": ("callback_id", "trigger_id"),
}
# Fields the listeners (and Bolt's matchers) use as text: when present and not null, each must be a string.
TEXT_FIELDS = (
    "trigger_id",
    "response_url",
    "api_app_id",
    "callback_id",
    "command",
    "text",
    "team_id",
    "user_id",
    "channel_id",
    "enterprise_id",
    "message_ts",
    "user.id",
    "user.team_id",
    "team.id",
    "channel.id",
    "enterprise.id",
    "container.type",
    "container.channel_id",
    "container.message_ts",
    "container.thread_ts",
    "message.ts",
    "message.thread_ts",
    "message.text",
    "view.id",
    "view.type",
    "view.callback_id",
    "view.hash",
    "view.root_view_id",
    "view.team_id",
    "view.app_installed_team_id",
)
URL_SCHEMES = ("https://", "http://")

# Requests that carry no person (Slack's own handshakes and events).
WITHOUT_PERSON = frozenset({"url_verification", "event_callback", "ssl_check", "app_rate_limited"})


# Socket Mode envelope types, and the kinds of payload each carries (`check` decides the payload's kind).
ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")
_ID = r"[A-Za-z0-9_.:-]{1,100}"
_ENVELOPE_ID = re.compile(rf'"envelope_id"\s*:\s*"({_ID})"')


class Malformed(ValueError):
    """The body is not a request Slack sends; the message names what is wrong (never the body itself)."""


class MalformedEnvelope(Malformed):
    """A Socket Mode message that is not what Slack sends; `envelope_id` when one could be read (to acknowledge)."""

    def __init__(self, reason: str, envelope_id: str | None) -> None:
        super().__init__(reason)
        self.envelope_id = envelope_id


@dataclass(frozen=True, slots=True)
class Envelope:
    """A Socket Mode request that passed the front door: its id and its payload's kind."""

    envelope_id: str
    kind: str


# A JSON escape of a UTF-16 surrogate: only such text can decode to a lone surrogate (checked then, not always).
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as a dict, exactly as Bolt's listeners expect it: form fields, a form's `payload` JSON, or JSON.

    Raises:
        Malformed: not UTF-8, an unsupported content type, unreadable or over-nested JSON, not an object.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("body is not UTF-8") from None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        data = _json(text, "body")
    elif media == "application/x-www-form-urlencoded":
        try:
            fields = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
        except ValueError:
            raise Malformed("too many form fields") from None
        data = _json(fields["payload"], "payload") if "payload" in fields else fields
    else:
        raise Malformed(f"unsupported content type {media[:60]!r}")
    if not isinstance(data, dict):
        raise Malformed("body is not an object")
    return data


def _json(text: str, what: str) -> Any:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise Malformed(f"{what} is not readable JSON") from None
    if SURROGATE_ESCAPE.search(text) is not None and _has_lone_surrogate(data):
        raise Malformed(f"{what} has text that is not Unicode (a lone surrogate)")
    return data


def _has_lone_surrogate(data: Any) -> bool:
    """Whether JSON that escaped a surrogate left one unpaired: text no UTF-8 can carry (a pair reads as one
    character and is fine)."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def envelope(text: str | bytes) -> Envelope | None:
    """Check one message arriving over Socket Mode: an `Envelope` for a request that may go on to Bolt, None for
    Slack's own messages (`hello`, `disconnect`: anything without an envelope id), which slack_sdk handles.

    Raises:
        MalformedEnvelope: over MAX_BODY_BYTES, unreadable or over-nested JSON, not an object, an unknown envelope
            type, or a payload `check` refuses (or one of a different kind than the envelope says).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEnvelope("message is not UTF-8", None) from None
    if len(text) > MAX_BODY_BYTES // 4 and len(text.encode("utf-8", errors="replace")) > MAX_BODY_BYTES:
        raise MalformedEnvelope(f"message over {MAX_BODY_BYTES} bytes", _envelope_id_in(text))
    try:
        message = _json(text, "message")
    except Malformed as exc:
        raise MalformedEnvelope(str(exc), _envelope_id_in(text)) from None
    if not isinstance(message, dict):
        raise MalformedEnvelope("message is not an object", None)
    envelope_id = message.get("envelope_id")
    if envelope_id is None:
        return None
    if not isinstance(envelope_id, str) or not re.fullmatch(_ID, envelope_id):
        raise MalformedEnvelope("envelope_id is not what Slack sends", None)
    kind_of_envelope = message.get("type")
    if kind_of_envelope not in ENVELOPE_TYPES:
        raise MalformedEnvelope(f"unknown envelope type {str(kind_of_envelope)[:40]!r}", envelope_id)
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise MalformedEnvelope(f"{kind_of_envelope}: payload is not an object", envelope_id)
    try:
        what = check(payload)
    except Malformed as exc:
        raise MalformedEnvelope(str(exc), envelope_id) from None
    if (what == "command") != (kind_of_envelope == "slash_commands") or (
        (what in WITHOUT_PERSON) != (kind_of_envelope == "events_api")
    ):
        raise MalformedEnvelope(f"{kind_of_envelope}: carries a {what[:40]} payload", envelope_id)
    return Envelope(envelope_id, what)


def _envelope_id_in(text: str) -> str | None:
    found = _ENVELOPE_ID.search(text)
    return found[1] if found else None


def kind(body: dict[str, Any]) -> str:
    """`command` for a slash command, else the payload's `type` ("" when it has none)."""
    if "command" in body:
        return "command"
    if "ssl_check" in body:
        return "ssl_check"
    value = body.get("type")
    return value if isinstance(value, str) else ""


def check(body: dict[str, Any]) -> str:
    """Check a parsed body; returns its kind.

    Raises:
        Malformed: naming the first field that is missing or of the wrong type.
    """
    what = kind(body)
    if not what:
        raise Malformed("no request type")
    _objects(body, what)
    _texts(body, what)
    if what == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise Malformed("event_callback: missing event.type")
        _objects(event, what + " event", ids_as_strings=True)
    if what == "block_actions":
        _actions(body.get("actions"))
    if what in ("view_submission", "view_closed"):
        _view(body["view"] if isinstance(body.get("view"), dict) else {}, what)
    for path in REQUIRED.get(what, ()):
        if not isinstance(_at(body, path), str) or not _at(body, path):
            raise Malformed(f"{what}: missing {path}")
    if what not in WITHOUT_PERSON:
        if not user_id(body):
            raise Malformed(f"{what}: missing the user")
        if not team_id(body):
            raise Malformed(f"{what}: missing the workspace")
    return what


def user_id(body: dict[str, Any]) -> str:
    """The acting user's id ("" when absent)."""
    user = body.get("user")
    value = user.get("id") if isinstance(user, dict) else body.get("user_id")
    return value if isinstance(value, str) else ""


def team_id(body: dict[str, Any]) -> str:
    """Any workspace (or enterprise) the request names, for "is there one at all" ("" when none)."""
    candidates = (
        body.get("team_id"),
        _at(body, "team.id"),
        _at(body, "user.team_id"),
        _at(body, "view.app_installed_team_id"),
        _at(body, "enterprise.id"),
        body.get("enterprise_id"),
    )
    return next((value for value in candidates if isinstance(value, str) and value), "")


def _at(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _objects(body: dict[str, Any], what: str, ids_as_strings: bool = False) -> None:
    """Inside an event, Slack sends `user`, `team` and `channel` as id strings (Bolt reads both forms)."""
    for name in OBJECT_FIELDS:
        value = body.get(name)
        if value is None or isinstance(value, dict):
            continue
        if not (ids_as_strings and name in ("team", "user", "channel") and isinstance(value, str)):
            raise Malformed(f"{what}: {name} is not an object")
    authorizations = body.get("authorizations")
    if authorizations is not None and not _all_objects(authorizations):
        raise Malformed(f"{what}: authorizations is not a list of objects")


def _texts(body: dict[str, Any], what: str) -> None:
    for path in TEXT_FIELDS:
        value = _at(body, path)
        if value is not None and not isinstance(value, str):
            raise Malformed(f"{what}: {path} is not text")
    response_url = body.get("response_url")
    if isinstance(response_url, str) and response_url and not response_url.startswith(URL_SCHEMES):
        raise Malformed(f"{what}: response_url is not a URL")
    container = body.get("container")
    if isinstance(container, dict) and not isinstance(container.get("is_ephemeral", False), bool):
        raise Malformed(f"{what}: container.is_ephemeral is not true or false")


def _all_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _actions(actions: Any) -> None:
    if not isinstance(actions, list) or not actions:
        raise Malformed("block_actions: missing actions")
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            raise Malformed("block_actions: an action without an action_id")
        if not _strings_or_absent(action, ("value", "block_id", "type")):
            raise Malformed("block_actions: an action field of the wrong type")


def _view(view: dict[str, Any], what: str) -> None:
    metadata = view.get("private_metadata")
    if metadata is not None and not isinstance(metadata, str):
        raise Malformed(f"{what}: view.private_metadata is not a string")
    state = view.get("state")
    if state is None:
        return
    values = state.get("values") if isinstance(state, dict) else None
    blocks = values.values() if isinstance(values, dict) else None
    if blocks is None or not all(isinstance(block, dict) and _all_dict_values(block.values()) for block in blocks):
        raise Malformed(f"{what}: view.state.values is not what Slack sends")


def _all_dict_values(values: Iterable[Any]) -> bool:
    return all(isinstance(value, dict) for value in values)


def _strings_or_absent(data: dict[str, Any], names: tuple[str, ...]) -> bool:
    return all(data.get(name) is None or isinstance(data.get(name), str) for name in names)
