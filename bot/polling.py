"""The loop a process's background jobs share (late DMs, moves left in flight, message corrections, approval expiry,
confirmed sets): a tick every few seconds until stopped; a tick that fails (the database is down, say) is logged
and the next one tried, each tick's lines and calls under a request id of their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from bot import request_id

log = logging.getLogger(__name__)

T = TypeVar("T")


async def every(
    seconds: float, stopping: asyncio.Event, tick: Callable[[], Awaitable[object]], *, job: str, ids: str
) -> None:
    """Run `tick` every `seconds` until `stopping` is set (a tick under way finishes first); `job` names the job in
    the log line of a failed tick, `ids` prefixes each tick's request id."""
    while not stopping.is_set():
        try:
            with request_id.bound(request_id.new(ids)):
                await tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: this tick failed (%s); trying again in %ss", job, type(exc).__name__, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)


async def give_back(claimed: Iterable[T], release: Callable[[T], Awaitable[None]], what: Callable[[T], str]) -> None:
    """At shutdown, once a job's loop is stopped: each row it had claimed is due again at once for the next process,
    rather than when its lease runs out. A release names the lease token, so a row the job already settled (deleted,
    or its lease given back) is left as it is. One the database does not take stays held (logged, `what` naming it)."""
    for item in claimed:
        try:
            await release(item)
        except Exception as exc:
            log.warning("%s stays held until its lease runs out (%s)", what(item), type(exc).__name__)
