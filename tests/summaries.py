"""Where a move's summary for the channel is found in the fake Slack: the bot posts it as its own message
(chat.postMessage) in the channel the request came from, and falls back to the request's response_url (as
`in_channel`) only when the bot cannot post there (bot/slack/channel_post.py)."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack import FakeSlack

CHANNEL = "C111"  # where SlackSender's commands (and the tests' clicks) come from


def wait_summary(fake_slack: FakeSlack, channel: str = CHANNEL, count: int = 1) -> dict[str, Any]:
    """Wait until the bot has posted `count` messages in `channel`; the `count`-th, as it is now."""

    def enough() -> list[dict[str, Any]] | None:
        found = fake_slack.channel_messages(channel)
        return found if len(found) >= count else None

    return fake_slack.wait_for(enough)[count - 1]


def only_summary(fake_slack: FakeSlack, url: str, channel: str = CHANNEL) -> dict[str, Any]:
    """The one summary a request whose response_url is `url` posted for `channel`: the bot's own message there
    (it has a ts, so it can be updated and follow its run), and nothing said through the response_url."""
    message = wait_summary(fake_slack, channel)
    assert len(fake_slack.channel_messages(channel)) == 1, fake_slack.channel_messages(channel)
    assert message["ts"] and message["bot_id"] == "B0BOT"
    assert fake_slack.responses(url) == []
    return message


def fallback_summary(fake_slack: FakeSlack, url: str, timeout: float = 10.0) -> dict[str, Any]:
    """The summary sent through the response_url for the channel (the bot could not post there itself)."""
    posted: list[dict[str, Any]] = fake_slack.wait_for(
        lambda: [r for r in fake_slack.responses(url) if r.get("response_type") == "in_channel"], timeout
    )
    assert len(posted) == 1, posted
    return posted[0]
