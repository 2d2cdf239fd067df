"""Slack user groups for access rules: members (usergroups.users.list) and handles, cached briefly."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access_check import GroupLookupFailed
from bot.slack.replies import slack_error


class SlackGroups:
    """Caches each answer for `ttl` seconds, so a busy channel does not call Slack on every click."""

    def __init__(self, client: AsyncWebClient, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._handles: dict[str, str] = {}
        self._handles_at: float | None = None

    async def members(self, group_id: str) -> frozenset[str]:
        cached = self._members.get(group_id)
        if cached is not None and self.clock() - cached[0] < self.ttl:
            return cached[1]
        try:
            response = await self.client.usergroups_users_list(usergroup=group_id)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            raise GroupLookupFailed(slack_error(exc)) from exc
        users = frozenset(str(user) for user in response.get("users") or [])
        self._members[group_id] = (self.clock(), users)
        return users

    async def handle(self, group_id: str) -> str | None:
        if self._handles_at is None or self.clock() - self._handles_at >= self.ttl:
            try:
                response = await self.client.usergroups_list()
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                raise GroupLookupFailed(slack_error(exc)) from exc
            self._handles = {
                str(group.get("id")): str(group.get("handle"))
                for group in response.get("usergroups") or []
                if group.get("id") and group.get("handle")
            }
            self._handles_at = self.clock()
        return self._handles.get(group_id)
