"""Events API deliveries: Slack retries an event it thinks failed (no 2xx within 3 s, a connection error), with
`X-Slack-Retry-Num` and the same `event_id`, possibly to another process. The first process to claim the
event_id in the replay store (the database every process shares) handles it; every other copy is logged and
dropped. Claimed after the acknowledgement, so the database write never delays it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bot.storage.replays import ReplayGuard

log = logging.getLogger(__name__)

KEY_PREFIX = "event:"  # event ids and trigger_ids share the replay table; the prefix keeps them apart


def retry_number(headers: Mapping[str, str | Sequence[str]]) -> str:
    """The delivery's X-Slack-Retry-Num ("" for a first delivery), for the log."""
    value = headers.get("x-slack-retry-num") or ""
    text = value if isinstance(value, str) else next(iter(value), "")
    return text[:8] if text.isdigit() else ""


async def first_delivery(
    replays: ReplayGuard, body: dict[str, Any], headers: Mapping[str, str | Sequence[str]]
) -> bool:
    """False when this event_id was handled before (by this process or another sharing the database)."""
    event_id = body.get("event_id")
    event = body.get("event")
    kind = str(event.get("type"))[:40] if isinstance(event, dict) else "event"
    if not isinstance(event_id, str) or not event_id:
        return True
    if await replays.first_time(KEY_PREFIX + event_id):
        return True
    retry = retry_number(headers)
    log.info(
        "ignored a redelivered %s event %r%s (already handled)",
        kind,
        event_id[:40],
        f" (X-Slack-Retry-Num {retry})" if retry else "",
    )
    return False
