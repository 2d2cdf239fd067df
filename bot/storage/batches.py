"""Writes in batches, so a burst of work costs a few transactions, not one per item: items that arrive while a batch
is being written go together in the next one.

- `BatchWriter`: off the caller's path. Items handed over are written by a background task; a failure never reaches
  the caller (the store says what was lost). At shutdown `close` waits (bounded) for what is queued; what is still
  unwritten then is given to `lost`, and nothing is taken after it. Used by the cards that follow their run
  (follow_ups.py), the messages kept for later (outbox.py) and the opens of the App Home (home_views.py).
- `BatchedCalls`: on the caller's path, for a write that must be done before the caller goes on (a move written down
  before its request: intents.py) or a read it needs (who opened their App Home lately: home_views.py). Each caller
  waits for the transaction that carries its item.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BatchWriter(Generic[T]):
    """`add` an item; `write(batch)` stores a batch, `failed(batch, exc)` hears of a batch the database refused,
    `lost(items)` of items taken but never written (added after `close`, or still unwritten when it ran out)."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        failed: Callable[[Sequence[T], Exception], None],
        lost: Callable[[Sequence[T]], None],
    ) -> None:
        self._write, self._failed, self._lost = write, failed, lost
        self._queued: list[T] = []
        self._writing: list[T] = []  # the batch being written now
        self._closed = False
        self._writer: asyncio.Task[None] | None = None

    def add(self, item: T) -> None:
        if self._closed:  # shutting down: the engine is about to close
            self._lost([item])
            return
        self._queued.append(item)
        if self._writer is None or self._writer.done():
            # In a context of its own: the writer serves every request, so its lines carry none's request id.
            self._writer = asyncio.get_running_loop().create_task(self._drain(), context=contextvars.Context())

    async def _drain(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            self._writing = batch
            try:
                await self._write(batch)
            except Exception as exc:
                self._failed(batch, exc)
            self._writing = []

    async def close(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for what is queued; then nothing more is taken."""
        self._closed = True
        writer = self._writer
        if writer is None or writer.done():
            return
        _, pending = await asyncio.wait({writer}, timeout=timeout)
        if pending:
            abandoned = [*self._writing, *self._queued]
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self._writing, self._queued = [], []
            self._lost(abandoned)


class BatchedCalls(Generic[T, R]):
    """Writes that callers wait for, from many callers at once, in as few transactions as it takes: `submit` an item
    and wait for its result; `write(batch)` stores a batch in one transaction and answers each item's result, in
    order (at most `most` items per batch). Items submitted while a batch is being written go together in the next
    one, so a burst of N callers costs a few transactions, not N, and a lone caller waits for one transaction as
    before. When `write` fails, every caller in that batch gets its exception."""

    def __init__(self, write: Callable[[list[T]], Awaitable[Sequence[R]]], most: int) -> None:
        self._write, self._most = write, most
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        self._queued.append((item, answer))
        if self._writer is None or self._writer.done():
            # In a context of its own: the writer serves every caller, so its lines carry none's request id.
            self._writer = loop.create_task(self._drain(), context=contextvars.Context())
        return await answer

    async def _drain(self) -> None:
        while self._queued:
            batch, self._queued = self._queued[: self._most], self._queued[self._most :]
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for (_, answer), result in zip(batch, results, strict=True):
                if not answer.done():  # its caller may have stopped waiting
                    answer.set_result(result)
