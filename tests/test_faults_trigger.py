"""Trigger.dev misbehaving, against the real bot served in-process: each fault ends with the run moved exactly once
or the person told it was not (or that it could not be confirmed), and one audit row saying the same.

The audit trail is read after the bot stopped (shutdown flushes it). Deadlines are short (TRIGGER_DEADLINE 2-6 s)
and rate-limit resets under a second, so no test waits for long.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.render.mrkdwn import date_token, link
from tests.e2e_harness import DASHBOARD_URL, PROD_ENV, PROD_KEY, SIGNING_SECRET, SlackSender, bot_env
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, RETRIEVE, audit_of, only_response, said
from tests.inprocess import InProcessBot
from tests.summaries import only_summary
from tests.test_e2e_buttons import click

pytestmark = pytest.mark.e2e


def target_in(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)


def typed(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%MZ")


def served(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, **overrides: str) -> InProcessBot:
    return InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, **overrides), log_path=tmp_path / "bot.log")


def command(bot: InProcessBot, fake_slack: FakeSlack, text: str) -> str:
    """/reschedule `text`; the command's response_url."""
    url = fake_slack.new_response_url()
    SlackSender(bot.events_url, SIGNING_SECRET).command(text, response_url=url)
    return url


def move(bot: InProcessBot, fake_slack: FakeSlack, text: str) -> dict[str, Any]:
    """/reschedule `text` that moves the run: the one summary the bot posted in the channel (nothing was said
    through the response_url)."""
    return only_summary(fake_slack, command(bot, fake_slack, text))


def refused(bot: InProcessBot, fake_slack: FakeSlack, text: str) -> dict[str, Any]:
    """/reschedule `text` that does not move the run: the one private answer, through the response_url."""
    return only_response(fake_slack, command(bot, fake_slack, text))


def test_a_burst_of_server_errors_on_the_move_ends_in_one_move_to_the_instant_asked(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    target = target_in(3)
    fake_trigger.fail_next("POST", RESCHEDULE, 502, "Bad Gateway", times=2)
    with served(fake_slack, fake_trigger, tmp_path, TRIGGER_DEADLINE="6") as bot:
        body = move(bot, fake_slack, f"{run['id']} {typed(target)}")
    assert date_token(target) in said(body)
    posts = fake_trigger.calls("POST", RESCHEDULE)
    assert len(posts) == 3 and {post.text() for post in posts} == {posts[0].text()}  # one instant, sent thrice
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == target
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_connection_reset_before_or_after_the_move_was_read_moves_the_run_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, when: str
) -> None:
    """Reset after the server acted: the retry carries the same absolute instant, so applying it again changes
    nothing the person did not ask for; the summary shows that instant and the previous time the run really had."""
    run = fake_trigger.add_run(PROD_ENV)
    target = target_in(2)
    if when == "before":
        fake_trigger.drop_next("POST", RESCHEDULE)  # the connection closes before the request is handled
    else:
        fake_trigger.drop_after("POST", RESCHEDULE)  # handled (applied), then closed without an answer
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        body = move(bot, fake_slack, f"{run['id']} {typed(target)}")
    text = said(body)
    assert date_token(target) in text and date_token(run["delayedUntil"]) in text
    posts = fake_trigger.calls("POST", RESCHEDULE)
    assert len(posts) == 2 and posts[0].text() == posts[1].text()
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == target
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


def test_a_rate_limit_on_the_move_is_waited_out_until_its_reset_then_moves_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    target = target_in(1)
    reset = str(int((time.time() + 0.5) * 1000))
    limits = {"x-ratelimit-limit": "750", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    fake_trigger.fail_next("POST", RESCHEDULE, 429, {"error": "Rate limit exceeded"}, limits)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        body = move(bot, fake_slack, f"{run['id']} {typed(target)}")
    assert date_token(target) in said(body)
    posts = fake_trigger.calls("POST", RESCHEDULE)
    assert len(posts) == 2 and posts[1].at >= int(reset) / 1000  # not before the reset it was given
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == target
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None)]


def test_a_rate_limit_on_the_move_resetting_after_the_deadline_is_told_and_nothing_moves(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    reset = str(int((time.time() + 60) * 1000))
    limits = {"x-ratelimit-limit": "750", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    fake_trigger.fail_next("POST", RESCHEDULE, 429, {"error": "Rate limit exceeded"}, limits)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        body = refused(bot, fake_slack, f"{run['id']} 2h")
    assert fake_slack.channel_messages("C111") == []
    assert body["text"] == messages.RATE_LIMITED and body["response_type"] == "ephemeral"
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1  # a 429 is a refusal: nothing to read back
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("failed", "RateLimited")]


def test_a_key_revoked_between_two_actions_is_told_on_the_second_and_audited(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    target = target_in(1)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        summary = move(bot, fake_slack, f"{run['id']} {typed(target)}")
        fake_trigger.revoke_key(PROD_KEY)
        status, url = click(SlackSender(bot.events_url, SIGNING_SECRET), fake_slack, summary, "rb1:push_1h")
        assert status == 200
        answer = only_response(fake_slack, url)
        log = bot.log_text()
    assert answer["text"] == messages.key_rejected("Prod") and answer["response_type"] == "ephemeral"
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == target  # the first move stands, the second never ran
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("rescheduled", None), ("failed", "AuthRejected")]
    assert PROD_KEY not in log and PROD_KEY not in said(answer)


def test_a_run_that_starts_between_read_and_write_is_told_as_it_is_now_and_audited_not_delayed(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    release = fake_trigger.hold("POST", RESCHEDULE)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        url = fake_slack.new_response_url()
        SlackSender(bot.events_url, SIGNING_SECRET).command(f"{run['id']} 2h", response_url=url)
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
        fake_trigger.set_status(run["id"], "EXECUTING")  # it started while our write was on its way
        release.set()
        body = only_response(fake_slack, url)
    assert body["text"] == messages.not_delayed(run["id"], "EXECUTING", "send-reminder")
    assert [r.method for r in fake_trigger.requests] == ["GET", "POST", "GET"]  # found, refused (400), read again
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("not_delayed", "status EXECUTING")]


def test_an_outage_longer_than_the_deadline_is_told_nothing_moves_and_the_next_try_works(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    target = target_in(1)
    with served(fake_slack, fake_trigger, tmp_path, TRIGGER_DEADLINE="2") as bot:
        fake_trigger.refuse_connections()
        try:
            down = refused(bot, fake_slack, f"{run['id']} {typed(target)}")
        finally:
            fake_trigger.accept_connections()
        back = move(bot, fake_slack, f"{run['id']} {typed(target)}")
    assert down["text"] == messages.UNAVAILABLE and down["response_type"] == "ephemeral"
    assert date_token(target) in said(back)  # the channel's one message: nothing was posted there while down
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1  # nothing reached Trigger.dev while it was down
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == target
    rows = audit_of(tmp_path / "bot.sqlite3", run["id"])
    assert rows == [("failed", "TriggerUnavailable"), ("rescheduled", None)]


def test_an_outage_that_swallows_the_move_and_its_read_back_is_told_as_unconfirmed(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """The move was sent and only errors came back, and reading the run again failed too: the bot cannot know,
    and says so with a link to check, rather than "nothing changed"; the audit records `unknown`."""
    run = fake_trigger.add_run(PROD_ENV)
    target = target_in(1)
    release = fake_trigger.hold("POST", RESCHEDULE)
    with served(fake_slack, fake_trigger, tmp_path, TRIGGER_DEADLINE="2") as bot:
        url = fake_slack.new_response_url()
        SlackSender(bot.events_url, SIGNING_SECRET).command(f"{run['id']} {typed(target)}", response_url=url)
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
        fake_trigger.fail_next("POST", RESCHEDULE, 503, "Service Unavailable", times=20)
        fake_trigger.fail_next("GET", RETRIEVE, 503, {"error": "down"}, {"x-should-retry": "false"}, times=20)
        release.set()
        body = only_response(fake_slack, url)
    check = link(f"{DASHBOARD_URL}/runs/{run['id']}", messages.OPEN_IN_TRIGGER)
    seen = messages.unconfirmed_seen(None, None)
    asked = messages.unconfirmed_move_to(date_token(target))
    assert body["text"] == messages.move_unconfirmed(run["id"], "send-reminder", asked, seen, check)
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]
    assert audit_of(tmp_path / "bot.sqlite3", run["id"]) == [("unknown", "MoveUnconfirmed")]
