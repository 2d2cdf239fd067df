"""The Trigger.dev client against httpx.MockTransport: headers, parsing, the error tree and the retry policy."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from bot.domain.runs import RunStatus
from bot.trigger.client import API_VERSION, USER_AGENT, Deadline, RetryPolicy, TriggerClient
from bot.trigger.errors import (
    AuthRejected,
    InvalidDelay,
    OutcomeUnknown,
    RateLimited,
    RunNotDelayed,
    RunNotFound,
    TriggerRequestError,
    TriggerUnavailable,
)

KEY = "tr_prod_fakefakefakefakefake0001"
RUN_ID = "run_cm9k2x7ab000108l5ghf2d1qz"
RUN = {
    "id": RUN_ID,
    "taskIdentifier": "send-reminder",
    "status": "DELAYED",
    "createdAt": "2025-07-01T10:00:00.000Z",
    "updatedAt": "2025-07-01T10:05:00.123Z",
    "delayedUntil": "2025-07-01T12:05:00.120Z",
    "tags": ["user_123"],
    "isTest": False,
    "attempts": [],
    "relatedRuns": {"children": []},
    "somethingNew": {"nested": True},
}


class FakeTime:
    """A monotonic clock, a wall clock and a sleep that only advances them, recording each wait."""

    def __init__(self, wall: float = 1_750_000_000.0) -> None:
        self.mono = 0.0
        self.wall_now = wall
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))
        self.mono += seconds
        self.wall_now += seconds

    def deadline(self, seconds: float = 120.0) -> Deadline:
        return Deadline.after(seconds, clock=lambda: self.mono)


Handler = Callable[[httpx.Request], httpx.Response]


def make(handler: Handler, time: FakeTime, rand: float = 0.0) -> TriggerClient:
    http = httpx.AsyncClient(base_url="https://trigger.test", transport=httpx.MockTransport(handler))
    return TriggerClient(http=http, key=SecretStr(KEY), sleep=time.sleep, wall=lambda: time.wall_now, rand=lambda: rand)


def sequence(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


def error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message}, headers=headers)


async def test_retrieve_sends_the_documented_headers_and_parses_the_run() -> None:
    time = FakeTime()
    handler, seen = sequence(httpx.Response(200, json=RUN))
    run = await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    request = seen[0]
    assert request.method == "GET"
    assert request.url.path == f"/api/v3/runs/{RUN_ID}"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-trigger-api-version"] == API_VERSION == "2025-07-16"
    assert request.headers["user-agent"] == USER_AGENT
    assert run.status is RunStatus.DELAYED and run.task_identifier == "send-reminder"
    assert run.delayed_until is not None and run.delayed_until.isoformat() == "2025-07-01T12:05:00.120000+00:00"
    assert run.tags == ("user_123",)


async def test_unknown_status_is_kept_not_rejected() -> None:
    time = FakeTime()
    handler, _ = sequence(httpx.Response(200, json={**RUN, "status": "HIBERNATING"}))
    run = await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert run.status is RunStatus.UNKNOWN
    assert run.status_label == "HIBERNATING"
    assert not run.is_delayed


async def test_reschedule_posts_the_delay_and_returns_the_new_run() -> None:
    time = FakeTime()
    handler, seen = sequence(httpx.Response(200, json={**RUN, "delayedUntil": "2026-12-01T09:00:00.000Z"}))
    run = await make(handler, time).reschedule_run(RUN_ID, "2026-12-01T09:00:00.000Z", time.deadline())
    assert seen[0].method == "POST"
    assert seen[0].url.path == f"/api/v1/runs/{RUN_ID}/reschedule"
    assert json.loads(seen[0].content) == {"delay": "2026-12-01T09:00:00.000Z"}
    assert run.delayed_until is not None and run.delayed_until.year == 2026


async def test_not_found_on_retrieve_is_retried_once_quickly() -> None:
    time = FakeTime()
    handler, seen = sequence(error(404, "Not found", **{"x-should-retry": "true"}))
    with pytest.raises(RunNotFound):
        await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert len(seen) == 2
    assert time.waits == [RetryPolicy().not_found_retry_wait]


async def test_server_errors_back_off_like_the_sdk_then_give_up() -> None:
    time = FakeTime()
    handler, seen = sequence(error(500, "Something went wrong, please try again."))
    with pytest.raises(TriggerUnavailable) as caught:
        await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert len(seen) == 5
    assert time.waits == [1.0, 1.6, 2.56, 4.096]
    assert caught.value.status == 500
    # One logical call keeps one idempotency key across its retries.
    assert len({r.headers["x-trigger-request-idempotency-key"] for r in seen}) == 1


async def test_backoff_has_jitter() -> None:
    time = FakeTime()
    handler, _ = sequence(error(503, "down"), httpx.Response(200, json=RUN))
    await make(handler, time, rand=1.0).retrieve_run(RUN_ID, time.deadline())
    assert time.waits == [1.25]


@pytest.mark.parametrize("status", [408, 409, 502])
async def test_retryable_statuses_recover(status: int) -> None:
    time = FakeTime()
    handler, seen = sequence(error(status, "busy"), httpx.Response(200, json=RUN))
    run = await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert run.id == RUN_ID and len(seen) == 2


async def test_rate_limit_waits_until_the_reset_header_plus_jitter() -> None:
    time = FakeTime()
    reset_ms = int((time.wall_now + 3.2) * 1000)
    limited = httpx.Response(
        429,
        json={"title": "Rate Limit Exceeded", "status": 429, "error": "Rate limit exceeded"},
        headers={"x-ratelimit-reset": str(reset_ms), "x-ratelimit-remaining": "0"},
    )
    handler, seen = sequence(limited, httpx.Response(200, json=RUN))
    await make(handler, time, rand=0.5).retrieve_run(RUN_ID, time.deadline())
    assert len(seen) == 2
    assert time.waits == [pytest.approx(3.2 + 0.5, abs=0.01)]


async def test_rate_limit_beyond_the_deadline_is_reported_not_waited_for() -> None:
    time = FakeTime()
    reset_ms = int((time.wall_now + 60) * 1000)
    limited = httpx.Response(429, json={"error": "Rate limit exceeded"}, headers={"x-ratelimit-reset": str(reset_ms)})
    handler, seen = sequence(limited)
    with pytest.raises(RateLimited):
        await make(handler, time).retrieve_run(RUN_ID, time.deadline(30))
    assert len(seen) == 1 and time.waits == []


async def test_should_retry_false_overrides_a_5xx() -> None:
    time = FakeTime()
    handler, seen = sequence(error(500, "no", **{"x-should-retry": "false"}))
    with pytest.raises(TriggerUnavailable):
        await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert len(seen) == 1


async def test_should_retry_true_overrides_a_4xx() -> None:
    time = FakeTime()
    handler, seen = sequence(error(400, "try again", **{"x-should-retry": "true"}), httpx.Response(200, json=RUN))
    await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (error(400, "Cannot reschedule a run that is not delayed"), RunNotDelayed),
        (error(422, "Cannot reschedule a run that is not delayed"), RunNotDelayed),
        (error(400, "Invalid delay: 1 hour"), InvalidDelay),
        (error(400, "Invalid request body"), InvalidDelay),
        (error(404, "Run not found"), RunNotFound),
        (error(401, "Invalid or missing API Key"), AuthRejected),
        (error(403, "Unauthorized"), AuthRejected),
        (error(400, "Trigger.dev v3 is no longer supported."), TriggerRequestError),
    ],
)
async def test_client_errors_map_to_one_exception_and_are_not_retried(
    response: httpx.Response, expected: type[Exception]
) -> None:
    time = FakeTime()
    handler, seen = sequence(response)
    with pytest.raises(expected) as caught:
        await make(handler, time).reschedule_run(RUN_ID, "2h", time.deadline())
    assert len(seen) == 1
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


async def test_network_errors_are_retried_then_reported_with_their_cause() -> None:
    time = FakeTime()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TriggerUnavailable) as caught:
        await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert calls == 5
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_deadline_bounds_the_retries() -> None:
    time = FakeTime()
    handler, seen = sequence(error(500, "down"))
    with pytest.raises(TriggerUnavailable):
        await make(handler, time).retrieve_run(RUN_ID, time.deadline(3.0))
    # 1 s and 1.6 s fit in 3 s; the next 2.56 s wait would pass the deadline, so the error is raised instead.
    assert time.waits == [1.0, 1.6] and len(seen) == 3


async def test_the_key_never_appears_in_the_client_repr() -> None:
    time = FakeTime()
    client = make(lambda request: httpx.Response(200, json=RUN), time)
    assert KEY not in repr(client)


# ---------------------------------------------------------------- a change that may have been applied


def raising(*failures: httpx.RequestError | httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """Each request gets the next failure (a response, or an httpx exception raised anew carrying the request);
    the last one repeats."""
    seen: list[httpx.Request] = []
    queue = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, httpx.Response):
            return item
        raise type(item)(str(item), request=request)

    return handler, seen


def read_timeout() -> httpx.ReadTimeout:
    return httpx.ReadTimeout("timed out")


@pytest.mark.parametrize(
    "failure",
    [read_timeout(), httpx.RemoteProtocolError("Server disconnected"), httpx.ReadError("reset"), error(502, "Bad")],
    ids=["read-timeout", "disconnected", "read-error", "gateway-502"],
)
async def test_a_change_that_was_sent_and_not_answered_is_outcome_unknown(
    failure: httpx.RequestError | httpx.Response,
) -> None:
    time = FakeTime()
    handler, seen = raising(failure)
    with pytest.raises(OutcomeUnknown) as caught:
        await make(handler, time).reschedule_run(RUN_ID, "2026-12-01T09:00:00.000Z", time.deadline())
    assert len(seen) == 5 and caught.value.maybe_applied
    assert isinstance(caught.value, TriggerUnavailable)  # anything that handles "unavailable" still catches it
    assert isinstance(caught.value.__cause__, TriggerUnavailable)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("connect"), httpx.PoolTimeout("pool")],
    ids=["connect-error", "connect-timeout", "pool-timeout"],
)
async def test_a_change_that_was_never_sent_is_plainly_unavailable(failure: httpx.RequestError) -> None:
    time = FakeTime()
    handler, seen = raising(failure)
    with pytest.raises(TriggerUnavailable) as caught:
        await make(handler, time).reschedule_run(RUN_ID, "2h", time.deadline())
    assert type(caught.value) is TriggerUnavailable and not caught.value.maybe_applied
    assert len(seen) == 5 and isinstance(caught.value.__cause__, type(failure))


async def test_a_read_is_never_outcome_unknown() -> None:
    time = FakeTime()
    handler, _ = raising(read_timeout())
    with pytest.raises(TriggerUnavailable) as caught:
        await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert type(caught.value) is TriggerUnavailable and not caught.value.maybe_applied


async def test_maybe_applied_sticks_across_retries_that_then_fail_otherwise() -> None:
    """Sent once (read timeout), then never sent again (connection refused): the first may have applied."""
    time = FakeTime()
    handler, seen = raising(read_timeout(), httpx.ConnectError("refused"))
    with pytest.raises(OutcomeUnknown) as caught:
        await make(handler, time).reschedule_run(RUN_ID, "2h", time.deadline())
    assert len(seen) == 5 and isinstance(caught.value.__cause__, TriggerUnavailable)


async def test_a_refusal_after_a_maybe_applied_attempt_is_outcome_unknown() -> None:
    time = FakeTime()
    handler, seen = raising(read_timeout(), error(401, "Invalid or missing API Key"))
    with pytest.raises(OutcomeUnknown) as caught:
        await make(handler, time).reschedule_run(RUN_ID, "2h", time.deadline())
    assert len(seen) == 2 and isinstance(caught.value.__cause__, AuthRejected) and caught.value.status == 401


async def test_not_delayed_after_a_maybe_applied_attempt_keeps_its_type_and_says_so() -> None:
    time = FakeTime()
    handler, seen = raising(read_timeout(), error(400, "Cannot reschedule a run that is not delayed"))
    with pytest.raises(RunNotDelayed) as caught:
        await make(handler, time).reschedule_run(RUN_ID, "0s", time.deadline())
    assert len(seen) == 2 and caught.value.maybe_applied


async def test_not_delayed_at_once_is_not_maybe_applied() -> None:
    time = FakeTime()
    handler, _ = raising(error(400, "Cannot reschedule a run that is not delayed"))
    with pytest.raises(RunNotDelayed) as caught:
        await make(handler, time).reschedule_run(RUN_ID, "0s", time.deadline())
    assert not caught.value.maybe_applied


async def test_a_retry_that_succeeds_after_a_maybe_applied_attempt_is_a_success() -> None:
    time = FakeTime()
    body = {**RUN, "delayedUntil": "2026-12-01T09:00:00.000Z"}
    handler, seen = raising(read_timeout(), httpx.Response(200, json=body))
    run = await make(handler, time).reschedule_run(RUN_ID, "2026-12-01T09:00:00.000Z", time.deadline())
    assert run.delayed_until is not None and run.delayed_until.year == 2026 and len(seen) == 2
    # The retry is the same logical call: same idempotency key, same absolute instant.
    assert len({r.headers["x-trigger-request-idempotency-key"] for r in seen}) == 1
    assert {r.content for r in seen} == {seen[0].content}


async def test_the_deadline_passing_after_a_maybe_applied_attempt_is_outcome_unknown() -> None:
    """The read timeout used up the whole deadline: no retry, and the answer is "unknown", not "unavailable"."""
    time = FakeTime()
    deadline = time.deadline(5.0)

    def handler(request: httpx.Request) -> httpx.Response:
        time.mono = deadline.expires_at  # the request took all the time there was
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(OutcomeUnknown):
        await make(handler, time).reschedule_run(RUN_ID, "2h", deadline)
    assert time.waits == []


async def test_an_unreadable_success_to_a_change_is_outcome_unknown() -> None:
    time = FakeTime()
    handler, _ = sequence(httpx.Response(200, content=b"<html>ok</html>"))
    with pytest.raises(OutcomeUnknown):
        await make(handler, time).reschedule_run(RUN_ID, "2h", time.deadline())
    handler, _ = sequence(httpx.Response(200, json={"id": 42}))
    with pytest.raises(OutcomeUnknown):
        await make(handler, time).reschedule_run(RUN_ID, "2h", time.deadline())
    handler, _ = sequence(httpx.Response(200, content=b"<html>ok</html>"))
    with pytest.raises(TriggerUnavailable) as caught:
        await make(handler, time).retrieve_run(RUN_ID, time.deadline())
    assert type(caught.value) is TriggerUnavailable
