"""What every Slack surface needs, built once in `bot.wiring` and handed to each `register` function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.actions import Desk
from bot.domain.runs import dashboard_url


@dataclass(frozen=True, slots=True)
class Services:
    """The action path plus the few settings surfaces render with."""

    desk: Desk
    dashboard_base: str
    max_delay: timedelta

    def run_url(self, run_id: str) -> str:
        return dashboard_url(self.dashboard_base, run_id)
