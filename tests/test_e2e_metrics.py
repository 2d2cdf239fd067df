"""GET /metrics and GET /healthz on the served bot: the series move with the requests, several processes sharing
PROMETHEUS_MULTIPROC_DIR are summed, and neither endpoint calls the database or an upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e_harness import SIGNING_SECRET, BotProcess, SlackSender, bot_env, http_get, refusing_address
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.summaries import CHANNEL, wait_summary

pytestmark = pytest.mark.e2e

PROD_ENV = "env_prod"
RESCHEDULE = r"/api/v1/runs/.+/reschedule"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str, token: str | None = None) -> Samples:
    """Every sample of GET /metrics, by name and labels."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http_get(base_url + "/metrics", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"reschedule_bot_{name}", frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples) -> Callable[..., float]:
    """How much a series went up between two scrapes."""
    return lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)


def errors_moved(before: Samples, after: Samples) -> dict[tuple[str, str], float]:
    """Each Slack Web API error series that went up between two scrapes: (method, error) → by how much."""
    delta = moved(before, after)
    return {
        (labels["method"], labels["error"]): delta("slack_api_errors_total", **labels)
        for name, label_set in after
        if name == "reschedule_bot_slack_api_errors_total"
        for labels in [dict(label_set)]
        if delta("slack_api_errors_total", **labels)
    }


def command_summarised(sender: SlackSender, fake_slack: FakeSlack, text: str, user_id: str = "U111") -> None:
    """A /reschedule that moves a run, answered by the summary the bot posts in the channel (nothing said through
    the response_url)."""
    url = fake_slack.new_response_url()
    count = len(fake_slack.channel_messages(CHANNEL)) + 1
    assert sender.command(text, response_url=url, user_id=user_id).status_code == 200
    wait_summary(fake_slack, CHANNEL, count)
    assert fake_slack.responses(url) == []


def command_answered_privately(sender: SlackSender, fake_slack: FakeSlack, text: str) -> None:
    """A /reschedule answered through its response_url only (a refusal, a run not found): nothing in the channel."""
    url = fake_slack.new_response_url()
    count = len(fake_slack.channel_messages(CHANNEL))
    assert sender.command(text, response_url=url).status_code == 200
    fake_slack.wait_for(lambda: fake_slack.responses(url))
    assert len(fake_slack.channel_messages(CHANNEL)) == count


def test_the_series_move_with_the_requests(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, bot = start()
    before = scrape(bot.url)
    good, retried = fake_trigger.add_run(PROD_ENV), fake_trigger.add_run(PROD_ENV)
    command_summarised(sender, fake_slack, f"{good['id']} 2h")
    fake_trigger.fail_next("POST", RESCHEDULE, 503, {"error": "upstream hiccup"})
    # U222 turned the bot's DMs off: the DM after their move fails; the summary in the channel does not.
    fake_slack.forbid_channel("U222", "messages_tab_disabled")
    command_summarised(sender, fake_slack, f"{retried['id']} 3h", user_id="U222")
    command_answered_privately(sender, fake_slack, "run_cm9k2x7ab000108l5ghf2d1qz 2h")  # in no environment
    assert sender.command("help", response_url="https://x.test/r", signature="v0=" + "0" * 64).status_code == 401
    delta = moved(before, fake_slack.wait_for(lambda: _after_dm_failure(bot.url, before)))

    assert delta("slack_requests_total", surface="command", outcome="acked") == 3
    assert delta("slack_requests_total", surface="unknown", outcome="unverified") == 1
    assert delta("slack_ack_seconds_count", surface="command") == 3
    assert delta("slack_ack_seconds_bucket", surface="command", le="+Inf") == 3
    assert delta("trigger_request_seconds_count", endpoint="reschedule", status="2xx") == 2
    assert delta("trigger_request_seconds_count", endpoint="reschedule", status="5xx") == 1
    assert delta("trigger_request_seconds_count", endpoint="retrieve", status="4xx") == 1  # a 404 is asked once
    assert delta("trigger_retries_total", endpoint="reschedule", kind="TriggerUnavailable") == 1
    assert delta("trigger_retries_total", endpoint="retrieve", kind="RunNotFound") == 0
    assert delta("trigger_errors_total", endpoint="retrieve", kind="RunNotFound") == 1
    assert delta("slack_api_errors_total", method="chat.postMessage", error="messages_tab_disabled") == 1
    # Each move made three Web API calls: the summary in the channel, its permalink (for the DM), the DM; only
    # the refused DM is counted as an error.
    posts = sorted(call["channel"] for call in fake_slack.api_calls("chat.postMessage"))  # a DM may follow later
    assert posts == ["C111", "C111", "U111", "U222"]
    assert [call["channel"] for call in fake_slack.api_calls("chat.getPermalink")] == ["C111", "C111"]
    # Nobody's timezone was looked up (users.info): a move straight to `3h` speaks no time in their terms.
    assert fake_slack.api_calls("users.info") == []
    assert errors_moved(before, scrape(bot.url)) == {("chat.postMessage", "messages_tab_disabled"): 1}
    assert delta("attempts_total", surface="command", outcome="rescheduled") == 2
    assert delta("attempts_total", surface="command", outcome="not_found") == 1
    after = scrape(bot.url)
    assert value(after, "moves_in_flight") == 0
    names = {name for name, _ in after}
    assert {"reschedule_bot_audit_pending", "reschedule_bot_audit_failed_total"} <= names


def _after_dm_failure(url: str, before: Samples) -> Samples | None:
    """A scrape once the failed DM (sent after the answer) has been counted."""
    after = scrape(url)
    counted = moved(before, after)("slack_api_errors_total", method="chat.postMessage", error="messages_tab_disabled")
    return after if counted else None


def test_a_move_is_in_flight_until_trigger_dev_answers(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, bot = start()
    run = fake_trigger.add_run(PROD_ENV)
    release = fake_trigger.answer_late("POST", RESCHEDULE)
    url = fake_slack.new_response_url()
    sender.command(f"{run['id']} 2h", response_url=url)
    fake_slack.wait_for(lambda: value(scrape(bot.url), "moves_in_flight") == 1)
    release.set()
    wait_summary(fake_slack)
    assert fake_slack.responses(url) == []
    fake_slack.wait_for(lambda: value(scrape(bot.url), "moves_in_flight") == 0)


def test_audit_records_the_database_refuses_are_counted(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    with refusing_address() as nowhere:
        sender, bot = start(DATABASE_URL=f"postgresql://postgres@{nowhere}/nowhere")
        audit_failed_once(sender, bot, fake_slack, fake_trigger)


def audit_failed_once(sender: SlackSender, bot: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    before = scrape(bot.url)
    run = fake_trigger.add_run(PROD_ENV)
    command_summarised(sender, fake_slack, f"{run['id']} 2h")

    def failed_once() -> Samples | None:  # after the writer's retries give up (about 4 s)
        after = scrape(bot.url)
        return after if moved(before, after)("audit_failed_total") else None

    after = fake_slack.wait_for(failed_once, timeout=20)
    assert moved(before, after)("audit_failed_total") == 1
    assert value(after, "audit_pending") == 0


def test_metrics_token_guards_metrics_but_not_healthz(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    _, bot = start(METRICS_TOKEN="scrape-me-please")
    assert http_get(bot.url + "/metrics").status_code == 401
    assert http_get(bot.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # The bot's own series (one without labels, present before any request: this test may be a worker's first).
    assert ("reschedule_bot_moves_in_flight", frozenset()) in scrape(bot.url, "scrape-me-please")
    assert http_get(bot.url + "/healthz").status_code == 200


def test_healthz_and_metrics_answer_while_trigger_dev_and_the_database_are_down(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    with refusing_address() as trigger, refusing_address() as database:
        _, bot = start(TRIGGER_API_URL=f"http://{trigger}", DATABASE_URL=f"postgresql://postgres@{database}/nowhere")
        answers_while_down(bot, fake_slack, fake_trigger)


def answers_while_down(bot: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    calls = len(fake_slack.requests)
    health = http_get(bot.url + "/healthz")
    assert health.status_code == 200 and health.json() == {"ok": True}
    assert scrape(bot.url)  # /metrics too
    assert fake_trigger.requests == [] and len(fake_slack.requests) == calls


@pytest.mark.slow
def test_processes_sharing_a_multiprocess_dir_are_summed(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = bot_env(fake_slack, fake_trigger, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(shared))
    with BotProcess(env, log_path=tmp_path / "one.log") as one, BotProcess(env, log_path=tmp_path / "two.log") as two:
        for process, count in ((one, 2), (two, 1)):
            sender = SlackSender(process.events_url, SIGNING_SECRET)
            for _ in range(count):
                command_summarised(sender, fake_slack, f"{fake_trigger.add_run(PROD_ENV)['id']} 2h")
        for process in (one, two):  # either process answers for both
            samples = scrape(process.url)
            assert value(samples, "slack_requests_total", surface="command", outcome="acked") == 3
            assert value(samples, "attempts_total", surface="command", outcome="rescheduled") == 3
            assert value(samples, "moves_in_flight") == 0
        two.stop()
        assert value(scrape(one.url), "slack_requests_total", surface="command", outcome="acked") == 3
    assert len(list(shared.glob("*.db"))) >= 2  # each process wrote its own files there


def test_a_multiprocess_dir_only_in_the_settings_is_named_and_metrics_stay_this_process(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """In-process, the setting reaches the bot but not os.environ, where prometheus-client looks (as with .env)."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    sender, bot = start(PROMETHEUS_MULTIPROC_DIR=str(shared))
    before = scrape(bot.url)
    command_summarised(sender, fake_slack, f"{fake_trigger.add_run(PROD_ENV)['id']} 2h")
    assert moved(before, scrape(bot.url))("slack_requests_total", surface="command", outcome="acked") == 1
    assert "PROMETHEUS_MULTIPROC_DIR is not in the process environment" in bot.log_text()
    assert list(shared.iterdir()) == []
