"""Slack misbehaving, against the real bot served in-process: whatever Slack refuses, the person hears back by
some route (the response_url, an ephemeral message, a DM), the move is neither undone nor repeated, and the audit
trail holds the result (read after the bot stopped, when shutdown has flushed it).

Rate limits say `Retry-After: 1` (slack_sdk's handler waits that plus up to a second of jitter); the Web API outage
lasts only as long as the test needs, with the response_url served by a second fake that stays up (in Slack they
are different hosts: hooks.slack.com and slack.com/api).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler

from bot import messages
from bot.render.ids import Button
from bot.slack.app import web_client
from tests.e2e_harness import BOT_TOKEN, PROD_ENV, SIGNING_SECRET, SlackSender, bot_env, example_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, audit_of, only_response, said, sqlite_rows
from tests.inprocess import InProcessBot
from tests.summaries import fallback_summary, only_summary, wait_summary
from tests.test_e2e_bulk import CONFIRM
from tests.test_e2e_buttons import click, private_via_command, summary_via_command
from tests.test_e2e_shortcut_modal import (
    CHANNEL,
    USER,
    dms,
    open_form,
    submission,
    view_text,
    wait_form,
    wait_result,
)
from tests.test_runs import current_alert

pytestmark = pytest.mark.e2e

MISSING = "run_cm9k2x7ab000108l5ghf2d1qz"
PERMALINK = r"^/api/chat\.getPermalink$"  # slack_sdk asks it with GET


@pytest.fixture
def hooks() -> Iterator[FakeSlack]:
    """Where response_urls point, apart from the Web API (as hooks.slack.com is from slack.com/api)."""
    with FakeSlack(BOT_TOKEN) as fake:
        yield fake


def served(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, **overrides: str) -> InProcessBot:
    return InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, **overrides), log_path=tmp_path / "bot.log")


def sender(bot: InProcessBot) -> SlackSender:
    return SlackSender(bot.events_url, SIGNING_SECRET)


def calls_to(fake_slack: FakeSlack, method: str, channel: str) -> list[dict[str, Any]]:
    return [call for call in fake_slack.api_calls(method) if call.get("channel") == channel]


# --------------------------------------------------------------------------------------------- 429 + Retry-After


def test_a_rate_limited_dm_is_sent_after_retry_after(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """The channel summary is posted first (chat.postMessage too), and the DM, which links to it, waits for its
    permalink: the rate limit is set while that is held, so it is the DM that meets it."""
    run = fake_trigger.add_run(PROD_ENV)
    permalink = fake_slack.hold("*", PERMALINK)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        url = fake_slack.new_response_url()
        sender(bot).command(f"{run['id']} 2h", response_url=url)
        fake_slack.wait_for(lambda: fake_slack.calls("*", PERMALINK))  # the summary is posted by now
        fake_slack.rate_limit("chat.postMessage", times=1, retry_after=1)
        permalink.set()
        [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("D" + USER))
    summary = only_summary(fake_slack, url)
    assert run["id"] in said(summary) and len(calls_to(fake_slack, "chat.postMessage", CHANNEL)) == 1
    assert run["id"] in said(dm) and len(calls_to(fake_slack, "chat.postMessage", USER)) == 2
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


def test_a_rate_limited_ephemeral_fallback_is_sent_after_retry_after(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    fake_slack.rate_limit("chat.postEphemeral", times=1, retry_after=1)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        sender(bot).command(f"{MISSING} 2h", response_url=fake_slack.url + "/response/expired")
        [told] = fake_slack.wait_for(lambda: fake_slack.ephemerals)
    assert told["user"] == USER and told["text"] == messages.run_not_found(MISSING, "*Prod*")
    assert len(fake_slack.api_calls("chat.postEphemeral")) == 2
    assert calls_to(fake_slack, "chat.postMessage", USER) == []  # no need for the last route
    assert audit_of(tmp_path / "bot.sqlite3", MISSING) == [("not_found", "run " + MISSING + " not found")]


def test_a_rate_limit_outlasting_the_retries_falls_through_to_the_next_route(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """slack_sdk retries a 429 twice; a third refuses the ephemeral for good, and the DM carries the answer."""
    fake_slack.rate_limit("chat.postEphemeral", times=3, retry_after=0)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        sender(bot).command(f"{MISSING} 2h", response_url=fake_slack.url + "/response/expired")
        [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("D" + USER))
    assert dm["text"] == messages.run_not_found(MISSING, "*Prod*")
    assert len(fake_slack.api_calls("chat.postEphemeral")) == 3 and fake_slack.ephemerals == []
    assert audit_of(tmp_path / "bot.sqlite3", MISSING) == [("not_found", "run " + MISSING + " not found")]


@pytest.mark.parametrize("method", ["views.open", "views.update"])
def test_a_rate_limited_modal_opens_after_retry_after(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, method: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    fake_slack.rate_limit(method, times=1, retry_after=1)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        form = open_form(sender(bot), fake_slack, current_alert(run["id"]))
        sender(bot).interaction(submission(form, text="2h"))
        wait_result(fake_slack)
    assert len(fake_slack.api_calls(method)) >= 2  # refused once, then taken
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


def test_a_rate_limited_update_of_a_set_summary_lands_after_retry_after(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(10)]  # ten or more: posted at once, then updated
    fake_slack.rate_limit("chat.update", times=1, retry_after=1)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        prompt = private_via_command(sender(bot), fake_slack, " ".join([*(r["id"] for r in runs), "2h"]))
        status, _ = click(sender(bot), fake_slack, prompt, CONFIRM, ephemeral=True)
        assert status == 200
        fake_slack.wait_for(lambda: [m for m in fake_slack.messages.get(CHANNEL, []) if "*10 moved*" in said(m)])
    assert len(fake_slack.api_calls("chat.update")) == 2 and len(fake_slack.messages[CHANNEL]) == 1
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 10
    assert all(audit_of(tmp_path / "bot.sqlite3", r["id"]) == [("rescheduled", None)] for r in runs)


# --------------------------------------------------------------------------------------------- channels refused


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_a_channel_that_refuses_the_summary_is_said_in_the_dm(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, error: str
) -> None:
    """The message shortcut posts the summary in the alert's thread; the channel refuses it."""
    fake_slack.forbid_channel(CHANNEL, error)
    run = fake_trigger.add_run(PROD_ENV)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        form = open_form(sender(bot), fake_slack, current_alert(run["id"]))
        sender(bot).interaction(submission(form, text="2h"))
        result = wait_result(fake_slack)
        [dm] = fake_slack.wait_for(lambda: dms(fake_slack))
    note = messages.thread_post_failed(CHANNEL, error)
    assert note in said(dm) and note in view_text(result)
    assert fake_slack.messages.get(CHANNEL) is None
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_with_dms_off_a_move_nobody_could_see_is_told_by_dm_anyway(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, error: str
) -> None:
    """The response_url is spent and the channel refuses the ephemeral: the last route, the DM, carries the news."""
    fake_slack.forbid_channel(CHANNEL, error)
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    fake_slack.spend_response_url(url)
    with served(fake_slack, fake_trigger, tmp_path, DM_CONFIRMATIONS="false") as bot:
        sender(bot).command(f"{run['id']} 2h", response_url=url)
        [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("D" + USER))
    assert dm["text"] == messages.summary_not_posted("used_url")
    assert len(calls_to(fake_slack, "chat.postEphemeral", CHANNEL)) == 1 and fake_slack.ephemerals == []
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


# --------------------------------------------------------------------------------------------- response_url, trigger_id


@pytest.mark.parametrize("state", ["expired", "used"])
def test_a_move_the_bot_cannot_post_whose_response_url_is_expired_or_used_up_is_said_in_the_dm(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, state: str
) -> None:
    """The response_url matters only when the bot cannot post the summary in the channel itself: here it is not
    in the channel, and the response_url it falls back to is refused."""
    fake_slack.forbid_channel(CHANNEL, "not_in_channel")
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    if state == "used":
        fake_slack.spend_response_url(url)
    else:
        url = fake_slack.url + "/response/expired-long-ago"  # unknown to Slack: 404
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        sender(bot).command(f"{run['id']} 2h", response_url=url)
        [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("D" + USER))
    problem = "used_url" if state == "used" else "not_found"
    assert messages.summary_not_posted(problem) in said(dm) and Button.UNDO.action_id in json.dumps(dm["blocks"])
    assert "see the summary" not in json.dumps(dm["blocks"])  # it says the summary is nowhere, and links nowhere
    assert len(calls_to(fake_slack, "chat.postMessage", CHANNEL)) == 1 and fake_slack.channel_messages(CHANNEL) == []
    assert fake_slack.responses(url) == []
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


def test_other_with_an_expired_trigger_id_is_told_and_the_next_click_opens_the_form(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    """The shortcut's case is tests/test_e2e_shortcut_modal.py; this is the Other… button on a summary."""
    run = fake_trigger.add_run(PROD_ENV)
    message = summary_via_command(slack, fake_slack, f"{run['id']} 2h")
    fake_slack.expire_trigger(example_payload("block_actions")["trigger_id"])  # the first click's trigger_id
    status, url = click(slack, fake_slack, message, f"rb1:{Button.OTHER.value}")
    assert status == 200
    assert only_response(fake_slack, url)["text"] == messages.TRIGGER_ID_EXPIRED
    assert fake_slack.views == {}
    status, _ = click(slack, fake_slack, message, f"rb1:{Button.OTHER.value}")  # Slack gives it a new trigger_id
    assert status == 200
    assert run["id"] in view_text(wait_form(fake_slack))
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1  # the command's move only


# --------------------------------------------------------------------------------------------- the Web API away


@pytest.mark.slow
def test_the_web_api_unreachable_for_a_while_loses_no_move_and_no_answer(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, hooks: FakeSlack, tmp_path: Path
) -> None:
    """Connections to the Web API are refused: the bot cannot post the summary in the channel, so it arrives
    through the response_url; the DM that could not be sent is kept, and sent once Slack is back, saying it is
    late; the next move's summary is the bot's own message in the channel again, and it gets its DM."""
    first, second = fake_trigger.add_run(PROD_ENV), fake_trigger.add_run(PROD_ENV)
    path = tmp_path / "bot.sqlite3"
    with served(fake_slack, fake_trigger, tmp_path, OUTBOX_RETRY_SECONDS="0.2") as bot:
        fake_slack.refuse_connections()
        try:
            url = hooks.new_response_url()
            sender(bot).command(f"{first['id']} 2h", response_url=url)
            # Each refused call goes through the client's connection retries first, longer under load.
            during = fallback_summary(hooks, url, timeout=30)
            hooks.wait_for(lambda: sqlite_rows(path, "SELECT * FROM outbox"), timeout=30)  # the DM, kept
        finally:
            fake_slack.accept_connections()
        url = hooks.new_response_url()
        sender(bot).command(f"{second['id']} 2h", response_url=url)
        after = wait_summary(fake_slack)
        [dm] = fake_slack.wait_for(lambda: [m for m in dms(fake_slack) if "Sent late" not in said(m)])
        [late] = fake_slack.wait_for(lambda: [m for m in dms(fake_slack) if "Sent late" in said(m)])
        fake_slack.wait_for(lambda: sqlite_rows(path, "SELECT * FROM outbox") == [])  # sent: not sent again
        log = bot.log_text()
    assert hooks.responses(url) == [] and len(fake_slack.channel_messages(CHANNEL)) == 1
    assert "summary not posted by the bot in " + CHANNEL in log  # the first one, during the outage
    assert "could not DM the confirmation" in log
    assert first["id"] in said(during) and second["id"] in said(after) and second["id"] in said(dm)
    assert first["id"] in said(late) and len(dms(fake_slack)) == 2
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 2
    assert audit_of(path, first["id"]) == audit_of(path, second["id"]) == [("rescheduled", None)]


def test_with_the_web_api_unreachable_from_the_start_a_request_is_told_so_without_a_traceback(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, hooks: FakeSlack, tmp_path: Path
) -> None:
    """Slack's Web API refuses connections before the bot starts, so who the bot is (auth.test) is not known when
    `help` arrives: the person hears, through the response_url, that Slack could not be reached (not that
    something unexpected happened); the log says it in one line, with no traceback."""
    fake_slack.refuse_connections()
    try:
        with served(fake_slack, fake_trigger, tmp_path) as bot:
            url = hooks.new_response_url()
            assert sender(bot).command("help", response_url=url).status_code == 200
            [answer] = hooks.wait_for(lambda: hooks.responses(url), timeout=30)
            log = bot.log_text()
    finally:
        fake_slack.accept_connections()
    assert said(answer).startswith(messages.SLACK_UNREACHABLE) and answer.get("response_type") == "ephemeral"
    assert "Traceback" not in log and "unexpected error" not in log, log
    assert log.count("Slack could not be reached while handling a /reschedule request") == 1, log


def test_who_the_bot_is_is_asked_once_per_try_so_the_acknowledgement_is_not_held_up_by_retries(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, hooks: FakeSlack, tmp_path: Path
) -> None:
    """auth.test runs before a request's acknowledgement when it failed at start: one attempt each time (the
    client's retries, with a timeout each, could hold the acknowledgement past Slack's 3 seconds)."""
    fake_slack.drop_next("*", r"auth\.test$", times=10)  # Slack closes the connection without answering
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        url = hooks.new_response_url()
        assert sender(bot).command("help", response_url=url).status_code == 200
        [answer] = hooks.wait_for(lambda: hooks.responses(url), timeout=30)
    assert said(answer).startswith(messages.SLACK_UNREACHABLE)
    assert len(fake_slack.calls("*", r"auth\.test$")) == 2  # once at start, once for the request


def test_a_connection_error_is_retried_twice_within_a_fraction_of_a_second() -> None:
    """Quickly (a reset connection is over at once; a Slack that stays away is the outbox's job), and on the client
    the bot uses: the connection retry handler of `web_client` waits 0.1–0.2 s, then 0.2–0.4 s."""
    client = web_client("xoxb-not-used", "http://127.0.0.1:9/api/")
    [connection] = [h for h in client.retry_handlers if isinstance(h, AsyncConnectionErrorRetryHandler)]
    assert connection.max_retry_count == 2
    for _ in range(200):  # the jitter is random: every draw stays within the bounds
        first, second = (connection.interval_calculator.calculate_sleep_duration(attempt) for attempt in (0, 1))
        assert 0.1 <= first <= 0.2 and 0.2 <= second <= 0.4
