"""The Slack app manifests validate against Slack's official schema and match what the bot handles.

The schema is Slack's ``manifest.schema.1.0.0.json`` (draft-07), kept in the repository at
``tests/data/slack/manifest.schema.json`` (see ``tests/data/README.md``). A missing schema is a test FAILURE,
never a skip: a manifest that was never validated must not look green.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft7Validator

from bot import server
from bot.messages import COMMAND
from bot.render.ids import SHORTCUT_CALLBACK_ID
from bot.settings import Settings
from bot.slack.workflow_steps import LIST_STEP, RESCHEDULE_STEP

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO_ROOT / "tests" / "data" / "slack" / "manifest.schema.json"
HTTP_MANIFEST = REPO_ROOT / "manifests" / "slack.yaml"
SOCKET_MANIFEST = REPO_ROOT / "manifests" / "slack.socket.yaml"
MANIFESTS = {"http": HTTP_MANIFEST, "socket": SOCKET_MANIFEST}

SLASH_COMMAND = COMMAND
EVENTS_PATH = server.EVENTS_PATH
EXPECTED_BOT_SCOPES = frozenset(
    {"commands", "chat:write", "chat:write.public", "im:write", "users:read", "usergroups:read"}
    | {"links:read", "links:write"}  # link previews of run links (bot/slack/unfurl.py)
)
# The host of TRIGGER_DASHBOARD_URL's default: Slack sends link_shared only for links on a listed domain.
DASHBOARD_HOST = urlsplit(str(Settings.model_fields["trigger_dashboard_url"].default)).hostname


def _load_yaml(path: Path) -> dict[str, Any]:
    assert path.is_file(), f"manifest not found: {path}"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} must hold a YAML mapping, got {type(data).__name__}"
    return data


@functools.cache
def _load_validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def _validator() -> Draft7Validator:
    """Called from inside the tests (not a fixture, not a skip): a missing schema FAILS each test."""
    if not SCHEMA_PATH.is_file():
        pytest.fail(
            f"Slack manifest schema not found at {SCHEMA_PATH}: it is part of the repository "
            "(tests/data/slack/manifest.schema.json, see tests/data/README.md); restore it from git.",
            pytrace=False,
        )
    return _load_validator()


@pytest.fixture(scope="module", params=sorted(MANIFESTS))
def manifest(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _load_yaml(MANIFESTS[request.param])


@pytest.fixture(scope="module")
def http_manifest() -> dict[str, Any]:
    return _load_yaml(HTTP_MANIFEST)


@pytest.fixture(scope="module")
def socket_manifest() -> dict[str, Any]:
    return _load_yaml(SOCKET_MANIFEST)


def _schema_errors(instance: dict[str, Any]) -> list[str]:
    validator = _validator()
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_manifest_is_valid_against_slack_schema(manifest: dict[str, Any]) -> None:
    errors = _schema_errors(manifest)
    assert not errors, "manifest violates Slack's schema:\n" + "\n".join(errors)


def test_manifest_is_major_version_1(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1


def test_slash_command(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [SLASH_COMMAND]
    assert commands[0]["should_escape"] is False


def test_message_shortcut(manifest: dict[str, Any]) -> None:
    shortcuts = manifest["features"]["shortcuts"]
    assert len(shortcuts) == 1
    assert shortcuts[0]["callback_id"] == SHORTCUT_CALLBACK_ID
    assert shortcuts[0]["type"] == "message"


def test_bot_scopes_are_exactly_the_expected_set(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    bot_scopes = scopes["bot"]
    assert len(bot_scopes) == len(set(bot_scopes)), f"duplicate scopes: {bot_scopes}"
    assert set(bot_scopes) == EXPECTED_BOT_SCOPES
    assert not scopes.get("user"), "the bot needs no user-token scopes"


def test_home_tab_and_the_event_that_publishes_it(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["bot_events"] == ["app_home_opened", "link_shared", "function_executed"]
    assert not events.get("user_events"), "the bot needs no user events"


def test_run_links_on_the_dashboard_host_are_previewed(manifest: dict[str, Any]) -> None:
    assert DASHBOARD_HOST == "cloud.trigger.dev"
    assert manifest["features"]["unfurl_domains"] == [DASHBOARD_HOST]
    assert "link_shared" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert not manifest["settings"]["event_subscriptions"].get("user_events"), "the bot needs no user events"


def test_app_home_messages_tab_is_read_only(manifest: dict[str, Any]) -> None:
    app_home = manifest["features"]["app_home"]
    assert app_home["messages_tab_enabled"] is True
    assert app_home["messages_tab_read_only_enabled"] is True


def test_http_manifest_urls_point_at_bolt_endpoint(http_manifest: dict[str, Any]) -> None:
    settings = http_manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is True  # Workflow Builder steps need an org-ready app
    assert settings["token_rotation_enabled"] is False
    assert http_manifest["features"]["slash_commands"][0]["url"].endswith(EVENTS_PATH)
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith(EVENTS_PATH)
    assert settings["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)


def test_socket_manifest_uses_socket_mode_without_urls(socket_manifest: dict[str, Any]) -> None:
    settings = socket_manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert "request_url" not in settings["interactivity"]
    assert "request_url" not in settings["event_subscriptions"]
    assert all("url" not in c for c in socket_manifest["features"]["slash_commands"])
    assert socket_manifest["display_information"]["name"].endswith(" (dev)")


def _strip_http_only(manifest: dict[str, Any]) -> dict[str, Any]:
    m = copy.deepcopy(manifest)
    m["display_information"]["name"] = m["display_information"]["name"].removesuffix(" (dev)")
    for command in m["features"]["slash_commands"]:
        command.pop("url", None)
    m["settings"]["interactivity"].pop("request_url", None)
    m["settings"].get("event_subscriptions", {}).pop("request_url", None)
    m["settings"].pop("socket_mode_enabled", None)
    return m


def test_socket_manifest_matches_http_manifest(http_manifest: dict[str, Any], socket_manifest: dict[str, Any]) -> None:
    """Apart from the name suffix, URLs and the socket-mode flag, the dev app is the same app."""
    assert _strip_http_only(socket_manifest) == _strip_http_only(http_manifest)


def test_schema_rejects_wrong_shortcut_type(http_manifest: dict[str, Any]) -> None:
    """Proves the validator is live: a manifest with a bad shortcut type must not pass."""
    broken = copy.deepcopy(http_manifest)
    broken["features"]["shortcuts"][0]["type"] = "message_action"  # the payload type, not a manifest type
    errors = list(_validator().iter_errors(broken))
    assert errors, "schema accepted an invalid shortcut type; the validator is not checking anything"
    assert any(list(e.absolute_path) == ["features", "shortcuts", 0, "type"] for e in errors)


def test_workflow_builder_steps_declare_the_inputs_and_outputs_the_bot_reads(manifest: dict[str, Any]) -> None:
    functions = manifest["functions"]
    assert set(functions) == {RESCHEDULE_STEP, LIST_STEP}
    assert manifest["settings"]["org_deploy_enabled"] is True
    assert "function_executed" in manifest["settings"]["event_subscriptions"]["bot_events"]

    def shape(parameters: dict[str, Any]) -> dict[str, tuple[str, bool]]:
        return {name: (spec["type"], spec["is_required"]) for name, spec in parameters.items()}

    move, due = functions[RESCHEDULE_STEP], functions[LIST_STEP]
    assert shape(move["input_parameters"]) == {
        "run": ("string", True),
        "when": ("string", True),
        "user": ("slack#/types/user_id", True),
        "environment": ("string", False),
    }
    assert shape(move["output_parameters"]) == {
        "run_id": ("string", True),
        "environment": ("string", True),
        "previous_start_time": ("slack#/types/timestamp", False),
        "new_start_time": ("slack#/types/timestamp", True),
    }
    assert shape(due["input_parameters"]) == {
        "within": ("string", True),
        "task": ("string", False),
        "tag": ("string", False),
        "environment": ("string", False),
        "user": ("slack#/types/user_id", True),
    }
    assert shape(due["output_parameters"]) == {"count": ("integer", True), "summary": ("string", True)}


def test_schema_rejects_a_step_without_its_outputs(http_manifest: dict[str, Any]) -> None:
    """The schema checks the steps too: a step missing a required field must not pass."""
    broken = copy.deepcopy(http_manifest)
    del broken["functions"][RESCHEDULE_STEP]["output_parameters"]
    errors = list(_validator().iter_errors(broken))
    assert any(list(e.absolute_path) == ["functions", RESCHEDULE_STEP] for e in errors), errors
