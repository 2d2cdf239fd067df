"""The request id: one per Slack request and per scheduled job, so every line about one piece of work can be found.

It lives in a contextvar: set where the work starts (bot/server.py for each Slack request, bot/digest.py for each
digest), it follows the work into the tasks started for it (asyncio copies the context), onto every log line
(bot/logs.py), the Trigger.dev client's lines and the audit row (bot/rescheduler.py). It is never sent to Slack or
Trigger.dev.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def new(prefix: str = "") -> str:
    """A fresh id: 16 hex digits, after `prefix` (e.g. "digest-")."""
    return prefix + uuid.uuid4().hex[:16]


def current() -> str | None:
    """The id of the work at hand, or None outside any."""
    return REQUEST_ID.get()


@contextmanager
def bound(request_id: str) -> Iterator[str]:
    """Run the block (and every task it starts) under `request_id`."""
    token = REQUEST_ID.set(request_id)
    try:
        yield request_id
    finally:
        REQUEST_ID.reset(token)
