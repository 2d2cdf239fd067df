"""Times as people say them, end to end: what a person types on the command, in the form and in **Push all back…**,
read on their own Slack clock (`users.info` `tz`), what they read back, and what Trigger.dev receives."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import messages
from bot.render.ids import Button
from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, SlackSender, bot_env
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.summaries import CHANNEL
from tests.test_e2e_bulk import channel_summary, confirm, delayed_until
from tests.test_e2e_buttons import RESCHEDULE, click, element, private_via_command, wait_one
from tests.test_e2e_shortcut_modal import open_form, submission, view_text, wait_result, wait_view
from tests.test_runs import current_alert

pytestmark = pytest.mark.e2e

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")  # the fake profile's zone for U111


def at_local(day_offset: int, clock: time, zone: ZoneInfo) -> datetime:
    """`clock` on the local date `day_offset` days from today in `zone`, as UTC."""
    day = datetime.now(zone).date() + timedelta(days=day_offset)
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def sent_delays(fake_trigger: FakeTrigger) -> list[Any]:
    return [call.json["delay"] for call in fake_trigger.calls("POST", RESCHEDULE)]


def api_delay(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def responses_text(fake_slack: FakeSlack, url: str, count: int) -> str:
    return "\n".join(
        (r.get("text") or "") + json.dumps(r.get("blocks") or []) for r in wait_one(fake_slack, url, count)
    )


# --- the command ---------------------------------------------------------------------------------------------------


def test_tomorrow_9am_is_9am_on_the_persons_own_clock_and_the_reply_says_which_day(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_user("U555", tz="America/New_York", tz_offset=-18000)
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} tomorrow 9am", response_url=url, user_id="U555")

    expected = at_local(1, time(9, 0), NEW_YORK)
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 1)
    assert sent_delays(fake_trigger) == [api_delay(expected)]
    assert delayed_until(fake_trigger, run["id"]) == expected
    local = expected.astimezone(NEW_YORK)
    said = wait_one(fake_slack, url)[0]["text"]
    assert said == f"`tomorrow 9am` is tomorrow, {local:%a} {local.day} {local:%b} at 09:00, your time."
    assert fake_slack.wait_for(lambda: fake_slack.channel_messages(CHANNEL))  # the summary, for the channel

    # A second time typed by the same person reads their zone from the cache.
    other = fake_trigger.add_run(PROD_ENV)
    slack.command(f"{other['id']} 17:30", response_url=fake_slack.new_response_url(), user_id="U555")
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 2)
    assert [call["user"] for call in fake_slack.api_calls("users.info")] == ["U555"]


def test_a_duration_is_acknowledged_without_waiting_for_the_persons_profile_and_spoken_on_their_clock(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """`2h` is the same instant in every zone: the acknowledgement does not wait for users.info (held here until the
    command is acknowledged); the prod confirmation, drawn after, still speaks the time on the person's clock."""
    fake_slack.add_user("U557", tz="America/New_York", tz_offset=-18000)
    run = fake_trigger.add_run(PROD_ENV)
    profile = fake_slack.hold("*", r"users\.info$")
    with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, CONFIRM_ENVIRONMENTS=None)) as bot:
        sender = SlackSender(bot.events_url, SIGNING_SECRET)
        url = fake_slack.new_response_url()
        assert sender.command(f"{run['id']} 2h", response_url=url, user_id="U557").status_code == 200
        fake_slack.wait_for(lambda: fake_slack.calls("*", r"users\.info$") or None)  # asked after the acknowledgement
        profile.set()
        prompt = responses_text(fake_slack, url, 1)
    assert messages.CONFIRM_TITLE in prompt and ", your time" in prompt and ", UTC" not in prompt
    assert fake_trigger.calls("POST", RESCHEDULE) == []  # prod: nothing moves before the confirmation


def test_a_duration_moved_at_once_asks_slack_for_no_profile(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    """Moved without a confirmation, `2h` is spoken nowhere in the person's terms (the summary's and the DM's times
    are Slack's date tokens, shown on each reader's clock), so their timezone is not looked up."""
    fake_slack.add_user("U558", tz="America/New_York", tz_offset=-18000)
    run = fake_trigger.add_run(PROD_ENV)
    slack.command(f"{run['id']} 2h", response_url=fake_slack.new_response_url(), user_id="U558")
    dm = fake_slack.wait_for(
        lambda: next((c for c in fake_slack.api_calls("chat.postMessage") if c.get("channel") == "U558"), None)
    )
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert "<!date^" in json.dumps(fake_slack.channel_messages(CHANNEL)[-1]["blocks"]) and "<!date^" in str(dm)
    assert fake_slack.api_calls("users.info") == []


def test_a_time_of_day_already_past_means_tomorrow_and_the_reply_says_so(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    for name in ("Asia/Kolkata", "Europe/Paris", "America/New_York", "Pacific/Chatham"):
        zone = ZoneInfo(name)
        if 2 <= datetime.now(zone).hour <= 21:
            break
    earlier = (datetime.now(zone) - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    fake_slack.add_user("U556", tz=name)
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    typed = f"at {earlier:%H:%M}"
    slack.command(f"{run['id']} {typed}", response_url=url, user_id="U556")

    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 1)
    assert sent_delays(fake_trigger) == [api_delay(at_local(1, earlier, zone))]
    said = wait_one(fake_slack, url)[0]["text"]
    assert said.startswith(f"`{typed}` is tomorrow, ") and "(that time has passed today)" in said


def test_now_asks_the_run_now_question_first_then_starts_the_run(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    prompt = private_via_command(slack, fake_slack, f"{run['id']} now")
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    assert fake_slack.api_calls("users.info") == []  # `now` is now in every zone, and the question speaks no time
    assert prompt["response_type"] == "ephemeral"
    button, _ = element(prompt, Button.RUN_NOW.action_id)
    assert button["confirm"]["title"]["text"] == messages.CONFIRM_RUN_NOW_TITLE  # the card's own question
    assert button["confirm"]["text"]["text"] == messages.confirm_run_now(run["id"], "send-reminder")

    status, _ = click(slack, fake_slack, prompt, Button.RUN_NOW.action_id, ephemeral=True)
    assert status == 200
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 1)
    assert sent_delays(fake_trigger) == ["0s"]
    posted = fake_slack.wait_for(lambda: fake_slack.channel_messages(CHANNEL))
    assert "send-reminder" in json.dumps(posted[0]["blocks"])


def test_a_refusal_names_the_instant_and_offers_examples_valid_now(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    body = slack.command(f"{run['id']} 2020-01-01 09:00", response_url=fake_slack.new_response_url()).json()
    text = body["text"]
    assert "`2020-01-01 09:00` (Wed 1 Jan 2020 at 09:00, your time) has already passed" in text
    assert "`tomorrow 9am`" in text
    [example] = re.findall(r"`(\d{4}-\d\d-\d\d 09:00)`", text.split("Examples:")[1])
    assert datetime.fromisoformat(example).replace(tzinfo=PARIS) > datetime.now(UTC)
    assert "2026-12-01T09:00Z" not in text
    assert fake_trigger.requests == []


def test_next_friday_shows_the_date_before_anything_moves(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    prompt = private_via_command(slack, fake_slack, f"{run['id']} next friday 9am")
    today = datetime.now(PARIS).date()
    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    text = json.dumps(prompt["blocks"])
    assert f"Fri {friday.day} {friday:%b}" in text and "at 09:00, your time" in text
    # Prod moves at once here (CONFIRM_ENVIRONMENTS is empty): the question says why it is asked, truthfully.
    assert "Check the day first" in text and "only after a confirmation" not in text
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    click(slack, fake_slack, prompt, Button.CONFIRM.action_id, ephemeral=True)
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 1)
    assert sent_delays(fake_trigger) == [api_delay(datetime.combine(friday, time(9), tzinfo=PARIS))]


def test_a_plus_duration_that_would_move_a_run_earlier_asks_first_saying_so(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=start, task_identifier="send-digest")
    prompt = private_via_command(slack, fake_slack, f"{run['id']} +30m")
    text = json.dumps(prompt["blocks"])
    assert "`+30m` counts from now, so it moves" in text and "*earlier*" in text
    assert f"<!date^{int(start.timestamp())}^" in text  # its start now, beside the time it would move to
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    click(slack, fake_slack, prompt, Button.CONFIRM.action_id, ephemeral=True)
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 1)
    [sent] = sent_delays(fake_trigger)
    assert datetime.fromisoformat(sent.replace("Z", "+00:00")) < start - timedelta(hours=2)  # earlier, as confirmed


@pytest.mark.parametrize("typed", ["+4h", "30m"])
def test_a_plus_duration_past_the_start_or_a_plain_duration_moves_at_once(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, typed: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=3))
    slack.command(f"{run['id']} {typed}", response_url=fake_slack.new_response_url())
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 1)


def test_an_unreadable_profile_means_utc_and_the_reply_says_utc(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_user("U557", tz="Not/AZone")
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} tomorrow 9am", response_url=url, user_id="U557")
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 1)
    assert sent_delays(fake_trigger) == [api_delay(at_local(1, time(9), ZoneInfo("UTC")))]
    assert "09:00, UTC (I couldn't read your Slack timezone)" in wait_one(fake_slack, url)[0]["text"]


# --- the form ------------------------------------------------------------------------------------------------------


def test_the_form_reads_a_natural_phrase_on_the_persons_clock(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))
    hint = json.dumps(form["blocks"])
    assert "tomorrow 9am" in hint and "Times of day are in your Slack timezone" in hint
    assert "2026-12-01T09:00Z" not in hint

    refused = slack.interaction(submission(form, text="friday")).json()
    assert refused["response_action"] == "errors"
    assert "friday names a day but not a time of day: try friday 9am (" in json.dumps(refused["errors"])

    assert slack.interaction(submission(form, text="tomorrow 9am")).json()["response_action"] == "update"
    wait_result(fake_slack)
    assert sent_delays(fake_trigger) == [api_delay(at_local(1, time(9), PARIS))]


# --- Push all back… ------------------------------------------------------------------------------------------------


def push_all_form(slack: SlackSender, fake_slack: FakeSlack) -> tuple[dict[str, Any], str]:
    listing = private_via_command(slack, fake_slack, "list")
    status, list_url = click(slack, fake_slack, listing, Button.BULK_PUSH_ALL.action_id, ephemeral=True)
    assert status == 200
    return wait_view(fake_slack, lambda view: "submit" in view), list_url


def test_push_all_back_by_a_duration_moves_each_run_from_its_own_time(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    starts = [now + timedelta(hours=1), now + timedelta(days=1), now + timedelta(days=3)]
    runs = [fake_trigger.add_run(PROD_ENV, delayed_until=start) for start in starts]
    form, list_url = push_all_form(slack, fake_slack)
    assert "tomorrow 9am" in view_text(form)
    assert slack.interaction(submission(form, text="3h")).json()["response_action"] == "clear"

    prompt = wait_one(fake_slack, list_url)[0]
    text = prompt["blocks"][0]["text"]["text"]
    assert "Push *3 runs* in *Prod* back by *3h* each, from its own start time?" in text
    assert text.count(" → ") == 3 and "your time" in text
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    url, _ = confirm(slack, fake_slack, prompt)
    summary = json.dumps(channel_summary(fake_slack, url)["blocks"])
    assert [delayed_until(fake_trigger, run["id"]) for run in runs] == [s + timedelta(hours=3) for s in starts]
    assert sorted(sent_delays(fake_trigger)) == sorted(api_delay(s + timedelta(hours=3)) for s in starts)
    assert "pushed runs back by 3h each: 3 of 3 done" in summary
    assert summary.count(": later, ") == 3 and "earlier" not in summary


def test_push_all_back_to_a_time_names_every_run_it_would_pull_earlier(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    soon = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=1))
    later = [fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(days=n)) for n in (3, 4)]
    form, list_url = push_all_form(slack, fake_slack)
    assert slack.interaction(submission(form, text="tomorrow 9am")).json()["response_action"] == "clear"

    prompt = wait_one(fake_slack, list_url)[0]
    text = prompt["blocks"][0]["text"]["text"]
    target = at_local(1, time(9), PARIS)
    assert "to tomorrow, " in text and "at 09:00, your time?" in text
    assert messages.BULK_EARLIER_HEAD in text
    assert all(f"`{run['id']}`" in text for run in later) and f"`{soon['id']}`" not in text
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    url, _ = confirm(slack, fake_slack, prompt)
    summary = json.dumps(channel_summary(fake_slack, url)["blocks"])
    assert all(delayed_until(fake_trigger, run["id"]) == target for run in [soon, *later])
    assert summary.count(": *earlier*, ") == 2 and summary.count(": later, ") == 1


def test_push_all_back_when_none_would_move_earlier_says_so(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC)
    for minutes in (10, 20):
        fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(minutes=minutes))
    form, list_url = push_all_form(slack, fake_slack)
    slack.interaction(submission(form, text=f"{(now + timedelta(days=2)).astimezone(PARIS):%Y-%m-%d} 09:00"))
    assert messages.BULK_NONE_EARLIER in wait_one(fake_slack, list_url)[0]["blocks"][0]["text"]["text"]


def answer_question(slack: SlackSender, form: dict[str, Any], pushed: dict[str, Any]) -> None:
    """Submit the question the form pushed (as Slack sends it: the pushed view, over the form)."""
    question = {**pushed, "id": form["id"], "root_view_id": form["id"]}
    assert slack.interaction(submission(question)).json()["response_action"] == "update"


def test_now_in_the_form_asks_the_run_now_question_first(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))
    answer = slack.interaction(submission(form, text="now")).json()
    assert answer["response_action"] == "push"
    pushed = answer["view"]
    assert pushed["title"]["text"] == messages.CONFIRM_RUN_NOW_TITLE
    assert pushed["submit"]["text"] == messages.CONFIRM_RUN_NOW_OK
    assert pushed["blocks"][0]["text"]["text"] == messages.confirm_run_now(run["id"], "send-reminder")
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    answer_question(slack, form, pushed)
    wait_result(fake_slack)
    assert sent_delays(fake_trigger) == ["0s"]


def test_next_friday_in_the_form_shows_the_date_before_anything_moves(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))
    answer = slack.interaction(submission(form, text="next friday 9am")).json()
    assert answer["response_action"] == "push"
    today = datetime.now(PARIS).date()
    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    said = f"Fri {friday.day} {friday:%b} at 09:00, your time"
    assert answer["view"]["blocks"][0]["text"]["text"] == f"Move {run['id']} (send-reminder) to {said}?"
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    answer_question(slack, form, answer["view"])
    result = view_text(wait_result(fake_slack))
    assert sent_delays(fake_trigger) == [api_delay(datetime.combine(friday, time(9), tzinfo=PARIS))]
    assert f"New time: {said}." in result
