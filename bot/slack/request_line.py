"""The one log line and the counts for each Slack request: kind, surface, team, user, the outcome of the answer
and how long it took. Written by bot/server.py in HTTP mode and by bot/slack/socket_client.py in Socket Mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import metrics

log = logging.getLogger(__name__)

# The surface a request kind belongs to (metrics and the request line); other kinds are Slack's own ("slack").
SURFACES = {
    "command": "command",
    "block_actions": "button",
    "view_submission": "modal",
    "view_closed": "modal",
    "message_action": "shortcut",
    "shortcut": "shortcut",
}


@dataclass(slots=True)
class Seen:
    """What the request line says about one request, filled in as the front door learns it."""

    kind: str = "-"
    team: str = "-"
    user: str = "-"
    outcome: str = "acked"

    @property
    def surface(self) -> str:
        return "unknown" if self.kind == "-" else SURFACES.get(self.kind, "slack")


def account(seen: Seen, status: int, seconds: float) -> None:
    """The one log line and the counts for an answered Slack request."""
    surface, ack_ms = seen.surface, round(seconds * 1000, 1)
    metrics.slack_request(surface, seen.outcome, seconds)
    fields = {"kind": seen.kind, "surface": surface, "team": seen.team, "user": seen.user}
    log.info(
        "slack request kind=%s surface=%s team=%s user=%s outcome=%s status=%d ack_ms=%.1f",
        seen.kind,
        surface,
        seen.team,
        seen.user,
        seen.outcome,
        status,
        ack_ms,
        extra={**fields, "outcome": seen.outcome, "status": status, "ack_ms": ack_ms},
    )
