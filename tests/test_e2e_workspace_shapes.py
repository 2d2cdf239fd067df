"""Every surface under every workspace shape Slack sends: who is recorded, what the person sees, nothing dropped.

Shapes (payloads written after Slack's documentation and the shapes in Bolt's own test suites):
- plain: one workspace;
- grid workspace: a workspace-level install inside an Enterprise Grid (team and enterprise both named);
- org-wide: installed for the whole Grid organisation (`is_enterprise_install`), recorded under the enterprise;
- Slack Connect: a user of another organisation in a shared channel (`user.team_id` is theirs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.render import ids
from bot.slack.modal import Metadata, Origin
from tests.e2e_harness import PROD_ENV, SlackSender, example_payload, fresh_trigger_id, settle
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.test_e2e_teams import audit_rows

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
USER = "U111"
CHANNEL = "C111"
# shape → (fields for interactions, fields for a command, expected (team_id, user_team_id, enterprise_id) on the row)
SHAPES: dict[str, tuple[dict[str, Any], dict[str, str], tuple[str, str | None, str | None]]] = {
    "plain": (
        {"team": {"id": "T111"}, "user": {"id": USER, "team_id": "T111"}},
        {"team_id": "T111"},
        ("T111", None, None),
    ),
    "grid-workspace": (
        {
            "team": {"id": "T111", "enterprise_id": "E0ORG"},
            "enterprise": {"id": "E0ORG"},
            "is_enterprise_install": False,
            "user": {"id": USER, "team_id": "T111"},
        },
        {"team_id": "T111", "enterprise_id": "E0ORG", "is_enterprise_install": "false"},
        ("T111", None, "E0ORG"),
    ),
    "org-wide": (
        {
            "team": {"id": "T111", "enterprise_id": "E0ORG"},
            "enterprise": {"id": "E0ORG"},
            "is_enterprise_install": True,
            "user": {"id": USER, "team_id": "T111"},
        },
        {"team_id": "T111", "enterprise_id": "E0ORG", "is_enterprise_install": "true"},
        ("E0ORG", "T111", "E0ORG"),
    ),
    "slack-connect": (
        {"team": {"id": "T111"}, "user": {"id": USER, "team_id": "T0GUEST"}, "is_ext_shared_channel": True},
        {"team_id": "T111", "user_team_id": "T0GUEST"},  # a command carries no user team; kept for symmetry
        ("T111", "T0GUEST", None),
    ),
}


@pytest.fixture
def sender(bot: InProcessBot, slack: SlackSender) -> SlackSender:
    return slack


def with_shape(payload: dict[str, Any], shape: str) -> dict[str, Any]:
    fields = SHAPES[shape][0]
    return {**payload, **json.loads(json.dumps(fields))}


def click(run: dict[str, Any], response_url: str, shape: str, **container: Any) -> dict[str, Any]:
    until = run["delayedUntil"]
    shown = int((until if isinstance(until, datetime) else datetime.fromisoformat(until)).timestamp() * 1000)
    payload = example_payload("block_actions")
    payload.update(
        channel={"id": CHANNEL},
        container={"type": "message", "channel_id": CHANNEL, "message_ts": "1.2", **container},
        response_url=response_url,
        actions=[
            {"action_id": "rb1:push_1h", "type": "button", "value": json.dumps({"v": 1, "r": run["id"], "a": shown})}
        ],
    )
    return with_shape(payload, shape)


def form(run: dict[str, Any], shape: str) -> dict[str, Any]:
    payload = example_payload("view_submission")
    metadata = Metadata(origin=Origin(kind="message", channel=CHANNEL, ts="1.2"), runs={run["id"]: "prod"})
    payload["view"].update(
        callback_id=ids.MODAL_CALLBACK_ID,
        private_metadata=metadata.encode(),
        state={"values": {ids.BLOCK_WHEN_TEXT: {ids.ACTION_WHEN_TEXT: {"type": "plain_text_input", "value": "2h"}}}},
    )
    return with_shape(payload, shape)


def command(sender: SlackSender, run: dict[str, Any], response_url: str, shape: str) -> None:
    fields = {
        "command": "/reschedule",
        "text": f"{run['id']} 2h",
        "user_id": USER,
        "channel_id": CHANNEL,
        "response_url": response_url,
        "trigger_id": fresh_trigger_id(),
        **{k: v for k, v in SHAPES[shape][1].items() if k != "user_team_id"},
    }
    assert sender.post(urlencode(fields).encode(), "application/x-www-form-urlencoded").status_code == 200


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("surface", ["command", "button", "form"])
def test_a_move_on_every_surface_and_shape_is_seen_and_recorded_for_the_right_workspace(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, surface: str, shape: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    url = fake_slack.new_response_url()
    if surface == "command":
        command(sender, run, url, shape)
    elif surface == "button":
        sender.interaction(click(run, url, shape))
    else:
        sender.interaction(form(run, shape))

    def seen() -> Any:  # the summary the bot posted in the channel, through the click's response_url, or the form's
        if surface == "command":
            return fake_slack.channel_messages(CHANNEL)
        return fake_slack.api_calls("views.update") if surface == "form" else fake_slack.responses(url)

    fake_slack.wait_for(seen)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    [row] = audit_rows(tmp_path, fake_slack, 1)
    expected_team, expected_user_team, expected_enterprise = SHAPES[shape][2]
    if surface == "command" and shape == "slack-connect":
        expected_user_team = None  # a command says nothing of the user's own organisation
    assert (row["outcome"], row["user_id"], row["team_id"]) == ("rescheduled", USER, expected_team)
    assert (row["user_team_id"], row["enterprise_id"]) == (expected_user_team, expected_enterprise)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize(
    "message",
    [
        {"type": "message", "ts": "1.5", "user": "U999", "text": "{run}"},
        {"type": "message", "ts": "1.6", "thread_ts": "1.5", "user": "U999", "text": "again: {run}"},
        {"type": "message", "subtype": "bot_message", "ts": "1.7", "bot_id": "B0TRIGGER", "text": "Run {run} failed"},
    ],
    ids=["message", "threaded", "bot-message"],
)
def test_the_shortcut_opens_the_form_on_every_message_and_shape(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, shape: str, message: dict[str, str]
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    payload = example_payload("message_action")
    payload.update(
        callback_id=ids.SHORTCUT_CALLBACK_ID,
        channel={"id": CHANNEL},
        response_url=fake_slack.new_response_url(),
        message={key: value.replace("{run}", run["id"]) for key, value in message.items()},
    )
    payload.pop("api_app_id", None)  # Slack's message shortcuts do not always name the app
    sender.interaction(with_shape(payload, shape))
    view = fake_slack.wait_for(lambda: [v for v in fake_slack.views.values() if "submit" in v])[0]
    assert run["id"] in json.dumps(view)


def test_a_click_on_a_private_summary_moves_the_run_and_answers_there(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    url = fake_slack.new_response_url()
    sender.interaction(click(run, url, "plain", is_ephemeral=True))
    fake_slack.wait_for(lambda: fake_slack.responses(url))
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1


def test_a_click_from_a_view_without_a_channel_is_told_not_dropped(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    payload = click(run, fake_slack.new_response_url(), "plain")
    payload["container"] = {"type": "view", "view_id": "V123"}
    payload.pop("channel")
    payload.pop("response_url")
    sender.interaction(payload)
    told = fake_slack.wait_for(lambda: [c for c in fake_slack.api_calls("chat.postMessage") if c["channel"] == USER])
    assert "did not say who sent it or from which channel" in told[0]["text"]
    settle(None, fake_slack, fake_trigger)
    assert fake_trigger.calls("POST", RESCHEDULE) == []
