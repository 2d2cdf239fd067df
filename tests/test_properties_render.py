"""Whatever Trigger.dev says about a run, the summary the bot posts carries no mention, link or entity of its own.

Task names, tags, versions, idempotency keys and statuses come from Trigger.dev, and so from whoever triggered the
run: any text at all. In every mrkdwn text of the summary (and its fallback), once the bot's own tokens are taken
out (the date tokens, the run's link, the mention of the person who moved it), no `<` or `>` is left and every `&`
starts an entity.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls
from bot.render.summary import Attribution, run_summary

RUN_ID = "run_cm9k2x7ab000108l5ghf2d1qz"
URL = f"https://cloud.trigger.test/runs/{RUN_ID}"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OURS = re.compile(
    r"<!date\^\d+\^\{date_short_pretty\} at \{time(?:_secs)?\}\|[0-9: -]+UTC>"  # date tokens
    r"|<" + re.escape(URL) + r"\|Open in Trigger\.dev>"  # the run's link
    r"|<@U111>"  # the person who moved it (from the signed request)
)
BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")

hostile = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(["<!channel>", "<@U999>", "<https://evil.test|x>", "&", "&amp;", "<", ">", "|", "`", "*"]),
        max_size=8,
    ).map("".join),
)


def mrkdwn_texts(value: Any) -> list[str]:
    """Every text Slack reads as mrkdwn: mrkdwn text objects, and fields given as bare strings (none here)."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            found.append(value["text"])
        for item in value.values():
            found.extend(mrkdwn_texts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(mrkdwn_texts(item))
    return found


@given(
    task=hostile,
    tags=st.lists(hostile, max_size=4),
    version=st.none() | hostile,
    key=st.none() | hostile,
    status=st.sampled_from(["DELAYED", "EXECUTING", "COMPLETED", "<!here>", "&lt;"]),
    moved=st.booleans(),
)
def test_what_trigger_dev_says_about_a_run_cannot_mention_link_or_inject(
    task: str, tags: list[str], version: str | None, key: str | None, status: str, moved: bool
) -> None:
    run = Run.from_api(
        {
            "id": RUN_ID,
            "status": status,
            "taskIdentifier": task,
            "tags": tags,
            "version": version,
            "idempotencyKey": key,
            "delayedUntil": (NOW + timedelta(hours=1)).isoformat(),
        }
    )
    action = Attribution(user_id="U111", previous=NOW, new=NOW + timedelta(hours=2), at=NOW) if moved else None
    summary = run_summary(run, Environment("prod", "Prod", "prod"), URL, action, Controls(now=NOW, confirm=False))
    for text in [*mrkdwn_texts(summary.blocks), summary.text]:
        left = OURS.sub("", text)
        assert "<" not in left and ">" not in left, text
        assert BARE_AMPERSAND.search(left) is None, text
