"""The action path (Desk) with a Trigger.dev behind httpx.MockTransport: environments, audit, run-now retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.access import Gate, Refused
from bot.actions import Actor, Desk, NotDelayed, NotFoundAnywhere, Target
from bot.domain.access import Policy, Rule
from bot.domain.environments import environment_for_key
from bot.storage.audit import AuditRecord, Outcome
from bot.trigger.client import RetryPolicy, TriggerClient

RUN_ID = "run_cm9k2x7ab000108l5ghf2d1qz"
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ACTOR = Actor("U111", "T111", "C111", "command", "run_cm9k2x7ab000108l5ghf2d1qz 2h tr_prod_pastedpastedpasted0001")


def run_body(status: str = "DELAYED", delayed_until: str | None = "2026-11-29T10:00:00.000Z") -> dict[str, Any]:
    return {"id": RUN_ID, "taskIdentifier": "send-reminder", "status": status, "delayedUntil": delayed_until}


class Audit:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def record(self, entry: AuditRecord) -> None:
        self.records.append(entry)


async def no_sleep(seconds: float) -> None:
    return None


def desk_with(handlers: dict[str, Any], gate: Gate | None = None) -> tuple[Desk, Audit]:
    """One target per key prefix in `handlers` (key → request handler)."""
    targets = []
    for key, handler in handlers.items():
        http = httpx.AsyncClient(base_url="https://trigger.test", transport=httpx.MockTransport(handler))
        client = TriggerClient(http=http, key=SecretStr(key), sleep=no_sleep, policy=RetryPolicy(min_backoff=0.01))
        targets.append(Target(environment_for_key(key), client))
    audit = Audit()
    return Desk(targets=targets, deadline_seconds=30, now=lambda: NOW, gate=gate, audit=audit), audit  # type: ignore[arg-type]


def not_found(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"error": "Not found"})


async def test_the_second_environment_that_has_the_run_wins_and_success_is_audited() -> None:
    def staging(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json=run_body(delayed_until="2026-11-29T11:00:00.000Z"))
        return httpx.Response(200, json=run_body())

    desk, audit = desk_with({"tr_prod_a": not_found, "tr_stg_b": staging})
    moved = await desk.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=2), desk.deadline())
    assert moved.env.name == "staging" and moved.new == datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    [record] = audit.records
    assert record.outcome is Outcome.RESCHEDULED and record.environment == "staging"
    desk.record(ACTOR, Outcome.INVALID_INPUT, error="Can't read tr_prod_ZZZZZZZZZZZZZZZZZZZZZZZZ as a time")
    assert "ZZZZ" not in (audit.records[-1].error or "")
    assert "tr_prod_pasted" not in record.input and "[redacted]" in record.input


async def test_not_found_anywhere_names_every_environment_and_is_audited() -> None:
    desk, audit = desk_with({"tr_prod_a": not_found, "tr_stg_b": not_found})
    with pytest.raises(NotFoundAnywhere) as caught:
        await desk.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=2), desk.deadline())
    assert [env.name for env in caught.value.searched] == ["prod", "staging"]
    assert [r.outcome for r in audit.records] == [Outcome.NOT_FOUND]


async def test_refusal_is_checked_at_the_moment_of_acting_and_audited() -> None:
    posts: list[httpx.Request] = []

    def prod(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request)
        return httpx.Response(200, json=run_body())

    gate = Gate(Policy(rules={"prod": Rule(users=frozenset({"U999"}))}))
    desk, audit = desk_with({"tr_prod_a": prod}, gate)
    with pytest.raises(Refused):
        await desk.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=2), desk.deadline())
    assert posts == [] and [r.outcome for r in audit.records] == [Outcome.REFUSED]


@pytest.mark.parametrize("started_as", ["QUEUED", "EXECUTING", "WAITING", "COMPLETED", "FAILED"])
async def test_run_now_applied_before_a_retry_is_reported_as_started(started_as: str) -> None:
    """The first POST started the run but its answer was lost (500); the retry is told 'not delayed'."""
    state: dict[str, Any] = {"status": "DELAYED", "posts": 0}

    def prod(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            state["posts"] += 1
            assert json.loads(request.content) == {"delay": "0s"}
            if state["posts"] == 1:
                state["status"] = started_as
                return httpx.Response(500, json={"error": "Something went wrong, please try again."})
            return httpx.Response(400, json={"error": "Cannot reschedule a run that is not delayed"})
        return httpx.Response(200, json=run_body(status=str(state["status"])))

    desk, audit = desk_with({"tr_prod_a": prod})
    moved = await desk.reschedule(ACTOR, RUN_ID, None, desk.deadline())
    assert moved.run.status_label == started_as and moved.new == NOW
    assert [r.outcome for r in audit.records] == [Outcome.RESCHEDULED]


async def test_a_time_move_that_loses_the_race_is_not_delayed() -> None:
    state = {"status": "DELAYED"}

    def prod(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            state["status"] = "EXECUTING"
            return httpx.Response(400, json={"error": "Cannot reschedule a run that is not delayed"})
        return httpx.Response(200, json=run_body(status=state["status"]))

    desk, audit = desk_with({"tr_prod_a": prod})
    with pytest.raises(NotDelayed) as caught:
        await desk.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=1), desk.deadline())
    assert caught.value.run.status_label == "EXECUTING"
    assert [r.outcome for r in audit.records] == [Outcome.NOT_DELAYED]


async def test_a_run_id_that_is_not_one_is_refused_as_a_bad_answer() -> None:
    def prod(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**run_body(), "id": "<!channel>"})

    desk, _ = desk_with({"tr_prod_a": prod})
    from bot.trigger.errors import TriggerUnavailable

    with pytest.raises(TriggerUnavailable):
        await desk.find(RUN_ID, desk.deadline())
