"""Protected environments without Slack: the policy (who may decide, when a request expires, what an Undo takes
back), the settings that make it, and the action path's gate, which asks before anything reaches Trigger.dev for a
single run and for a set alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot import settings
from bot.approvals import ApprovalNeeded, Approvals
from bot.bulk import BulkMover
from bot.domain.approvals import (
    EXPIRY_MARGIN,
    ApprovalPolicy,
    ApprovalRule,
    State,
    Verdict,
    expires_at,
    restores,
    too_late,
    verdict,
)
from bot.domain.audit import AuditRecord, Outcome
from bot.domain.environments import environment_for_key
from bot.rescheduler import Actor, EnvironmentClient, Rescheduler
from bot.storage import db
from bot.storage.approvals import ApprovalStore
from bot.storage.bulk_sets import BulkSet
from bot.trigger.client import TriggerClient
from tests.e2e_harness import load_settings

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
RUN_ID = "run_cm9k2x7ab000108l5ghf2d1qz"
OTHER_ID = "run_cm9k2x7ab000108l5ghf2d1qa"
RULE = ApprovalRule(users=frozenset({"U1", "U2"}), groups=frozenset({"S1"}), channel="C9")
ASKER = Actor(user_id="U1", team_id="T1", channel_id="C1", surface="command", input="run 2h", reason="cut-off")


def test_only_an_approver_other_than_the_asker_may_decide() -> None:
    assert verdict(RULE, "U1", "U2") is Verdict.MAY
    assert verdict(RULE, "U1", "U1") is Verdict.OWN_REQUEST
    assert verdict(RULE, "U1", "U3") is Verdict.NOT_APPROVER
    assert verdict(RULE, "U1", "U3", frozenset({"S1"})) is Verdict.MAY  # a member of an approving group
    assert verdict(RULE, "U3", "U3", frozenset({"S1"})) is Verdict.OWN_REQUEST


def test_a_request_expires_after_the_timeout_or_before_its_run_starts_whichever_is_first() -> None:
    assert expires_at(NOW, timedelta(minutes=30), [None]) == NOW + timedelta(minutes=30)
    soon = NOW + timedelta(minutes=10)
    assert expires_at(NOW, timedelta(minutes=30), [soon, None]) == soon - EXPIRY_MARGIN
    expires = NOW + timedelta(minutes=30)
    assert not too_late(NOW, expires, NOW + timedelta(hours=1))
    assert too_late(expires, expires, None)
    assert too_late(NOW, expires, NOW + EXPIRY_MARGIN)  # its run was moved earlier meanwhile


def test_an_undo_takes_back_exactly_the_approved_move_and_nothing_else() -> None:
    before, after = NOW + timedelta(hours=1), NOW + timedelta(hours=3)
    assert restores(before, after, before, after)
    assert not restores(before + timedelta(hours=1), after, before, after)  # somewhere else: a new move
    assert not restores(before, after + timedelta(hours=1), before, after)  # moved again since
    assert not restores(None, after, before, after)


def test_policy_picks_the_environments_own_rule_then_its_kind() -> None:
    policy = ApprovalPolicy(rules={"prod": RULE})
    assert policy.rule_for("production", "prod") is RULE
    assert policy.rule_for("staging", "staging") is None


def test_settings_read_approvers_channel_and_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test-0000",
        "SLACK_SIGNING_SECRET": "secret",
        "TRIGGER_SECRET_KEY": "tr_prod_fakefakefakefakefake0001",
        "APPROVAL__PROD__APPROVERS": "U1, W2,S3",
        "APPROVAL__PROD__CHANNEL": "C9",
        "APPROVAL_TIMEOUT": "45m",
    }
    policy = load_settings("serve", env).approval_policy()
    assert policy.rules["prod"] == ApprovalRule(frozenset({"U1", "W2"}), frozenset({"S3"}), "C9")
    assert policy.timeout == timedelta(minutes=45)
    without = {name: value for name, value in env.items() if name != "APPROVAL_TIMEOUT"}
    assert load_settings("serve", without).approval_timeout == timedelta(minutes=30)
    for bad, says in (
        ({"APPROVAL__PRODUCTION__APPROVERS": "U1"}, "APPROVAL__PRODUCTION"),  # a misspelt environment protects nothing
        ({"APPROVAL__PROD__APPROVERS": "C1"}, "user ids"),  # a channel is not an approver
        ({"APPROVAL__PROD__CHANNEL": "U1"}, "channel id"),
        ({"APPROVAL_TIMEOUT": "soon"}, "30m"),
    ):
        with pytest.raises(settings.ConfigError) as caught:
            load_settings("serve", {**env, **bad})
        assert says in str(caught.value)


class Audit:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def record(self, entry: AuditRecord) -> None:
        self.records.append(entry)

    async def for_run(self, run_id: str, limit: int = 30) -> list[AuditRecord]:
        return [r for r in reversed(self.records) if r.run_id == run_id][:limit]


class Poster:
    def __init__(self) -> None:
        self.posted: list[Any] = []

    async def post(self, request: Any, rule: ApprovalRule, env: Any) -> tuple[str | None, str | None]:
        self.posted.append(request)
        return "C9", "1.2"


def delayed(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        raise AssertionError("nothing may reach Trigger.dev's reschedule before an approval")
    run_id = request.url.path.rsplit("/", 1)[-1]
    body = {"id": run_id, "taskIdentifier": "payroll", "status": "DELAYED", "delayedUntil": "2026-11-01T12:00:00Z"}
    return httpx.Response(200, json=body)


@pytest.fixture
async def gate(tmp_path: Path) -> Any:
    engine = db.create_engine(f"sqlite:///{tmp_path}/approvals.sqlite3")
    await db.migrate(engine)
    http = httpx.AsyncClient(base_url="https://trigger.test", transport=httpx.MockTransport(delayed))
    key = "tr_prod_fakefakefakefakefake0001"
    target = EnvironmentClient(environment_for_key(key), TriggerClient(http=http, key=SecretStr(key)))
    poster, audit, store = Poster(), Audit(), ApprovalStore(engine)
    approvals = Approvals(ApprovalPolicy(rules={"prod": RULE}), store, poster=poster)
    rescheduler = Rescheduler([target], 10, now=lambda: NOW, audit=audit, approvals=approvals)
    yield rescheduler, poster, audit, store
    await http.aclose()
    await engine.dispose()


async def test_a_single_move_in_a_protected_environment_becomes_a_request(gate: Any) -> None:
    rescheduler, poster, audit, store = gate
    with pytest.raises(ApprovalNeeded) as caught:
        await rescheduler.reschedule(ASKER, RUN_ID, NOW + timedelta(hours=5), rescheduler.deadline())
    request = caught.value.request
    assert request is not None and (request.message_channel, request.message_ts) == ("C9", "1.2")
    assert [posted.key for posted in poster.posted] == [request.key]
    stored = await store.get(request.key)
    assert stored is not None and stored.state is State.PENDING and stored.reason == "cut-off"
    assert [(run.run_id, run.task) for run in stored.runs] == [(RUN_ID, "payroll")]
    assert stored.expires_at == NOW + timedelta(minutes=30)
    assert [record.outcome for record in audit.records] == [Outcome.APPROVAL_REQUESTED]


async def test_a_set_is_one_request_and_nothing_moves(gate: Any) -> None:
    rescheduler, poster, _, _ = gate
    bulk = BulkSet("k3y_of-the-set", "U1", "T1", ((RUN_ID, "prod"), (OTHER_ID, "prod")), NOW + timedelta(hours=5), 0)
    with pytest.raises(ApprovalNeeded) as caught:
        await BulkMover.for_rescheduler(rescheduler).run(ASKER, bulk)
    assert caught.value.request is not None and len(caught.value.request.runs) == 2
    assert len(poster.posted) == 1


async def test_without_asking_the_move_is_refused_and_no_request_is_made(gate: Any) -> None:
    rescheduler, poster, _, _ = gate
    located = await rescheduler.find(RUN_ID, rescheduler.deadline())
    with pytest.raises(ApprovalNeeded) as caught:
        await rescheduler.move(ASKER, located, NOW + timedelta(hours=5), rescheduler.deadline(), ask=False)
    assert caught.value.request is None and poster.posted == []


async def test_a_decision_is_taken_once(gate: Any) -> None:
    rescheduler, _, _, store = gate
    with pytest.raises(ApprovalNeeded) as caught:
        await rescheduler.reschedule(ASKER, RUN_ID, NOW + timedelta(hours=5), rescheduler.deadline())
    assert caught.value.request is not None
    key = caught.value.request.key
    first = await store.decide(key, State.APPROVED, "U2", NOW)
    assert first is not None and first.decided_by == "U2"
    assert await store.decide(key, State.REJECTED, "U3", NOW) is None
    assert await store.decide(key, State.EXPIRED, None, NOW) is None


async def test_with_the_database_down_the_move_is_refused_saying_so_and_nothing_moves(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path}/missing/dir/approvals.sqlite3")  # cannot be opened
    http = httpx.AsyncClient(base_url="https://trigger.test", transport=httpx.MockTransport(delayed))
    key = "tr_prod_fakefakefakefakefake0001"
    target = EnvironmentClient(environment_for_key(key), TriggerClient(http=http, key=SecretStr(key)))
    approvals = Approvals(ApprovalPolicy(rules={"prod": RULE}), ApprovalStore(engine), poster=Poster())
    rescheduler = Rescheduler([target], 10, now=lambda: NOW, approvals=approvals)
    try:
        with pytest.raises(ApprovalNeeded) as caught:
            await rescheduler.reschedule(ASKER, RUN_ID, NOW + timedelta(hours=5), rescheduler.deadline())
        assert caught.value.unavailable and caught.value.request is None
    finally:
        await http.aclose()
        await engine.dispose()
