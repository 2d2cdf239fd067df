"""The digest of runs coming due: at each DIGEST_SCHEDULE time, one post to DIGEST_CHANNEL, whatever the number
of processes.

Every process runs `Digest.run` (started by Bot.start when DIGEST_CHANNEL is set, cancelled by Bot.aclose). At a
scheduled instant each process claims the slot in the database (bot/storage/digest_posts.py); the one that
claims it lists and posts, the others go back to sleep. A process that starts after a slot (a deploy, a crash)
claims the most recent one if it is at most DIGEST_WINDOW old, so a missed digest is posted once; older slots
are not posted. A slot whose post fails after its claim is not retried (never two posts for one slot).

The digest lists every configured environment: it is posted by the bot to a channel, not asked for by a person,
so no access rule applies to what it shows (whoever can read DIGEST_CHANNEL sees the runs). Its Reschedule…
buttons are ordinary buttons: a click is checked against the clicker's access like any other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, request_id
from bot.domain.delays import format_duration
from bot.domain.digest import latest_slot, next_slot
from bot.render.digest import digest
from bot.render.run_list import LIST_BUTTONS
from bot.rescheduler import Actor, ListFilters, utc_now
from bot.slack.deps import SurfaceDeps
from bot.storage.digest_posts import DigestClaims

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
IDLE_SECONDS = 3600.0  # with no time scheduled (never the case with a valid DIGEST_SCHEDULE): look again hourly
DIGEST_ACTOR = "digest"


@dataclass(slots=True)
class Digest:
    """The loop posting digests; `clock` and `sleep` are injected so tests control time."""

    deps: SurfaceDeps
    client: AsyncWebClient
    claims: DigestClaims
    channel: str
    times: tuple[time, ...]
    tz: ZoneInfo
    window: timedelta
    skip_empty: bool = False
    clock: Callable[[], datetime] = utc_now
    sleep: Sleep = asyncio.sleep
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    _done: set[datetime] = field(default_factory=set)

    async def run(self) -> None:
        """Post each slot's digest (or the most recent missed one), then sleep until the next slot; until cancelled."""
        while True:
            now = self.clock()
            slot = latest_slot(self.times, self.tz, now)
            if slot is not None and slot not in self._done and now - slot <= self.window:
                self._done = {done for done in self._done if now - done <= self.window} | {slot}
                with request_id.bound(request_id.new("digest-")):  # each slot's lines and calls, found together
                    # Shielded and counted in flight: a shutdown that stops the loop mid-post lets the drain finish
                    # the post (its slot is claimed, so no other process would post it).
                    posting = asyncio.get_running_loop().create_task(self._post_in_flight(slot))
                    await asyncio.shield(posting)
            upcoming = next_slot(self.times, self.tz, self.clock())
            wait = IDLE_SECONDS if upcoming is None else (upcoming - self.clock()).total_seconds()
            await self.sleep(max(0.0, wait))

    async def _post_in_flight(self, slot: datetime) -> None:
        async with self.deps.inflight.work("the digest"):
            try:
                await self.post_slot(slot)
            except Exception:
                log.exception("digest for %s failed", slot.isoformat())

    async def post_slot(self, slot: datetime) -> bool:
        """Claim `slot` and post its digest; False when another process claimed it first (or the claim failed)."""
        try:
            claimed = await self.claims.claim(slot, self.name, self.clock())
        except Exception as exc:  # a database that is down: not posting beats posting twice
            log.warning("digest for %s not posted: could not claim it (%s)", slot.isoformat(), type(exc).__name__)
            return False
        if not claimed:
            log.info("digest for %s posted by another process", slot.isoformat())
            return False
        await self.post()
        log.info("digest for %s posted to %s", slot.isoformat(), self.channel)
        return True

    async def post(self) -> None:
        """List the DELAYED runs due within the window, in every environment, and post them (or the empty line)."""
        rescheduler = self.deps.rescheduler
        actor = Actor(user_id=DIGEST_ACTOR, team_id="", channel_id=self.channel, surface=DIGEST_ACTOR)
        listed = await rescheduler.list_delayed(
            actor, ListFilters(within=self.window), rescheduler.deadline(), self.deps.max_delay, every_env=True
        )
        if not listed.runs and self.skip_empty and not listed.failed:
            log.info("digest: nothing coming due; not posted (DIGEST_SKIP_EMPTY)")
            return
        notes = [messages.digest_failed(env.title) for env, _ in listed.failed]
        rendered = digest(
            [(entry.run, entry.env) for entry in listed.runs],
            rescheduler.now(),
            window=format_duration(self.window),
            notes=notes,
            controls=lambda env: self.deps.controls(env, LIST_BUTTONS),
            run_url=self.deps.run_url,
            demo=self.deps.demo,
        )
        await self.client.chat_postMessage(channel=self.channel, text=rendered.text, blocks=rendered.blocks)
