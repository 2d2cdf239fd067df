"""SLACK_TEAM_ID / SLACK_APP_ID / ALLOW_SLACK_CONNECT: which workspaces, apps and people the bot serves.

The workspace a request acts for is the one Bolt resolves from it (the installing workspace, including org-wide
installs in Enterprise Grid), the same notion `bot.slack.actor` gives every surface. SLACK_TEAM_ID accepts that
workspace or the enterprise (`E…`) of an org-wide install. A request that does not name its app (Slack's message
shortcuts may not) is not refused for it. A refusal is told to the person wherever Slack allows: in a command's
acknowledgement, as the form's new view, or privately through the response_url; it names no secret.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import messages
from bot.render.modal_views import notice
from bot.slack.replies import respond_checked
from bot.slack.respond import Respond

log = logging.getLogger(__name__)
_background: set[asyncio.Task[Any]] = set()


def problem(req: AsyncBoltRequest, team_id: str | None, app_id: str | None, allow_slack_connect: bool) -> str | None:
    """Why this request is not one the bot serves (for the log), or None."""
    context, body = req.context, req.body
    workspace, enterprise = context.team_id, context.enterprise_id
    if team_id and team_id not in (workspace, enterprise):
        return f"workspace {workspace} (enterprise {enterprise})"
    sender_app = body.get("api_app_id")
    if app_id and sender_app and sender_app != app_id:
        return f"app {sender_app}"
    if not allow_slack_connect and _from_another_organisation(body, workspace, enterprise):
        return "a Slack Connect user of another organisation"
    return None


def _from_another_organisation(body: dict[str, Any], workspace: str | None, enterprise: str | None) -> bool:
    """Outside Enterprise Grid, a user whose own team is not the workspace is from another organisation. Inside a
    Grid, users of the organisation's other workspaces are colleagues: there, only a channel shared with another
    organisation (Slack Connect, `is_ext_shared_channel`) brings in someone from outside it. An event (a link
    shared, say) names no person's team, and what the bot posts for it is seen by everyone in the channel: an event
    from a channel shared with another organisation is refused."""
    if body.get("type") == "event_callback":
        return body.get("is_ext_shared_channel") is True
    user = body.get("user")
    user_team = user.get("team_id") if isinstance(user, dict) else None
    if not user_team or user_team == workspace:
        return False
    return body.get("is_ext_shared_channel") is True if enterprise else True


def register(app: AsyncApp, team_id: str | None, app_id: str | None, allow_slack_connect: bool = True) -> None:
    """Install the check as global middleware (it makes no network call before acknowledging)."""
    if not team_id and not app_id and allow_slack_connect:
        return

    @app.middleware
    async def only_whom_we_serve(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        reason = problem(req, team_id, app_id, allow_slack_connect)
        if reason is None:
            return await next()
        log.warning("refused a request from %s", reason)
        return refusal(req.body)


def refusal(body: dict[str, Any]) -> BoltResponse:
    """Acknowledge a refused request, telling the person why wherever Slack allows."""
    text = messages.FOREIGN_WORKSPACE
    if "command" in body:
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
    if body.get("type") == "view_submission":
        return BoltResponse(status=200, body={"response_action": "update", "view": notice(text)})
    response_url = body.get("response_url")
    if isinstance(response_url, str) and response_url:
        task = asyncio.get_running_loop().create_task(
            respond_checked(Respond(response_url=response_url, session=None), text=text, response_type="ephemeral")
        )
        _background.add(task)
        task.add_done_callback(_background.discard)
    return BoltResponse(status=200, body="")
