"""`respond()`: posting to a request's response_url through the bot's one aiohttp session.

Bolt's AsyncRespond opens a new aiohttp session (and connection) for every message it posts to a response_url;
under a burst that is a large share of the bot's CPU. `Respond` posts the same messages with slack_sdk's
AsyncWebhookClient through the session the Web API client already holds. `install` gives every request that has a
response_url one of these as its `respond`, so listeners receive it where Bolt would give its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

TIMEOUT_SECONDS = 10


class Respond:
    """Posts messages to one response_url, as Bolt's `respond` does, through `session` (None: a session of its own)."""

    def __init__(self, *, response_url: str, session: aiohttp.ClientSession | None) -> None:
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
        message: dict[str, Any] = {"text": text, "blocks": blocks, "response_type": response_type}
        message |= {"replace_original": replace_original, "delete_original": delete_original, **more}
        client = AsyncWebhookClient(url=self.response_url, session=self.session, timeout=TIMEOUT_SECONDS)
        return await client.send_dict({key: value for key, value in message.items() if value is not None})


def install(app: AsyncApp) -> None:
    """Give every listener a `respond` that uses the Web API client's session."""

    @app.middleware
    async def respond_through_the_shared_session(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        if req.context.response_url:
            req.context["respond"] = Respond(response_url=req.context.response_url, session=app.client.session)
        return await next()
