"""AUDIT_CHANNEL: one line per recorded attempt, posted to a channel the team watches."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.audit import AuditRecord
from bot.render.history import line
from bot.storage.audit import Listener

log = logging.getLogger(__name__)


def poster(client: AsyncWebClient, channel: str, titles: Mapping[str, str] | None = None) -> Listener:
    """An audit listener that posts each record's line to `channel` (failures are logged, never raised);
    `titles`: the configured environments' names → titles, so lines name them as everything else does."""

    async def post(record: AuditRecord) -> None:
        text = line(record, mention=False, titles=titles)
        try:
            await client.chat_postMessage(channel=channel, text=text, unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            log.warning("could not post to AUDIT_CHANNEL %s: %s", channel, exc.response.get("error"))

    return post
