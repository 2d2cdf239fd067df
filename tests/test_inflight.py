"""Work in flight: a Bolt listener counts from its first line, so a stop signal right after an acknowledgement
waits for the request instead of dropping it."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.util.utils import get_arg_names_of_callable, is_callable_coroutine

from bot.inflight import STARTING, InFlight


async def test_the_drain_waits_for_a_listener_that_has_not_named_its_work_yet() -> None:
    inflight = InFlight()
    claim = asyncio.Event()
    seen: list[tuple[str, int]] = []

    @inflight.listener
    async def on_command(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await claim.wait()  # as when claiming the trigger_id, before the work is named
        async with inflight.work("/reschedule run_a 2h") as job:
            seen.append((job.what, inflight.busy))

    async def ack() -> None:
        return None

    task = asyncio.create_task(on_command(ack=ack, body={}))
    await asyncio.sleep(0)
    assert [job.what for job in inflight.unfinished()] == [STARTING]
    assert await inflight.drain(0.05) is False  # the old drain saw nothing in flight here and let the process go
    claim.set()
    assert await inflight.drain(1.0) is True
    await task
    assert seen == [("/reschedule run_a 2h", 1)]  # the listener's job was taken over, not doubled
    assert inflight.busy == 0


async def test_work_started_in_another_task_is_a_job_of_its_own() -> None:
    inflight = InFlight()
    release = asyncio.Event()
    counts: list[int] = []

    async def background() -> None:
        async with inflight.work("App Home"):
            counts.append(inflight.busy)
            await release.wait()

    @inflight.listener
    async def on_event(body: dict[str, Any]) -> None:
        task = asyncio.create_task(background())  # copies the listener's context, but is another task
        await asyncio.sleep(0)
        release.set()
        await task

    await on_event(body={})
    assert counts == [2] and inflight.busy == 0


def test_bolt_reads_the_listener_s_own_argument_names_through_the_wrapper() -> None:
    async def on_action(ack: Any, body: dict[str, Any], respond: Any) -> None:
        return None

    tracked = InFlight().listener(on_action)
    assert get_arg_names_of_callable(tracked) == ["ack", "body", "respond"] and is_callable_coroutine(tracked)


async def test_a_listener_going_on_after_its_work_has_nothing_to_tell_or_record_at_shutdown() -> None:
    inflight = InFlight()
    told: list[str] = []
    after = asyncio.Event()

    async def tell(text: str) -> None:
        told.append(text)

    @inflight.listener
    async def on_action(body: dict[str, Any]) -> None:
        async with inflight.work("button push_1h", actor="U111", tell=tell) as job:
            job.recorded = True  # its outcome is in the audit trail
        await after.wait()  # something after the work, still under way when the drain ends

    task = asyncio.create_task(on_action(body={}))
    await asyncio.sleep(0)
    assert await inflight.drain(0.05) is False
    [job] = inflight.unfinished()
    assert (job.what, job.actor, job.tell) == (STARTING, None, None)
    await inflight.tell_unfinished(lambda what: f"did not finish: {what}", 1.0)
    assert told == []
    after.set()
    await task
