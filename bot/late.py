"""Private messages sent late: what Slack could not take when it was said is sent as a DM once Slack is back.

When the last route to a person fails for a reason that may pass (Slack unreachable, a 5xx, a rate limit: see
bot/slack/replies.py `may_pass`), the message is kept in the outbox (bot/storage/outbox.py). Every process runs
`LateDMs.run` (started by Bot.start, stopped by Bot.aclose): every `poll_seconds` it claims at most BATCH due rows
and sends each as a DM to its person, with a head saying it is late and since when. A message sent is deleted; one
Slack still cannot take is tried again after the next of `waits` (then every last one), and given up after
GIVE_UP since it was made (one log line); one Slack refuses for good (user_not_found, account_inactive, …) is
dropped with a log line. The rows are in the database, so a restart loses none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, polling
from bot.render.mrkdwn import context, date_token
from bot.rescheduler import utc_now
from bot.slack.replies import may_pass, never_reached, slack_error
from bot.storage.outbox import Kept, Outbox, waits

log = logging.getLogger(__name__)

BATCH = 20  # messages claimed per tick
GIVE_UP = timedelta(hours=1)  # a message Slack has not taken this long after it was made is given up
MAX_BLOCKS = 50  # Slack's bound on a message's blocks


def late_message(item: Kept) -> dict[str, Any]:
    """The message as it was, under a head saying it is late and since when."""
    head = messages.sent_late(date_token(item.created_at))
    message: dict[str, Any] = {"text": f"{head}\n{item.text}"}
    if item.blocks:
        note = context(head)
        message["blocks"] = [note, *item.blocks[: MAX_BLOCKS - 1]]
    return message


@dataclass(slots=True)
class LateDMs:
    """The loop sending kept messages; `clock` is injected so tests control time."""

    client: AsyncWebClient
    store: Outbox
    poll_seconds: float
    waits: Sequence[float] = field(default_factory=lambda: waits(10.0))
    give_up: timedelta = GIVE_UP
    batch: int = BATCH
    clock: Callable[[], datetime] = utc_now
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    # Sent, but the database did not take their deletion: deleted before the next claim.
    _unforgotten: list[Kept] = field(default_factory=list, init=False)
    _sending: Kept | None = field(default=None, init=False)  # the message whose chat.postMessage is under way
    _waiting: list[Kept] = field(default_factory=list, init=False)  # claimed by this tick, not tried yet
    _posted: Kept | None = field(default=None, init=False)  # sent, its deletion under way

    async def run(self) -> None:
        """A tick every `poll_seconds` until `stop`; a tick that fails (the database is down) is logged."""
        await polling.every(self.poll_seconds, self._stopping, self.tick, job="outbox", ids="late-")

    def stop(self) -> None:
        """Stop after the message being sent now (a message is never cut off between its send and its deletion,
        unless the shutdown cannot wait for it)."""
        self._stopping.set()

    async def release_cut_off(self) -> None:
        """After the loop stopped at shutdown: a message sent whose deletion did not land is deleted now (not sent
        again by the next process); one cut off in the middle of its send, and those claimed with it but not tried
        yet, are due again at once for the next process (rather than when their lease runs out). Slack may have taken
        the one cut off: it may arrive twice, which beats not arriving."""
        posted, self._posted = self._posted, None
        if posted is not None:  # sent already: forgotten, not sent again by the next process
            self._unforgotten.append(posted)
        await self._forget_sent()
        for unforgotten in self._unforgotten:
            log.error("outbox: the message to %s was sent but is still kept: it may be sent again", unforgotten.user_id)
        item, self._sending = self._sending, None
        waiting, self._waiting = self._waiting, []
        if item is not None:
            log.warning("outbox: the message to %s was being sent at shutdown; the next process sends it", item.user_id)
        claimed = waiting if item is None else [item, *waiting]
        await polling.give_back(claimed, self.store.release, lambda held: f"outbox: the message to {held.user_id}")

    async def tick(self) -> int:
        """Forget what was sent but not yet deleted, then claim the due messages and send them; how many were
        claimed."""
        await self._forget_sent()
        if self._stopping.is_set():
            return 0
        items = await self.store.claim(self.clock(), self.batch)
        self._waiting = list(items)
        while self._waiting:
            if self._stopping.is_set():  # given back by release_cut_off: the next process sends them
                return len(items)
            item = self._waiting[0]  # still given back if the shutdown cuts the renewal off
            try:
                await self._renew_and_send(item)
            except Exception as exc:
                log.warning("outbox: the message to %s: %s", item.user_id, type(exc).__name__)
        return len(items)

    async def _renew_and_send(self, item: Kept) -> None:
        try:
            renewed = await self.store.renew(item)
        except Exception:
            self._waiting.remove(item)
            raise
        self._waiting.remove(item)  # cancelled in the renewal (not an Exception), it stays waiting, to be given back
        if not renewed:  # a slow batch outlived the lease: another process has it
            log.info("outbox: the message to %s is another process's now; not sent from here", item.user_id)
            return
        await self._send(item)  # `_sending` from its first step

    async def _forget_sent(self) -> None:
        pending, self._unforgotten = self._unforgotten, []
        for item in pending:
            try:
                await self.store.sent(item)
            except Exception:
                self._unforgotten.append(item)

    async def _send(self, item: Kept) -> None:
        self._sending = item
        try:
            await self.client.chat_postMessage(channel=item.user_id, **late_message(item))
        except Exception as exc:
            self._sending = None
            await self._failed(item, exc)
            return
        self._sending, self._posted = None, item
        log.info("outbox: the message to %s kept since %s is sent", item.user_id, item.created_at.isoformat())
        try:
            await self.store.sent(item)
        except Exception as exc:  # held by our lease meanwhile: deleted on a later tick, before any claim
            log.warning("outbox: the message to %s is sent but still kept (%s)", item.user_id, type(exc).__name__)
            self._unforgotten.append(item)
        finally:
            self._posted = None

    async def _failed(self, item: Kept, exc: Exception) -> None:
        error = slack_error(exc)
        now = self.clock()
        if not never_reached(exc):
            log.warning(
                "outbox: the message to %s may have reached Slack (%s): not sent again, forgotten", item.user_id, error
            )
            await self.store.sent(item)
            return
        if not may_pass(exc):
            log.error("outbox: Slack refuses the message to %s (%s); dropped", item.user_id, error)
            await self.store.sent(item)
            return
        if now - item.created_at >= self.give_up:
            log.error(
                "outbox: gave up on the message to %s kept since %s, after %d attempts (%s)",
                item.user_id,
                item.created_at.isoformat(),
                item.attempts + 1,
                error,
            )
            await self.store.sent(item)
            return
        wait = self.waits[min(item.attempts, len(self.waits) - 1)] if self.waits else self.poll_seconds
        log.warning("outbox: the message to %s is not sent yet (%s); trying again in %gs", item.user_id, error, wait)
        await self.store.rearm(item, now + timedelta(seconds=wait))
