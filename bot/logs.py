"""Logging set-up: one line per event, as readable text (the default) or one JSON object per line
(`LOG_FORMAT=json`), every line carrying the request id of the work it belongs to, and secrets masked.

The bot never logs headers or settings, but libraries at DEBUG level may. Every record that reaches the handler
goes through `RedactingFilter` first, whatever the format: its message (with its arguments), traceback and
structured extras are masked before any formatter sees them; the text formatter masks the whole line once more.

Text from outside (a Trigger.dev error, what someone typed) may hold line breaks and other control characters. In
the text format each is written as an escape (`\n`, `\x1b`), so a record is one line and no text can pass itself
off as another record (or move a terminal's cursor); the lines of a traceback that follow a record are indented. In
the JSON format, JSON's own escapes do the same.
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
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
LogFormat = Literal["text", "json"]
# The logger slack_sdk's AsyncWebClient writes to when not given one (every client the bot builds).
SLACK_WEB_API_LOGGER = "slack_sdk.web.async_base_client"

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
    # Each secret pattern, and URL_PASSWORD, starts with one of these: text holding none of them (most log lines) has
    # nothing to mask, and looking for them costs a fraction of the two substitutions.
    if (
        "xox" not in text
        and "xapp-" not in text
        and "tr_" not in text
        and "xwfp-" not in text
        and "Bearer" not in text
        and "://" not in text
    ):
        return text
    return URL_PASSWORD.sub(rf"\1:{REDACTED}@", SECRET_PATTERNS.sub(REDACTED, text))


def escape_controls(text: str) -> str:
    """`text` with every control character (line breaks included) written as a visible escape."""
    return CONTROL.sub(lambda found: _NAMED_ESCAPES.get(found[0]) or f"\\x{ord(found[0]):02x}", text)


def _indented(text: str) -> str:
    """A traceback or stack under its record: each line indented, control characters inside lines escaped."""
    return "\n".join("    " + escape_controls(line) for line in text.splitlines())


def _plain(value: Any) -> Any:
    """`value` as JSON can hold it, every text in it redacted."""
    if isinstance(value, str):  # the usual field
        return redact(value)
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
    """Formats as usual, the message on one line (control characters escaped) and any traceback indented under it,
    then masks secrets in the whole text."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        rendered = record.exc_text  # RedactingFilter renders it first; indented for this format only
        if record.exc_info and not rendered:
            rendered = self.formatException(record.exc_info)
        record.exc_text = _indented(rendered) if rendered else rendered
        try:
            return redact(super().format(record))
        finally:
            record.exc_text = rendered


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
        # JSON escapes every other control character; these two line separators it leaves as they are.
        return json.dumps(data, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


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
    # Slack's SDK logs full request headers at DEBUG; keep it at INFO unless asked otherwise. Its Web API client
    # decides whether to build those lines (each call's whole request and answer, as text) from its own logger's
    # level, not the level that logger inherits: left unset, every call built them, to be dropped. So that logger is
    # given the level too.
    for noisy in ("slack_sdk", SLACK_WEB_API_LOGGER, "slack_bolt"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # httpx logs every request at INFO, repeating the line the Trigger.dev client writes for each attempt; Alembic
    # logs its set-up and each revision, which bot.storage.db already says once.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
