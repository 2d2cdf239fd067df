"""The action path (Rescheduler) with a Trigger.dev behind httpx.MockTransport: environments, audit, run-now retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot import messages
from bot.access_check import AccessCheck, AccessRefused
from bot.domain.access_rules import Policy, Rule
from bot.domain.audit import AuditRecord, Outcome
from bot.domain.environments import environment_for_key
from bot.render.mrkdwn import date_token
from bot.rescheduler import (
    Actor,
    EnvironmentClient,
    MoveUnconfirmed,
    NotApplied,
    NotDelayed,
    NotFoundAnywhere,
    Rescheduler,
)
from bot.slack.failures import failure_text
from bot.trigger.client import Deadline, RetryPolicy, TriggerClient
from bot.trigger.errors import OutcomeUnknown, TriggerUnavailable

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


def desk_with(handlers: dict[str, Any], access_check: AccessCheck | None = None) -> tuple[Rescheduler, Audit]:
    """One target per key prefix in `handlers` (key → request handler)."""
    targets = []
    for key, handler in handlers.items():
        http = httpx.AsyncClient(base_url="https://trigger.test", transport=httpx.MockTransport(handler))
        client = TriggerClient(http=http, key=SecretStr(key), sleep=no_sleep, policy=RetryPolicy(min_backoff=0.01))
        targets.append(EnvironmentClient(environment_for_key(key), client))
    audit = Audit()
    rescheduler = Rescheduler(
        targets=targets, deadline_seconds=30, now=lambda: NOW, access_check=access_check, audit=audit
    )
    return rescheduler, audit


def not_found(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"error": "Not found"})


async def test_the_second_environment_that_has_the_run_wins_and_success_is_audited() -> None:
    def staging(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json=run_body(delayed_until="2026-11-29T11:00:00.000Z"))
        return httpx.Response(200, json=run_body())

    rescheduler, audit = desk_with({"tr_prod_a": not_found, "tr_stg_b": staging})
    moved = await rescheduler.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=2), rescheduler.deadline())
    assert moved.env.name == "staging" and moved.new == datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    [record] = audit.records
    assert record.outcome is Outcome.RESCHEDULED and record.environment == "staging"
    rescheduler.record(ACTOR, Outcome.INVALID_INPUT, error="Can't read tr_prod_ZZZZZZZZZZZZZZZZZZZZZZZZ as a time")
    assert "ZZZZ" not in (audit.records[-1].error or "")
    assert "tr_prod_pasted" not in record.input and "[redacted]" in record.input


async def test_not_found_anywhere_names_every_environment_and_is_audited() -> None:
    rescheduler, audit = desk_with({"tr_prod_a": not_found, "tr_stg_b": not_found})
    with pytest.raises(NotFoundAnywhere) as caught:
        await rescheduler.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=2), rescheduler.deadline())
    assert [env.name for env in caught.value.searched] == ["prod", "staging"]
    assert [r.outcome for r in audit.records] == [Outcome.NOT_FOUND]


async def test_refusal_is_checked_at_the_moment_of_acting_and_audited() -> None:
    posts: list[httpx.Request] = []

    def prod(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request)
        return httpx.Response(200, json=run_body())

    access_check = AccessCheck(Policy(rules={"prod": Rule(users=frozenset({"U999"}))}))
    rescheduler, audit = desk_with({"tr_prod_a": prod}, access_check)
    with pytest.raises(AccessRefused):
        await rescheduler.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=2), rescheduler.deadline())
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

    rescheduler, audit = desk_with({"tr_prod_a": prod})
    moved = await rescheduler.reschedule(ACTOR, RUN_ID, None, rescheduler.deadline())
    assert moved.run.status_label == started_as and moved.new == NOW
    assert [r.outcome for r in audit.records] == [Outcome.RESCHEDULED]


async def test_a_time_move_that_loses_the_race_is_not_delayed() -> None:
    state = {"status": "DELAYED"}

    def prod(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            state["status"] = "EXECUTING"
            return httpx.Response(400, json={"error": "Cannot reschedule a run that is not delayed"})
        return httpx.Response(200, json=run_body(status=state["status"]))

    rescheduler, audit = desk_with({"tr_prod_a": prod})
    with pytest.raises(NotDelayed) as caught:
        await rescheduler.reschedule(ACTOR, RUN_ID, NOW + timedelta(hours=1), rescheduler.deadline())
    assert caught.value.run.status_label == "EXECUTING"
    assert [r.outcome for r in audit.records] == [Outcome.NOT_DELAYED]


async def test_a_run_id_that_is_not_one_is_refused_as_a_bad_answer() -> None:
    def prod(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**run_body(), "id": "<!channel>"})

    rescheduler, _ = desk_with({"tr_prod_a": prod})
    from bot.trigger.errors import TriggerUnavailable

    with pytest.raises(TriggerUnavailable):
        await rescheduler.find(RUN_ID, rescheduler.deadline())


# ---------------------------------------------------------------- a move whose answer was lost

PREVIOUS = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
ASKED = NOW + timedelta(hours=3)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class LostAnswers:
    """A Trigger.dev whose reschedule answers never arrive (a read timeout, or `post_failure`): the move is
    applied first when `applies`. Reads after a POST answer `read_as` when given (else the run as it is), or
    fail with 500 when `reads_fail`."""

    def __init__(
        self,
        applies: bool,
        read_as: dict[str, Any] | None = None,
        reads_fail: bool = False,
        post_failure: httpx.Response | type[httpx.RequestError] = httpx.ReadTimeout,
    ) -> None:
        self.run = run_body()
        self.applies, self.read_as, self.reads_fail, self.post_failure = applies, read_as, reads_fail, post_failure
        self.log: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(request.method)
        if request.method == "POST":
            delay = json.loads(request.content)["delay"]
            if self.applies:
                self.run = run_body(delayed_until=iso(NOW) if delay == "0s" else delay)
            if isinstance(self.post_failure, httpx.Response):
                return self.post_failure
            raise self.post_failure("lost", request=request)
        if self.reads_fail and self.log.count("GET") > 1:
            return httpx.Response(500, json={"error": "Something went wrong, please try again."})
        read_back = "POST" in self.log
        return httpx.Response(200, json=self.read_as if read_back and self.read_as else self.run)


@pytest.mark.parametrize(
    "post_failure",
    [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.Response(504, text="Gateway Timeout")],
    ids=["read-timeout", "connection-lost", "gateway-504"],
)
async def test_a_lost_answer_to_an_applied_move_is_confirmed_by_reading_back(
    post_failure: httpx.Response | type[httpx.RequestError],
) -> None:
    fake = LostAnswers(applies=True, post_failure=post_failure)
    rescheduler, audit = desk_with({"tr_prod_a": fake})
    moved = await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, rescheduler.deadline())
    assert moved.new == ASKED and moved.previous == PREVIOUS and moved.run.delayed_until == ASKED
    assert fake.log[-1] == "GET"  # read again after the POSTs
    [record] = audit.records
    assert record.outcome is Outcome.RESCHEDULED and record.new_time == ASKED and record.previous_time == PREVIOUS


async def test_a_lost_answer_to_a_move_that_did_not_apply_says_it_is_still_at_the_previous_time() -> None:
    rescheduler, audit = desk_with({"tr_prod_a": LostAnswers(applies=False)})
    with pytest.raises(NotApplied) as caught:
        await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, rescheduler.deadline())
    assert caught.value.previous == PREVIOUS and caught.value.environment == "Prod"
    [record] = audit.records
    assert record.outcome is Outcome.UNKNOWN and record.previous_time == PREVIOUS  # a held request may yet land
    assert record.error is not None and record.error.startswith("NotApplied:") and "still delayed until" in record.error
    text = failure_text(caught.value, RUN_ID, "Prod")
    assert text == messages.not_applied(RUN_ID, "send-reminder", date_token(PREVIOUS))
    assert "not been applied so far" in text and "nothing was changed" not in text


@pytest.mark.parametrize(
    "read_as",
    [
        run_body(delayed_until="2026-11-30T08:00:00.000Z"),  # someone else moved it meanwhile
        run_body(status="EXECUTING", delayed_until=None),
        run_body(status="<!channel>", delayed_until=None),
    ],
    ids=["third-time", "started", "hostile-status"],
)
async def test_a_lost_answer_that_reading_back_cannot_settle_is_unconfirmed(read_as: dict[str, Any]) -> None:
    rescheduler, audit = desk_with({"tr_prod_a": LostAnswers(applies=False, read_as=read_as)})
    with pytest.raises(MoveUnconfirmed) as caught:
        await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, rescheduler.deadline())
    assert caught.value.current is not None and caught.value.when == ASKED
    [record] = audit.records
    assert record.outcome is Outcome.UNKNOWN and record.error is not None and "MoveUnconfirmed" in record.error
    text = failure_text(caught.value, RUN_ID, "Prod", "https://cloud.trigger.test/runs/" + RUN_ID)
    assert "could not confirm" in text and date_token(ASKED) in text
    assert "<https://cloud.trigger.test/runs/" + RUN_ID + "|Open in Trigger.dev>" in text
    assert "<!channel>" not in text and "nothing was changed" not in text


async def test_a_lost_answer_and_a_failed_read_back_is_unconfirmed() -> None:
    rescheduler, audit = desk_with({"tr_prod_a": LostAnswers(applies=True, reads_fail=True)})
    with pytest.raises(MoveUnconfirmed) as caught:
        await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, rescheduler.deadline())
    assert caught.value.current is None and isinstance(caught.value.__cause__, TriggerUnavailable)
    assert [r.outcome for r in audit.records] == [Outcome.UNKNOWN]
    text = failure_text(caught.value, RUN_ID, "Prod")
    assert messages.unconfirmed_seen(None, None) in text and messages.check_run_command(RUN_ID) in text


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_a_move_that_was_never_sent_is_unavailable_and_not_read_back(failure: type[httpx.RequestError]) -> None:
    fake = LostAnswers(applies=False, post_failure=failure)
    rescheduler, audit = desk_with({"tr_prod_a": fake})
    with pytest.raises(TriggerUnavailable) as caught:
        await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, rescheduler.deadline())
    assert type(caught.value) is TriggerUnavailable
    assert fake.log == ["GET"] + ["POST"] * 5  # found, then five attempts; no read back
    assert [r.outcome for r in audit.records] == [Outcome.FAILED]
    assert failure_text(caught.value, RUN_ID, "Prod") == messages.UNAVAILABLE  # "nothing was changed" is true


@pytest.mark.parametrize("started_as", ["QUEUED", "EXECUTING", "COMPLETED"])
async def test_run_now_whose_answer_was_lost_is_confirmed_when_the_run_started(started_as: str) -> None:
    read_as = run_body(status=started_as, delayed_until=None)
    rescheduler, audit = desk_with({"tr_prod_a": LostAnswers(applies=True, read_as=read_as)})
    moved = await rescheduler.reschedule(ACTOR, RUN_ID, None, rescheduler.deadline())
    assert moved.run.status_label == started_as and moved.new == NOW
    assert [r.outcome for r in audit.records] == [Outcome.RESCHEDULED]


async def test_run_now_whose_answer_was_lost_is_confirmed_when_it_is_due_now() -> None:
    """The server applied "0s": still DELAYED for a moment, until about now rather than its previous time."""
    rescheduler, audit = desk_with({"tr_prod_a": LostAnswers(applies=True)})
    moved = await rescheduler.reschedule(ACTOR, RUN_ID, None, rescheduler.deadline())
    assert moved.new == NOW and [r.outcome for r in audit.records] == [Outcome.RESCHEDULED]


async def test_run_now_whose_answer_was_lost_and_did_not_apply_is_still_at_the_previous_time() -> None:
    rescheduler, audit = desk_with({"tr_prod_a": LostAnswers(applies=False)})
    with pytest.raises(NotApplied):
        await rescheduler.reschedule(ACTOR, RUN_ID, None, rescheduler.deadline())
    assert [r.outcome for r in audit.records] == [Outcome.UNKNOWN]  # not applied so far; a held request may yet land


async def test_the_read_back_has_its_own_budget_after_the_action_deadline_passed() -> None:
    clock = [0.0]
    deadline = Deadline.after(5, clock=lambda: clock[0])
    fake = LostAnswers(applies=True)

    def slow(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            clock[0] = 20.0  # the answer comes far too late: the action's deadline has passed
        return fake(request)

    rescheduler, audit = desk_with({"tr_prod_a": slow})
    moved = await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, deadline)
    assert moved.new == ASKED and fake.log == ["GET", "POST", "GET"]
    assert [r.outcome for r in audit.records] == [Outcome.RESCHEDULED]

    rescheduler, audit = desk_with({"tr_prod_a": LostAnswers(applies=True)})
    rescheduler.readback_seconds = 0  # no time at all to read back: unconfirmed, not "nothing changed"
    with pytest.raises(MoveUnconfirmed):
        await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, rescheduler.deadline())
    assert [r.outcome for r in audit.records] == [Outcome.UNKNOWN]


async def test_a_lost_answer_then_not_delayed_with_a_failed_read_back_is_unconfirmed() -> None:
    """Run now: the first attempt's answer was lost (it started the run), the retry is told "not delayed", and
    the read back fails: the move may well have happened, so it is not reported as a failure."""
    state: dict[str, Any] = {"posts": 0, "gets": 0}

    def prod(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            state["posts"] += 1
            if state["posts"] == 1:
                raise httpx.ReadTimeout("lost", request=request)
            return httpx.Response(400, json={"error": "Cannot reschedule a run that is not delayed"})
        state["gets"] += 1
        if state["gets"] == 1:
            return httpx.Response(200, json=run_body())
        return httpx.Response(503, json={"error": "down"})

    rescheduler, audit = desk_with({"tr_prod_a": prod})
    with pytest.raises(MoveUnconfirmed):
        await rescheduler.reschedule(ACTOR, RUN_ID, None, rescheduler.deadline())
    assert [r.outcome for r in audit.records] == [Outcome.UNKNOWN]


async def test_not_delayed_at_once_with_a_failed_read_back_is_unavailable() -> None:
    """Nothing was sent before "not delayed": a failed read back is plainly unavailable, nothing changed."""
    gets = [0]

    def prod(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, json={"error": "Cannot reschedule a run that is not delayed"})
        gets[0] += 1
        return httpx.Response(200, json=run_body()) if gets[0] == 1 else httpx.Response(503, json={"error": "down"})

    rescheduler, audit = desk_with({"tr_prod_a": prod})
    with pytest.raises(TriggerUnavailable) as caught:
        await rescheduler.reschedule(ACTOR, RUN_ID, ASKED, rescheduler.deadline())
    assert not isinstance(caught.value, OutcomeUnknown)
    assert [r.outcome for r in audit.records] == [Outcome.FAILED]


async def test_a_plain_outcome_unknown_is_told_as_unknown() -> None:
    text = failure_text(OutcomeUnknown("sent"), RUN_ID, "Prod")
    assert text == messages.outcome_unknown(messages.check_run_command(RUN_ID))
