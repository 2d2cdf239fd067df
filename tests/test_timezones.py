"""Each person's Slack timezone (bot/slack/timezones.py): read once and kept, UTC (and said so) when it cannot be
read, asked again soon after a failure, never waited on for long."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any, cast
from zoneinfo import ZoneInfo

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.timezones import KEEP_FAILED_SECONDS, KEEP_SECONDS, Timezones


class Profiles:
    """Stands in for the Web API client's users.info: answers from `zones`, counts calls, can fail or stall."""

    def __init__(self, zones: dict[str, str]) -> None:
        self.zones = zones
        self.calls: list[str] = []
        self.failing = False
        self.stall = False

    async def users_info(self, *, user: str) -> dict[str, Any]:
        self.calls.append(user)
        if self.stall:
            await asyncio.sleep(3600)
        if self.failing or user not in self.zones:
            raise RuntimeError("user_not_found")
        return {"ok": True, "user": {"id": user, "tz": self.zones[user]}}


def client(profiles: Profiles) -> AsyncWebClient:
    return cast(AsyncWebClient, profiles)


async def test_a_zone_is_read_once_and_kept_for_an_hour() -> None:
    now = [0.0]
    profiles = Profiles({"U1": "Asia/Kolkata"})
    zones = Timezones(clock=lambda: now[0])
    first = await zones.of(client(profiles), "U1", "T1")
    assert first.known and first.zone == ZoneInfo("Asia/Kolkata") and first.name == "Asia/Kolkata"
    now[0] = KEEP_SECONDS - 1
    assert await zones.of(client(profiles), "U1", "T1") == first
    assert profiles.calls == ["U1"]
    now[0] = KEEP_SECONDS + 1
    await zones.of(client(profiles), "U1", "T1")
    assert profiles.calls == ["U1", "U1"]


async def test_an_unreadable_profile_is_utc_not_known_and_asked_again_soon() -> None:
    now = [0.0]
    profiles = Profiles({"U1": "Europe/Berlin"})
    profiles.failing = True
    zones = Timezones(clock=lambda: now[0])
    reader = await zones.of(client(profiles), "U1")
    assert reader.zone is UTC and not reader.known
    await zones.of(client(profiles), "U1")
    assert len(profiles.calls) == 1  # a burst does not ask Slack again and again
    profiles.failing = False
    now[0] = KEEP_FAILED_SECONDS + 1
    assert (await zones.of(client(profiles), "U1")).known


async def test_an_unknown_zone_name_is_utc_not_known() -> None:
    reader = await Timezones().of(client(Profiles({"U1": "Mars/Olympus_Mons"})), "U1")
    assert reader.zone is UTC and not reader.known


async def test_a_slow_slack_is_not_waited_on() -> None:
    profiles = Profiles({"U1": "Europe/Berlin"})
    profiles.stall = True
    reader = await Timezones(timeout=0.01).of(client(profiles), "U1")
    assert reader.zone is UTC and not reader.known


async def test_a_burst_of_one_persons_moves_asks_slack_once() -> None:
    profiles = Profiles({"U1": "Europe/Berlin", "U2": "America/New_York"})
    zones = Timezones()
    readers = await asyncio.gather(*(zones.of(client(profiles), user, "T1") for user in ["U1", "U2"] * 5))
    assert [reader.name for reader in readers] == ["Europe/Berlin", "America/New_York"] * 5
    assert sorted(profiles.calls) == ["U1", "U2"]  # asked once per person while the first answer was awaited
