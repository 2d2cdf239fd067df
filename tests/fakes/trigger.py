"""A fake Trigger.dev API over HTTP: the simulator the demo uses (bot/simulator), served for the tests, with faults.

The simulator answers retrieve, reschedule and list as the real server does (see bot/simulator/api.py); its run
engine is off here, so a run's status changes only when a test says so (`set_status`).

Faults: `fail_next` (a canned answer instead of handling), `rate_limit`, and from FakeServer `drop_next` (no answer)
and `hold` (the request waits *before* it is handled, so nothing is applied until released); `answer_late` is
the opposite of `hold`: the request is handled at once (a reschedule is applied) and only its answer waits;
`drop_after` handles the request (applies it) and then closes the connection without answering; `revoke_key`
makes a key unknown from then on (401, as for a key revoked in the dashboard); FakeServer's `refuse_connections`
/ `accept_connections` take the whole API down and back.
"""

from __future__ import annotations

import secrets
import string
import threading
from datetime import datetime, timedelta
from typing import Any

from bot.simulator import API_VERSION, RateLimit, SimulatedRun, TriggerSimulator
from bot.simulator.runs import iso
from tests.fakes._server import FakeServer, RecordedRequest, Reply, Rule, json_reply, text_reply

__all__ = ["API_VERSION", "FakeTrigger", "iso", "new_run_id"]


def new_run_id() -> str:
    """A cuid-style friendly id: run_ + 25 lowercase [a-z0-9]."""
    alphabet = string.ascii_lowercase + string.digits
    return "run_c" + "".join(secrets.choice(alphabet) for _ in range(24))


def _record(run: SimulatedRun) -> dict[str, Any]:
    """The stored run as tests read it: v4 `status`, datetimes for `createdAt`/`updatedAt`/`delayedUntil`."""
    return {
        "id": run.id,
        "envId": run.env,
        "status": run.status,
        "taskIdentifier": run.task,
        "createdAt": run.created_at,
        "updatedAt": run.updated_at,
        "delayedUntil": run.delayed_until,
        "tags": list(run.tags),
        "version": run.version,
        "idempotencyKey": run.idempotency_key,
        "isTest": run.is_test,
        "ttl": run.ttl,
        "extra": dict(run.extra),
    }


class FakeTrigger(FakeServer):
    """Args: rate_limit: the simulated limiter's bucket (default: the server's 750, +250 every 10 s)."""

    def __init__(self, rate_limit: RateLimit | None = None) -> None:
        super().__init__()
        self.simulator = TriggerSimulator(engine=False, rate_limit=rate_limit)
        self._failures: list[Rule] = []
        self._rate_limited = 0
        self._rate_limit_reset_in = 1.0
        self._late: list[Rule] = []  # payload: the threading.Event that releases the answer
        self._lost: list[Rule] = []  # handled, then the connection closes without an answer

    # setup -----------------------------------------------------------------------------------------------

    def add_key(self, key: str, env_id: str) -> None:
        self.simulator.add_key(key, env_id)

    def revoke_key(self, key: str) -> None:
        """From now on the key is unknown: every request with it gets the route's 401."""
        self.simulator.revoke_key(key)

    def add_run(
        self,
        env_id: str,
        run_id: str | None = None,
        *,
        status: str = "DELAYED",
        delayed_until: datetime | None = None,
        task_identifier: str = "send-reminder",
        tags: tuple[str, ...] | list[str] = (),
        version: str | None = None,
        idempotency_key: str | None = None,
        is_test: bool = False,
        ttl: str | None = None,
        created_at: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Store a run; `extra` fields (payload, metadata, startedAt, ...) are sent as given (datetimes as ISO).

        A DELAYED run without `delayed_until` is delayed by one hour; `created_at` defaults to now. Returns the
        stored record (see get_run).
        """
        created = created_at if created_at is not None else self.simulator.now()
        if delayed_until is None and status == "DELAYED":
            delayed_until = created + timedelta(hours=1)
        run = SimulatedRun(
            id=run_id or new_run_id(),
            env=env_id,
            task=task_identifier,
            status=status,
            created_at=created,
            updated_at=created,
            delayed_until=delayed_until,
            tags=tuple(tags),
            version=version,
            idempotency_key=idempotency_key,
            is_test=is_test,
            ttl=ttl,
            extra=dict(extra),
        )
        return _record(self.simulator.add_run(run))

    def get_run(self, run_id: str, env_id: str | None = None) -> dict[str, Any]:
        """A copy of the stored record: v4 `status`, datetimes for `createdAt`/`updatedAt`/`delayedUntil`.

        `env_id` picks between runs with the same id in different environments (else the first one added).
        """
        return _record(self.simulator.get_run(run_id, env_id))

    def set_status(self, run_id: str, status: str, env_id: str | None = None) -> None:
        self.simulator.set_status(run_id, status, env_id)

    def set_delayed_until(self, run_id: str, when: datetime, env_id: str | None = None) -> None:
        """Move a DELAYED run as the dashboard or the SDK would, behind the bot's back."""
        self.simulator.set_delayed_until(run_id, when, env_id)

    # faults ----------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: dict[str, Any] | str,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` matching requests get this answer (dict → JSON, str → text/plain)."""
        with self._lock:
            self._failures.append(Rule(method, path_regex, times, (status, body, headers or {})))

    def rate_limit(self, times: int, reset_in: float) -> None:
        """The next `times` authenticated /api requests get 429, with x-ratelimit-reset = now + reset_in."""
        with self._lock:
            self._rate_limited = times
            self._rate_limit_reset_in = reset_in

    def answer_late(self, method: str, path_regex: str, times: int = 1) -> threading.Event:
        """The next `times` matching requests are handled at once (a reschedule is applied) but answered only when
        the returned event is set (or the fake stops): Trigger.dev acting, then answering after the client gave up.
        """
        event = threading.Event()
        with self._lock:
            self._late.append(Rule(method, path_regex, times, event))
        return event

    def drop_after(self, method: str, path_regex: str, times: int = 1) -> None:
        """The next `times` matching requests are handled (a reschedule is applied), then their connection is
        closed without an answer: a connection reset after the server read and acted on the request."""
        with self._lock:
            self._lost.append(Rule(method, path_regex, times))

    def stop(self) -> None:
        with self._lock:
            for rule in self._late:
                rule.payload.set()  # release late answers so their threads can finish
        super().stop()

    # handling --------------------------------------------------------------------------------------------

    def requests_per_key(self) -> dict[str, int]:
        """How many requests arrived with each secret key (the Authorization header's bearer value; "" for none)."""
        counts: dict[str, int] = {}
        for request in self.requests:
            key = request.headers.get("authorization", "").removeprefix("Bearer ")
            counts[key] = counts.get(key, 0) + 1
        return counts

    def handle(self, request: RecordedRequest) -> Reply | None:
        reply = self._answer(request)
        late = self.take(self._late, request)
        if late is not None:
            late.payload.wait()
        if self.take(self._lost, request) is not None:
            return None
        return reply

    def _answer(self, request: RecordedRequest) -> Reply:
        failure = self.take(self._failures, request)
        if failure is not None:
            status, body, headers = failure.payload
            reply = json_reply(status, body) if isinstance(body, dict) else text_reply(status, body)
            limits = self.simulator.limit_headers(request.headers.get("authorization"))
            reply.headers = {**limits, **reply.headers, **headers}
            return reply
        # the Express middleware answers a request without an Authorization header before any rate limiting
        if "authorization" in request.headers and (limited := self._take_rate_limit()) is not None:
            return limited
        answer = self.simulator.handle(request.method, request.path, request.query, request.headers, request.body)
        return Reply(answer.status, answer.body, answer.headers)

    def _take_rate_limit(self) -> Reply | None:
        with self._lock:
            if self._rate_limited <= 0:
                return None
            self._rate_limited -= 1
            reset_in = self._rate_limit_reset_in
        answer = self.simulator.rate_limited(timedelta(seconds=reset_in))
        return Reply(answer.status, answer.body, answer.headers)
