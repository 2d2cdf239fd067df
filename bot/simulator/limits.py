"""The API rate limiter: a token bucket per environment (750, +250 every 10 s) and its 429 answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["RateLimit", "TokenBucket", "rate_limit_headers", "rate_limited_body"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The limiter's settings; the defaults are the server's (`API_RATE_LIMIT_*`)."""

    limit: int = 750
    refill: int = 250
    every: timedelta = timedelta(seconds=10)


@dataclass(slots=True)
class TokenBucket:
    tokens: float
    refilled_at: datetime

    def refill(self, settings: RateLimit, now: datetime) -> datetime:
        """Add the tokens due by `now`; return when the next refill comes (the `x-ratelimit-reset`)."""
        intervals = int((now - self.refilled_at) / settings.every)
        if intervals > 0:
            self.tokens = min(settings.limit, self.tokens + intervals * settings.refill)
            self.refilled_at += intervals * settings.every
        return self.refilled_at + settings.every


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def rate_limit_headers(limit: int, remaining: int, reset: datetime) -> dict[str, str]:
    """The `x-ratelimit-*` headers of every answer: the remaining count clamped to 0, the reset in epoch ms."""
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(max(0, remaining)),
        "x-ratelimit-reset": str(epoch_ms(reset)),
    }


def rate_limited_body(limit: int, reset: datetime, now: datetime) -> dict[str, Any]:
    """The 429 problem+json body (the API limiter sends no Retry-After)."""
    seconds = (reset - now).total_seconds()
    detail = f"Rate limit exceeded 0/{limit} requests remaining. Retry in {seconds:.1f} seconds."
    return {
        "title": "Rate Limit Exceeded",
        "status": 429,
        "type": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/429",
        "detail": detail,
        "reset": epoch_ms(reset),
        "limit": limit,
        "remaining": -1,
        "secondsUntilReset": seconds,
        "error": detail,
    }
