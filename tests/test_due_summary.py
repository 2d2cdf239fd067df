"""The Workflow Builder list step's summary (bot/render/due_summary.py): one mrkdwn string, soonest first, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import messages, workflow_messages
from bot.domain.environments import environment_for_key
from bot.domain.runs import Run
from bot.render.due_summary import all_of, due_summary
from bot.render.mrkdwn import date_token
from bot.render.run_list import MAX_RUNS_SHOWN

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
PROD = environment_for_key("tr_prod_abcdefghijklmnop")


def run(number: int, task: str = "send-reminder", hours: float = 1) -> Run:
    until = (NOW + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
    run_id = f"run_cm9k2x7ab000108l5ghf{number:04d}"
    return Run.from_api({"id": run_id, "taskIdentifier": task, "status": "DELAYED", "delayedUntil": until})


def url(run_id: str) -> str:
    return f"https://cloud.trigger.test/runs/{run_id}"


def test_each_run_has_its_time_as_a_date_token_and_a_link_and_foreign_text_is_escaped() -> None:
    first, second = run(1, "<!channel> & co", 1), run(2, hours=3)
    text = due_summary([(first, PROD), (second, PROD)], NOW, where=all_of(["Prod"]), filters="", run_url=url)
    lines = text.split("\n")
    assert lines[0] == messages.list_head(2, 2, "*Prod*", "")
    assert "&lt;!channel&gt; &amp; co" in text and "<!channel>" not in text
    assert date_token(NOW + timedelta(hours=1)) in text and date_token(NOW + timedelta(hours=3)) in text
    assert text.index(first.id) < text.index(second.id)
    assert f"<{url(first.id)}|{messages.OPEN_IN_TRIGGER}>" in text


def test_more_runs_than_shown_are_counted_and_none_is_an_empty_sentence() -> None:
    entries = [(run(n, hours=n / 10), PROD) for n in range(1, MAX_RUNS_SHOWN + 6)]
    text = due_summary(entries, NOW, where="*Prod*", filters=" due within 12h", run_url=url)
    assert text.count("• ") == MAX_RUNS_SHOWN
    assert text.endswith(workflow_messages.workflow_due_more(5))
    assert entries[-1][0].id not in text
    empty = due_summary([], NOW, where="*Prod*", filters=" due within 12h", run_url=url)
    assert empty == messages.list_empty("*Prod*", " due within 12h")


def test_environment_titles_are_joined_and_escaped() -> None:
    assert all_of(["Prod"]) == "*Prod*"
    assert all_of(["Prod", "Staging", "A<b"]) == "*Prod*, *Staging* and *A&lt;b*"
