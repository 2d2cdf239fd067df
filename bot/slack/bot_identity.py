"""Who the bot is in Slack (auth.test), learnt once at start so no request waits on it before its ack.

Bolt would otherwise call auth.test lazily on the first request, before any listener can acknowledge it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import operator_messages
from bot.slack.replies import slack_error

log = logging.getLogger(__name__)

# auth.test when the bot does not know yet who it is runs before a request's acknowledgement: one attempt, bounded
# well inside Slack's 3 seconds (the client's retries would add their waits, and a timeout each, for a Slack that is
# down).
AUTH_TEST_SECONDS = 2


class SlackRejected(Exception):
    """The bot token did not pass auth.test; the message says what to do."""


class BotIdentity:
    """Holds the bot's AuthorizeResult; `authorize` is the function Bolt calls for every request."""

    def __init__(self, client: AsyncWebClient, result: AuthorizeResult | None = None) -> None:
        self.client = client
        self.result = result

    async def load(self) -> AuthorizeResult:
        """Call auth.test until it succeeds once; Slack's errors are raised as they come (Bolt answers
        a SlackApiError raised while authorizing with its own message)."""
        if self.result is None:
            once = AsyncWebClient(
                token=self.client.token,
                base_url=self.client.base_url,
                timeout=AUTH_TEST_SECONDS,
                session=self.client.session,
                retry_handlers=[],
            )
            response = await once.auth_test()
            self.result = AuthorizeResult.from_auth_test_response(
                bot_token=self.client.token,
                bot_scopes=response.headers.get("x-oauth-scopes"),
                auth_test_response=response,
            )
        return self.result

    def authorizer(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        """A plain function for Bolt's `authorize=` (Bolt passes arguments by parameter name)."""

        async def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
            return await self.load()

        return authorize


# auth.test errors that mean the token itself is wrong: no point in starting.
TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})


async def check_token(identity: BotIdentity) -> AuthorizeResult | None:
    """auth.test before serving. A rejected token raises SlackRejected (the process stops with a clear message);
    Slack being briefly unavailable only logs, and auth.test is then retried on the first request."""
    try:
        return await identity.load()
    except SlackApiError as exc:
        if slack_error(exc) in TOKEN_ERRORS:
            raise SlackRejected(operator_messages.slack_token_rejected(slack_error(exc))) from None
        log.warning("auth.test failed at start (%s); it will be retried on the first request", slack_error(exc))
    except Exception as exc:
        log.warning("Slack did not answer auth.test at start (%s); retrying on the first request", slack_error(exc))
    return None


async def check_app_token(base_url: str, app_token: str) -> None:
    """Socket Mode: ask once for a connection URL, so a bad SLACK_APP_TOKEN stops the process with a clear
    message instead of a reconnect loop."""
    client = AsyncWebClient(base_url=base_url, timeout=10)
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        raise SlackRejected(operator_messages.slack_app_token_rejected(slack_error(exc))) from None
    except Exception as exc:
        raise SlackRejected(operator_messages.slack_unreachable(slack_error(exc))) from None
