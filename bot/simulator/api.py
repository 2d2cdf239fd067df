"""The simulated server: environments and their keys, the runs, the run engine, and the routes the bot calls."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from bot.simulator.delays import DelayRefused, resolve_delay, to_ms
from bot.simulator.limits import RateLimit, TokenBucket, rate_limit_headers, rate_limited_body
from bot.simulator.listing import ListQuery
from bot.simulator.runs import V4_STATUSES, SimulatedRun, render_run

__all__ = [
    "LIST_PATH",
    "RESCHEDULE_PATH",
    "RETRIEVE_PATH",
    "RUN_DURATION",
    "Answer",
    "Clock",
    "TriggerSimulator",
    "utc_now",
]

RETRIEVE_PATH = re.compile(r"^/api/v3/runs/([^/]+)$")
RESCHEDULE_PATH = re.compile(r"^/api/v1/runs/([^/]+)/reschedule$")
LIST_PATH = "/api/v1/runs"
RUN_DURATION = timedelta(seconds=20)  # how long a run the engine started takes to complete
JSON = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json"
NO_AUTH_BODY = {
    "title": "Unauthorized",
    "status": 401,
    "type": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/401",
    "detail": "No authorization header provided",
    "error": "No authorization header provided",
}

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Answer:
    """An HTTP answer: status, headers (lower-case names) and the encoded body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Answer:
        problem = PROBLEM_JSON in (headers or {}).get("content-type", "")
        content = json.dumps(obj, indent=2 if problem else None).encode()  # problem+json is pretty-printed
        return cls(status, {"content-type": JSON, **(headers or {})}, content)

    @classmethod
    def text(cls, status: int, text: str) -> Answer:
        return cls(status, {"content-type": "text/plain; charset=utf-8"}, text.encode())


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> _Refused:
    return _Refused(Answer.json(status, {"error": message}, headers))


class TriggerSimulator:
    """Trigger.dev's API as the bot meets it. Thread-safe: every method takes the simulator's lock.

    Args:
        clock: the time now, an aware datetime (default: the wall clock).
        rate_limit: the limiter's bucket settings (default: the server's).
        engine: the run engine runs: a DELAYED run starts (EXECUTING) when its time comes and completes
            RUN_DURATION later. Off, statuses change only through `set_status`.
    """

    def __init__(self, clock: Clock = utc_now, *, rate_limit: RateLimit | None = None, engine: bool = True) -> None:
        self._clock = clock
        self._limits = rate_limit or RateLimit()
        self._engine = engine
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}  # secret key → environment
        self._buckets: dict[str, TokenBucket] = {}
        self._runs: dict[tuple[str, str], SimulatedRun] = {}  # (environment, run id): ids are per environment

    def now(self) -> datetime:
        """The simulator's time: the clock's, in UTC, truncated to milliseconds."""
        return to_ms(self._clock().astimezone(UTC))

    # the dashboard: keys and runs --------------------------------------------------------------------------

    def add_key(self, key: str, env: str) -> None:
        with self._lock:
            self._keys[key] = env

    def revoke_key(self, key: str) -> None:
        """From now on the key is unknown: every request with it gets the route's 401."""
        with self._lock:
            self._keys.pop(key, None)

    def add_run(self, run: SimulatedRun) -> SimulatedRun:
        """Store a run (its datetimes truncated to milliseconds); returns a copy of what is stored."""
        _check_status(run.status)
        stored = _copy(run)
        stored.tags = tuple(sorted(run.tags))
        for name in ("created_at", "updated_at", "delayed_until", "started_at", "finished_at", "finishes_at"):
            if (value := getattr(stored, name)) is not None:
                setattr(stored, name, to_ms(value))
        with self._lock:
            self._runs[(stored.env, stored.id)] = stored
            return _copy(stored)

    def get_run(self, run_id: str, env: str | None = None) -> SimulatedRun:
        """A copy of the run as it is now; `env` picks between runs with the same id in different environments
        (else the first one added). KeyError when there is none."""
        with self._lock:
            self._advance(self.now())
            return _copy(self._stored(run_id, env))

    def set_status(self, run_id: str, status: str, env: str | None = None) -> None:
        """The run's status changes (as the engine or the dashboard changes it)."""
        _check_status(status)
        with self._lock:
            run = self._stored(run_id, env)
            run.status, run.updated_at, run.finishes_at = status, self.now(), None

    def set_delayed_until(self, run_id: str, when: datetime, env: str | None = None) -> None:
        """A DELAYED run is moved as the dashboard or the SDK would move it, behind the bot's back."""
        with self._lock:
            run = self._stored(run_id, env)
            run.delayed_until, run.updated_at = to_ms(when), self.now()

    def limit_headers(self, authorization: str | None) -> dict[str, str]:
        """The `x-ratelimit-*` headers the key's bucket would report now, without taking a token."""
        now = self.now()
        with self._lock:
            bucket = self._bucket(authorization or "", now)
            reset = bucket.refill(self._limits, now)
            return rate_limit_headers(self._limits.limit, int(bucket.tokens), reset)

    def rate_limited(self, reset_in: timedelta) -> Answer:
        """The limiter's 429, with its reset `reset_in` from now."""
        now = self.now()
        reset = now + reset_in
        headers = {**rate_limit_headers(self._limits.limit, 0, reset), "content-type": PROBLEM_JSON}
        return Answer.json(429, rate_limited_body(self._limits.limit, reset, now), headers)

    # the API ---------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one request (`headers` with lower-case names) as the server would."""
        with self._lock:
            now = self.now()
            self._advance(now)
            authorization = headers.get("authorization")
            if authorization is None:
                # The API middleware answers before any rate limiting or routing.
                return Answer.json(401, NO_AUTH_BODY, {"content-type": PROBLEM_JSON})
            limits = self._take_token(authorization, now)
            if isinstance(limits, Answer):
                return limits
            try:
                answer = self._route(method, path, query, headers, body, now)
            except _Refused as refused:
                answer = refused.answer
            answer.headers = {**limits, **answer.headers}
            return answer

    def _route(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Answer:
        key = _key(headers.get("authorization", ""))
        env = self._keys.get(key)
        version = headers.get("x-trigger-api-version")
        if (match := RETRIEVE_PATH.match(path)) and method == "GET":
            if env is None:
                raise _error(401, "Invalid API key" if key else "Invalid or Missing API key")
            run = self._runs.get((env, unquote(match.group(1))))
            if run is None:
                raise _error(404, "Not found", {"x-should-retry": "true"})
            return Answer.json(200, render_run(run, version))
        if (match := RESCHEDULE_PATH.match(path)) and method == "POST":
            if env is None:
                raise _error(401, "Invalid or missing API Key")
            return Answer.json(200, self._reschedule(unquote(match.group(1)), env, body, version, now))
        if path == LIST_PATH and method == "GET":
            if env is None:
                raise _error(401, "Invalid API key" if key else "Invalid or Missing API key")
            return Answer.json(200, self._list(env, query, version, now))
        raise _error(404, "Not found")

    def _reschedule(self, run_id: str, env: str, body: bytes, version: str | None, now: datetime) -> Any:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Refused(Answer.text(500, "Unexpected Server Error")) from None  # request.json() outside any try
        try:
            until = resolve_delay(data, now)
        except DelayRefused as refused:
            raise _error(refused.status, refused.message) from None
        run = self._runs.get((env, run_id))
        if run is None:
            raise _error(404, "Run not found")
        if run.status != "DELAYED":
            raise _error(400, "Cannot reschedule a run that is not delayed")
        run.delayed_until = until
        run.updated_at = now
        return render_run(run, version)

    def _list(self, env: str, query: str, version: str | None, now: datetime) -> Any:
        try:
            listing = ListQuery.parse(query, now)
        except ValueError as exc:
            raise _Refused(Answer.json(400, {"error": "Query Error", "details": [str(exc)]})) from None
        page, after = listing.page(run for (run_env, _), run in self._runs.items() if run_env == env)
        pagination = {"next": after} if after is not None else {}
        return {"data": [render_run(run, version, listed=True) for run in page], "pagination": pagination}

    def _advance(self, now: datetime) -> None:
        """What the run engine would have done by `now`: due delayed runs start, started ones complete."""
        if not self._engine:
            return
        for run in self._runs.values():
            if run.status == "DELAYED" and run.delayed_until is not None and run.delayed_until <= now:
                run.status, run.started_at = "EXECUTING", run.delayed_until
                run.updated_at = run.delayed_until
                run.finishes_at = run.delayed_until + RUN_DURATION
            if run.status == "EXECUTING" and run.finishes_at is not None and run.finishes_at <= now:
                run.status, run.finished_at, run.finishes_at = "COMPLETED", run.finishes_at, None
                run.updated_at = run.finished_at

    def _bucket(self, authorization: str, now: datetime) -> TokenBucket:
        """The bucket of the key's environment (an unknown key has its own)."""
        key = _key(authorization)
        env = self._keys.get(key)
        name = env if env is not None else "key:" + key
        return self._buckets.setdefault(name, TokenBucket(tokens=self._limits.limit, refilled_at=now))

    def _take_token(self, authorization: str, now: datetime) -> dict[str, str] | Answer:
        """Take a token from the key's bucket: the headers to send, or the 429 answer."""
        bucket = self._bucket(authorization, now)
        reset = bucket.refill(self._limits, now)
        bucket.tokens -= 1
        headers = rate_limit_headers(self._limits.limit, int(bucket.tokens), reset)
        if bucket.tokens >= 0:
            return headers
        bucket.tokens = 0.0  # a refused request takes no token
        body = rate_limited_body(self._limits.limit, reset, now)
        return Answer.json(429, body, {**headers, "content-type": PROBLEM_JSON})

    def _stored(self, run_id: str, env: str | None) -> SimulatedRun:
        if env is not None:
            return self._runs[(env, run_id)]
        try:
            return next(run for (_, rid), run in self._runs.items() if rid == run_id)
        except StopIteration:
            raise KeyError(run_id) from None


def _key(authorization: str) -> str:
    return authorization.removeprefix("Bearer ").strip()


def _copy(run: SimulatedRun) -> SimulatedRun:
    return dataclasses.replace(run, extra=dict(run.extra))


def _check_status(status: str) -> None:
    if status not in V4_STATUSES:
        raise ValueError(f"not a v4 run status: {status!r} (one of {', '.join(V4_STATUSES)})")
