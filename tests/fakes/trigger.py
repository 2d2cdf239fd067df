"""A fake Trigger.dev API: retrieve, reschedule and list runs, as the real server answers them.

Listing (`GET /api/v1/runs`) filters by `filter[status]` (v4 or legacy names), `filter[taskIdentifier]`
and `filter[tag]` (comma lists), covers runs created in the last 7 days unless `filter[createdAt][from]`, `[to]` or
`[period]` says otherwise, orders by creation (newest first) and pages with `page[size]` (1-100, default 25),
`page[after]` and `pagination.next`.

Runs live in environments; a secret key belongs to one environment and sees only that environment's runs.
Statuses are stored with their v4 names and rendered as legacy names unless the request sends
`x-trigger-api-version: 2025-07-16`. Dates are kept as aware UTC datetimes truncated to milliseconds.

Faults: `fail_next` (a canned answer instead of handling), `rate_limit`, and from FakeServer `drop_next` (no answer)
and `hold` (the request waits *before* it is handled, so nothing is applied until released); `answer_late` is
the opposite of `hold`: the request is handled at once (a reschedule is applied) and only its answer waits;
`drop_after` handles the request (applies it) and then closes the connection without answering; `revoke_key`
makes a key unknown from then on (401, as for a key revoked in the dashboard); FakeServer's `refuse_connections`
/ `accept_connections` take the whole API down and back.
"""

from __future__ import annotations

import math
import secrets
import string
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

# How the real server parses delays and names statuses is written once, in the demo's simulator of it.
from bot.demo import (
    COMPLETED_STATUSES,
    EXECUTING_STATUSES,
    JS_MAX_DATE_MS,
    LEGACY_STATUS,
    LIST_PATH,
    NO_AUTH_BODY,
    QUEUED_STATUSES,
    RESCHEDULE_PATH,
    RETRIEVE_PATH,
    parse_date,
    parse_duration_ms,
)
from tests.fakes._server import FakeServer, RecordedRequest, Reply, Rule, json_reply, text_reply

API_VERSION = "2025-07-16"

V4_STATUSES = (
    "DELAYED",
    "PENDING_VERSION",
    "QUEUED",
    "DEQUEUED",
    "EXECUTING",
    "WAITING",
    "COMPLETED",
    "CANCELED",
    "FAILED",
    "CRASHED",
    "SYSTEM_FAILURE",
    "EXPIRED",
    "TIMED_OUT",
)
LEGACY_NAMES = frozenset({"WAITING_FOR_DEPLOY", "EXECUTING", "REATTEMPTING", "FROZEN", "INTERRUPTED"})


RATE_LIMIT = 750
LIST_DEFAULT_PERIOD = timedelta(days=7)
LIST_DEFAULT_SIZE = 25


def now() -> datetime:
    return _ms(datetime.now(UTC))


def _ms(value: datetime) -> datetime:
    """Truncate to milliseconds, as a JS Date does."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def iso(value: datetime) -> str:
    """`Date.prototype.toISOString()`: UTC, milliseconds, trailing Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def new_run_id() -> str:
    """A cuid-style friendly id: run_ + 25 lowercase [a-z0-9]."""
    alphabet = string.ascii_lowercase + string.digits
    return "run_c" + "".join(secrets.choice(alphabet) for _ in range(24))


def api_status(v4_status: str, api_version: str | None) -> str:
    return v4_status if api_version == API_VERSION else LEGACY_STATUS.get(v4_status, v4_status)


class DelayError(Exception):
    """The request is answered with `reply` (a 4xx or 5xx)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _error(status: int, message: str) -> DelayError:
    return DelayError(json_reply(status, {"error": message}))


def resolve_delay(body: Any) -> datetime:
    """The route's body schema plus `parseDelay`, in HEAD order; raises DelayError with the answer."""
    if not isinstance(body, dict) or "delay" not in body:
        raise _error(400, "Invalid request body")
    delay = body["delay"]
    if isinstance(delay, str):
        return _delay_from_string(delay)
    # z.coerce.date(): new Date(value); null -> epoch, booleans -> 0/1 ms, objects/arrays -> Invalid Date
    if delay is None or isinstance(delay, bool | int | float):
        millis = float(delay or 0)
        if math.isfinite(millis) and abs(millis) <= JS_MAX_DATE_MS:
            try:
                return datetime.fromtimestamp(int(millis) / 1000, UTC)
            except (OverflowError, ValueError, OSError):  # beyond Python's year 9999
                raise _error(500, "Something went wrong, please try again.") from None
    raise _error(400, "Invalid request body")


def _delay_from_string(raw: str) -> datetime:
    invalid = _error(400, f"Invalid delay: {raw}")
    if raw == "":
        raise invalid
    as_date = parse_date(raw)
    if as_date is not None:
        if as_date <= now():
            raise invalid
        return as_date
    millis = parse_duration_ms(raw)
    if millis is None:
        raise invalid
    try:
        return now() + timedelta(milliseconds=millis)
    except OverflowError:  # JS gets an Invalid Date; toISOString() throws inside the route's try
        raise _error(500, "Something went wrong, please try again.") from None


class FakeTrigger(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, str] = {}
        self._runs: dict[tuple[str, str], dict[str, Any]] = {}  # (env id, run id) → run: ids are per environment
        self._failures: list[Rule] = []
        self._rate_limited = 0
        self._rate_limit_reset_in = 1.0
        self._late: list[Rule] = []  # payload: the threading.Event that releases the answer
        self._lost: list[Rule] = []  # handled, then the connection closes without an answer
        self._data_lock = threading.Lock()

    # setup -----------------------------------------------------------------------------------------------

    def add_key(self, key: str, env_id: str) -> None:
        self._keys[key] = env_id

    def revoke_key(self, key: str) -> None:
        """From now on the key is unknown: every request with it gets the route's 401."""
        self._keys.pop(key, None)

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
        _check_status(status)
        created = _ms(created_at) if created_at is not None else now()
        if delayed_until is None and status == "DELAYED":
            delayed_until = created + timedelta(hours=1)
        run: dict[str, Any] = {
            "id": run_id or new_run_id(),
            "envId": env_id,
            "status": status,
            "taskIdentifier": task_identifier,
            "createdAt": created,
            "updatedAt": created,
            "delayedUntil": _ms(delayed_until) if delayed_until else None,
            "tags": sorted(tags),
            "version": version,
            "idempotencyKey": idempotency_key,
            "isTest": is_test,
            "ttl": ttl,
            "extra": dict(extra),
        }
        with self._data_lock:
            self._runs[(env_id, run["id"])] = run
        return self.get_run(run["id"], env_id)

    def _stored(self, run_id: str, env_id: str | None) -> dict[str, Any]:
        if env_id is not None:
            return self._runs[(env_id, run_id)]
        return next(run for (_, rid), run in self._runs.items() if rid == run_id)

    def get_run(self, run_id: str, env_id: str | None = None) -> dict[str, Any]:
        """A copy of the stored record: v4 `status`, datetimes for `createdAt`/`updatedAt`/`delayedUntil`.

        `env_id` picks between runs with the same id in different environments (else the first one added).
        """
        with self._data_lock:
            run = self._stored(run_id, env_id)
            return {**run, "tags": list(run["tags"]), "extra": dict(run["extra"])}

    def set_status(self, run_id: str, status: str, env_id: str | None = None) -> None:
        _check_status(status)
        with self._data_lock:
            run = self._stored(run_id, env_id)
            run["status"] = status
            run["updatedAt"] = now()

    def set_delayed_until(self, run_id: str, when: datetime, env_id: str | None = None) -> None:
        """Move a DELAYED run as the dashboard or the SDK would, behind the bot's back."""
        with self._data_lock:
            run = self._stored(run_id, env_id)
            run["delayedUntil"] = _ms(when)
            run["updatedAt"] = now()

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
            return self._with_limits(reply, headers)
        if "authorization" not in request.headers:
            # the Express middleware answers before any rate limiting or routing
            return json_reply(401, NO_AUTH_BODY, content_type="application/problem+json", indent=2)
        limited = self._take_rate_limit()
        if limited is not None:
            return limited
        return self._with_limits(self._route(request))

    def _route(self, request: RecordedRequest) -> Reply:
        key = request.headers["authorization"].removeprefix("Bearer ").strip()
        env_id = self._keys.get(key)
        version = request.headers.get("x-trigger-api-version")
        if (match := RETRIEVE_PATH.match(request.path)) and request.method == "GET":
            if env_id is None:
                return json_reply(401, {"error": "Invalid API key" if key else "Invalid or Missing API key"})
            run = self._find(match.group(1), env_id)
            if run is None:
                return json_reply(404, {"error": "Not found"}, {"x-should-retry": "true"})
            return json_reply(200, render_run(run, version))
        if (match := RESCHEDULE_PATH.match(request.path)) and request.method == "POST":
            if env_id is None:
                return json_reply(401, {"error": "Invalid or missing API Key"})
            return self._reschedule(match.group(1), env_id, request, version)
        if request.path == LIST_PATH and request.method == "GET":
            if env_id is None:
                return json_reply(401, {"error": "Invalid or Missing API key"})
            return self._list(env_id, request, version)
        return json_reply(404, {"error": "Not found"})

    def _list(self, env_id: str, request: RecordedRequest, version: str | None) -> Reply:
        params = parse_qs(request.query)
        try:
            statuses = _list_values(params, "filter[status]")
            unknown = [s for s in statuses if s not in V4_STATUSES and s not in LEGACY_NAMES]
            if unknown:
                raise _query_error(f"Invalid status values: {', '.join(unknown)}")
            tasks = _list_values(params, "filter[taskIdentifier]")
            tags = _list_values(params, "filter[tag]")
            created_from, created_to = _created_window(params)
            size = LIST_DEFAULT_SIZE
            if "page[size]" in params:
                size = int(params["page[size]"][0])
                if not 1 <= size <= 100:
                    raise _query_error("page[size] must be between 1 and 100")
        except ValueError as exc:
            return json_reply(400, {"error": "Query Error", "details": [str(exc)]})
        after = params.get("page[after]", [None])[0]
        with self._data_lock:
            runs = [
                run
                for (run_env, _), run in self._runs.items()
                if run_env == env_id
                and (not statuses or run["status"] in statuses or api_status(run["status"], None) in statuses)
                and (not tasks or run["taskIdentifier"] in tasks)
                and (not tags or any(tag in run["tags"] for tag in tags))
                and created_from <= run["createdAt"] <= created_to
            ]
            runs.sort(key=lambda run: (run["createdAt"], run["id"]), reverse=True)
            if after is not None:
                ids = [run["id"] for run in runs]
                runs = runs[ids.index(after) + 1 :] if after in ids else []
            page = runs[:size]
            data = [{**render_list_item(run, version), "env": {"id": env_id, "name": env_id}} for run in page]
        pagination: dict[str, str] = {}
        if len(runs) > size:
            pagination["next"] = page[-1]["id"]
        return json_reply(200, {"data": data, "pagination": pagination})

    def _reschedule(self, run_id: str, env_id: str, request: RecordedRequest, version: str | None) -> Reply:
        if request.json is None and request.body.strip() != b"null":  # request.json() outside any try
            return text_reply(500, "Unexpected Server Error")
        try:
            delayed_until = resolve_delay(request.json)
        except DelayError as exc:
            return exc.reply
        with self._data_lock:
            run = self._runs.get((env_id, run_id))
            if run is None:
                return json_reply(404, {"error": "Run not found"})
            if run["status"] != "DELAYED":
                return json_reply(400, {"error": "Cannot reschedule a run that is not delayed"})
            run["delayedUntil"] = delayed_until
            run["updatedAt"] = now()
            rendered = render_run(run, version)
        return json_reply(200, rendered)

    def _find(self, run_id: str, env_id: str) -> dict[str, Any] | None:
        with self._data_lock:
            run = self._runs.get((env_id, run_id))
            return dict(run) if run is not None else None

    def _take_rate_limit(self) -> Reply | None:
        with self._lock:
            if self._rate_limited <= 0:
                return None
            self._rate_limited -= 1
            reset_in = self._rate_limit_reset_in
        reset = int((time.time() + reset_in) * 1000)
        detail = f"Rate limit exceeded 0/{RATE_LIMIT} requests remaining. Retry in {reset_in:.1f} seconds."
        body = {
            "title": "Rate Limit Exceeded",
            "status": 429,
            "type": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/429",
            "detail": detail,
            "reset": reset,
            "limit": RATE_LIMIT,
            "remaining": -1,
            "secondsUntilReset": float(reset_in),
            "error": detail,
        }
        headers = {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
        return json_reply(429, body, headers, content_type="application/problem+json", indent=2)

    def _with_limits(self, reply: Reply, extra: dict[str, str] | None = None) -> Reply:
        reset = int(time.time() * 1000) + 10_000  # the bucket refills every 10 s
        limits = {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(RATE_LIMIT - 1),
            "x-ratelimit-reset": str(reset),
        }
        reply.headers = {**limits, **reply.headers, **(extra or {})}
        return reply


def _query_error(message: str) -> ValueError:
    return ValueError(message)


def _list_values(params: dict[str, list[str]], name: str) -> list[str]:
    return [item for value in params.get(name, []) for item in value.split(",") if item]


def _created_window(params: dict[str, list[str]]) -> tuple[datetime, datetime]:
    """`filter[createdAt][from]`/`[to]` (epoch ms or ISO) or `[period]`; none of them: the last 7 days."""
    current = now()
    start: datetime | None = None
    end = datetime.max.replace(tzinfo=UTC)
    if "filter[createdAt][from]" in params:
        start = _coerced_date(params["filter[createdAt][from]"][0])
    if "filter[createdAt][to]" in params:
        end = _coerced_date(params["filter[createdAt][to]"][0])
    if "filter[createdAt][period]" in params:
        millis = parse_duration_ms(params["filter[createdAt][period]"][0])
        if millis is None:
            raise ValueError("Invalid period")
        start = current - timedelta(milliseconds=millis)
    if start is None and "filter[createdAt][to]" not in params:
        start = current - LIST_DEFAULT_PERIOD
    return start or datetime.min.replace(tzinfo=UTC), end


def _coerced_date(text: str) -> datetime:
    """`CoercedDate`: epoch milliseconds or an ISO date."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    parsed = parse_date(text)
    if parsed is None:
        raise ValueError(f"Invalid date {text!r}")
    return parsed


def render_list_item(run: dict[str, Any], api_version: str | None) -> dict[str, Any]:
    """A ListRunResponseItem: the common run fields (no attempts, relatedRuns or triggerFunction)."""
    body = render_run(run, api_version)
    for name in ("attemptCount", "attempts", "relatedRuns", "triggerFunction"):
        body.pop(name, None)
    return body


def _check_status(status: str) -> None:
    if status not in V4_STATUSES:
        raise ValueError(f"not a v4 run status: {status!r} (one of {', '.join(V4_STATUSES)})")


def render_run(run: dict[str, Any], api_version: str | None) -> dict[str, Any]:
    """The RetrieveRunResponse JSON; unset optional fields are omitted."""
    status = api_status(run["status"], api_version)
    completed = status in COMPLETED_STATUSES
    body: dict[str, Any] = {
        "id": run["id"],
        "taskIdentifier": run["taskIdentifier"],
        "status": status,
        "createdAt": iso(run["createdAt"]),
        "updatedAt": iso(run["updatedAt"]),
    }
    if run["delayedUntil"] is not None:
        body["delayedUntil"] = iso(run["delayedUntil"])
    body |= {
        "costInCents": 0,
        "baseCostInCents": 0,
        "durationMs": 0,
        "isTest": run["isTest"],
        "depth": 0,
        "tags": list(run["tags"]),
        "isQueued": status in QUEUED_STATUSES,
        "isExecuting": status in EXECUTING_STATUSES,
        "isCompleted": completed,
        "isFailed": completed and status != "COMPLETED",
        "isSuccess": status == "COMPLETED",
        "isCancelled": status == "CANCELED",
        "isWaiting": status == "WAITING",
        "triggerFunction": "trigger",
    }
    for name in ("version", "idempotencyKey", "ttl"):
        if run[name] is not None:
            body[name] = run[name]
    for name, value in run["extra"].items():
        body[name] = iso(value) if isinstance(value, datetime) else value
    body |= {"attemptCount": 0, "attempts": [], "relatedRuns": {"children": []}}
    return body
