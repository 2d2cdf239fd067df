"""Channel messages corrected after a Slack outage: a message the bot posted and could not update (a set's summary
stuck at "0 done so far") is kept as "message X should show this" (bot/storage/message_updates.py), and every
process's `MessageFixes` loop updates it once Slack takes it: due rows are claimed, chat.update is called, and a row
Slack still cannot take is tried again after the next of the waits (as bot/late.py does for DMs), then given up
after GIVE_UP with one log line. A refusal that cannot pass (message_not_found, …) drops the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import polling
from bot.rescheduler import utc_now
from bot.slack.replies import may_pass, slack_error
from bot.storage.message_updates import MessageUpdates, Wanted
from bot.storage.outbox import waits

log = logging.getLogger(__name__)

BATCH = 20
GIVE_UP = timedelta(hours=6)


@dataclass(slots=True)
class MessageFixes:
    """Asks for a message's state to be shown later (`want`), and the loop showing it."""

    client: AsyncWebClient
    store: MessageUpdates
    poll_seconds: float
    waits: Sequence[float] = field(default_factory=lambda: waits(10.0))
    give_up: timedelta = GIVE_UP
    clock: Callable[[], datetime] = utc_now
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _claimed: list[Wanted] = field(default_factory=list, init=False)  # claimed by this tick, not settled yet

    async def want(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None, exc: Exception) -> bool:
        """After chat.update of `ts` failed with `exc`: keep the state for later when the failure may pass. True
        when kept."""
        if not may_pass(exc):
            return False
        try:
            await self.store.want(channel, ts, text, blocks, slack_error(exc))
        except Exception as error:
            log.warning("message %s in %s stays as it is: the database failed (%s)", ts, channel, type(error).__name__)
            return False
        log.info("message %s in %s is kept to be updated when Slack takes it (%s)", ts, channel, slack_error(exc))
        return True

    async def forget(self, channel: str, ts: str) -> None:
        """The message was updated: an older state kept for it must not be shown over it."""
        with contextlib.suppress(Exception):
            await self.store.forget(channel, ts)

    async def run(self) -> None:
        await polling.every(self.poll_seconds, self._stopping, self.tick, job="message updates", ids="fix-")

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> int:
        items = await self.store.claim(self.clock(), BATCH)
        self._claimed = items
        for item in items:
            if self._stopping.is_set():
                break
            await self._update(item)
        self._claimed = []
        return len(items)

    async def give_back(self) -> None:
        """At shutdown, once the loop is stopped: the rows it had claimed and not settled are due again at once for
        the next process, rather than when their lease runs out. One cut off during its chat.update may be updated
        twice, to the same state."""
        claimed, self._claimed = self._claimed, []
        await polling.give_back(claimed, self.store.release, lambda item: f"message {item.ts} in {item.channel}")

    async def _update(self, item: Wanted) -> None:
        message: dict[str, Any] = {"channel": item.channel, "ts": item.ts, "text": item.text}
        if item.blocks:
            message["blocks"] = item.blocks
        try:
            await self.client.chat_update(**message)
        except Exception as exc:
            now = self.clock()
            if not may_pass(exc) or now - item.created_at >= self.give_up:
                log.error(
                    "message %s in %s could not be updated (%s); given up", item.ts, item.channel, slack_error(exc)
                )
                await self.store.done(item)
                return
            wait = self.waits[min(item.attempts, len(self.waits) - 1)] if self.waits else self.poll_seconds
            log.info(
                "message %s in %s not updated yet (%s); again in %gs", item.ts, item.channel, slack_error(exc), wait
            )
            await self.store.rearm(item, now + timedelta(seconds=wait))
            return
        log.info("message %s in %s updated after Slack was back", item.ts, item.channel)
        await self.store.done(item)
