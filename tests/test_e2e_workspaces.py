"""Every workspace shape Slack sends: org-wide installs, Slack Connect, missing app ids, and no silent refusals."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.render import ids
from tests.e2e_harness import PROD_ENV, example_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.test_e2e_shortcut_modal import submission, wait_form, wait_result
from tests.test_e2e_teams import audit_rows

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"


def shortcut(run_id: str, response_url: str, *, team: str = "T111", user_team: str = "T111") -> dict[str, Any]:
    payload = example_payload("message_action")
    payload.update(
        callback_id=ids.SHORTCUT_CALLBACK_ID,
        response_url=response_url,
        team={"id": team, "domain": "x"},
        user={"id": "U111", "team_id": user_team},
        channel={"id": "C111"},
        message={"type": "message", "ts": "1700000000.000100", "text": f"Run {run_id} failed"},
    )
    return payload


def click(run_id: str, response_url: str, *, team: str = "T111", user_team: str = "T111") -> dict[str, Any]:
    payload = example_payload("block_actions")
    payload.update(
        team={"id": team},
        user={"id": "U111", "team_id": user_team},
        channel={"id": "C111"},
        container={"type": "message", "channel_id": "C111", "message_ts": "1.2"},
        response_url=response_url,
        actions=[{"action_id": "rb1:run_now", "type": "button", "value": json.dumps({"v": 1, "r": run_id})}],
    )
    return payload


def org_install(form_submission: dict[str, Any], installing: str, user_team: str) -> dict[str, Any]:
    """The same submission as an Enterprise Grid org-wide install sends it."""
    payload = copy.deepcopy(form_submission)
    payload["team"] = None
    payload["enterprise"] = {"id": "E0ORG", "name": "Org"}
    payload["is_enterprise_install"] = True
    payload["user"] = {"id": "U111", "team_id": user_team}
    payload["view"]["app_installed_team_id"] = installing
    payload["view"]["team_id"] = user_team
    payload.pop("api_app_id", None)
    return payload


def test_an_org_wide_install_form_is_served_and_recorded_under_the_organisation(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    sender, _ = start(SLACK_TEAM_ID="T0INSTALL")
    run = fake_trigger.add_run(PROD_ENV)
    sender.interaction(shortcut(run["id"], fake_slack.new_response_url(), team="T0INSTALL", user_team="T0USER"))
    form = wait_form(fake_slack)
    response = sender.interaction(org_install(submission(form, text="2h"), "T0INSTALL", "T0USER"))
    assert response.status_code == 200
    wait_result(fake_slack)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    [row] = [r for r in audit_rows(tmp_path, fake_slack, 1) if r["outcome"] == "rescheduled"]
    assert (row["team_id"], row["user_team_id"], row["enterprise_id"]) == ("E0ORG", "T0USER", "E0ORG")
    assert row["user_id"] == "U111"


def test_the_enterprise_id_as_team_setting_serves_an_org_wide_install(start: Any, fake_slack: FakeSlack) -> None:
    sender, _ = start(SLACK_TEAM_ID="E0ORG")
    response = sender.command("help", response_url=fake_slack.new_response_url(), team_id="T0ANY")
    assert response.json()["text"] == messages.FOREIGN_WORKSPACE
    fields_with_enterprise = {"enterprise_id": "E0ORG", "is_enterprise_install": "true"}
    body = {
        "command": "/reschedule",
        "text": "help",
        "team_id": "T0ANY",
        "user_id": "U111",
        "channel_id": "C111",
        "response_url": fake_slack.new_response_url(),
        "trigger_id": "9.9.enterprise",
        **fields_with_enterprise,
    }
    from urllib.parse import urlencode

    response = sender.post(urlencode(body).encode(), "application/x-www-form-urlencoded")
    assert response.json() == {"text": messages.USAGE, "response_type": "ephemeral"}


def test_a_message_shortcut_without_an_app_id_is_served_when_slack_app_id_is_set(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, _ = start(SLACK_APP_ID="A111")
    run = fake_trigger.add_run(PROD_ENV)
    payload = shortcut(run["id"], fake_slack.new_response_url())
    payload.pop("api_app_id", None)
    assert sender.interaction(payload).status_code == 200
    assert "submit" in wait_form(fake_slack)


def test_a_refusal_for_another_workspace_is_told_on_every_surface(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, bot = start(SLACK_TEAM_ID="T111")
    run = fake_trigger.add_run(PROD_ENV)
    refused = messages.FOREIGN_WORKSPACE

    command = sender.command(f"{run['id']} 2h", response_url=fake_slack.new_response_url(), team_id="T999")
    assert command.json() == {"response_type": "ephemeral", "text": refused}

    click_url = fake_slack.new_response_url()
    assert sender.interaction(click(run["id"], click_url, team="T999", user_team="T999")).content == b""
    assert fake_slack.wait_for(lambda: fake_slack.responses(click_url))[0]["text"] == refused

    shortcut_url = fake_slack.new_response_url()
    sender.interaction(shortcut(run["id"], shortcut_url, team="T999", user_team="T999"))
    assert fake_slack.wait_for(lambda: fake_slack.responses(shortcut_url))[0]["text"] == refused

    form = example_payload("view_submission")
    form["team"] = {"id": "T999"}
    form["user"] = {"id": "U111", "team_id": "T999"}
    form["view"]["app_installed_team_id"] = "T999"  # the workspace a form acts for is the one that installed it
    answer = sender.interaction(form).json()
    assert answer["response_action"] == "update" and refused in json.dumps(answer["view"])

    assert fake_trigger.calls("POST", RESCHEDULE) == [] and fake_slack.api_calls("views.open") == []
    assert len([line for line in bot.log_text().splitlines() if "refused a request from" in line]) == 4


def test_slack_connect_users_are_served_by_default_and_refused_when_turned_off(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    sender, _ = start(ALLOW_SLACK_CONNECT="false")
    url = fake_slack.new_response_url()
    sender.interaction(click(run["id"], url, team="T111", user_team="T0GUEST"))
    assert fake_slack.wait_for(lambda: fake_slack.responses(url))[0]["text"] == messages.FOREIGN_WORKSPACE
    assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_a_slack_connect_user_moves_a_run_by_default_and_is_recorded_under_the_host_workspace(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    sender, _ = start()
    sender.interaction(click(run["id"], fake_slack.new_response_url(), team="T111", user_team="T0GUEST"))
    fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
    [row] = audit_rows(tmp_path, fake_slack, 1)
    assert (row["team_id"], row["user_team_id"], row["outcome"]) == ("T111", "T0GUEST", "rescheduled")


def test_a_payloads_bot_access_token_never_replaces_the_bots_own(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, _ = start()
    run = fake_trigger.add_run(PROD_ENV)
    payload = shortcut(run["id"], fake_slack.new_response_url())
    payload["bot_access_token"] = "xoxb-someone-elses-token"
    sender.interaction(payload)
    assert "submit" in wait_form(fake_slack)  # the fake refuses any token but the bot's with invalid_auth


IN_GRID = {"team": {"id": "T111", "enterprise_id": "E0ORG"}, "enterprise": {"id": "E0ORG"}}


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({**IN_GRID, "is_ext_shared_channel": True}, True),
        (IN_GRID, False),  # a colleague from another workspace of the organisation
        ({"team": {"id": "T111"}}, True),
    ],
    ids=["grid-slack-connect", "grid-other-workspace", "plain-slack-connect"],
)
def test_turning_slack_connect_off_refuses_other_organisations_in_a_grid_too(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, fields: dict[str, Any], refused: bool
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    sender, _ = start(ALLOW_SLACK_CONNECT="false")
    url = fake_slack.new_response_url()
    sender.interaction({**click(run["id"], url, team="T111", user_team="T0OTHER"), **fields})
    answer = fake_slack.wait_for(lambda: fake_slack.responses(url))[0]
    assert (answer.get("text") == messages.FOREIGN_WORKSPACE) is refused
