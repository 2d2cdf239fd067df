"""Builds the Bolt AsyncApp: our own AsyncWebClient (base URL, retry handlers), the error handler, surfaces."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import buttons, command, modal, shortcut
from bot.slack.identity import Identity
from bot.slack.replies import unexpected_text
from bot.slack.services import Services

log = logging.getLogger(__name__)


def web_client(token: str, base_url: str) -> AsyncWebClient:
    """The bot's Slack Web API client; retries connection errors and 429s (honouring Retry-After)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(client: AsyncWebClient, signing_secret: str | None, services: Services, identity: Identity) -> AsyncApp:
    """The Bolt app with every surface registered. `signing_secret` None means Socket Mode (no signatures)."""
    app = AsyncApp(
        client=client,
        authorize=identity.authorizer(),
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], respond: Any) -> BoltResponse | None:
        text = unexpected_text(error, str(body.get("type") or body.get("command") or "request"))
        if body.get("response_url"):
            try:
                await respond(text=text, response_type="ephemeral", replace_original=False)
            except Exception:
                log.warning("could not tell the user about the error")
        return None

    for surface in (command, buttons, modal, shortcut):
        surface.register(app, services)
    return app
