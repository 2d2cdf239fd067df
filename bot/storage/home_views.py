"""Who has opened their App Home, and when last: one row per person, shared by every process on the database.

A move is recorded by whichever process handled it, and that process publishes the person's Home again only if they
opened it lately (bot/slack/home.py); the Home may have been opened through another process, so the opens are kept
here, not in a process's memory. An open is written off the request path: the opens that arrive while a write is
in progress are written together in the next one (one upsert), and a write that fails is logged, never raised.
An open is seen by the other processes once its write lands, a few milliseconds after it; a move made through
another process within that moment is still on the page when the open's own build reads the trail after the move,
and otherwise shows on the next open.

A database that cannot be reached is logged once when it goes away and once when it is back, not per open or per
move: meanwhile `seconds_since_opened` raises HomeViewsUnavailable and the caller relies on what it knows itself.
Rows older than KEEP are pruned now and then. Times are this process's wall clock (processes are assumed to keep
their clocks in step, as NTP does; a skew of seconds is nothing against the hour a Home is remembered).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.batches import BatchedCalls, BatchWriter
from bot.storage.db import from_unix, home_views, upsert, utc
from bot.storage.transactions import shared

log = logging.getLogger(__name__)

KEEP = timedelta(days=1)  # longer than any caller's window: a row older than this is only noise
PRUNE_EVERY_SECONDS = 3600.0
READ_BATCH = 200  # people per look-up query at most

Person = tuple[str, str]  # (workspace the bot acts for, user id)

# When each of the people asked (a list of Person) last opened their Home; built once, as building a statement
# costs more than running it.
_OPENED = select(home_views.c.team_id, home_views.c.user_id, home_views.c.last_opened_at).where(
    tuple_(home_views.c.team_id, home_views.c.user_id).in_(bindparam("people", expanding=True))
)


class HomeViewsUnavailable(Exception):
    """The database could not be read: the caller falls back on what this process knows."""


class HomeViews:
    """Opens of the App Home, in the database.

    Args:
        engine: the shared database.
        clock: Unix time, injected so tests control it.
        keep: how long a row is kept after the open it records.
    """

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time, keep: timedelta = KEEP) -> None:
        self.engine = engine
        self.clock = clock
        self.keep = keep
        self._batches: BatchWriter[tuple[Person, float]] = BatchWriter(self._upsert, self._failed, self._lost)
        self._reads: BatchedCalls[Person, float | None] = BatchedCalls(self._opened, most=READ_BATCH)
        self._pruned_at = 0.0
        self._available = True

    def opened(self, team_id: str, user_id: str) -> None:
        """Note that the person opened their Home now, off the caller's path."""
        if user_id:
            self._batches.add(((team_id[:32], user_id[:32]), self.clock()))

    async def seconds_since_opened(self, team_id: str, user_id: str) -> float | None:
        """How long ago the person last opened their Home (through any process); None when never (or longer ago
        than `keep`). Raises HomeViewsUnavailable when the database cannot be read. The look-ups asked for at the
        same moment (a burst of moves) are one query."""
        opened = await self._reads.submit((team_id[:32], user_id[:32]))
        if opened is None:
            return None
        age = max(0.0, self.clock() - opened)
        return age if age <= self.keep.total_seconds() else None

    async def _opened(self, people: list[Person]) -> list[float | None]:
        """When each of `people` last opened their Home (Unix time), in one query."""
        asked = {"people": sorted(set(people))}

        def read(conn: Connection) -> dict[Person, float]:
            return {(team_id, user_id): utc(at).timestamp() for team_id, user_id, at in conn.execute(_OPENED, asked)}

        try:
            found = await shared(self.engine).later(read)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            self._went_away(exc)
            raise HomeViewsUnavailable(type(exc).__name__) from exc
        self._is_back()
        return [found.get(person) for person in people]

    async def aclose(self, timeout: float) -> None:
        """At shutdown: let the opens being written reach the database within `timeout` seconds (then they are
        abandoned: the next open writes the person's row again); nothing is written after this."""
        await self._batches.close(timeout)

    def _failed(self, batch: Sequence[tuple[Person, float]], exc: Exception) -> None:
        self._went_away(exc)  # never raised: a Home not remembered is only refreshed on its next open

    @staticmethod
    def _lost(batch: Sequence[tuple[Person, float]]) -> None:
        log.warning("App Home opens not written before shutdown (the database is slow)")

    async def _upsert(self, batch: list[tuple[Person, float]]) -> None:
        latest = dict(batch)  # a person opening it twice meanwhile: one row, the latest open
        now = self.clock()

        def work(conn: Connection) -> None:
            statement = upsert(conn.dialect.name, home_views, ("team_id", "user_id"), ("last_opened_at",))
            rows = [
                {"team_id": team_id, "user_id": user_id, "last_opened_at": from_unix(at)}
                for (team_id, user_id), at in latest.items()
            ]
            conn.execute(statement, rows)
            if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
                self._pruned_at = now
                conn.execute(delete(home_views).where(home_views.c.last_opened_at < from_unix(now) - self.keep))

        await shared(self.engine).later(work)
        self._is_back()

    def _went_away(self, exc: BaseException) -> None:
        if self._available:
            self._available = False
            log.warning(
                "App Home opens: database unavailable (%s); until it is back, a move refreshes only the Homes this "
                "process showed",
                type(exc).__name__,
            )

    def _is_back(self) -> None:
        if not self._available:
            self._available = True
            log.info("App Home opens: the database is back")
