"""Sentences are valid Slack mrkdwn: a literal `<word>` would be read by Slack as a link, so it is escaped."""

from __future__ import annotations

import re
from pathlib import Path

import bot.messages


def slack_sections(text: str) -> str:
    """The module without its operator sections (start-up and `check` print to a terminal, not to Slack, where
    `ACCESS__<NAME>__…` stays as is)."""
    kept = []
    for section in text.split("\n# --- ")[1:]:
        if not section.startswith(("Start-up", "reschedule-bot check")):
            kept.append(section)
    return "\n".join(kept)


SOURCE = slack_sections(Path(bot.messages.__file__).read_text())


def test_no_sentence_writes_a_placeholder_slack_would_read_as_a_link() -> None:
    raw = [match.group(0) for match in re.finditer(r"<(?![!@#]|https?:)[^<>\s{}]+>", SOURCE)]
    assert raw == []


def test_the_usage_shows_its_placeholders_escaped() -> None:
    assert "&lt;run&gt; &lt;when&gt;" in bot.messages.USAGE
