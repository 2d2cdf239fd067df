"""The Socket Mode door's one reliance on how slack_sdk works inside (bot/slack/socket_client.py): its receiver
passes every text frame to `enqueue_message` before reading it, and a `disconnect` it never reads is not acted on.
These tests fail when an upgrade of slack_sdk changes that, so the adapter is looked at again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import slack_sdk.version
from packaging.specifiers import SpecifierSet
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.socket_client import SLACK_SDK_VERSIONS, SocketModeDoor
from tests.e2e_harness import BOT_TOKEN, example_payload, fresh_trigger_id
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode
from tests.socket_harness import APP_TOKEN


def test_the_installed_slack_sdk_is_one_the_adapter_was_written_for() -> None:
    assert slack_sdk.version.__version__ in SpecifierSet(",".join(SLACK_SDK_VERSIONS)), (
        "bot/slack/socket_client.py relies on how slack_sdk reads frames; check its module doc against this version, "
        "then widen SLACK_SDK_VERSIONS"
    )


@pytest.fixture
def socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    fake_slack.app_token = APP_TOKEN
    with FakeSocketMode(fake_slack) as fake:
        yield fake


async def test_each_frame_meets_the_front_door_before_slack_sdk_and_a_refresh_is_handed_over(
    fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    app = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url), request_verification_enabled=False
    )
    commands: list[dict[str, Any]] = []

    @app.command("/reschedule")
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        commands.append(body)
        await ack()

    door = SocketModeDoor(app, APP_TOKEN, ping_interval=3)  # the old connection is closed after 3 s of quiet
    await door.connect()
    try:
        fields = example_payload("slash_command") | {"trigger_id": fresh_trigger_id()}
        without_user = {name: value for name, value in fields.items() if name != "user_id"}
        refused = await asyncio.to_thread(socket_mode.send, "slash_commands", without_user)
        await asyncio.to_thread(socket_mode.wait_ack, refused.envelope_id)
        assert commands == []  # acknowledged by the door, never read by slack_sdk nor seen by Bolt

        served = await asyncio.to_thread(socket_mode.send, "slash_commands", fields)
        await asyncio.to_thread(socket_mode.wait_ack, served.envelope_id)
        assert [body["user_id"] for body in commands] == ["U111"]

        # slack_sdk would close the old connection before opening a new one; the door opens a second first.
        old = await asyncio.to_thread(socket_mode.disconnect, "refresh_requested")
        new = await asyncio.to_thread(socket_mode.wait_connections, 2)
        assert not old.closed  # still open (and read) once the new one is
        late = await asyncio.to_thread(lambda: socket_mode.send("slash_commands", fields, on=old))
        await asyncio.to_thread(socket_mode.wait_ack, late.envelope_id)
        await asyncio.to_thread(lambda: socket_mode.wait_for(lambda: old.closed))
        assert old.closed_by == "client" and new.issued and not new.closed
        assert len(commands) == 2 and len(socket_mode.connections) == 2
    finally:
        await door.close()
