"""Builds the running bot from Settings: the one place objects are constructed and connected."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from slack_bolt.async_app import AsyncApp

from bot.actions import Desk, Target
from bot.domain.environments import environment_for_key
from bot.settings import Settings
from bot.slack.app import build_app, web_client
from bot.slack.services import Services
from bot.trigger.client import TriggerClient, new_http_client


@dataclass(slots=True)
class Bot:
    """Everything a running process holds; `aclose` releases it."""

    app: AsyncApp
    http: httpx.AsyncClient
    services: Services

    async def aclose(self) -> None:
        await self.http.aclose()


def build(settings: Settings, *, socket_mode: bool = False, transport: httpx.AsyncBaseTransport | None = None) -> Bot:
    """Construct the bot; `transport` lets tests put Trigger.dev behind an httpx.MockTransport."""
    assert settings.slack_bot_token is not None and settings.trigger_secret_key is not None
    http = new_http_client(str(settings.trigger_api_url), transport)
    key = settings.trigger_secret_key
    targets = [Target(env=environment_for_key(key.get_secret_value()), client=TriggerClient(http=http, key=key))]
    desk = Desk(targets=targets, deadline_seconds=settings.trigger_deadline)
    services = Services(
        desk=desk,
        dashboard_base=str(settings.trigger_dashboard_url),
        max_delay=settings.max_delay,
        confirm_environments=settings.confirm_environments,
        dm_confirmations=settings.dm_confirmations,
    )
    signing = None if socket_mode or settings.slack_signing_secret is None else settings.slack_signing_secret
    client = web_client(settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url))
    app = build_app(client, signing.get_secret_value() if signing else None, services)
    return Bot(app=app, http=http, services=services)
