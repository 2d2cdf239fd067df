"""Who is acting and from where, read once, the same way for every surface.

Bolt reads a request's workspace, enterprise, user and channel into its context (slack_bolt.request.internals),
covering the shapes Slack sends: a plain workspace, an org-wide install in Enterprise Grid (`team` null, the
installing workspace in `view.app_installed_team_id` or the authorizations), a workspace in a Grid, and Slack
Connect channels (where `user.team_id` is the user's own organisation). The workspace a request acts for is the
one Bolt resolves, or the enterprise for an org-wide install (so every surface agrees); the user's own team is kept
beside it. Nothing here comes from a button's value.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot.rescheduler import Actor


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def actor_of(
    context: AsyncBoltContext, body: dict[str, Any], surface: str, input: str, channel_id: str | None = None
) -> Actor:
    """The `Actor` for a verified request.

    Args:
        context: Bolt's context for the request (its team_id, enterprise_id, user_id and channel_id).
        body: the request body (for the user's own team, and a block action's container).
        surface: what was used ("command", "button", "modal", "shortcut", "dm").
        input: what was typed or clicked, for the audit trail.
        channel_id: where the flow started, when the request itself does not say (a form's origin).
    """
    user = body.get("user")
    user_team = _text(user.get("team_id")) if isinstance(user, dict) else ""
    enterprise = _text(context.enterprise_id) or None
    if context.is_enterprise_install and enterprise:
        # Installed for the whole organisation: Slack names a different workspace on each surface (the form's
        # installing one, the clicker's own), so the organisation is what every request acts for.
        workspace = enterprise
    else:
        workspace = _text(context.team_id) or user_team or _text(body.get("team_id")) or (enterprise or "")
    container = body.get("container")
    from_container = _text(container.get("channel_id")) if isinstance(container, dict) else ""
    channel = channel_id or _text(context.channel_id) or from_container or None
    return Actor(
        user_id=_text(context.user_id),
        team_id=workspace,
        channel_id=channel,
        surface=surface,
        input=input,
        user_team_id=user_team or _text(body.get("team_id")) or workspace,
        enterprise_id=enterprise,
    )
