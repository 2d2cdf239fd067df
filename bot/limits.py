"""Bounds on the work one process does for Trigger.dev look-ups, so a burst cannot spend an environment's rate
limit or the process's memory.

Per process: at most LOOKUPS_AT_ONCE run look-ups in flight (the rest wait their turn), and at most LISTS_AT_ONCE
lists being read (each holds up to a few pages of runs per environment until it is drawn; the rest wait, holding
nothing). Per person: at most PER_PERSON requests in progress; one more is answered at once that their previous
request is still being worked on, rather than queued behind it. These bound this process only (in memory, on
purpose: they protect this process's own resources).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot import metrics

# Look-ups hold at most about two thirds of the client's connections (MAX_CONNECTIONS in bot/trigger/client.py),
# so the moves that follow them find one free. Not much lower: a look-up that waited for its turn starts a loop step
# after the one that gave it up, whose connection sits idle meanwhile, and httpcore 1.0 checks each idle connection's
# socket on every request and hands one to two requests at once, the loser retrying. With 32, a burst of 100 commands
# took 1.5 to 2 pool passes more per command and 0.4 ms more CPU each (bench.run).
LOOKUPS_AT_ONCE = 64
LISTS_AT_ONCE = 4
PER_PERSON = 10

Person = tuple[str, str]  # (workspace, user id)


class Busy(Exception):
    """The person already has as many requests in progress as one person may."""


@dataclass(slots=True)
class Limits:
    lookups: int = LOOKUPS_AT_ONCE
    lists: int = LISTS_AT_ONCE
    per_person: int = PER_PERSON
    _lookups: asyncio.Semaphore = field(init=False)
    _lists: asyncio.Semaphore = field(init=False)
    _people: dict[Person, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lookups = asyncio.Semaphore(self.lookups)
        self._lists = asyncio.Semaphore(self.lists)

    @asynccontextmanager
    async def person(self, person: Person) -> AsyncIterator[None]:
        """One request of `person` in progress; Busy when they have `per_person` already."""
        count = self._people.get(person, 0)
        if count >= self.per_person:
            raise Busy(person[1])
        self._people[person] = count + 1
        try:
            yield
        finally:
            left = self._people[person] - 1
            if left:
                self._people[person] = left
            else:
                del self._people[person]

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[None]:
        async with self._turn(self._lookups, "lookup"):
            yield

    @asynccontextmanager
    async def listing(self) -> AsyncIterator[None]:
        async with self._turn(self._lists, "list"):
            yield

    @asynccontextmanager
    async def _turn(self, semaphore: asyncio.Semaphore, kind: str) -> AsyncIterator[None]:
        if semaphore.locked():
            metrics.waiting_for_turn(kind, 1)
            try:
                await semaphore.acquire()
            finally:
                metrics.waiting_for_turn(kind, -1)
        else:
            await semaphore.acquire()
        try:
            yield
        finally:
            semaphore.release()
