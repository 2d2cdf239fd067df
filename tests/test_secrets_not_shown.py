"""No secret the bot is given shows in a repr, a str or an exception: Settings, the Trigger.dev client, its errors.

(What the bot sends and logs is scanned for the same secrets over the whole suite: tests/secret_scan.py.)
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from bot import settings
from bot.trigger import errors
from bot.trigger.client import Deadline, RetryPolicy, TriggerClient
from tests.e2e_harness import BOT_TOKEN, DEV_KEY, PROD_KEY, SIGNING_SECRET, STAGING_KEY, load_settings

APP_TOKEN = "xapp-1-A111-fakefakefake-0004"
DB_PASSWORD = "db-password-not-for-logs"
SECRETS = (SIGNING_SECRET, BOT_TOKEN, APP_TOKEN, PROD_KEY, STAGING_KEY, DEV_KEY, DB_PASSWORD)
ENV = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "TRIGGER_SECRET_KEY": PROD_KEY,
    "TRIGGER_SECRET_KEYS": f"{STAGING_KEY},sandbox={DEV_KEY}",
    "DATABASE_URL": f"postgresql://bot:{DB_PASSWORD}@db.internal:5432/bot",
}


def shown(*objects: object) -> str:
    return "\n".join(f"{thing!r}\n{thing!s}" for thing in objects)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret ({secret[:6]}…) is shown:\n{text}"


def test_settings_show_no_secret_in_repr_str_or_dump() -> None:
    config = load_settings("serve", ENV)
    assert config.slack_bot_token is not None and config.slack_bot_token.get_secret_value() == BOT_TOKEN
    assert_no_secret(shown(config, *config.environments(), config.policy()))
    assert_no_secret(config.model_dump_json())


def test_a_configuration_error_names_the_variable_never_the_values() -> None:
    broken = {**ENV, "TRIGGER_SECRET_KEYS": f"{STAGING_KEY},pk_prod_{PROD_KEY[8:]}", "MAX_DELAY": "soon"}
    with pytest.raises(settings.ConfigError) as failed:
        load_settings("serve", broken)
    message = str(failed.value)
    assert "MAX_DELAY" in message
    assert_no_secret(shown(failed.value) + message)


def test_the_trigger_client_shows_no_key() -> None:
    client = TriggerClient(http=httpx.AsyncClient(base_url="https://trigger.test"), key=SecretStr(PROD_KEY))
    assert_no_secret(shown(client))
    asyncio.run(client.http.aclose())


ERROR_ANSWERS = [
    (401, {"error": "Invalid or missing API Key"}),
    (403, {"error": "Unauthorized", "code": "unauthorized", "param": "access_token", "type": "authorization"}),
    (404, {"error": "Not found"}),
    (400, {"error": "Invalid delay: 2h"}),
    (400, {"error": "Cannot reschedule a run that is not delayed"}),
    (422, {"error": "something else"}),
    (429, {"title": "Too Many Requests", "detail": "Rate limit exceeded"}),
    (500, "Unexpected Server Error"),
]


@pytest.mark.parametrize(("status", "body"), ERROR_ANSWERS, ids=[str(s) for s, _ in ERROR_ANSWERS])
@pytest.mark.parametrize("echoes_the_key", [False, True], ids=["plain", "echoing-proxy"])
def test_an_error_from_trigger_dev_shows_no_key_even_when_the_server_echoes_it(
    status: int, body: dict[str, str] | str, echoes_the_key: bool
) -> None:
    """A proxy in front of a self-hosted instance may echo the Authorization header it refused into its message; the
    message reaches people (bot/slack/failures.py) and the audit trail, so it must not carry the key."""

    def answer(request: httpx.Request) -> httpx.Response:
        if echoes_the_key:
            echoed = f"refused {request.headers['authorization']} ({request.headers['authorization'][7:]})"
            return httpx.Response(status, json={"error": echoed})
        return httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)

    async def move() -> errors.TriggerError:
        http = httpx.AsyncClient(base_url="https://trigger.test", transport=httpx.MockTransport(answer))
        client = TriggerClient(http=http, key=SecretStr(PROD_KEY), policy=RetryPolicy(max_attempts=1))
        try:
            await client.reschedule_run("run_cm9k2x7ab000108l5ghf2d1qz", "2h", Deadline.after(5))
        except errors.TriggerError as failure:
            return failure
        finally:
            await http.aclose()
        raise AssertionError("no error raised")

    failure = asyncio.run(move())
    assert failure.status == status
    assert_no_secret(shown(failure, failure.server_message, failure.args, failure.__cause__))
