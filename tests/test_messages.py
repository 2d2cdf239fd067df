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


def test_a_refused_run_in_a_set_says_what_the_rule_allows_without_naming_anyone() -> None:
    assert bot.messages.bulk_refused_detail(2, 1, 1, False) == (
        "its access rule allows 2 people and 1 user group, from 1 channel only; /reschedule on that run alone says who"
    )
    channels_only = bot.messages.bulk_refused_detail(0, 0, 3, False)
    assert channels_only.startswith("its access rule allows everyone, from 3 channels")
    assert "could not be read" in bot.messages.bulk_refused_detail(0, 2, 0, True)
