"""`--demo`: a simulated Trigger.dev API, in-process, behind an httpx transport.

It answers the routes the bot calls as the real server does (statuses, errors, paging): `GET /api/v3/runs/{id}`
(v4 status names with `x-trigger-api-version: 2025-07-16`, legacy names without), `POST /api/v1/runs/{id}/reschedule`
(the checks in the server's order, with its status codes and error bodies: delay grammar first, then the run in
the key's own environment, then DELAYED only), `GET /api/v1/runs` (a page of runs, `filter[status]`,
`filter[taskIdentifier]` and `filter[tag]`), the middleware's 401 without an Authorization header, and the rate
limiter's token bucket (750, +250 every 10 s) with `x-ratelimit-*` headers on every answer.

Two environments, prod and staging, each with a key shaped like a real one (so the bot names the environments from
the prefixes) and clearly fake. The runs are seeded at construction with the same ids on every start, their times
relative to the clock: a delayed run starts (EXECUTING) when its time comes, and a run started that way completes a
little later; the seeded executing run keeps executing, the seeded completed run stays completed.

Nothing here does I/O; `clock` is injectable (an aware datetime), so tests fix the time.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

__all__ = [
    "DEMO_API_URL",
    "DEMO_DASHBOARD_URL",
    "DEMO_KEYS",
    "DEMO_PROD_KEY",
    "DEMO_RUNS",
    "DEMO_STAGING_KEY",
    "FIRST_TRY",
    "RUN_CLEANUP_COMPLETED",
    "RUN_DIGEST",
    "RUN_IMPORT_EXECUTING",
    "RUN_INVOICES",
    "RUN_REMINDER",
    "RUN_SYNC",
    "DemoRun",
    "DemoTrigger",
    "demo_environ",
]

DEMO_API_URL = "https://api.demo.trigger.invalid"
DEMO_DASHBOARD_URL = "https://cloud.demo.trigger.invalid"
DEMO_PROD_KEY = "tr_prod_demo_not_a_real_key_0000"
DEMO_STAGING_KEY = "tr_stg_demo_not_a_real_key_0000"
DEMO_KEYS: Mapping[str, str] = {"prod": DEMO_PROD_KEY, "staging": DEMO_STAGING_KEY}

# The seeded runs' ids: the same on every start, so the README's example lines work as written.
RUN_DIGEST = "run_demoprod0weeklydigest01"  # prod, DELAYED 2 h ahead
RUN_INVOICES = "run_demoprod0monthlyinvoice2"  # prod, DELAYED 1 day ahead
RUN_REMINDER = "run_demostg0trialreminder03"  # staging, DELAYED 45 min ahead
RUN_SYNC = "run_demostg0crmsyncnightly04"  # staging, DELAYED 3 days ahead
RUN_IMPORT_EXECUTING = "run_demoprod0importorders05"  # prod, EXECUTING
RUN_CLEANUP_COMPLETED = "run_demostg0cleanupsessions6"  # staging, COMPLETED
# The first thing the shell suggests: a run 45 min ahead moved to 3 h from now (a change anyone sees), in staging
# (which moves at once; prod asks first).
FIRST_TRY = f"/reschedule {RUN_REMINDER} 3h"

API_VERSION = "2025-07-16"
RATE_LIMIT = 750
RATE_REFILL = 250
RATE_REFILL_EVERY = timedelta(seconds=10)
RUN_DURATION = timedelta(seconds=20)  # how long a run the demo started takes to complete

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class DemoRun:
    """A seeded run: where it lives, what it is, and its time relative to the simulator's start."""

    id: str
    env: str  # "prod" or "staging", a key of DEMO_KEYS
    task: str
    status: str  # a v4 status name
    offset: timedelta  # DELAYED: delayed until start + offset; otherwise started at start + offset (negative)
    tags: tuple[str, ...] = ()
    version: str | None = None
    idempotency_key: str | None = None


DEMO_RUNS: tuple[DemoRun, ...] = (
    DemoRun(RUN_DIGEST, "prod", "send-weekly-digest", "DELAYED", timedelta(hours=2), ("digest", "email")),
    DemoRun(
        RUN_INVOICES,
        "prod",
        "generate-invoices",
        "DELAYED",
        timedelta(days=1),
        ("billing",),
        version="20260601.3",
        idempotency_key="invoices-monthly",
    ),
    DemoRun(RUN_REMINDER, "staging", "send-trial-reminder", "DELAYED", timedelta(minutes=45), ("email", "trial")),
    DemoRun(RUN_SYNC, "staging", "sync-crm", "DELAYED", timedelta(days=3), ("crm",)),
    DemoRun(
        RUN_IMPORT_EXECUTING, "prod", "import-orders", "EXECUTING", timedelta(minutes=-4), ("orders",), "20260601.3"
    ),
    DemoRun(
        RUN_CLEANUP_COMPLETED, "staging", "cleanup-sessions", "COMPLETED", timedelta(hours=-1), version="20260530.1"
    ),
)

# How a v4 status is named for a client that does not send the version header (every other name is unchanged).
LEGACY_STATUS = {"DEQUEUED": "EXECUTING", "WAITING": "FROZEN"}
QUEUED_STATUSES = {"QUEUED", "WAITING_FOR_DEPLOY", "DELAYED", "PENDING_VERSION"}
EXECUTING_STATUSES = {"EXECUTING", "REATTEMPTING", "FROZEN", "DEQUEUED"}
COMPLETED_STATUSES = {"COMPLETED", "CANCELED", "FAILED", "CRASHED", "INTERRUPTED", "SYSTEM_FAILURE"}

JS_MAX_DATE_MS = 8.64e15
DURATION_RE = re.compile(r"^([0-9]+(?:w|d|hr|h|m|s))+$")
DURATION_UNITS = (
    (re.compile(r"([0-9]+)w"), 7 * 86_400_000),
    (re.compile(r"([0-9]+)d"), 86_400_000),
    (re.compile(r"([0-9]+)(?:hr|h)"), 3_600_000),
    (re.compile(r"([0-9]+)m"), 60_000),
    (re.compile(r"([0-9]+)s"), 1_000),
)
RETRIEVE_PATH = re.compile(r"^/api/v3/runs/([^/]+)$")
RESCHEDULE_PATH = re.compile(r"^/api/v1/runs/([^/]+)/reschedule$")
LIST_PATH = "/api/v1/runs"
NO_AUTH_BODY = {
    "title": "Unauthorized",
    "status": 401,
    "type": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/401",
    "detail": "No authorization header provided",
    "error": "No authorization header provided",
}
_SOMETHING_WRONG = "Something went wrong, please try again."


def demo_environ() -> dict[str, str]:
    """The Trigger.dev settings of demo mode: both demo keys, the simulated API and dashboard."""
    return {
        "TRIGGER_SECRET_KEY": DEMO_PROD_KEY,
        "TRIGGER_SECRET_KEYS": DEMO_STAGING_KEY,
        "TRIGGER_API_URL": DEMO_API_URL,
        "TRIGGER_DASHBOARD_URL": DEMO_DASHBOARD_URL,
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ms(value: datetime) -> datetime:
    """Truncated to milliseconds, as a JS Date is."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _iso(value: datetime) -> str:
    """`Date.prototype.toISOString()`: UTC, milliseconds, a trailing Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class _Answer(Exception):
    """Stops handling with this response."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> _Answer:
    return _Answer(status, {"error": message}, headers)


def parse_duration_ms(text: str) -> int | None:
    """`parseNaturalLanguageDurationInMs`: lowercase units w/d/h|hr/m/s, first match per unit, summed."""
    if len(text) > 100 or not DURATION_RE.match(text):
        return None
    total = 0
    for pattern, unit_ms in DURATION_UNITS:
        found = pattern.search(text)
        if found:
            total += int(found.group(1)) * unit_ms
    return total


def parse_date(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _ms(value if value.tzinfo else value.replace(tzinfo=UTC))


@dataclass(slots=True)
class _Run:
    id: str
    env: str
    task: str
    status: str
    created_at: datetime
    updated_at: datetime
    delayed_until: datetime | None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    finishes_at: datetime | None = None  # when a run the demo started completes (None: it keeps its status)
    tags: tuple[str, ...] = ()
    version: str | None = None
    idempotency_key: str | None = None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    refilled_at: datetime


class DemoTrigger(httpx.AsyncBaseTransport):
    """The simulated Trigger.dev API: `httpx.AsyncClient(base_url=DEMO_API_URL, transport=DemoTrigger())`.

    Args:
        clock: the time now, an aware datetime (default: the wall clock); seeded times are relative to it.
    """

    def __init__(self, clock: Clock = _utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._envs = {key: env for env, key in DEMO_KEYS.items()}
        self._buckets: dict[str, _Bucket] = {}
        self._runs: dict[tuple[str, str], _Run] = {}  # (environment, run id): ids are looked up per environment
        start = self._now()
        for seed in DEMO_RUNS:
            delayed = seed.status == "DELAYED"
            created = start - timedelta(hours=3) if delayed else start + seed.offset - timedelta(minutes=1)
            run = _Run(
                id=seed.id,
                env=seed.env,
                task=seed.task,
                status=seed.status,
                created_at=created,
                updated_at=created,
                delayed_until=start + seed.offset if delayed else None,
                tags=tuple(sorted(seed.tags)),
                version=seed.version,
                idempotency_key=seed.idempotency_key,
            )
            if not delayed:
                run.started_at = start + seed.offset
                run.updated_at = run.started_at
            if seed.status in COMPLETED_STATUSES:
                run.finished_at = start + seed.offset + timedelta(minutes=2)
                run.updated_at = run.finished_at
            self._runs[(seed.env, seed.id)] = run

    # inspection (for tests and the shell) ----------------------------------------------------------------

    def status_of(self, run_id: str) -> str:
        """The v4 status of a seeded (or any stored) run, as it is now."""
        with self._lock:
            self._advance(self._now())
            return next(run.status for (_, rid), run in self._runs.items() if rid == run_id)

    # transport -------------------------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        with self._lock:
            now = self._now()
            self._advance(now)
            status, payload, headers = self._handle(request, body, now)
        if isinstance(payload, str):
            headers.setdefault("content-type", "text/plain; charset=utf-8")
            content = payload.encode()
        else:
            problem = headers.get("content-type", "").startswith("application/problem+json")
            headers.setdefault("content-type", "application/json; charset=utf-8")
            content = json.dumps(payload, indent=2 if problem else None).encode()
        return httpx.Response(status, headers=headers, content=content, request=request)

    def _now(self) -> datetime:
        return _ms(self._clock().astimezone(UTC))

    def _handle(self, request: httpx.Request, body: bytes, now: datetime) -> tuple[int, Any, dict[str, str]]:
        authorization = request.headers.get("authorization")
        if authorization is None:
            # The API middleware answers before any rate limiting or routing.
            return 401, NO_AUTH_BODY, {"content-type": "application/problem+json; charset=utf-8"}
        key = authorization.removeprefix("Bearer ").strip()
        env = self._envs.get(key)
        limits = self._take_token(env or "key:" + key, now)
        if isinstance(limits, _Answer):
            return limits.status, limits.body, limits.headers
        try:
            status, payload = self._route(request, body, key, env, now)
            headers: dict[str, str] = {}
        except _Answer as answer:
            status, payload, headers = answer.status, answer.body, answer.headers
        return status, payload, {**limits, **headers}

    def _route(self, request: httpx.Request, body: bytes, key: str, env: str | None, now: datetime) -> tuple[int, Any]:
        path = request.url.path
        version = request.headers.get("x-trigger-api-version")
        if (match := RETRIEVE_PATH.match(path)) and request.method == "GET":
            if env is None:
                raise _error(401, "Invalid API key" if key else "Invalid or Missing API key")
            run = self._runs.get((env, unquote(match.group(1))))
            if run is None:
                raise _error(404, "Not found", {"x-should-retry": "true"})
            return 200, _render(run, version)
        if (match := RESCHEDULE_PATH.match(path)) and request.method == "POST":
            if env is None:
                raise _error(401, "Invalid or missing API Key")
            return 200, self._reschedule(unquote(match.group(1)), env, body, version, now)
        if path == LIST_PATH and request.method == "GET":
            if env is None:
                raise _error(401, "Invalid API key" if key else "Invalid or Missing API key")
            return 200, self._list(env, request.url.query.decode(), version)
        raise _error(404, "Not found")

    def _reschedule(self, run_id: str, env: str, body: bytes, version: str | None, now: datetime) -> Any:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Answer(500, "Unexpected Server Error") from None  # request.json() sits outside any try
        until = _resolve_delay(data, now)
        run = self._runs.get((env, run_id))
        if run is None:
            raise _error(404, "Run not found")
        if run.status != "DELAYED":
            raise _error(400, "Cannot reschedule a run that is not delayed")
        run.delayed_until = until
        run.updated_at = now
        return _render(run, version)

    def _list(self, env: str, query: str, version: str | None) -> Any:
        params = parse_qs(query)
        statuses = {s for value in params.get("filter[status]", []) for s in value.split(",") if s}
        tasks = {t for value in params.get("filter[taskIdentifier]", []) for t in value.split(",") if t}
        tags = {t for value in params.get("filter[tag]", []) for t in value.split(",") if t}
        size = 25
        if sizes := params.get("page[size]"):
            with contextlib.suppress(ValueError):
                size = max(10, min(100, int(sizes[0])))
        runs = [
            run
            for (run_env, _), run in self._runs.items()
            if run_env == env
            and (not statuses or run.status in statuses or _legacy(run.status) in statuses)
            and (not tasks or run.task in tasks)
            and (not tags or any(tag in tags for tag in run.tags))
        ]
        runs.sort(key=lambda run: run.created_at, reverse=True)
        return {"data": [_render(run, version, listed=True) for run in runs[:size]], "pagination": {}}

    def _advance(self, now: datetime) -> None:
        """What the run engine would have done by `now`: due delayed runs start, started ones complete."""
        for run in self._runs.values():
            if run.status == "DELAYED" and run.delayed_until is not None and run.delayed_until <= now:
                run.status, run.started_at = "EXECUTING", run.delayed_until
                run.updated_at = run.delayed_until
                run.finishes_at = run.delayed_until + RUN_DURATION
            if run.status == "EXECUTING" and run.finishes_at is not None and run.finishes_at <= now:
                run.status, run.finished_at, run.finishes_at = "COMPLETED", run.finishes_at, None
                run.updated_at = run.finished_at

    def _take_token(self, bucket_key: str, now: datetime) -> dict[str, str] | _Answer:
        """The token bucket of the key's environment: the headers to send, or the 429 answer."""
        bucket = self._buckets.setdefault(bucket_key, _Bucket(tokens=RATE_LIMIT, refilled_at=now))
        intervals = int((now - bucket.refilled_at) / RATE_REFILL_EVERY)
        if intervals > 0:
            bucket.tokens = min(RATE_LIMIT, bucket.tokens + intervals * RATE_REFILL)
            bucket.refilled_at += intervals * RATE_REFILL_EVERY
        reset = bucket.refilled_at + RATE_REFILL_EVERY
        bucket.tokens -= 1
        remaining = int(bucket.tokens)
        headers = {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(max(0, remaining)),
            "x-ratelimit-reset": str(_epoch_ms(reset)),
        }
        if remaining >= 0:
            return headers
        bucket.tokens = 0.0  # a refused request takes no token
        seconds = (reset - now).total_seconds()
        detail = f"Rate limit exceeded 0/{RATE_LIMIT} requests remaining. Retry in {seconds:.1f} seconds."
        body = {
            "title": "Rate Limit Exceeded",
            "status": 429,
            "type": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/429",
            "detail": detail,
            "reset": _epoch_ms(reset),
            "limit": RATE_LIMIT,
            "remaining": -1,
            "secondsUntilReset": seconds,
            "error": detail,
        }
        return _Answer(429, body, {**headers, "content-type": "application/problem+json; charset=utf-8"})


def _resolve_delay(body: Any, now: datetime) -> datetime:
    """The route's body schema plus `parseDelay`, in the server's order; raises _Answer with its refusal."""
    if not isinstance(body, dict) or "delay" not in body:
        raise _error(400, "Invalid request body")
    delay = body["delay"]
    if isinstance(delay, str):
        return _delay_from_string(delay, now)
    # z.coerce.date(): new Date(value); null → the epoch, booleans → 0/1 ms, objects and arrays → Invalid Date.
    if delay is None or isinstance(delay, bool | int | float):
        millis = float(delay or 0)
        if math.isfinite(millis) and abs(millis) <= JS_MAX_DATE_MS:
            try:
                return datetime.fromtimestamp(int(millis) / 1000, UTC)
            except (OverflowError, ValueError, OSError):  # beyond Python's year 9999
                raise _error(500, _SOMETHING_WRONG) from None
    raise _error(400, "Invalid request body")


def _delay_from_string(raw: str, now: datetime) -> datetime:
    invalid = _error(400, f"Invalid delay: {raw}")
    if raw == "":
        raise invalid
    as_date = parse_date(raw)
    if as_date is not None:
        if as_date <= now:
            raise invalid
        return as_date
    millis = parse_duration_ms(raw)
    if millis is None:
        raise invalid
    try:
        return now + timedelta(milliseconds=millis)
    except OverflowError:  # JS gets an Invalid Date, and toISOString() throws inside the route's try
        raise _error(500, _SOMETHING_WRONG) from None


def _legacy(status: str) -> str:
    return LEGACY_STATUS.get(status, status)


def _render(run: _Run, api_version: str | None, *, listed: bool = False) -> dict[str, Any]:
    """A RetrieveRunResponse; unset optional fields are omitted."""
    status = run.status if api_version == API_VERSION else _legacy(run.status)
    completed = status in COMPLETED_STATUSES
    body: dict[str, Any] = {
        "id": run.id,
        "taskIdentifier": run.task,
        "status": status,
        "createdAt": _iso(run.created_at),
        "updatedAt": _iso(run.updated_at),
    }
    for name, value in (
        ("delayedUntil", run.delayed_until),
        ("startedAt", run.started_at),
        ("finishedAt", run.finished_at),
    ):
        if value is not None:
            body[name] = _iso(value)
    body |= {
        "costInCents": 0,
        "baseCostInCents": 0,
        "durationMs": 0,
        "isTest": False,
        "tags": list(run.tags),
        "isQueued": status in QUEUED_STATUSES,
        "isExecuting": status in EXECUTING_STATUSES,
        "isCompleted": completed,
        "isFailed": completed and status != "COMPLETED",
        "isSuccess": status == "COMPLETED",
        "isCancelled": status == "CANCELED",
        "isWaiting": status == "WAITING",
    }
    if run.version is not None:
        body["version"] = run.version
    if run.idempotency_key is not None:
        body["idempotencyKey"] = run.idempotency_key
    if listed:
        body["env"] = {"id": f"env_demo{run.env}", "name": run.env, "user": None}
        return body
    body |= {"depth": 0, "triggerFunction": "trigger", "attemptCount": 0, "attempts": [], "relatedRuns": {}}
    return body
