"""The run summary and mrkdwn helpers: escaping, date tokens, Block Kit limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.mrkdwn import FIELD_TEXT_MAX, code, date_token, escape, truncate
from bot.render.summary import Attribution, run_summary

PROD = Environment("prod", "Prod")
URL = "https://cloud.trigger.test/runs/run_cm9k2x7ab000108l5ghf2d1qz"
NEW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OLD = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def run(**fields: object) -> Run:
    data: dict[str, object] = {
        "id": "run_cm9k2x7ab000108l5ghf2d1qz",
        "taskIdentifier": "send-reminder",
        "status": "DELAYED",
        "delayedUntil": "2026-12-01T09:00:00.000Z",
    }
    data.update(fields)
    return Run.from_api(data)


def all_text(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks)


def test_escape_neutralises_slack_control_characters() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_code_span_cannot_be_broken_out_of() -> None:
    assert code("a`b<!here>") == "`aˋb&lt;!here&gt;`"


def test_truncate_marks_the_cut() -> None:
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 4) == "abc"


def test_date_token_localises_with_a_utc_fallback() -> None:
    assert date_token(NEW) == "<!date^1796115600^{date_short_pretty} at {time}|2026-12-01 09:00 UTC>"
    assert date_token(NEW, seconds=True) == (
        "<!date^1796115600^{date_short_pretty} at {time_secs}|2026-12-01 09:00:00 UTC>"
    )


def test_rescheduled_summary_names_who_and_both_times() -> None:
    summary = run_summary(run(), PROD, URL, Attribution(user_id="U111", previous=OLD, new=NEW))
    text = all_text(summary.blocks)
    assert "<@U111> rescheduled *send-reminder* in *Prod*" in text
    assert date_token(NEW) in text and date_token(OLD) in text
    assert "Open in Trigger.dev" in text and URL in text
    assert (
        summary.text
        == "Run run_cm9k2x7ab000108l5ghf2d1qz (send-reminder) rescheduled to 2026-12-01 09:00 UTC by <@U111>"
    )


def test_optional_fields_appear_only_when_set() -> None:
    bare = all_text(run_summary(run(), PROD, URL).blocks)
    assert "Version" not in bare and "Tags" not in bare and "Idempotency key" not in bare and "Test run" not in bare
    full = all_text(
        run_summary(run(version="20250701.3", tags=["a"], idempotencyKey="k1", isTest=True), PROD, URL).blocks
    )
    for label in ("Version", "Tags", "Idempotency key", "Test run", "20250701.3", "`k1`"):
        assert label in full


def test_hostile_strings_from_trigger_dev_never_ping_anyone() -> None:
    hostile = run(taskIdentifier="<!channel> task", tags=["<!here>", "<@U999>"], idempotencyKey="<!everyone>")
    summary = run_summary(hostile, PROD, URL, Attribution(user_id="U111", previous=None, new=NEW))
    text = all_text(summary.blocks) + summary.text
    for control in ("<!channel>", "<!here>", "<@U999>", "<!everyone>"):
        assert control not in text
    assert "&lt;!channel&gt; task" in text


def test_long_values_are_truncated_to_block_kit_limits() -> None:
    summary = run_summary(run(tags=["x" * 5000] * 30, idempotencyKey="k" * 9000), PROD, URL)
    fields = summary.blocks[1]["fields"]
    assert isinstance(fields, list) and len(fields) <= 10
    assert all(len(field["text"]) <= FIELD_TEXT_MAX for field in fields)
    assert "+20" in all_text(summary.blocks)


def test_unknown_status_is_shown_truthfully() -> None:
    text = all_text(run_summary(run(status="HIBERNATING"), PROD, URL).blocks)
    assert "Hibernating" in text and ":grey_question:" in text
