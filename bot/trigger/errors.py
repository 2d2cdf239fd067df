"""The Trigger.dev client's exception tree, and the one function that maps a response onto it.

    TriggerError
    ├── RunNotFound          404 (the run is not in the key's environment, or does not exist)
    ├── RunNotDelayed        400 "Cannot reschedule a run that is not delayed" (also the buffered 422)
    ├── InvalidDelay         400 "Invalid delay: …" / "Invalid request body"
    ├── AuthRejected         401 / 403: the secret key is invalid, revoked or not an environment key
    ├── RateLimited          429, after the retries allowed by the deadline
    ├── TriggerUnavailable   5xx, network errors and timeouts, after retries
    │   └── OutcomeUnknown   a change (POST) may have reached Trigger.dev but no answer says whether it applied
    └── TriggerRequestError  any other 4xx (e.g. the v3-engine deprecation), with the server's message

Every exception carries `status` (None for network errors) and `server_message` (the server's `error` string, with
anything shaped like a secret masked: a proxy in front of a self-hosted instance may echo the Authorization header
it refused, and the message reaches people and the audit trail), and `maybe_applied`: True when an earlier attempt
of the same change may have been applied (sent, then a read timeout, a lost connection or a 5xx). A failure with
nothing maybe applied means nothing changed; the client raises OutcomeUnknown for any final failure after such an
attempt, except RunNotDelayed (a retried run-now that already started), which keeps its type with `maybe_applied` set.
Only a connect error, a connect timeout or a pool timeout prove that a request was never sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from bot.logs import redact


class TriggerError(Exception):
    """Base class for everything the Trigger.dev client raises."""

    def __init__(self, message: str, *, status: int | None = None, server_message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.environment: str | None = None  # the title of the environment asked, set by the caller
        self.maybe_applied = False  # set by the client: an attempt of this change may have reached Trigger.dev


class RunNotFound(TriggerError):
    """The run does not exist in the environment the key belongs to."""


class RunNotDelayed(TriggerError):
    """The run is no longer DELAYED, so it cannot be rescheduled."""


class InvalidDelay(TriggerError):
    """The server refused the delay we sent."""


class AuthRejected(TriggerError):
    """The secret key was refused (invalid, revoked, wrong kind of key)."""


class RateLimited(TriggerError):
    """Too many requests; `reset_at` is the epoch time in seconds at which the bucket refills, when known."""

    def __init__(self, message: str, *, reset_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class TriggerUnavailable(TriggerError):
    """Trigger.dev did not answer usefully: 5xx, a network error or a timeout."""


class OutcomeUnknown(TriggerUnavailable):
    """A change was sent and may have been applied, but no answer says so (read timeout, connection lost after
    sending, a 5xx after sending), and the retries allowed by the deadline ran out. Read the run to know."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.maybe_applied = True


class TriggerRequestError(TriggerError):
    """Any other client error; `server_message` says what the server objected to."""


NOT_DELAYED_TEXT = "Cannot reschedule a run that is not delayed"


def server_message(body: bytes) -> str | None:
    """The `error` string of a Trigger.dev error body, if there is one, with secret-shaped text masked."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, str):
                return redact(value)
    return None


def error_from_response(status: int, headers: dict[str, str], body: bytes) -> TriggerError:
    """Map one non-2xx response to the most specific exception. The only place this mapping lives."""
    message = server_message(body)
    kwargs: dict[str, Any] = {"status": status, "server_message": message}
    text = message or ""
    if status == 429:
        return RateLimited(f"rate limited: {text}", reset_at=reset_from_headers(headers), **kwargs)
    if status >= 500:
        return TriggerUnavailable(f"server error {status}: {text}", **kwargs)
    if status in (401, 403):
        return AuthRejected(f"key rejected ({status}): {text}", **kwargs)
    if status == 404:
        return RunNotFound(f"run not found: {text}", **kwargs)
    if text.startswith(NOT_DELAYED_TEXT):
        return RunNotDelayed(text, **kwargs)
    if status == 400 and (text.startswith("Invalid delay") or text == "Invalid request body"):
        return InvalidDelay(text, **kwargs)
    return TriggerRequestError(f"request refused ({status}): {text}", **kwargs)


# Network failures that prove a request never left this process: no connection was made or borrowed.
NEVER_SENT: tuple[type[httpx.HTTPError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def may_have_applied(failure: httpx.HTTPError | int) -> bool:
    """Whether a change whose attempt failed this way may have been applied anyway.

    A network error other than NEVER_SENT (a read timeout, a connection lost after sending) or a 5xx (a gateway's
    after forwarding, or the server's own after acting) cannot rule it out; any other status is a refusal.
    """
    if isinstance(failure, int):
        return failure >= 500
    return not isinstance(failure, NEVER_SENT)


def after_maybe_applied(error: TriggerError) -> TriggerError:
    """The final failure of a change that an earlier attempt may have applied: OutcomeUnknown (caused by `error`),
    except RunNotDelayed, kept with `maybe_applied` set (the caller reads the run either way)."""
    if isinstance(error, RunNotDelayed):
        error.maybe_applied = True
        return error
    unknown = OutcomeUnknown(
        f"sent, outcome unknown: {error}", status=error.status, server_message=error.server_message
    )
    unknown.__cause__ = error
    return unknown


def reset_from_headers(headers: Mapping[str, str]) -> float | None:
    """`x-ratelimit-reset` is epoch milliseconds (there is no Retry-After); return epoch seconds."""
    raw = headers.get("x-ratelimit-reset")
    if raw is None:
        return None
    try:
        return int(raw) / 1000.0
    except ValueError:
        return None
