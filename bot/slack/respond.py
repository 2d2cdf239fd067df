"""`respond()`: posting to a request's response_url through the bot's one aiohttp session.

Bolt's AsyncRespond opens a new aiohttp session (and connection) for every message it posts to a response_url;
under a burst that is a large share of the bot's CPU. `Respond` posts the same messages with slack_sdk's
AsyncWebhookClient through the session the Web API client already holds. A listener makes its own with
`respond_for(context)` from what Bolt's context offers (the request's response_url and the Web API client), instead
of taking Bolt's `respond`.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

TIMEOUT_SECONDS = 10


class Respond:
    """Posts messages to one response_url, as Bolt's `respond` does, through `session` (None: a session of its own).
    Without a response_url (a click in the App Home, say) it raises ValueError, as Bolt's does."""

    def __init__(self, *, response_url: str | None, session: aiohttp.ClientSession | None) -> None:
        self.response_url = response_url
        self.session = session

    async def __call__(
        self,
        text: str = "",
        blocks: list[dict[str, Any]] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        **more: Any,
    ) -> WebhookResponse:
        if not self.response_url:
            raise ValueError("respond is unsupported here as there is no response_url")
        message: dict[str, Any] = {"text": text, "blocks": blocks, "response_type": response_type}
        message |= {"replace_original": replace_original, "delete_original": delete_original, **more}
        client = AsyncWebhookClient(url=self.response_url, session=self.session, timeout=TIMEOUT_SECONDS)
        return await client.send_dict({key: value for key, value in message.items() if value is not None})


def respond_for(context: AsyncBoltContext) -> Respond:
    """The request's `respond`, posting through the Web API client's session."""
    return Respond(response_url=context.response_url, session=context.client.session)
