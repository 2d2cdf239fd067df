"""Many runs in one move, without the network: the parser, the fixed sets, the pacer and the summary's limits."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from bot import messages
from bot.bulk import BulkMover, Pacer
from bot.domain.audit import AuditRecord, Outcome
from bot.domain.bulk import BulkItem, BulkOutcome
from bot.domain.environments import environment_for_key
from bot.domain.runs import Run
from bot.render.bulk import bulk_dm, bulk_prompt, bulk_summary
from bot.render.ids import Button, ForeignPayload, parse_action, parse_bulk_action
from bot.render.mrkdwn import date_token
from bot.rescheduler import Actor, EnvironmentClient, Rescheduler
from bot.slack.command import BulkMove, Move, Reply, Show, parse
from bot.storage import db
from bot.storage.audit import AuditLog
from bot.storage.bulk_sets import BulkSets
from bot.trigger.client import RateLimitState, TriggerClient
from bot.trigger.errors import RateLimited
from tests.test_command_parse import NOW, OTHER_RUN, RUN, SERVICES, read

THIRD = "run_abcdefghij0123456789xyz"
LINK = f"https://cloud.trigger.dev/orgs/acme/projects/v3/proj_x/runs/{OTHER_RUN}"


# --- the parser ---------------------------------------------------------------------------------------------------


def test_several_ids_then_a_time_are_one_set_in_the_order_typed() -> None:
    intent = read(f"{RUN} {OTHER_RUN} {THIRD} 2h")
    assert intent == BulkMove((RUN, OTHER_RUN, THIRD), NOW + timedelta(hours=2), None)


def test_links_and_ids_mix_and_env_is_still_allowed() -> None:
    intent = read(f"{RUN} {LINK} 1h 30m --env staging")
    assert intent == BulkMove((RUN, OTHER_RUN), NOW + timedelta(hours=1, minutes=30), "staging")


def test_duplicates_are_collapsed_and_one_left_is_a_single_move() -> None:
    assert read(f"{RUN} {OTHER_RUN} {RUN} 2h") == BulkMove((RUN, OTHER_RUN), NOW + timedelta(hours=2), None)
    assert read(f"{RUN} {LINK.replace(OTHER_RUN, RUN)} 2h") == Move(RUN, NOW + timedelta(hours=2), None)


def test_a_single_run_keeps_todays_behaviour() -> None:
    assert read(f"{RUN} 2h") == Move(RUN, NOW + timedelta(hours=2), None)
    assert read(RUN) == Show(RUN, None)


def test_more_than_the_limit_is_refused_kindly() -> None:
    small = replace(SERVICES, bulk_limit=3)
    ids = [f"run_{n:024d}" for n in range(4)]
    intent = parse(" ".join([*ids, "2h"]), NOW, small)
    assert isinstance(intent, Reply) and intent.invalid
    assert intent.text == messages.bulk_too_many(4, 3)
    assert isinstance(parse(" ".join([*ids[:3], "2h"]), NOW, small), BulkMove)


def test_several_runs_without_a_time_ask_for_one() -> None:
    intent = read(f"{RUN} {OTHER_RUN}")
    assert isinstance(intent, Reply) and messages.BULK_NEEDS_TIME in intent.text


def test_an_unreadable_time_after_several_runs_is_the_usual_problem() -> None:
    intent = read(f"{RUN} {OTHER_RUN} soonish")
    assert isinstance(intent, Reply) and intent.invalid and "soonish" in intent.text


# --- the sets awaiting Confirm ------------------------------------------------------------------------------------


async def test_a_set_is_fixed_taken_once_and_expires() -> None:
    clock = [1000.0]
    sets = BulkSets(ttl=60, clock=lambda: clock[0])
    bulk = await sets.add("U1", "T1", [(RUN, "prod"), (OTHER_RUN, "")], NOW)
    assert await sets.get(bulk.key) == bulk and bulk.runs == ((RUN, "prod"), (OTHER_RUN, ""))
    assert await sets.take(bulk.key) == bulk and await sets.take(bulk.key) is None
    later = await sets.add("U1", "T1", [(RUN, "prod")], NOW)
    clock[0] += 61
    assert await sets.get(later.key) is None


async def test_a_set_in_the_database_is_confirmed_once_by_whichever_process_gets_the_click(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sets.sqlite3"
    engines = [db.create_engine(url), db.create_engine(url)]
    try:
        await db.migrate(engines[0])
        one, other = BulkSets(engines[0]), BulkSets(engines[1])
        bulk = await one.add("U1", "T1", [(RUN, "prod"), (OTHER_RUN, "")], NOW, thread_ts="1751400000.000100")
        seen = await other.get(bulk.key)
        assert seen is not None and (seen.runs, seen.when, seen.user_id) == (bulk.runs, NOW, "U1")
        assert seen.thread_ts == "1751400000.000100"
        taken = await asyncio.gather(one.take(bulk.key), other.take(bulk.key))
        assert [t is not None for t in taken].count(True) == 1
        assert await one.get(bulk.key) is None
    finally:
        for engine in engines:
            await engine.dispose()


def test_bulk_buttons_carry_only_a_key() -> None:
    blocks = bulk_prompt("abcdefgh12345678", 100, ["Prod", "Staging"], NOW, 1)
    actions = blocks[1]["elements"]
    assert [a["action_id"] for a in actions] == [Button.BULK_CONFIRM.action_id, Button.BULK_CANCEL.action_id]
    assert parse_action(actions[0]) == (Button.BULK_CONFIRM, None)
    assert parse_bulk_action(actions[0]).k == "abcdefgh12345678"
    assert "*100 runs* in *Prod* and *Staging*" in blocks[0]["text"]["text"]
    with pytest.raises(ForeignPayload):
        parse_action({"action_id": Button.BULK_CONFIRM.action_id, "value": '{"k":"<bad key>"}'})


# --- the pacer ----------------------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def wall(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_pacer_goes_on_while_the_bucket_has_room() -> None:
    fake = FakeTime()
    pacer = Pacer(RateLimitState(remaining=900, reset_at=fake.now + 30), wall=fake.wall, sleep=fake.sleep)
    await pacer.ready()
    assert fake.slept == []


async def test_pacer_waits_for_the_reset_when_the_bucket_is_nearly_empty() -> None:
    fake = FakeTime()
    state = RateLimitState(remaining=3, reset_at=fake.now + 7.5)
    pacer = Pacer(state, wall=fake.wall, sleep=fake.sleep)
    await pacer.ready()
    assert fake.slept == [7.5]
    await pacer.ready()  # refilled as far as we know: no second wait
    assert fake.slept == [7.5]


async def test_pacer_after_a_429_waits_for_its_reset_bounded() -> None:
    fake = FakeTime()
    pacer = Pacer(RateLimitState(), wall=fake.wall, sleep=fake.sleep, max_wait=60)
    await pacer.rate_limited(RateLimited("429", reset_at=fake.now + 4))
    await pacer.rate_limited(RateLimited("429", reset_at=fake.now + 3600))
    await pacer.rate_limited(RateLimited("429"))
    assert fake.slept == [4, 60, pacer.fallback_wait]


def test_rate_state_reads_the_response_headers() -> None:
    import httpx

    state = RateLimitState()
    state.update(httpx.Headers({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "1700000000000"}))
    assert (state.remaining, state.reset_at) == (12, 1_700_000_000.0)
    state.update(httpx.Headers({}))
    assert state.remaining == 12


# --- the summary --------------------------------------------------------------------------------------------------


def test_summary_of_a_hundred_skipped_runs_stays_within_block_kit_limits() -> None:
    items = [BulkItem(f"run_{n:024d}", BulkOutcome.FAILED, "Prod", "x" * 300) for n in range(100)] + [
        BulkItem(RUN, BulkOutcome.MOVED, "Prod", new=NOW)
    ]
    summary = bulk_summary("U1", NOW, 101, items, lambda r: f"https://cloud.trigger.dev/runs/{r}", final=True)
    assert len(summary.blocks) <= 50
    for block in summary.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    text = json.dumps(summary.blocks)
    assert "*1 moved*, *100 skipped*" in text
    assert summary.text.startswith("1 of 101 runs moved")


def test_summary_names_each_skipped_run_with_reason_and_link() -> None:
    items = [
        BulkItem(RUN, BulkOutcome.NOT_DELAYED, "Prod", "Executing"),
        BulkItem(OTHER_RUN, BulkOutcome.NOT_FOUND),
        BulkItem(THIRD, BulkOutcome.REFUSED, "Staging", "<@U2> rule"),
    ]
    summary = bulk_summary("U1", datetime(2026, 6, 1, tzinfo=UTC), 3, items, lambda r: f"https://t/{r}", final=True)
    text = "\n".join(b["text"]["text"] for b in summary.blocks if b["type"] == "section")
    assert f"<https://t/{RUN}|{RUN}> in Prod: not delayed (Executing)" in text
    assert f"<https://t/{OTHER_RUN}|{OTHER_RUN}>: not found" in text
    assert "refused (&lt;@U2&gt; rule)" in text


def test_summary_lists_the_moved_runs_too_compactly_with_links_by_environment() -> None:
    items = [
        BulkItem(RUN, BulkOutcome.MOVED, "Prod", new=NOW),
        BulkItem(OTHER_RUN, BulkOutcome.MOVED, "Staging", new=NOW),
        BulkItem(THIRD, BulkOutcome.NOT_FOUND),
    ]
    summary = bulk_summary("U1", NOW, 3, items, lambda r: f"https://t/{r}", final=True)
    sections = [b["text"]["text"] for b in summary.blocks if b["type"] == "section"]
    assert (
        f"Moved in *Prod*: <https://t/{RUN}|{RUN}>\nMoved in *Staging*: <https://t/{OTHER_RUN}|{OTHER_RUN}>" in sections
    )
    assert f"<https://t/{THIRD}|{THIRD}>: not found" in "\n".join(sections)


def test_a_hundred_moved_and_a_hundred_skipped_runs_stay_within_block_kit_limits_and_the_rest_is_counted() -> None:
    moved = [BulkItem(f"run_{n:024d}", BulkOutcome.MOVED, "Prod", new=NOW) for n in range(100)]
    skipped = [BulkItem(f"run_{n:024d}", BulkOutcome.FAILED, "Prod", "x" * 300) for n in range(100, 200)]
    url = "https://cloud.trigger.dev/projects/v3/proj_abcdefghijklmnopqrst/runs/{}"
    summary = bulk_summary("U1", NOW, 200, moved + skipped, url.format, final=True, undo_key="abcdefgh12345678")
    assert len(summary.blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in summary.blocks if b["type"] == "section")
    text = json.dumps(summary.blocks, ensure_ascii=False)
    listed = sum(f"|run_{n:024d}>" in text for n in range(100))
    assert 30 < listed < 100  # as many as fit in a few sections...
    assert messages.bulk_moved_more(100 - listed) in text  # ...and the rest counted
    assert text.count("rb1:bulk_undo") == 1


def test_a_sets_dm_is_one_line_with_a_link_to_the_summary_and_the_undo() -> None:
    items = [BulkItem(RUN, BulkOutcome.MOVED, "Prod", new=NOW), BulkItem(OTHER_RUN, BulkOutcome.NOT_FOUND)]
    where = messages.where_posted("C1", "https://example.slack.com/archives/C1/p1")
    dm = bulk_dm(NOW, 2, items, where, undo_key="abcdefgh12345678")
    [line] = [b["text"]["text"] for b in dm.blocks if b["type"] == "section"]
    assert line == f":white_check_mark: You moved *1 of 2 runs* in *Prod* to {date_token(NOW)} (1 skipped) {where}"
    assert [b["type"] for b in dm.blocks] == ["section", "actions"] and RUN not in json.dumps(dm.blocks)
    undone = bulk_dm(None, 2, items, where, note=":warning: note")
    [text] = [b["text"]["text"] for b in undone.blocks]
    assert text.startswith(":leftwards_arrow_with_hook: You undid your move of several runs: *1 of 2 runs* back")
    assert text.endswith(f"(1 skipped) {where}\n:warning: note")


# --- the mover: a run rate-limited after the client's retries is tried again, with one outcome ------------------


class StubClient:
    """Stands in for a TriggerClient: one DELAYED run; the first `limited` moves answer 429."""

    def __init__(self, limited: int) -> None:
        self.rate = RateLimitState()
        self.limited = limited
        self.moves = 0

    async def retrieve_run(self, run_id: str, deadline: object) -> Run:
        return Run.from_api({"id": run_id, "status": "DELAYED", "delayedUntil": "2026-06-01T13:00:00Z"})

    async def reschedule_run(self, run_id: str, delay: str, deadline: object) -> Run:
        self.moves += 1
        if self.limited:
            self.limited -= 1
            raise RateLimited("429", reset_at=time.time() + 5)
        return Run.from_api({"id": run_id, "status": "DELAYED", "delayedUntil": delay})


def mover(limited: int) -> tuple[BulkMover, StubClient, FakeTime, list[AuditRecord]]:
    fake = FakeTime()
    client = StubClient(limited)
    target = EnvironmentClient(environment_for_key("tr_prod_aaaaaaaaaaaaaaaaaaaa"), cast(TriggerClient, client))
    rows: list[AuditRecord] = []
    audit = cast(AuditLog, SimpleNamespace(record=rows.append))
    rescheduler = Rescheduler(targets=[target], deadline_seconds=30, now=lambda: NOW, audit=audit)
    return BulkMover.for_rescheduler(rescheduler, sleep=fake.sleep), client, fake, rows


ACTOR = Actor(user_id="U1", team_id="T1", channel_id="C1", surface="button")


async def test_a_run_rate_limited_midway_is_tried_again_after_the_reset() -> None:
    bulk_mover, client, fake, rows = mover(limited=1)
    bulk = await BulkSets().add("U1", "T1", [(RUN, "prod")], NOW + timedelta(hours=2))
    items = await bulk_mover.run(ACTOR, bulk)
    assert [item.outcome for item in items] == [BulkOutcome.MOVED]
    assert client.moves == 2 and fake.slept and fake.slept[0] <= 60
    assert [row.outcome for row in rows] == [Outcome.RESCHEDULED]  # one row, not a failure and then a success


async def test_a_run_rate_limited_every_time_fails_alone_with_one_row() -> None:
    bulk_mover, client, _, rows = mover(limited=99)
    bulk = await BulkSets().add("U1", "T1", [(RUN, "prod")], NOW + timedelta(hours=2))
    items = await bulk_mover.run(ACTOR, bulk)
    assert client.moves == 3
    assert [(item.outcome, item.detail) for item in items] == [(BulkOutcome.FAILED, messages.BULK_FAILED_RATE)]
    assert [row.outcome for row in rows] == [Outcome.FAILED]


# --- one Undo for a set: each run back to its own previous time, where that is still ahead -------------------------


async def test_a_moved_run_keeps_its_previous_time_for_the_sets_undo() -> None:
    bulk_mover, _, _, _ = mover(limited=0)
    bulk = await BulkSets().add("U1", "T1", [(RUN, "prod")], NOW + timedelta(hours=2))
    [item] = await bulk_mover.run(ACTOR, bulk)
    assert item.outcome is BulkOutcome.MOVED
    assert item.previous == datetime(2026, 6, 1, 13, 0, tzinfo=UTC) and item.new == NOW + timedelta(hours=2)


async def test_an_undo_set_moves_each_run_back_to_its_own_time_and_skips_a_passed_one() -> None:
    bulk_mover, client, _, rows = mover(limited=0)
    ahead, passed = NOW + timedelta(minutes=40), NOW - timedelta(minutes=1)
    undo = await BulkSets().add("U1", "T1", [(RUN, "prod"), (OTHER_RUN, "prod")], None, [ahead, passed])
    assert undo.is_undo and undo.when is None
    items = await bulk_mover.run(ACTOR, undo)
    assert [(item.run_id, item.outcome) for item in items] == [
        (RUN, BulkOutcome.MOVED),
        (OTHER_RUN, BulkOutcome.PASSED),
    ]
    assert items[0].new == ahead and items[1].env_title == "Prod"
    assert client.moves == 1
    assert [(row.run_id, row.outcome, row.new_time) for row in rows] == [(RUN, Outcome.RESCHEDULED, ahead)]


async def test_an_undo_set_in_the_database_keeps_each_runs_time_and_is_taken_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/undo.sqlite3"
    engines = [db.create_engine(url), db.create_engine(url)]
    try:
        await db.migrate(engines[0])
        one, other = BulkSets(engines[0]), BulkSets(engines[1])
        back = [NOW + timedelta(hours=1), NOW + timedelta(minutes=5)]
        undo = await one.add("U1", "T1", [(RUN, "prod"), (OTHER_RUN, "staging")], None, back)
        seen = await other.get(undo.key)
        assert seen is not None and seen.is_undo and (seen.runs, seen.back, seen.when) == (undo.runs, tuple(back), None)
        plain = await one.add("U1", "T1", [(RUN, "prod")], None)
        assert (await other.get(plain.key)) is not None and not plain.is_undo
        taken = await asyncio.gather(one.take(undo.key), other.take(undo.key))
        assert [t is not None for t in taken].count(True) == 1
    finally:
        for engine in engines:
            await engine.dispose()


def test_a_sets_summary_carries_one_undo_with_only_a_key() -> None:
    items = [BulkItem(RUN, BulkOutcome.MOVED, "Prod"), BulkItem(OTHER_RUN, BulkOutcome.PASSED, "Prod")]
    summary = bulk_summary("U1", None, 2, items, lambda r: f"https://x/{r}", final=True, undo_key="abcdefgh12345678")
    [actions] = [b for b in summary.blocks if b["type"] == "actions"]
    [undo] = actions["elements"]
    assert parse_action(undo) == (Button.BULK_UNDO, None) and parse_bulk_action(undo).k == "abcdefgh12345678"
    text = json.dumps(summary.blocks)
    assert "back to its own previous time" in text and messages.BULK_PASSED in text
    assert summary.text == "1 of 2 runs moved back to their previous times; 1 skipped"
    no_undo = bulk_summary("U1", NOW, 2, items, lambda r: r, final=False)
    assert not [b for b in no_undo.blocks if b["type"] == "actions"]


async def test_a_set_keeps_what_its_prompt_found_for_its_confirm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sets.sqlite3"
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
        sets = BulkSets(engine)
        until = datetime(2026, 12, 7, 15, 0, 0, 123000, tzinfo=UTC)
        found = Run.from_api({"id": RUN, "status": "DELAYED", "taskIdentifier": "send-reminder", "delayedUntil": until})
        missing = "run_missing0000000000000001"
        bulk = await sets.add(
            "U1",
            "T1",
            [(RUN, "prod"), (OTHER_RUN, ""), (missing, "")],
            NOW,
            seen=[found, None, None],
            missing=frozenset({missing}),
        )
        back = await BulkSets(engine).take(bulk.key)
        assert back is not None and back.runs == bulk.runs and back.missing == frozenset({missing})
        again = back.seen_as(RUN)
        assert again is not None and again.is_delayed and again.delayed_until == until
        assert again.task_identifier == "send-reminder"
        assert back.seen_as(OTHER_RUN) is None and back.seen_as(missing) is None
    finally:
        await engine.dispose()


# --- a push: each run its own new time ------------------------------------------------------------------------------


async def test_a_push_in_the_database_keeps_each_runs_new_time_and_how_far(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/push.sqlite3"
    engines = [db.create_engine(url), db.create_engine(url)]
    try:
        await db.migrate(engines[0])
        one, other = BulkSets(engines[0]), BulkSets(engines[1])
        targets = [NOW + timedelta(hours=4), NOW + timedelta(days=1, hours=3)]
        push = await one.add(
            "U1", "T1", [(RUN, "prod"), (OTHER_RUN, "staging")], None, targets=targets, shift=timedelta(hours=3)
        )
        seen = await other.get(push.key)
        assert seen is not None and not seen.is_undo and not seen.awaiting_time
        assert (seen.runs, seen.targets, seen.shift, seen.when, seen.back) == (
            push.runs,
            tuple(targets),
            timedelta(hours=3),
            None,
            (),
        )
        waiting = await one.add("U1", "T1", [(RUN, "prod")], None)  # a list's set: its time still to come
        seen_waiting = await other.get(waiting.key)
        assert seen_waiting is not None and seen_waiting.awaiting_time
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_push_moves_each_run_to_its_own_new_time() -> None:
    bulk_mover, client, _, _ = mover(limited=0)
    targets = [NOW + timedelta(hours=4), NOW + timedelta(days=2)]
    push = await BulkSets().add(
        "U1", "T1", [(RUN, "prod"), (OTHER_RUN, "prod")], None, targets=targets, shift=timedelta(hours=3)
    )
    items = await bulk_mover.run(ACTOR, push)
    assert [(item.outcome, item.new) for item in items] == [(BulkOutcome.MOVED, t) for t in targets]
    assert client.moves == 2


def test_a_sets_summary_says_which_way_each_run_went() -> None:
    later = BulkItem(RUN, BulkOutcome.MOVED, "Prod", new=NOW + timedelta(hours=5), previous=NOW + timedelta(hours=2))
    earlier = BulkItem(
        OTHER_RUN, BulkOutcome.MOVED, "Prod", new=NOW + timedelta(hours=5), previous=NOW + timedelta(days=2)
    )
    summary = bulk_summary("U1", NOW + timedelta(hours=5), 2, [later, earlier], lambda r: f"https://x/{r}", final=True)
    text = json.dumps(summary.blocks)
    assert f"{RUN}>" in text and ": later, " in text and ": *earlier*, " in text
