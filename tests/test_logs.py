"""bot/logs.py: both formats stamp the request id and mask every secret, wherever in a record it hides."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs, request_id

SLACK_TOKEN = "xoxb-1111-2222-abcdefabcdef"
TRIGGER_KEY = "tr_prod_abcdefabcdefabcdef0001"
DB_PASSWORD = "s3cr3t-pw"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, list[logging.Handler]]]:
    """A logger whose lines go to a StringIO through the handler `logs.handler` builds (one per format)."""
    out = io.StringIO()
    logger = logging.getLogger("tests.logs")
    logger.propagate, logger.level = False, logging.DEBUG
    handlers: list[logging.Handler] = []
    yield logger, out, handlers
    for handler in handlers:
        logger.removeHandler(handler)
    logger.propagate = True


def emit_everything(logger: logging.Logger) -> None:
    """A secret in the arguments, in a structured extra, in a nested extra and in a traceback."""
    with request_id.bound("req0000000000001"):
        logger.info(
            "called with %s", SLACK_TOKEN, extra={"key": TRIGGER_KEY, "nested": {"auth": f"Bearer {TRIGGER_KEY}"}}
        )
        try:
            raise RuntimeError(f"could not connect to postgresql://bot:{DB_PASSWORD}@db:5432/bot")
        except RuntimeError:
            logger.exception("database trouble")
    logger.warning("outside any request")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_reaches_either_format(
    logged: tuple[logging.Logger, io.StringIO, list[logging.Handler]], fmt: logs.LogFormat
) -> None:
    logger, out, handlers = logged
    handler = logs.handler(fmt)
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    handlers.append(handler)
    logger.addHandler(handler)
    emit_everything(logger)
    text = out.getvalue()
    for secret in (SLACK_TOKEN, TRIGGER_KEY, DB_PASSWORD):
        assert secret not in text
    assert f"postgresql://bot:{logs.REDACTED}@db" in text
    if fmt == "json":
        first, second, third = (json.loads(line) for line in text.splitlines())
        assert first["request_id"] == second["request_id"] == "req0000000000001" and third["request_id"] is None
        assert first["key"] == logs.REDACTED and first["nested"] == {"auth": logs.REDACTED}
        assert "RuntimeError" in second["exception"] and second["level"] == "ERROR"
        assert (third["logger"], third["message"]) == ("tests.logs", "outside any request")
    else:
        lines = text.splitlines()
        assert "tests.logs [req0000000000001]: called with [redacted]" in lines[0]
        assert lines[-1].endswith("WARNING tests.logs: outside any request")


def test_configure_installs_one_handler_of_the_chosen_format() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        logs.configure("INFO", "json")
        [handler] = root.handlers
        assert isinstance(handler.formatter, logs.JsonFormatter)
        assert any(isinstance(f, logs.RedactingFilter) for f in handler.filters)
        logs.configure("INFO")
        [handler] = root.handlers
        assert isinstance(handler.formatter, logs.RedactingFormatter)
        assert any(isinstance(f, logs.RedactingFilter) for f in handler.filters)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


@pytest.mark.parametrize(
    ("level", "sdk_level"), [("INFO", logging.INFO), ("WARNING", logging.WARNING), ("DEBUG", logging.INFO)]
)
def test_slack_web_api_calls_build_no_debug_lines(level: str, sdk_level: int) -> None:
    """slack_sdk formats each Web API call's request and answer for DEBUG when its client's logger's *own* level is
    DEBUG or unset (0), whatever the level it inherits; the bot keeps slack_sdk at INFO or above, so that logger
    needs a level of its own. Fails if slack_sdk moves its logger."""
    root = logging.getLogger()
    saved, root_level = list(root.handlers), root.level
    touched = [logging.getLogger(name) for name in ("slack_sdk", logs.SLACK_WEB_API_LOGGER, "slack_bolt")]
    levels = [logger.level for logger in touched]
    try:
        logs.configure(level)
        client_logger = AsyncWebClient(token="xoxb-test").logger
        assert client_logger.name == logs.SLACK_WEB_API_LOGGER
        assert client_logger.level == sdk_level
        assert not client_logger.level <= logging.DEBUG  # the test slack_sdk makes before building them
    finally:
        root.handlers[:] = saved
        root.setLevel(root_level)
        for logger, before in zip(touched, levels, strict=True):
            logger.setLevel(before)


FORGED = "bad\n2099-01-01 00:00:00,000 CRITICAL bot.rescheduler: rescheduled run=run_x by=U999\r\x1b[2Kdone\u2028x"


def test_text_from_outside_cannot_forge_a_line_in_the_text_format(
    logged: tuple[logging.Logger, io.StringIO, list[logging.Handler]],
) -> None:
    logger, out, handlers = logged
    handler = logs.handler("text")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    handlers.append(handler)
    logger.addHandler(handler)
    logger.warning("trigger.dev answered %s", FORGED, extra={"detail": FORGED})
    try:
        raise ValueError(FORGED)
    except ValueError:
        logger.exception("move failed: %s", FORGED)
    lines = out.getvalue().splitlines()
    records = [line for line in lines if not line.startswith("    ")]
    assert len(records) == 2 and all(" WARNING " in line or " ERROR " in line for line in records), lines
    assert "bad\\n2099-01-01" in records[0] and "\\r\\x1b[2Kdone\\u2028x" not in records[0]
    assert "\\x1b" in records[0] and "\x1b" not in out.getvalue() and "\u2028" not in out.getvalue()
    assert any("Traceback" in line for line in lines)  # the traceback is there, under its record


def test_text_from_outside_stays_valid_json_and_intact_in_the_json_format(
    logged: tuple[logging.Logger, io.StringIO, list[logging.Handler]],
) -> None:
    logger, out, handlers = logged
    handler = logs.handler("json")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    handlers.append(handler)
    logger.addHandler(handler)
    logger.warning("trigger.dev answered %s", FORGED, extra={"detail": FORGED})
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == f"trigger.dev answered {FORGED}" and record["detail"] == FORGED


PIECES = ["xoxb-", "xoxp-12-ab", "xapp-1-A", "tr_dev_", "tr_prod_k3y", "xwfp-9", "Bearer ", "Bearer\tabc", "://u:p@h"]


@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=8))
def test_the_quick_check_before_redacting_never_skips_a_secret(parts: list[str]) -> None:
    """`redact` skips its substitutions for text without any pattern's first characters: it must mask exactly what
    the substitutions alone would."""
    text = "".join(parts)
    full = logs.URL_PASSWORD.sub(rf"\1:{logs.REDACTED}@", logs.SECRET_PATTERNS.sub(logs.REDACTED, text))
    assert logs.redact(text) == full
