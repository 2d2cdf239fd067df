"""bot/server.py hands a verified, checked request to Bolt as an HTTP request carrying exactly the body it checked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult

from bot import server
from tests.e2e_harness import example_payload


async def authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=None, team_id="T111", bot_token="xoxb-test", bot_user_id="UBOT", bot_id="B1")


async def test_a_checked_request_reaches_bolt_as_an_http_request_with_the_body_that_was_checked() -> None:
    app = AsyncApp(authorize=authorize, request_verification_enabled=False)
    seen: list[tuple[str, dict[str, Any]]] = []

    @app.command("/reschedule")
    async def on_command(ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        seen.append((request.mode, body))
        await ack("read")

    fields = dict(example_payload("slash_command")) | {"text": "payload 2h"}  # Bolt's own form reader: an interaction
    headers = {"content-type": "application/x-www-form-urlencoded", "x-slack-signature": "v0=checked-before"}
    response = await server.dispatch(SimpleNamespace(app=app), fields, headers, "command")  # type: ignore[arg-type]
    assert (response.status_code, response.body) == (200, b"read")
    assert seen == [("http", fields)]
