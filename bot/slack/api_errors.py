"""Counts Slack Web API errors by method and error, for every client the bot uses.

Bolt gives each request a client of its own, copied from the app's with its retry handlers; a retry handler is
the one hook slack_sdk calls for every answer and every failure of every attempt, on all of them. This one never
asks for a retry: it only counts (`ok: false` by Slack's error code, HTTP errors by status, failures by type).
"""

from __future__ import annotations

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot import metrics


def method_of(url: str) -> str:
    """`chat.postMessage` from `https://slack.com/api/chat.postMessage?…`."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "unknown"


def error_of(response: HttpResponse | None, error: Exception | None) -> str | None:
    """Slack's error code, `http_<status>`, or the failure's type; None for a success."""
    if error is not None:
        return type(error).__name__
    if response is None:
        return None
    body = response.body if isinstance(response.body, dict) else {}
    if body.get("ok") is False:
        return str(body.get("error") or "unknown")
    if response.status_code >= 400:
        return f"http_{response.status_code}"
    return None


class ErrorCounter(AsyncRetryHandler):
    """First among the client's retry handlers, so it sees each attempt before any of them retries it."""

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        problem = error_of(response, error)
        if problem is not None:
            metrics.slack_api_error(method_of(request.url), problem)
        return False
