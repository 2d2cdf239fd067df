"""An async client for the Trigger.dev endpoints the bot needs: retrieve a run, reschedule a run, list DELAYED runs.

Retries follow the official SDK's policy (@trigger.dev/core's request retry settings) bounded by a per-action deadline:
408, 409, 5xx and network errors back off exponentially with jitter; 429 waits until `x-ratelimit-reset`
(epoch milliseconds) plus jitter; a response header `x-should-retry` overrides either way, except on a 404. A 404
is never retried, although the retrieve route always says `x-should-retry: true` on it (the SDK retries it): with
several environments a run is looked for in each, and every environment but its own answers 404, so a retried 404
would only spend those environments' rate limits and keep a mistyped id waiting. Other 4xx are never retried.

A change (the reschedule POST) is not idempotent on the wire: once an attempt may have reached the server (see
`errors.may_have_applied`), a final failure is raised as OutcomeUnknown, never as a plain "nothing changed".
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr, ValidationError

from bot import __version__, metrics
from bot.domain.runs import Run
from bot.trigger.errors import (
    RateLimited,
    RunNotFound,
    TriggerError,
    TriggerUnavailable,
    after_maybe_applied,
    error_from_response,
    may_have_applied,
    reset_from_headers,
)

log = logging.getLogger(__name__)

API_VERSION = "2025-07-16"
USER_AGENT = f"reschedule-bot/{__version__}"

# Listing DELAYED runs reads at most LIST_PAGES pages of LIST_PAGE_SIZE runs (the server's largest page) per
# environment: enough for any list one Slack message can show, and a bound on what one command costs.
LIST_PAGE_SIZE = 100
LIST_PAGES = 5

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff `min * factor**(n-1)` capped at `max`, as the SDK; jitter adds up to `jitter` of the wait."""

    max_attempts: int = 5
    min_backoff: float = 1.0
    max_backoff: float = 30.0
    factor: float = 1.6
    jitter: float = 0.25
    rate_limit_jitter: float = 1.0

    def backoff(self, attempt: int, rand: float) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        base = min(self.max_backoff, self.min_backoff * self.factor ** (attempt - 1))
        return base * (1 + self.jitter * rand)


@dataclass(slots=True)
class Deadline:
    """The time left for one user action, shared by every request that action makes."""

    expires_at: float
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(expires_at=clock() + seconds, clock=clock)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self.clock())

    def extended(self, seconds: float) -> Deadline:
        """A new deadline `seconds` later than this one (for time spent waiting on this process, not the server)."""
        return Deadline(expires_at=self.expires_at + seconds, clock=self.clock)


@dataclass(frozen=True, slots=True)
class RunPage:
    """The DELAYED runs read from one environment; `complete` is False when the page bound stopped the reading
    before the server's last page (there are more runs than were read)."""

    runs: tuple[Run, ...]
    complete: bool


@dataclass(slots=True)
class RateLimitState:
    """The environment's rate-limit bucket as the last response reported it (`x-ratelimit-remaining`,
    `x-ratelimit-reset`): None until a response said. Read by whoever paces many requests (a bulk move)."""

    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds

    def update(self, headers: httpx.Headers) -> None:
        raw = headers.get("x-ratelimit-remaining")
        if raw is not None:
            try:
                self.remaining = int(raw)
            except ValueError:
                return
            self.reset_at = reset_from_headers(headers)


@dataclass(slots=True)
class TriggerClient:
    """Talks to one Trigger.dev environment (one secret key) over a shared `httpx.AsyncClient`.

    Args:
        http: the process-wide client (connection reuse); its base_url is TRIGGER_API_URL.
        key: the environment's secret key; sent only in the Authorization header.
        policy: retry policy.
        sleep, wall, rand: injected so tests control time and randomness (the deadline has its own clock).
    """

    http: httpx.AsyncClient
    key: SecretStr = field(repr=False)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = asyncio.sleep
    wall: Clock = time.time
    rand: Callable[[], float] = random.random
    rate: RateLimitState = field(default_factory=RateLimitState)

    async def retrieve_run(self, run_id: str, deadline: Deadline) -> Run:
        """GET /api/v3/runs/{id}."""
        data = await self._request("GET", f"/api/v3/runs/{quote(run_id, safe='')}", None, deadline, "retrieve")
        return _parse_run(data)

    async def reschedule_run(self, run_id: str, delay: str, deadline: Deadline) -> Run:
        """POST /api/v1/runs/{id}/reschedule with `{"delay": delay}`; the run as it is afterwards."""
        path = f"/api/v1/runs/{quote(run_id, safe='')}/reschedule"
        data = await self._request("POST", path, {"delay": delay}, deadline, "reschedule")
        try:
            return _parse_run(data)
        except TriggerUnavailable as exc:  # a 2xx we cannot read: it was most likely applied
            raise after_maybe_applied(exc) from exc

    async def list_delayed(
        self,
        deadline: Deadline,
        *,
        created_from: datetime,
        task: str | None = None,
        tag: str | None = None,
        page_size: int = LIST_PAGE_SIZE,
        max_pages: int = LIST_PAGES,
    ) -> RunPage:
        """GET /api/v1/runs with `filter[status]=DELAYED`, following `pagination.next` for at most `max_pages`.

        The server lists only runs created in the last 7 days unless told otherwise, and a delayed run may have
        been created long before it comes due: `created_from` (`filter[createdAt][from]`) sets how far back.
        Items that do not parse as runs are skipped (logged), not fatal: one odd run must not hide the others.
        """
        params: dict[str, str] = {
            "filter[status]": "DELAYED",
            "filter[createdAt][from]": created_from.astimezone(UTC).isoformat(timespec="milliseconds"),
            "page[size]": str(page_size),
        }
        if task:
            params["filter[taskIdentifier]"] = task
        if tag:
            params["filter[tag]"] = tag
        runs: list[Run] = []
        after: str | None = None
        for _ in range(max_pages):
            query = dict(params) if after is None else {**params, "page[after]": after}
            data = await self._request("GET", f"/api/v1/runs?{urlencode(query)}", None, deadline, "list")
            items, after = _parse_page(data)
            runs.extend(items)
            if after is None:
                return RunPage(tuple(runs), complete=True)
        return RunPage(tuple(runs), complete=False)

    def _headers(self, idempotency_key: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.key.get_secret_value()}",
            "x-trigger-api-version": API_VERSION,
            "x-trigger-request-idempotency-key": idempotency_key,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }

    async def _request(self, method: str, path: str, body: Any, deadline: Deadline, endpoint: str) -> Any:
        """One request with its retries; `endpoint` (retrieve, reschedule, list) labels its metrics. Its log lines
        carry the request id of the work at hand (bot/logs.py), which is not sent to Trigger.dev."""
        try:
            return await self._attempts(method, path, body, deadline, endpoint)
        except TriggerError as exc:
            metrics.trigger_error(endpoint, type(exc).__name__)
            raise

    async def _attempts(self, method: str, path: str, body: Any, deadline: Deadline, endpoint: str) -> Any:
        headers = self._headers(str(uuid.uuid4()))
        changes = method != "GET"
        maybe_applied = False  # whether any attempt of this change may have reached the server
        attempt = 0
        while True:
            attempt += 1
            timeout = deadline.remaining()
            if timeout <= 0:
                error: TriggerError = TriggerUnavailable("deadline passed before the request could be sent")
                raise self._final(error, maybe_applied, method, path)
            started = time.perf_counter()
            try:
                response = await self.http.request(method, path, json=body, headers=headers, timeout=timeout)
            except httpx.HTTPError as exc:
                metrics.trigger_attempt(endpoint, None, time.perf_counter() - started)
                log.warning("trigger.dev %s %s attempt %d: %s", method, path, attempt, type(exc).__name__)
                maybe_applied = maybe_applied or (changes and may_have_applied(exc))
                error = TriggerUnavailable(f"network error: {type(exc).__name__}")
                error.__cause__ = exc
                wait: float | None = self._backoff_wait(attempt)
            else:
                status = response.status_code
                metrics.trigger_attempt(endpoint, status, time.perf_counter() - started)
                self.rate.update(response.headers)
                log.log(_level(status), "trigger.dev %s %s attempt %d → %d", method, path, attempt, status)
                if response.is_success:
                    try:
                        return _json(response)
                    except TriggerUnavailable as exc:
                        if changes:  # a 2xx we cannot read: the change was most likely applied
                            raise self._final(exc, True, method, path) from exc
                        raise
                maybe_applied = maybe_applied or (changes and may_have_applied(response.status_code))
                error = error_from_response(response.status_code, dict(response.headers), response.content)
                wait = self._wait_for(response, error, attempt)
            if wait is None or attempt >= self.policy.max_attempts or wait >= deadline.remaining():
                raise self._final(error, maybe_applied, method, path)
            metrics.trigger_retry(endpoint, type(error).__name__)
            await self.sleep(wait)

    @staticmethod
    def _final(error: TriggerError, maybe_applied: bool, method: str, path: str) -> TriggerError:
        """The error to raise when a request gives up: OutcomeUnknown when a change may have been applied."""
        if not maybe_applied:
            return error
        log.warning("trigger.dev %s %s: sent, outcome unknown (%s)", method, path, error)
        return after_maybe_applied(error)

    def _wait_for(self, response: httpx.Response, error: TriggerError, attempt: int) -> float | None:
        """How long to wait before retrying this response, or None to give up at once."""
        if isinstance(error, RunNotFound):
            return None  # whatever x-should-retry says: see the module's docstring
        should = response.headers.get("x-should-retry")
        if should == "false":
            return None
        if isinstance(error, RateLimited):
            if error.reset_at is not None and error.reset_at > self.wall():
                return error.reset_at - self.wall() + self.policy.rate_limit_jitter * self.rand()
            return self._backoff_wait(attempt)
        status = response.status_code
        if should == "true" or status in (408, 409) or status >= 500:
            return self._backoff_wait(attempt)
        return None

    def _backoff_wait(self, attempt: int) -> float:
        return self.policy.backoff(attempt, self.rand())


def _level(status: int) -> int:
    """Successes at DEBUG (each move has its own INFO line), answers about the request (a mistyped id) at INFO,
    rate limits and server errors at WARNING."""
    if status < 300:
        return logging.DEBUG
    return logging.WARNING if status == 429 or status >= 500 else logging.INFO


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise TriggerUnavailable("Trigger.dev answered with something that is not JSON") from exc


def _parse_run(data: Any) -> Run:
    if not isinstance(data, dict):
        raise TriggerUnavailable("Trigger.dev answered with an unexpected body")
    try:
        return Run.from_api(data)
    except ValidationError as exc:
        raise TriggerUnavailable("Trigger.dev answered with a run we could not read") from exc


def _parse_page(data: Any) -> tuple[list[Run], str | None]:
    """A ListRunResponse: `{"data": [...], "pagination": {"next"?: "run_…"}}` → (runs, the next cursor)."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise TriggerUnavailable("Trigger.dev answered the run list with an unexpected body")
    runs: list[Run] = []
    for item in data["data"]:
        try:
            runs.append(_parse_run(item))
        except TriggerUnavailable:
            log.warning("skipped a listed run that could not be read")
    pagination = data.get("pagination")
    after = pagination.get("next") if isinstance(pagination, dict) else None
    return runs, (after if isinstance(after, str) and after else None)


MAX_CONNECTIONS = 100  # httpx's default: the most requests to Trigger.dev one process has in flight at once


def new_http_client(base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The one AsyncClient per process; `transport` is injected by tests."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(10.0, connect=5.0),
        # httpx's defaults: with 50 connections, a burst queued requests for the pool, and httpcore rescans every
        # pooled connection for each queued request (measured: 5.1 → 3.5 ms of CPU per command in bench.run).
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20),
        follow_redirects=False,
    )
