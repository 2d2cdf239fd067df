"""Summary cards that follow their run: shortly after the time a card shows, the run is read again and the card
updated to what happened (it moved, it started, it ended).

The surfaces record each card they post or update in a channel or DM (SurfaceDeps.follow); the rows live in the
database (bot/storage/follow_ups.py), so a restart loses none. Every process runs `Follow.run` (started by
Bot.start, cancelled by Bot.aclose): every FOLLOW_POLL_SECONDS it claims at most BATCH due rows, reads each run
once (rows of one run share the read) with at most CONCURRENCY reads at a time, and updates each card at most
once. What a card does next is decided in bot/domain/follow.py, drawn by bot/render/follow.py. A card whose
message is gone stops following (logged); one Slack or Trigger.dev could not take now is tried again next tick.
Cards more than 7 days past their time stop following.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import polling, request_id
from bot.domain.follow import KEEP, Next, Step, next_step
from bot.domain.runs import SAME_INSTANT, Run
from bot.render.controls import DM_BUTTONS, SUMMARY_BUTTONS
from bot.render.follow import followed_summary
from bot.render.summary import Attribution
from bot.rescheduler import EnvironmentClient, utc_now
from bot.slack.deps import SurfaceDeps
from bot.slack.replies import slack_error
from bot.storage.follow_ups import FollowUp, FollowUps
from bot.trigger.errors import RunNotFound, TriggerError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
BATCH = 50  # follow-ups claimed per tick
CONCURRENCY = 5  # runs read (and their cards updated) at once
PRUNE_EVERY = timedelta(hours=1)  # how often the cards past the bound are dropped (a 7-day bound needs no more)
# chat.update errors that mean the card can never be updated: it stops following.
GONE = frozenset({"message_not_found", "channel_not_found", "is_archived", "not_in_channel", "cant_update_message"})


@dataclass(slots=True)
class Follow:
    """The loop bringing followed cards up to date; `clock` and `sleep` are injected so tests control time."""

    deps: SurfaceDeps
    client: AsyncWebClient
    store: FollowUps
    poll_seconds: float
    batch: int = BATCH
    concurrency: int = CONCURRENCY
    clock: Callable[[], datetime] = utc_now
    sleep: Sleep = asyncio.sleep
    _pruned_at: datetime | None = field(default=None, init=False)
    _claimed: list[FollowUp] = field(default_factory=list, init=False)  # by the tick under way

    async def run(self) -> None:
        """A tick every `poll_seconds`, until cancelled; a tick that fails (the database is down) is logged."""
        while True:
            try:
                with request_id.bound(request_id.new("follow-")):  # each tick's lines and calls, found together
                    await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "follow-ups: this tick failed (%s); trying again in %ss", type(exc).__name__, self.poll_seconds
                )
            await self.sleep(self.poll_seconds)

    async def tick(self) -> int:
        """Drop the cards past the bound, claim the due ones and bring them up to date; how many were claimed."""
        now = self.clock()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:  # the first tick, then hourly
            self._pruned_at = now
            dropped = await self.store.drop_stale(now, KEEP)
            if dropped:
                log.info(
                    "follow-ups: %d card(s) more than %d days past their time stopped following", dropped, KEEP.days
                )
        items = await self.store.claim(now, self.batch)
        self._claimed = items
        by_run: dict[tuple[str, str], list[FollowUp]] = {}
        for item in items:
            by_run.setdefault((item.environment, item.run_id), []).append(item)
        gate = asyncio.Semaphore(self.concurrency)
        outcomes = await asyncio.gather(
            *(self._run_cards(env, run_id, cards, gate) for (env, run_id), cards in by_run.items()),
            return_exceptions=True,  # every run's cards are awaited, whatever happens to another's
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                log.error("follow-ups: a run's cards failed unexpectedly", exc_info=outcome)
        self._claimed = []
        return len(items)

    async def give_back(self) -> None:
        """At shutdown, once the loop is stopped: the cards its last tick claimed and did not settle are due again at
        once for the next process, rather than when their lease runs out. Giving back names the lease token, so a card
        already settled (forgotten, or rearmed with its lease given back) is left as it is."""
        claimed, self._claimed = self._claimed, []
        await polling.give_back(claimed, self.store.release, lambda card: f"follow-ups: card {card.channel}/{card.ts}")

    async def _run_cards(self, env_name: str, run_id: str, cards: list[FollowUp], gate: asyncio.Semaphore) -> None:
        """One read of the run, then each of its cards (one update at most each)."""
        async with gate:
            target = self.deps.rescheduler.target_named(env_name)
            if target is None:
                log.info(
                    "follow-ups: environment %s is no longer configured; %d card(s) of %s stop following",
                    env_name,
                    len(cards),
                    run_id,
                )
                await self._each(cards, self.store.done)
                return
            try:
                run = await target.client.retrieve_run(run_id, self.deps.rescheduler.deadline())
            except RunNotFound:
                log.info("follow-ups: run %s not found in %s; %d card(s) stop following", run_id, env_name, len(cards))
                await self._each(cards, self.store.done)
                return
            except (TriggerError, OSError, TimeoutError) as exc:
                log.warning(
                    "follow-ups: could not read run %s (%s); trying again next tick", run_id, type(exc).__name__
                )
                await self._each(cards, self.store.release)
                return
            for card in cards:
                try:
                    await self._card(card, run, target)
                except Exception as exc:
                    log.warning(
                        "follow-ups: card %s/%s of %s not brought up to date (%s)",
                        card.channel,
                        card.ts,
                        run_id,
                        type(exc).__name__,
                    )

    @staticmethod
    async def _each(cards: list[FollowUp], step: Callable[[FollowUp], Awaitable[None]]) -> None:
        for card in cards:
            try:
                await step(card)
            except Exception as exc:
                log.warning("follow-ups: card %s/%s: %s", card.channel, card.ts, type(exc).__name__)

    async def _card(self, item: FollowUp, run: Run, target: EnvironmentClient) -> None:
        now = self.clock()
        step = next_step(
            run.status,
            run.status_label,
            run.delayed_until,
            item.shown_until,
            item.shown_status,
            now,
            self.deps.follow_grace,
        )
        if step.redraw and not await self._update(item, run, target, step):
            return
        if step.check_at is None:
            await self.store.done(item)
            log.info(
                "follow-ups: card %s/%s shows that run %s is %s; done", item.channel, item.ts, run.id, run.status_label
            )
            return
        await self.store.rearm(item, step.check_at, step.shown_until, run.status_label)
        if step.step is Step.MOVED:
            log.info(
                "follow-ups: run %s moved to %s; card %s/%s shows it",
                run.id,
                step.shown_until.isoformat(),
                item.channel,
                item.ts,
            )
            await self.store.refresh_others(item, step.shown_until, now)

    async def _update(self, item: FollowUp, run: Run, target: EnvironmentClient, step: Next) -> bool:
        """chat.update the card; False when it did not happen (the row is dropped, or kept for the next tick)."""
        card, env = item.card, target.env
        action = Attribution(user_id=card.user_id, previous=card.previous, new=card.new, at=card.at, did=card.did)
        dm = card.kind == "dm"
        controls = self.deps.controls(env, DM_BUTTONS if dm else SUMMARY_BUTTONS)
        moved = abs(step.shown_until - card.new) > SAME_INSTANT
        run_url = self.deps.run_url(run.id)
        summary = followed_summary(run, env, run_url, action, controls, moved=moved, where=card.where, dm=dm)
        try:
            await self.client.chat_update(channel=item.channel, ts=item.ts, text=summary.text, blocks=summary.blocks)
        except Exception as exc:
            error = slack_error(exc)
            if isinstance(exc, SlackApiError) and error in GONE:
                log.info(
                    "follow-ups: card %s/%s cannot be updated (%s); it stops following", item.channel, item.ts, error
                )
                await self.store.done(item)
            else:
                log.warning(
                    "follow-ups: chat.update of %s/%s failed (%s); trying again next tick", item.channel, item.ts, error
                )
                await self.store.release(item)
            return False
        return True
