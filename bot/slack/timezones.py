"""Each person's timezone, from their Slack profile (`users.info` `tz`), looked up once and kept for a while.

Every place a time is typed or a prompt is drawn asks here. When the profile cannot be read (Slack refuses, is slow
or the zone is unknown), the answer is UTC and not `known`, so replies say "UTC"; such a failure is kept only
briefly, so the next attempt asks again. The cache is only a cache: each process keeps its own, bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.typed_time import UTC_READER, ReaderZone, zone_named
from bot.slack.replies import slack_error

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600.0  # a person's zone, once read
KEEP_FAILED_SECONDS = 60.0  # a failed read, so a burst does not ask Slack again and again
LOOKUP_TIMEOUT = 1.5  # seconds: some callers answer Slack within 3 s
MAX_PEOPLE = 10_000


@dataclass(slots=True)
class Timezones:
    """The cache; `clock` is injectable (monotonic seconds)."""

    clock: Callable[[], float] = time.monotonic
    timeout: float = LOOKUP_TIMEOUT
    _known: OrderedDict[tuple[str, str], tuple[ReaderZone, float]] = field(default_factory=OrderedDict)
    _asking: dict[tuple[str, str], asyncio.Future[tuple[ReaderZone, float]]] = field(default_factory=dict)

    async def of(self, client: AsyncWebClient, user_id: str, team_id: str = "") -> ReaderZone:
        """`user_id`'s zone (UTC, not known, when it cannot be read)."""
        key = (team_id, user_id)
        cached = self._known.get(key)
        now = self.clock()
        if cached is not None and cached[1] > now:
            return cached[0]
        asking = self._asking.get(key)
        if asking is None:  # one users.info per person at a time: a burst of their moves shares it
            asking = asyncio.ensure_future(self._look_up(client, user_id))
            self._asking[key] = asking
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        reader, keep = await asyncio.shield(asking)
        self._known[key] = (reader, now + keep)
        self._known.move_to_end(key)
        while len(self._known) > MAX_PEOPLE:
            self._known.popitem(last=False)
        return reader

    async def _look_up(self, client: AsyncWebClient, user_id: str) -> tuple[ReaderZone, float]:
        try:
            response = await asyncio.wait_for(client.users_info(user=user_id), self.timeout)
        except Exception as exc:
            log.info("users.info failed for %s: %s", user_id, slack_error(exc) if str(exc) else type(exc).__name__)
            return UTC_READER, KEEP_FAILED_SECONDS
        user = response.get("user")
        tz = user.get("tz") if isinstance(user, dict) else None
        reader = zone_named(tz if isinstance(tz, str) else None)
        return reader, KEEP_SECONDS if reader.known else KEEP_FAILED_SECONDS
