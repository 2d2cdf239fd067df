"""SLACK_TEAM_ID / SLACK_APP_ID: requests from another workspace or app are refused before any listener."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import messages

log = logging.getLogger(__name__)


def _team_and_app(body: dict[str, Any]) -> tuple[str | None, str | None]:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    return (str(team) if team else None), (str(body["api_app_id"]) if body.get("api_app_id") else None)


def register(app: AsyncApp, team_id: str | None, app_id: str | None) -> None:
    """Install the check as global middleware (it makes no network call)."""
    if not team_id and not app_id:
        return

    @app.middleware
    async def only_our_workspace(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        team, sender_app = _team_and_app(req.body)
        if (team_id and team != team_id) or (app_id and sender_app != app_id):
            log.warning("refused a request from team=%s app=%s", team, sender_app)
            if "command" in req.body:  # a slash command can be answered in its acknowledgement
                return BoltResponse(
                    status=200, body={"response_type": "ephemeral", "text": messages.foreign_workspace()}
                )
            return BoltResponse(status=200, body="")  # any other payload: acknowledged, and nothing done
        return await next()
