"""The digest of runs coming due: the schedule's instants (DST too), the rendering, the claim that makes one
process post each slot, and the loop with an injected clock and sleep."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot import messages
from bot.digest import Digest
from bot.domain.digest import latest_slot, next_slot, parse_schedule, zone
from bot.domain.environments import environment_for_key
from bot.domain.runs import Run
from bot.inflight import InFlight
from bot.render.controls import Controls
from bot.render.digest import digest
from bot.render.ids import Button
from bot.render.run_list import LIST_BUTTONS
from bot.storage import db
from bot.storage.digest_posts import DigestClaims

PARIS = zone("Europe/Paris")
NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # 14:00 in Paris (CEST, UTC+2)


# The schedule ------------------------------------------------------------------------------------------------------


def test_a_schedule_is_times_of_day_sorted_without_repeats() -> None:
    assert parse_schedule(" 17:30,09:00, 9:00,") == (time(9, 0), time(17, 30))
    assert parse_schedule("") == ()
    for bad in ("9", "25:00", "09:60", "09:5", "nine", "09:00:00"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        zone("Mars/Olympus")


def test_the_latest_and_next_slots_are_local_times_as_utc_instants() -> None:
    times = parse_schedule("09:00,17:30")
    assert latest_slot(times, PARIS, NOON) == datetime(2026, 6, 10, 7, 0, tzinfo=UTC)
    assert next_slot(times, PARIS, NOON) == datetime(2026, 6, 10, 15, 30, tzinfo=UTC)
    early = datetime(2026, 6, 10, 5, 0, tzinfo=UTC)  # 07:00 in Paris: yesterday's 17:30 was the last
    assert latest_slot(times, PARIS, early) == datetime(2026, 6, 9, 15, 30, tzinfo=UTC)
    at = datetime(2026, 6, 10, 7, 0, tzinfo=UTC)  # exactly 09:00: that slot is due, the next is 17:30
    assert latest_slot(times, PARIS, at) == at
    assert next_slot(times, PARIS, at) == datetime(2026, 6, 10, 15, 30, tzinfo=UTC)
    assert latest_slot((), PARIS, NOON) is None and next_slot((), PARIS, NOON) is None


def test_across_daylight_saving_changes_each_local_time_happens_once_a_day() -> None:
    nine = (time(9, 0),)
    # Paris goes to summer time on 29 March 2026: 09:00 is 08:00 UTC before, 07:00 UTC after.
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert next_slot(nine, PARIS, before) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert latest_slot(nine, PARIS, before) == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    # 02:30 does not exist that night: taken as the moment after the shift (03:30 CEST, 01:30 UTC).
    skipped = (time(2, 30),)
    assert next_slot(skipped, PARIS, before) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # 02:30 happens twice on 25 October 2026: posted once, at the first (CEST, 00:30 UTC).
    twice = (time(2, 30),)
    night = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    first = next_slot(twice, PARIS, night)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert next_slot(twice, PARIS, first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


# The rendering -----------------------------------------------------------------------------------------------------

PROD = environment_for_key("tr_prod_abcdefghijklmnop")
STAGING = environment_for_key("tr_stg_abcdefghijklmnop")


def run(run_id: str, task: str, hours: float) -> Run:
    run_id = "run_cm9k2x7ab000108l5ghf2" + run_id.removeprefix("run_").rjust(4, "0")
    until = (NOON + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
    return Run.from_api({"id": run_id, "taskIdentifier": task, "status": "DELAYED", "delayedUntil": until})


def controls(env: object) -> Controls:
    return Controls(now=NOON, confirm=False, buttons=LIST_BUTTONS)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if block["type"] == "section":
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out.append(block["elements"][0]["text"])
    return out


def test_the_digest_groups_runs_by_environment_then_task_with_a_reschedule_button_each() -> None:
    entries = [
        (run("run_a1", "send-reminder", 1), PROD),
        (run("run_b1", "sync", 2), STAGING),
        (run("run_a2", "cleanup", 3), PROD),
        (run("run_a3", "send-reminder", 4), PROD),
    ]
    rendered = digest(entries, NOON, window="12h", controls=controls)
    lines = texts(rendered.blocks)
    assert lines[0] == messages.digest_head(4, "12h")
    headings = [line for line in lines if line.startswith("*") and "\n" not in line]
    assert headings == ["*Prod*", "*send-reminder* · 2 runs", "*cleanup* · 1 run", "*Staging*", "*sync* · 1 run"]
    buttons = [
        (json.loads(element["value"])["r"], element["action_id"])
        for block in rendered.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    expected = [run(r, "", 0).id for r in ("run_a1", "run_a3", "run_a2", "run_b1")]
    assert buttons == [(r, Button.RESCHEDULE.action_id) for r in expected]
    assert rendered.text == messages.digest_fallback(4, "12h")


def test_an_empty_digest_is_one_line_and_a_long_one_fits_in_fifty_blocks() -> None:
    empty = digest([], NOON, window="12h", controls=controls)
    assert texts(empty.blocks) == [messages.digest_empty("12h")]
    many = [(run(f"run_{n:03d}", f"task-{n % 7}", n / 10), PROD if n % 2 else STAGING) for n in range(100)]
    rendered = digest(many, NOON, window="12h", controls=controls)
    assert len(rendered.blocks) <= 50
    shown = sum(1 for block in rendered.blocks if block["type"] == "actions")
    assert texts(rendered.blocks)[-1] == messages.digest_more(100 - shown)


# The claim ---------------------------------------------------------------------------------------------------------


async def check_one_claim_per_slot(url: str) -> None:
    engines = [db.create_engine(url) for _ in range(2)]
    try:
        await db.migrate(engines[0])
        one, other = DigestClaims(engines[0]), DigestClaims(engines[1])
        slot = datetime(2026, 6, 10, 7, 0, tzinfo=UTC)
        tries = [claims.claim(slot, f"p{n}", NOON) for n, claims in enumerate([one, other] * 3)]
        results = await asyncio.gather(*tries)
        assert sorted(results) == [False] * 5 + [True]
        assert await other.claim(slot + timedelta(hours=8), "p1", NOON) is True  # the next slot is a new claim
        assert await one.claim(slot + timedelta(hours=8), "p0", NOON) is False
    finally:
        for engine in engines:
            await engine.dispose()


async def test_one_process_claims_a_slot_on_sqlite(tmp_path: Path) -> None:
    await check_one_claim_per_slot(f"sqlite:///{tmp_path}/digest.sqlite3")


async def test_one_process_claims_a_slot_on_postgresql(postgres: str) -> None:
    await check_one_claim_per_slot(postgres)


# The loop ----------------------------------------------------------------------------------------------------------


class Stop(Exception):
    pass


class CountingDigest(Digest):
    """The loop with the listing and posting replaced by a count of posts."""

    async def post(self) -> None:
        self.posts.append(self.clock())  # type: ignore[attr-defined]


def loop(claims: DigestClaims, start: datetime, sleeps: int, window: timedelta = timedelta(hours=12)) -> Any:
    now = [start]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        if len(slept) == sleeps:
            raise Stop
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds + 1)

    digest_loop = CountingDigest(
        deps=cast(Any, SimpleNamespace(inflight=InFlight())),  # posting is counted in flight, for the drain
        client=cast(Any, None),
        claims=claims,
        channel="C0DIGEST",
        times=parse_schedule("09:00,17:30"),
        tz=PARIS,
        window=window,
        clock=lambda: now[0],
        sleep=sleep,
    )
    digest_loop.posts = []  # type: ignore[attr-defined]
    return digest_loop, slept


async def test_the_loop_posts_a_missed_slot_once_then_each_slot_as_it_comes(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path}/digest.sqlite3")
    try:
        await db.migrate(engine)
        claims = DigestClaims(engine)
        first, slept = loop(claims, NOON, sleeps=2)  # 14:00 Paris: the 09:00 digest was missed
        with pytest.raises(Stop):
            await first.run()
        evening, morning = datetime(2026, 6, 10, 15, 30, 1, tzinfo=UTC), datetime(2026, 6, 11, 7, 0, 1, tzinfo=UTC)
        assert first.posts == [NOON, evening, morning]
        assert slept[0] == 3.5 * 3600  # from 14:00 until 17:30 Paris
        # A second process started at the same moment finds every slot claimed: it posts nothing.
        second, _ = loop(claims, NOON, sleeps=2)
        with pytest.raises(Stop):
            await second.run()
        assert second.posts == []
        # A slot older than the window is not posted late.
        thursday = datetime(2026, 6, 12, 12, 0, tzinfo=UTC)
        late, _ = loop(DigestClaims(engine), thursday, sleeps=0, window=timedelta(hours=2))
        with pytest.raises(Stop):
            await late.run()
        assert late.posts == []
    finally:
        await engine.dispose()
