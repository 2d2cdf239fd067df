"""What every Slack surface needs, built once in `bot.wiring` and handed to each `register` function."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.actions import Did
from bot.domain.environments import Environment
from bot.domain.follow import due
from bot.domain.run_refs import dashboard_url
from bot.inflight import InFlight
from bot.render.controls import SUMMARY_BUTTONS, Controls
from bot.render.ids import Button
from bot.render.summary import Attribution
from bot.rescheduler import Actor, MoveResult, Rescheduler
from bot.slack.replies import tell_privately
from bot.slack.respond import Respond
from bot.slack.timezones import Timezones
from bot.storage.audit import AuditLog
from bot.storage.bulk_sets import BulkSets
from bot.storage.follow_ups import Card, FollowRequest, FollowUps
from bot.storage.home_views import HomeViews
from bot.storage.outbox import Outbox
from bot.storage.replays import ReplayGuard

if TYPE_CHECKING:
    from bot.slack.set_run import SetRunner

log = logging.getLogger(__name__)

Tell = Callable[..., Awaitable[bool]]  # (text, blocks=None) → reached the person now


@dataclass(frozen=True, slots=True, kw_only=True)
class SurfaceDeps:
    """The action path, the services surfaces use (all required) and the settings surfaces render and decide with."""

    rescheduler: Rescheduler
    dashboard_base: str
    max_delay: timedelta
    confirm_environments: frozenset[str] = field(default_factory=lambda: frozenset({"prod"}))
    dm_confirmations: bool = True
    bulk_limit: int = 100  # BULK_LIMIT: the most runs one move takes
    bulk_sets: BulkSets = field(default_factory=BulkSets)  # sets awaiting their Confirm
    replays: ReplayGuard
    audit: AuditLog
    inflight: InFlight = field(default_factory=InFlight)
    demo: bool = False  # Trigger.dev is the simulator (`--demo`): every summary says so
    follow_ups: FollowUps  # cards that follow their run (bot/follow.py)
    follow_grace: timedelta = timedelta(seconds=30)  # FOLLOW_GRACE_SECONDS: how long after its time a card looks
    home_views: HomeViews  # who opened their App Home lately, in the database (bot/slack/home.py)
    outbox: Outbox  # private messages Slack could not take, sent later (bot/late.py)
    sets: SetRunner  # confirmed sets, carried out to the end by any process (bot/slack/set_run.py)
    timezones: Timezones = field(default_factory=Timezones)  # each person's Slack timezone, looked up once

    async def first_delivery(self, body: dict[str, Any], kind: str) -> bool:
        """False for a replayed copy of a request already acted on (its trigger_id was claimed before, by this
        process or another). Called by every surface after acknowledging and before doing anything, so the claim
        (a database write) never delays an acknowledgement."""
        trigger_id = body.get("trigger_id")
        if not isinstance(trigger_id, str) or not trigger_id:
            return True
        if await self.replays.first_time(trigger_id):
            return True
        log.warning("ignored a replayed %s (its trigger_id was already handled)", kind)
        return False

    def teller(self, respond: Respond | None, client: AsyncWebClient, actor: Actor) -> Tell:
        """`tell(text, blocks=None)`: tell `actor` privately by the first route Slack takes (`tell_privately`),
        keeping for later, in the outbox, what no route took when that may pass. True when it reached them now."""

        async def tell(text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
            return await tell_privately(
                respond,
                client,
                actor.user_id,
                actor.channel_id,
                text,
                blocks,
                outbox=self.outbox,
                team_id=actor.team_id,
            )

        return tell

    def run_url(self, run_id: str) -> str:
        return dashboard_url(self.dashboard_base, run_id)

    def asks_first(self, env: Environment) -> bool:
        """Whether moves in `env` need an explicit confirmation (CONFIRM_ENVIRONMENTS)."""
        return any(name in self.confirm_environments for name in env.names)

    def environment_names(self) -> list[str]:
        return [target.env.name for target in self.rescheduler.targets]

    def attribution(self, moved: MoveResult, actor: Actor, *, undo: bool = False) -> Attribution:
        """What `actor` just did to the run, for its summary and DM: a move, an Undo, or Run now."""
        did = Did.STARTED if moved.started else Did.UNDONE if undo else Did.MOVED
        return Attribution(
            user_id=actor.user_id,
            previous=moved.previous,
            new=moved.new,
            at=self.rescheduler.now(),
            did=did,
            approved_by=actor.approved_by,
        )

    def controls(self, env: Environment, buttons: tuple[Button, ...] = SUMMARY_BUTTONS) -> Controls:
        return Controls(now=self.rescheduler.now(), confirm=self.asks_first(env), buttons=buttons, demo=self.demo)

    async def follow(
        self,
        channel: str | None,
        ts: str | None,
        moved: MoveResult,
        action: Attribution,
        dm: bool = False,
        where: str = "",
    ) -> None:
        """Have the card just posted or updated at (channel, ts) follow its run (bot/follow.py). A card without
        a ts (ephemeral, or posted through a response_url) cannot be updated later, and is not followed. The row is
        written in the background: a database that is slow or down never delays an answer, and a card that does
        not follow its run is not worth failing a move over (logged)."""
        if not channel or not ts or not moved.run.is_delayed:
            return
        card = Card(
            user_id=action.user_id,
            previous=action.previous,
            new=action.new,
            at=action.at,
            kind="dm" if dm else "channel",
            where=where,
            did=action.did,
        )
        self.follow_ups.follow_soon(
            FollowRequest(
                channel=channel,
                ts=ts,
                run_id=moved.run.id,
                environment=moved.env.name,
                shown_until=moved.new,
                card=card,
                check_at=due(moved.new, self.follow_grace),
                now=self.rescheduler.now(),
            )
        )
