"""Logging set-up: one line per event, and a filter that masks anything shaped like a secret.

The bot never logs headers or settings, but libraries at DEBUG level may; the filter is the second line of
defence so a token can never reach a log file.
"""

from __future__ import annotations

import logging
import re

SECRET_PATTERNS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|tr_(?:dev|stg|prod|preview|pat|oat|uat)_[A-Za-z0-9_]+"
    r"|Bearer\s+[A-Za-z0-9._~+/=-]+)"
)
REDACTED = "[redacted]"
URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@")


def redact(text: str) -> str:
    """Replace every secret-shaped substring, and passwords in URLs (DATABASE_URL)."""
    return URL_PASSWORD.sub(rf"\1:{REDACTED}@", SECRET_PATTERNS.sub(REDACTED, text))


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets in the whole line (message, arguments and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str) -> None:
    """Route every logger through one redacting handler on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Slack's SDK logs full request headers at DEBUG; keep it at INFO unless asked otherwise.
    for noisy in ("slack_sdk", "slack_bolt"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # httpx logs every request at INFO, repeating the line the Trigger.dev client writes for each attempt.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
