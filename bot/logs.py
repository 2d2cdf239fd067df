"""Logging set-up: one line per event, as readable text (the default) or one JSON object per line
(`LOG_FORMAT=json`), every line carrying the request id of the work it belongs to, and secrets masked.

The bot never logs headers or settings, but libraries at DEBUG level may. Every record that reaches the handler
goes through `RedactingFilter` first, whatever the format: its message (with its arguments), traceback and
structured extras are masked before any formatter sees them; the text formatter masks the whole line once more.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from bot import request_id

SECRET_PATTERNS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|tr_(?:dev|stg|prod|preview|pat|oat|uat)_[A-Za-z0-9_]+"
    r"|xwfp-[A-Za-z0-9-]+"  # a workflow step's execution token (function_executed's bot_access_token)
    r"|Bearer\s+[A-Za-z0-9._~+/=-]+)"
)
REDACTED = "[redacted]"
URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
LogFormat = Literal["text", "json"]

# What every LogRecord has; anything else on a record came from `extra=` and is a structured field.
# (uvicorn adds `color_message`, the message again with terminal colours.)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "request_tag",
    "color_message",
}


def redact(text: str) -> str:
    """Replace every secret-shaped substring, and passwords in URLs (DATABASE_URL)."""
    return URL_PASSWORD.sub(rf"\1:{REDACTED}@", SECRET_PATTERNS.sub(REDACTED, text))


def _plain(value: Any) -> Any:
    """`value` as JSON can hold it, every text in it redacted."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {redact(str(key)): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return redact(str(value))


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a record was logged with (`extra=`)."""
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD and not key.startswith("_")}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the work it was logged in (None outside any)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = getattr(record, "request_id", None) or request_id.current()
        record.request_id = current
        record.request_tag = f" [{current}]" if current else ""
        return True


class RedactingFilter(logging.Filter):
    """Masks secrets in the record itself: message and arguments (rendered once), traceback, stack, extras."""

    _traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: keep both, as text
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(str(message)), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in extras(record).items():
            setattr(record, key, _plain(value))
        return True


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets in the whole line (message, arguments and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, the record's structured
    extras, and `exception` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in extras(record).items():
            data.setdefault(key, _plain(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = redact(record.exc_text)
        if record.stack_info:
            data["stack"] = redact(record.stack_info)
        return json.dumps(data, ensure_ascii=False)


def handler(fmt: LogFormat = "text") -> logging.Handler:
    """A stderr handler with the request-id and redacting filters and the formatter for `fmt`."""
    out = logging.StreamHandler()
    out.addFilter(RequestIdFilter())
    out.addFilter(RedactingFilter())
    out.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(TEXT_FORMAT))
    return out


def configure(level: str, fmt: LogFormat = "text") -> None:
    """Route every logger through one redacting handler on stderr, as text or JSON lines."""
    root = logging.getLogger()
    root.handlers[:] = [handler(fmt)]
    root.setLevel(level)
    # Slack's SDK logs full request headers at DEBUG; keep it at INFO unless asked otherwise.
    for noisy in ("slack_sdk", "slack_bolt"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # httpx logs every request at INFO, repeating the line the Trigger.dev client writes for each attempt; Alembic
    # logs its set-up and each revision, which bot.storage.db already says once.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
