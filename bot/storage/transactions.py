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

A work is a plain function of a synchronous `Connection`: the transaction runs whole, with every work in it, in one
call. On a SQLite file that call is made on the event loop, on a synchronous engine of the same file whose connection
does not wait for a write lock (`db.sqlite_writer`): a transaction of a burst's writes is local file work that took 0.9
ms at the median in the benchmark's burst, 5 ms at most. It used to be made in a worker thread, which cost more than it
saved: the thread and the event loop took the GIL and the processor from each other around every statement (in the
benchmark's burst of 100 commands, about 1,800 context switches against about 1,000 now), and the bot spent about 5 %
more CPU per command (three runs of `python -m bench.compare`, 16 rounds each, against the code with the thread:
geometric means of each round's ratio 0.93×, 0.92× and 0.97×, on a machine whose speed drifts by a tenth from one burst
to the next). When another connection (another process) holds the file's write lock, SQLite says so at once, the
transaction is rolled back, and it runs again in a worker thread on a connection that waits for the lock (up to
db.BUSY_TIMEOUT): the event loop never waits for it. A commit that fills SQLite's write-ahead log to its automatic
checkpoint (every 1000 pages) also copies the log into the database file, on the event loop too. On PostgreSQL (and an
in-memory SQLite) the call is `run_sync` on the asyncio engine's connection. The works are the same code either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import locked, sqlite_writer

R = TypeVar("R")
Work = Callable[[Connection], Any]

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
        self._inline = sqlite_writer(engine, wait=0)  # a SQLite file's: on the event loop, never waiting for a lock
        self._threaded = sqlite_writer(engine)  # the same file's, in a worker thread when the lock is held
        self._queued: list[_Queued] = []
        self._writer: asyncio.Task[None] | None = None
        self._urgent = asyncio.Event()

    @property
    def sync_engine(self) -> Engine:
        """The engine whose connections run the transactions (its events: begin, commit), unless another
        process holds a SQLite file's write lock (then its transactions wait for it on a second engine)."""
        return self._inline if self._inline is not None else self.engine.sync_engine

    async def run(self, work: Callable[[Connection], R]) -> R:
        """Run `work` in the next transaction; its result, or its exception."""
        return await self._queue(work, urgent=True)

    async def later(self, work: Callable[[Connection], R]) -> R:
        """As `run`, for work that may wait (up to the linger) to share a transaction."""
        return await self._queue(work, urgent=False)

    async def aclose(self) -> None:
        """Close the idle connections of the writer's engines (a SQLite file's), as disposing of the asyncio engine
        closes its own; one still in use is closed when its transaction ends."""
        for writer in (self._inline, self._threaded):
            if writer is not None:
                await asyncio.to_thread(writer.dispose)

    async def _queue(self, work: Callable[[Connection], R], urgent: bool) -> R:
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
            results: list[Any] = []
            try:
                await self._transaction([item.work for item in batch], results)
            except Exception as exc:
                work_failed = len(results) < len(batch)  # else the commit did
                if not work_failed or isinstance(exc, _DATABASE_FAILURES):
                    for item in batch:
                        _answer(item, exc=exc)
                else:  # one work's statements failed: the others' writes went with it, so each is run alone
                    for item in batch:
                        await self._alone(item)
                continue
            for item, result in zip(batch, results, strict=True):
                _answer(item, result)

    async def _alone(self, item: _Queued) -> None:
        results: list[Any] = []
        try:
            await self._transaction([item.work], results)
        except Exception as exc:
            _answer(item, exc=exc)
        else:
            _answer(item, results[0])

    async def _transaction(self, works: list[Work], results: list[Any]) -> None:
        """Run `works` in one transaction, appending each one's result to `results` as it is done (so a failure
        tells which work it came from: the one after the last result)."""
        inline, threaded = self._inline, self._threaded
        if inline is None or threaded is None:
            async with self.engine.begin() as conn:
                await conn.run_sync(_each, works, results)
            return

        def whole(writer: Engine) -> None:
            with writer.begin() as conn:
                _each(conn, works, results)

        try:
            whole(inline)
        except OperationalError as exc:
            if not locked(exc):
                raise
            results.clear()  # rolled back: all again, waiting for the lock away from the event loop
            await asyncio.to_thread(whole, threaded)


def _each(conn: Connection, works: list[Work], results: list[Any]) -> None:
    for work in works:
        results.append(work(conn))


def _answer(item: _Queued, result: object = None, exc: BaseException | None = None) -> None:
    if item.answer.done():  # its caller stopped waiting
        return
    if exc is not None:
        item.answer.set_exception(exc)
    else:
        item.answer.set_result(result)


_SHARED: weakref.WeakKeyDictionary[AsyncEngine, Transactions] = weakref.WeakKeyDictionary()


async def close_shared(engine: AsyncEngine) -> None:
    """Before `engine` is disposed of: close its writer's connections, if it has a writer."""
    writer = _SHARED.pop(engine, None)
    if writer is not None:
        await writer.aclose()


def shared(engine: AsyncEngine) -> Transactions:
    """The writer of `engine`, made on first use: every store on an engine shares it."""
    writer = _SHARED.get(engine)
    if writer is None:
        writer = _SHARED[engine] = Transactions(engine)
    return writer
