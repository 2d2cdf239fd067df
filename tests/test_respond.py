"""bot/slack/respond.py: a listener's `respond`, made from Bolt's public context, posts through the Web API client's
one aiohttp session to the request's response_url, and refuses as Bolt's does when there is none."""

from __future__ import annotations

import aiohttp
import pytest
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.respond import respond_for
from tests.e2e_harness import BOT_TOKEN
from tests.fakes.slack import FakeSlack


async def test_respond_posts_to_the_response_url_through_the_clients_session(fake_slack: FakeSlack) -> None:
    url = fake_slack.new_response_url()
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url, session=session)
        respond = respond_for(AsyncBoltContext({"response_url": url, "client": client}))
        assert respond.session is session  # no session (and connection) of its own per message
        answer = await respond(text="done", response_type="ephemeral")
    assert answer.status_code == 200
    assert [(body["text"], body["response_type"]) for body in fake_slack.responses(url)] == [("done", "ephemeral")]


async def test_without_a_response_url_respond_refuses_as_bolts_does() -> None:
    respond = respond_for(AsyncBoltContext({"client": AsyncWebClient(token=BOT_TOKEN)}))
    with pytest.raises(ValueError, match="no response_url"):
        await respond(text="anyone?")
