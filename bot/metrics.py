"""Every metric the bot exports at GET /metrics (Prometheus text format), and the one way to read them out.

The metrics are created on first use, not at import: with PROMETHEUS_MULTIPROC_DIR set, prometheus-client backs
each one with a file in that directory, which must exist by then (Settings checks it at start).

Several processes on one host (uvicorn workers, a Procfile scaled out) each count on their own; with
PROMETHEUS_MULTIPROC_DIR set in the environment of every one of them (prometheus-client reads it there), each
writes its values to that directory and `exposition` sums them, so a scrape of any process sees the host's
totals. Gauges add up the live processes (`livesum`); a process marks itself dead when it shuts down.

Label values are bounded sets (surfaces, outcomes, endpoint kinds, status classes, exception class names, Slack
method and error codes), never ids of people, workspaces or runs.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase

PREFIX = "reschedule_bot"
M = TypeVar("M", bound=MetricWrapperBase)
# Slack wants an acknowledgement within 3 s; the buckets resolve the fast path and that limit.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
TRIGGER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Metrics:
    def __init__(self) -> None:
        self.slack_requests = Counter(
            f"{PREFIX}_slack_requests",
            "Slack requests received, by surface and outcome of the answer.",
            ["surface", "outcome"],
        )
        self.ack_seconds = Histogram(
            f"{PREFIX}_slack_ack_seconds",
            "Time from receiving a Slack request to answering it.",
            ["surface"],
            buckets=ACK_BUCKETS,
        )
        self.trigger_seconds = Histogram(
            f"{PREFIX}_trigger_request_seconds",
            "Trigger.dev request latency (each attempt), by endpoint kind and status class (2xx, 4xx, 5xx, network).",
            ["endpoint", "status"],
            buckets=TRIGGER_BUCKETS,
        )
        self.trigger_retries = Counter(
            f"{PREFIX}_trigger_retries",
            "Trigger.dev attempts retried, by endpoint and the error retried.",
            ["endpoint", "kind"],
        )
        self.trigger_errors = Counter(
            f"{PREFIX}_trigger_errors",
            "Trigger.dev requests that failed after retries, by endpoint and error kind.",
            ["endpoint", "kind"],
        )
        self.slack_api_errors = Counter(
            f"{PREFIX}_slack_api_errors",
            "Slack Web API calls that failed (each attempt), by method and error.",
            ["method", "error"],
        )
        self.moves_in_flight = Gauge(
            f"{PREFIX}_moves_in_flight",
            "Moves sent to Trigger.dev whose outcome is not recorded yet.",
            multiprocess_mode="livesum",
        )
        self.waiting_for_turn = Gauge(
            f"{PREFIX}_waiting_for_turn",
            "Trigger.dev look-ups (kind=lookup) and lists (kind=list) waiting for this process's bound on them.",
            ["kind"],
            multiprocess_mode="livesum",
        )
        self.audit_pending = Gauge(
            f"{PREFIX}_audit_pending",
            "Audit records waiting to be written to the database.",
            multiprocess_mode="livesum",
        )
        self.audit_failed = Counter(
            f"{PREFIX}_audit_failed",
            "Audit records the database did not take (written to the log instead).",
        )
        self.attempts = Counter(
            f"{PREFIX}_attempts",
            "Attempts recorded in the audit trail, by surface and outcome.",
            ["surface", "outcome"],
        )


@cache
def _m() -> _Metrics:
    return _Metrics()


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, `5xx`…, or `network` when no answer came."""
    return "network" if status is None else f"{status // 100}xx"


def _series(metric: M, *values: str) -> M:
    """`metric`'s series for these label values, looked up once: `labels()` checks the values and takes a lock on
    every call, and a command counts half a dozen times."""
    series = _labelled(metric, values)
    assert isinstance(series, type(metric))  # labels() answers with the metric's own type
    return series


@cache
def _labelled(metric: MetricWrapperBase, values: tuple[str, ...]) -> MetricWrapperBase:
    return metric.labels(*values)


def slack_request(surface: str, outcome: str, seconds: float) -> None:
    m = _m()
    _series(m.slack_requests, surface, outcome).inc()
    _series(m.ack_seconds, surface).observe(seconds)


def trigger_attempt(endpoint: str, status: int | None, seconds: float) -> None:
    _series(_m().trigger_seconds, endpoint, status_class(status)).observe(seconds)


def trigger_retry(endpoint: str, kind: str) -> None:
    _series(_m().trigger_retries, endpoint, kind).inc()


def trigger_error(endpoint: str, kind: str) -> None:
    _series(_m().trigger_errors, endpoint, kind).inc()


def slack_api_error(method: str, error: str) -> None:
    _series(_m().slack_api_errors, method[:60], error[:60]).inc()


def moves_in_flight(delta: int) -> None:
    _m().moves_in_flight.inc(delta)


def waiting_for_turn(kind: str, delta: int) -> None:
    _series(_m().waiting_for_turn, kind).inc(delta)


def audit_pending(delta: int) -> None:
    _m().audit_pending.inc(delta)


def audit_failed(count: int = 1) -> None:
    _m().audit_failed.inc(count)


def attempt(surface: str, outcome: str) -> None:
    _series(_m().attempts, surface, outcome).inc()


def exposition(multiprocess_dir: str | None) -> tuple[bytes, str]:
    """The body and content type of GET /metrics: this process's metrics, or with `multiprocess_dir` the sum over
    every process writing there. Reads memory or local files only."""
    _m()  # every metric is listed (with HELP and TYPE) even before its first value
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_ended(multiprocess_dir: str | None) -> None:
    """At shutdown: drop this process's live gauges from the sums (its counters stay counted)."""
    if multiprocess_dir:
        multiprocess.mark_process_dead(os.getpid(), multiprocess_dir)  # type: ignore[no-untyped-call]
