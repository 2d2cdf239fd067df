"""One writer per database engine: the writes of every store that arrive while a transaction is in progress go
together in the next one. A burst of commands writes a move down, records it, has its cards follow the run, claims
its request against replays and notes who opened their App Home: with a transaction per store and per batch that
was more than one transaction per command, each a dozen round trips to SQLite's thread (aiosqlite) or to PostgreSQL;
shared, a burst costs a few.

`run(work)` is `async with engine.begin() as conn: return await work(conn)`, except that the work may share its
transaction with others queued at the same moment. `later(work)` is the same for work nobody is waiting on (an audit
row, a card to follow, an open of the App Home): it may wait up to LINGER_SECONDS for company, and goes at once with
the next `run`, so a burst's records travel with the moves being written down instead of each in a transaction.

When a work fails inside a shared transaction, the others' writes are rolled back with it, so each is run again
alone and only the failing one sees its error; when the database itself fails (connecting, committing, a lock held
too long, a connection lost), every work of the batch sees it, as each would have alone. A work must not call `run`
itself (it would wait for its own transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

R = TypeVar("R")
Work = Callable[[AsyncConnection], Awaitable[Any]]

MOST = 100  # works per transaction at most
LINGER_SECONDS = 0.05  # how long work queued by `later` may wait for other work to share its transaction
_DATABASE_FAILURES = (OperationalError, InterfaceError, OSError, TimeoutError)


@dataclass(slots=True)
class _Queued:
    work: Work
    answer: asyncio.Future[Any]
    urgent: bool


class Transactions:
    """The shared writer of one engine (see the module's docstring)."""

    def __init__(self, engine: AsyncEngine, most: int = MOST, linger: float = LINGER_SECONDS) -> None:
        self.engine, self._most, self._linger = engine, most, linger
        self._queued: list[_Queued] = []
        self._writer: asyncio.Task[None] | None = None
        self._urgent = asyncio.Event()

    async def run(self, work: Callable[[AsyncConnection], Awaitable[R]]) -> R:
        """Run `work` in the next transaction; its result, or its exception."""
        return await self._queue(work, urgent=True)

    async def later(self, work: Callable[[AsyncConnection], Awaitable[R]]) -> R:
        """As `run`, for work that may wait (up to the linger) to share a transaction."""
        return await self._queue(work, urgent=False)

    async def _queue(self, work: Callable[[AsyncConnection], Awaitable[R]], urgent: bool) -> R:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        self._queued.append(_Queued(work, answer, urgent))
        if urgent:
            self._urgent.set()
        if self._writer is None or self._writer.done():
            # In a context of its own: the writer serves every caller, so its lines carry none's request id.
            self._writer = loop.create_task(self._drain(), context=contextvars.Context())
        return await answer

    async def _drain(self) -> None:
        while self._queued:
            if not any(item.urgent for item in self._queued):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger):
                        await self._urgent.wait()
            self._urgent.clear()
            batch, self._queued = self._queued[: self._most], self._queued[self._most :]
            if len(batch) == 1:
                await self._alone(batch[0])
                continue
            failed: _Queued | None = None
            try:
                results = []
                async with self.engine.begin() as conn:
                    for item in batch:
                        failed = item
                        results.append(await item.work(conn))
                    failed = None
            except Exception as exc:
                if failed is None or isinstance(exc, _DATABASE_FAILURES):
                    for item in batch:
                        _answer(item, exc=exc)
                else:  # one work's statements failed: the others' writes went with it, so each is run alone
                    for item in batch:
                        await self._alone(item)
                continue
            for item, result in zip(batch, results, strict=True):
                _answer(item, result)

    async def _alone(self, item: _Queued) -> None:
        try:
            async with self.engine.begin() as conn:
                result = await item.work(conn)
        except Exception as exc:
            _answer(item, exc=exc)
        else:
            _answer(item, result)


def _answer(item: _Queued, result: object = None, exc: BaseException | None = None) -> None:
    if item.answer.done():  # its caller stopped waiting
        return
    if exc is not None:
        item.answer.set_exception(exc)
    else:
        item.answer.set_result(result)


_SHARED: weakref.WeakKeyDictionary[AsyncEngine, Transactions] = weakref.WeakKeyDictionary()


def shared(engine: AsyncEngine) -> Transactions:
    """The writer of `engine`, made on first use: every store on an engine shares it."""
    writer = _SHARED.get(engine)
    if writer is None:
        writer = _SHARED[engine] = Transactions(engine)
    return writer
