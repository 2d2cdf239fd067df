"""Recognising a replayed request: Slack sends each command or click once, with a trigger_id of its own.

A signed request stays valid for five minutes, so a captured copy could be sent again within that window. The
first process to see a trigger_id claims it in the database (a primary key), so a copy is refused by whichever
process it reaches. Claims are kept for REMEMBER_SECONDS, longer than the signature window, then pruned.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Insert

from bot.storage.db import from_unix, insert_of, seen_requests
from bot.storage.transactions import shared

log = logging.getLogger(__name__)

REMEMBER_SECONDS = 600.0
PRUNE_EVERY_SECONDS = 60.0
MEMORY_SIZE = 10_000
MAX_KEY_LENGTH = 255


WAIT_SECONDS = 1.0


class ReplayGuard:
    """`first_time(key)` is True once per key, across every process sharing the database.

    Claims that arrive while a write is in progress are written together in the next one (one statement whose
    RETURNING names the keys that were new), so a burst of commands costs a few writes, not one each, and a claim
    made when nothing else is waiting is written at once.

    Args:
        engine: the shared database; None keeps claims in this process only.
        clock: Unix time, injected so tests control it.
    """

    def __init__(
        self, engine: AsyncEngine | None, clock: Callable[[], float] = time.time, wait_seconds: float = WAIT_SECONDS
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.wait_seconds = wait_seconds  # the longest a request waits for its claim to be written
        self._recent: OrderedDict[str, float] = OrderedDict()  # this process's claims: key → when
        self._pruned_at = 0.0
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._writer: asyncio.Task[None] | None = None

    async def first_time(self, key: str) -> bool:
        """Claim `key`; False when it was claimed before (a replay).

        When the database cannot be reached, the claim is kept in this process only and the request goes on:
        refusing every request while the database is down would stop the bot doing its job.
        """
        key = key[:MAX_KEY_LENGTH]
        if key in self._recent:
            return False
        self._remember(key, self.clock())
        if self.engine is None:
            return True
        claim: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[key] = claim
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_claims(self.engine))
        try:  # a trigger_id is good for 3 s: a slow database must not spend them (the claim is written anyway)
            return await asyncio.wait_for(asyncio.shield(claim), self.wait_seconds)
        except TimeoutError:
            log.warning("replay guard: the database is slow; checking this process only for this request")
            return True

    async def aclose(self, timeout: float) -> None:
        """Let the claims being written reach the database (within `timeout` seconds) before it is closed; a write
        still hanging then is abandoned (its requests have gone on already)."""
        writer = self._writer
        if writer is None or writer.done():
            return
        done, _ = await asyncio.wait({writer}, timeout=timeout)
        if not done:
            log.warning("replay guard: claims not written before shutdown (the database is slow)")
            writer.cancel()
            await asyncio.wait({writer})

    async def _write_claims(self, engine: AsyncEngine) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            new: set[str] = set(batch)  # whatever goes wrong, nobody waits forever: the request goes on
            try:
                new = await self._insert(engine, list(batch))
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("replay guard: database unavailable (%s); checking this process only", type(exc).__name__)
            except Exception as exc:  # a value the driver cannot take, for one: never strand the batch
                log.warning("replay guard: could not write claims (%s); checking this process only", type(exc).__name__)
            finally:
                for key, claim in batch.items():
                    if not claim.done():
                        claim.set_result(key in new)

    async def _insert(self, engine: AsyncEngine, keys: list[str]) -> set[str]:
        """Insert the keys that are not there yet; the set of those inserted."""
        now = self.clock()

        def work(conn: Connection) -> set[str]:
            seen_at = from_unix(now)
            rows = conn.execute(_claims(conn.dialect.name), [{"key": key, "seen_at": seen_at} for key in keys])
            inserted = {row[0] for row in rows}
            if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
                self._pruned_at = now
                cutoff = from_unix(now) - timedelta(seconds=REMEMBER_SECONDS)
                conn.execute(delete(seen_requests).where(seen_requests.c.seen_at < cutoff))
            return inserted

        new = await shared(engine).run(work)
        return new

    def _remember(self, key: str, now: float) -> None:
        self._recent[key] = now
        while self._recent:
            at = next(iter(self._recent.values()))
            if len(self._recent) <= MEMORY_SIZE and now - at <= REMEMBER_SECONDS:
                break
            self._recent.popitem(last=False)


@functools.cache
def _claims(dialect: str) -> Insert:
    """The INSERT of a batch of claims, naming the keys that were new: one statement whatever the batch's size (its
    rows as parameters), built once per kind of database."""
    insert = insert_of(dialect)
    return insert(seen_requests).on_conflict_do_nothing(index_elements=["key"]).returning(seen_requests.c.key)
