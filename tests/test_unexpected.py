"""The unexpected: a bug below the surface still gets the user an answer with a reference found in the log."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from slack_bolt.async_app import AsyncBoltRequest

from bot import wiring
from bot.logs import RedactingFormatter, redact
from bot.settings import Settings
from tests.e2e_harness import BOT_TOKEN, PROD_KEY, SIGNING_SECRET, sign
from tests.fakes.slack import FakeSlack


def broken_transport(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("a bug, not a network error")


async def test_unexpected_error_gets_a_reference_that_is_in_the_log(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    config = Settings(
        _env_file=None,
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        trigger_secret_key=SecretStr(PROD_KEY),
        slack_api_url=fake_slack.api_url,
    )
    bot = wiring.build(config, transport=httpx.MockTransport(broken_transport))
    url = fake_slack.new_response_url()
    body = urlencode(
        {
            "command": "/reschedule",
            "text": "run_cm9k2x7ab000108l5ghf2d1qz 2h",
            "user_id": "U111",
            "channel_id": "C111",
            "team_id": "T111",
            "response_url": url,
            "trigger_id": "1.2.3",
        }
    )
    ts = str(int(time.time()))
    headers: dict[str, str | Sequence[str]] = {
        "x-slack-request-timestamp": [ts],
        "x-slack-signature": [sign(SIGNING_SECRET, ts, body.encode())],
        "content-type": ["application/x-www-form-urlencoded"],
    }
    with caplog.at_level(logging.ERROR):
        response = await bot.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        assert response.status == 200
        for _ in range(250):
            if fake_slack.responses(url):
                break
            await asyncio.sleep(0.02)
    await bot.aclose()
    [answer] = fake_slack.responses(url)
    match = re.search(r"Reference `([0-9a-f]{8})`", answer["text"])
    assert match is not None and answer["response_type"] == "ephemeral"
    assert f"ref={match.group(1)}" in caplog.text


def test_log_lines_mask_anything_shaped_like_a_secret() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s key %s", (BOT_TOKEN, PROD_KEY), None)
    line = RedactingFormatter("%(message)s").format(record)
    assert BOT_TOKEN not in line and PROD_KEY not in line and line.count("[redacted]") == 2
    assert redact("Authorization: Bearer abc.def") == "Authorization: [redacted]"
