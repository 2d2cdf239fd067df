"""The per-process and per-person bounds on look-ups (bot/limits.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.limits import LOOKUPS_AT_ONCE, Busy, Limits
from bot.trigger.client import MAX_CONNECTIONS


async def test_a_person_over_their_cap_is_told_at_once_and_others_are_not() -> None:
    limits = Limits(per_person=2)
    async with limits.person(("T1", "U1")), limits.person(("T1", "U1")):
        with pytest.raises(Busy):
            async with limits.person(("T1", "U1")):
                pass
        async with limits.person(("T1", "U2")):  # someone else is not held up
            pass
    async with limits.person(("T1", "U1")):  # their slots came back
        pass


async def test_lookups_beyond_the_bound_wait_their_turn() -> None:
    limits = Limits(lookups=3)
    running = 0
    most = 0
    release = asyncio.Event()

    async def one() -> None:
        nonlocal running, most
        async with limits.lookup():
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(one()) for _ in range(10)]
    while running < 3:
        await asyncio.sleep(0)
    for _ in range(10):  # the others get no turn while three are held
        await asyncio.sleep(0)
    assert running == 3
    release.set()
    await asyncio.gather(*tasks)
    assert most == 3 and running == 0


def test_lookups_leave_the_moves_that_follow_them_a_third_of_the_connections() -> None:
    assert LOOKUPS_AT_ONCE <= MAX_CONNECTIONS * 2 // 3
