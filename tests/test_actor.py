"""One actor, read once: the same who-and-where for every surface and every workspace shape Slack sends."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack.actor import actor_of


def actor(body: dict[str, Any], surface: str = "button", channel_id: str | None = None) -> Any:
    request = AsyncBoltRequest(body=body, mode="socket_mode")  # Bolt's own reading of the request context
    return actor_of(request.context, body, surface, "typed", channel_id)


def test_a_plain_workspace_click() -> None:
    got = actor(
        {
            "type": "block_actions",
            "team": {"id": "T111"},
            "user": {"id": "U1", "team_id": "T111"},
            "channel": {"id": "C1"},
            "container": {"type": "message", "channel_id": "C1"},
        }
    )
    assert (got.user_id, got.team_id, got.user_team_id, got.channel_id) == ("U1", "T111", "T111", "C1")


def test_a_slack_connect_click_acts_for_the_host_workspace_and_keeps_the_users_own_team() -> None:
    got = actor(
        {
            "type": "block_actions",
            "team": {"id": "THOST"},
            "user": {"id": "UGUEST", "team_id": "TGUEST"},
            "channel": {"id": "CSHARED"},
            "is_ext_shared_channel": True,
        }
    )
    assert (got.team_id, got.user_team_id, got.channel_id) == ("THOST", "TGUEST", "CSHARED")


def test_an_org_wide_install_acts_for_the_organisation_on_every_surface() -> None:
    got = actor(
        {
            "type": "view_submission",
            "team": None,
            "enterprise": {"id": "E1"},
            "is_enterprise_install": True,
            "user": {"id": "U1", "team_id": "TUSER"},
            "view": {"id": "V1", "type": "modal", "callback_id": "x", "app_installed_team_id": "TINSTALL"},
        },
        surface="modal",
        channel_id="C9",
    )
    assert (got.team_id, got.user_team_id, got.enterprise_id, got.channel_id) == ("E1", "TUSER", "E1", "C9")


def test_a_form_in_a_grid_workspace_install_acts_for_the_users_workspace() -> None:
    got = actor(
        {
            "type": "view_submission",
            "team": None,
            "enterprise": {"id": "E1"},
            "user": {"id": "U1", "team_id": "TUSER"},
            "view": {"id": "V1", "type": "modal", "callback_id": "x"},
        },
        surface="modal",
    )
    assert (got.team_id, got.enterprise_id, got.channel_id) == ("TUSER", "E1", None)


def test_a_slash_command_reads_its_fields() -> None:
    got = actor(
        {
            "command": "/reschedule",
            "team_id": "T111",
            "enterprise_id": "E1",
            "user_id": "U1",
            "channel_id": "C1",
        },
        surface="command",
    )
    assert (got.user_id, got.team_id, got.user_team_id, got.enterprise_id, got.channel_id) == (
        "U1",
        "T111",
        "T111",
        "E1",
        "C1",
    )


@pytest.mark.parametrize(
    ("container", "channel"),
    [({"type": "message", "channel_id": "C5", "is_ephemeral": True}, "C5"), ({"type": "view", "view_id": "V1"}, None)],
)
def test_an_ephemeral_click_takes_its_channel_from_the_container_and_a_form_click_has_none(
    container: dict[str, Any], channel: str | None
) -> None:
    got = actor({"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"}, "container": container})
    assert got.channel_id == channel and got.team_id == "T1"


def test_a_message_shortcut_in_a_shared_channel_acts_for_the_host_workspace() -> None:
    got = actor(
        {
            "type": "message_action",
            "team": {"id": "THOST"},
            "user": {"id": "UGUEST", "team_id": "TGUEST"},
            "channel": {"id": "CSHARED"},
            "message": {"ts": "1.2"},
        },
        surface="shortcut",
    )
    assert (got.team_id, got.user_team_id, got.channel_id) == ("THOST", "TGUEST", "CSHARED")


@pytest.mark.parametrize(
    "body",
    [
        {
            "command": "/reschedule",
            "team_id": "TUSER",
            "enterprise_id": "E1",
            "is_enterprise_install": "true",
            "user_id": "U1",
            "channel_id": "C1",
        },
        {
            "type": "block_actions",
            "team": {"id": "TUSER", "enterprise_id": "E1"},
            "enterprise": {"id": "E1"},
            "is_enterprise_install": True,
            "user": {"id": "U1", "team_id": "TUSER"},
            "channel": {"id": "C1"},
        },
        {
            "type": "message_action",
            "team": {"id": "TUSER", "enterprise_id": "E1"},
            "enterprise": {"id": "E1"},
            "is_enterprise_install": True,
            "user": {"id": "U1", "team_id": "TUSER"},
            "channel": {"id": "C1"},
        },
    ],
    ids=["command", "button", "shortcut"],
)
def test_every_surface_of_an_org_wide_install_acts_for_the_organisation(body: dict[str, Any]) -> None:
    got = actor(body)
    assert (got.team_id, got.user_team_id, got.enterprise_id) == ("E1", "TUSER", "E1")
