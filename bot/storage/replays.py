"""Recognising a replayed request: Slack sends each command or click once, with a trigger_id of its own.

A signed request stays valid for five minutes, so a captured copy could be sent again within that window. The
first process to see a trigger_id claims it in the database (a primary key), so a copy is refused by whichever
process it reaches. Claims are kept for REMEMBER_SECONDS, longer than the signature window, then pruned.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import seen_requests

log = logging.getLogger(__name__)

REMEMBER_SECONDS = 600.0
PRUNE_EVERY_SECONDS = 60.0
MEMORY_SIZE = 10_000
MAX_KEY_LENGTH = 255


class ReplayGuard:
    """`first_time(key)` is True once per key, across every process sharing the database.

    Args:
        engine: the shared database; None keeps claims in this process only.
        clock: Unix time, injected so tests control it.
    """

    def __init__(self, engine: AsyncEngine | None, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._recent: OrderedDict[str, float] = OrderedDict()  # this process's claims: key → when
        self._pruned_at = 0.0

    async def first_time(self, key: str) -> bool:
        """Claim `key`; False when it was claimed before (a replay).

        When the database cannot be reached, the claim is kept in this process only and the request goes on:
        refusing every request while the database is down would stop the bot doing its job.
        """
        key = key[:MAX_KEY_LENGTH]
        now = self.clock()
        if key in self._recent:
            return False
        self._remember(key, now)
        if self.engine is None:
            return True
        try:
            async with self.engine.begin() as conn:
                await conn.execute(seen_requests.insert().values(key=key, seen_at=_utc(now)))
                if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
                    self._pruned_at = now
                    cutoff = _utc(now) - timedelta(seconds=REMEMBER_SECONDS)
                    await conn.execute(delete(seen_requests).where(seen_requests.c.seen_at < cutoff))
        except IntegrityError:
            return False
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("replay guard: database unavailable (%s); checking this process only", type(exc).__name__)
        return True

    def _remember(self, key: str, now: float) -> None:
        self._recent[key] = now
        while self._recent:
            at = next(iter(self._recent.values()))
            if len(self._recent) <= MEMORY_SIZE and now - at <= REMEMBER_SECONDS:
                break
            self._recent.popitem(last=False)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
