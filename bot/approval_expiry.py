"""Requests for approval that nobody decided in time expire (protected environments, bot/approvals.py).

Every process runs `ApprovalExpiry.run` when some environment is protected (started by Bot.start, stopped by
Bot.aclose): every `poll_seconds` it leases the pending requests whose check is due (bot/storage/approvals.py: one
process looks at each), and for each reads its run again. A request past APPROVAL_TIMEOUT, or within EXPIRY_MARGIN of
its run's current start time, expires: its message says so and the person who asked is told. A run that stopped being
delayed meanwhile is reported the same way, and nothing moves. Expiring is the same conditional UPDATE as a click, so
an Approve and the expiry never both win. Any other request is looked at again RECHECK later (or when it expires).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot import polling
from bot.domain.approvals import EXPIRY_MARGIN, RECHECK, State, too_late
from bot.rescheduler import utc_now
from bot.slack import approvals as slack_approvals
from bot.slack.deps import SurfaceDeps
from bot.storage.approvals import ApprovalRequest, ApprovalStore
from bot.trigger.errors import RunNotFound, TriggerError

log = logging.getLogger(__name__)

BATCH = 20


@dataclass(slots=True)
class ApprovalExpiry:
    """The loop; `clock` is injected so tests control time."""

    deps: SurfaceDeps
    client: AsyncWebClient
    store: ApprovalStore
    poll_seconds: float = 15.0
    clock: Callable[[], datetime] = utc_now
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def run(self) -> None:
        await polling.every(self.poll_seconds, self._stopping, self.tick, job="approval expiry", ids="expiry-")

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> int:
        """Look at the due pending requests; how many expired (or were reported as no longer delayed)."""
        now = self.clock()
        ended = 0
        for request in await self.store.claim_due(now, BATCH):
            try:
                ended += await self._look(request, now)
            except Exception as exc:
                log.warning("approvals: request %s not looked at (%s)", request.key, type(exc).__name__)
        return ended

    async def _look(self, request: ApprovalRequest, now: datetime) -> int:
        start: datetime | None = None
        status: str | None = None
        if not request.is_set:
            asked = request.runs[0]
            rescheduler = self.deps.rescheduler
            try:
                found = await rescheduler.find(asked.run_id, rescheduler.deadline(), asked.env_name or None)
            except RunNotFound:
                status = "not found"
            except TriggerError as exc:  # cannot tell: the timeout still applies
                log.info("approvals: run of request %s not read (%s)", request.key, type(exc).__name__)
            else:
                if found.run.is_delayed:
                    start = found.run.delayed_until
                else:
                    status = found.run.status_label
        if status is None and not too_late(now, request.expires_at, start):
            next_check = min(request.expires_at, now + RECHECK)
            if start is not None:
                next_check = min(next_check, start - EXPIRY_MARGIN)
            await self.store.check_later(request, max(next_check, now + timedelta(seconds=1)))
            return 0
        ended = await self.store.decide(request.key, State.EXPIRED, None, now)
        if ended is None:  # decided meanwhile by a click
            return 0
        target = self.deps.rescheduler.target_named(request.environment)
        approvals = self.deps.rescheduler.approvals
        rule = approvals.rule_for(target.env) if approvals is not None and target is not None else None
        if status is not None:
            log.info("approval request %s ended: the run is no longer delayed (%s)", request.key, status)
            await slack_approvals.no_longer_delayed(self.client, self.deps, ended, rule, status)
        else:
            log.info("approval request %s expired", request.key)
            await slack_approvals.expire(self.client, self.deps, ended, rule)
        return 1
