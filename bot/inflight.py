"""Work still running after Slack got its acknowledgement, so shutdown can wait for it.

Bolt runs a listener's remaining work in a task nobody awaits; without this, a deploy would close the HTTP
clients under a reschedule in flight and lose its answer and its audit record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


class InFlight:
    """Counts handlers at work; `drain` waits (bounded) until none is."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    @property
    def busy(self) -> int:
        return self._count

    async def drain(self, timeout: float) -> bool:
        """True when everything finished within `timeout` seconds."""
        if self._count:
            log.info("waiting for %d action(s) in flight before shutting down", self._count)
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("shutting down with %d action(s) still in flight", self._count)
            return False
        return True
