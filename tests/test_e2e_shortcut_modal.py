"""The message shortcut and the reschedule modal end to end: the real bot (served in-process), signed requests,
fake Slack and Trigger.dev on loopback.

Modal submissions are built from what the bot really stored through views.open / views.update (the view's id,
private_metadata and blocks), with `state.values` filled in for every input block as Slack does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.domain.delays import format_duration
from bot.render import ids
from bot.render.ids import Button
from bot.render.mrkdwn import date_token, link
from tests.e2e_harness import DASHBOARD_URL, PROD_ENV, SIGNING_SECRET, SlackSender, bot_env, example_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger, iso
from tests.inprocess import InProcessBot
from tests.test_runs import current_alert, older_alert

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
RETRIEVE = r"/api/v3/runs/"
CHANNEL = "C111"
USER = "U111"
DM_CHANNEL = "D" + USER  # where the fake delivers a message posted to USER (the bot's DM with them)
TRIGGER_ID = "111.222.shortcut"
MAX_DELAY_TEXT = format_duration(timedelta(days=365))  # the default MAX_DELAY: "365d"

View = dict[str, Any]


# --------------------------------------------------------------------------------------------- payloads


def shortcut_payload(message: dict[str, Any], response_url: str, trigger_id: str = TRIGGER_ID) -> dict[str, Any]:
    """A message_action on `message` in CHANNEL, by USER."""
    payload = example_payload("message_action")
    payload.update(
        callback_id=ids.SHORTCUT_CALLBACK_ID,
        trigger_id=trigger_id,
        response_url=response_url,
        message_ts=message["ts"],
        message=message,
        channel={"id": CHANNEL, "name": "ops-alerts"},
    )
    return payload


def state_for(
    view: View,
    *,
    text: str | None = None,
    at: int | None = None,
    runs: list[str] | None = None,
    env: str | None = None,
) -> dict[str, Any]:
    """`view.state.values` as Slack sends it: an entry for every input block, empty ones included.

    `runs=None` leaves the checkboxes untouched (Slack then reports their initial options as selected).
    """
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        entry: dict[str, Any]
        if element["type"] == "plain_text_input":
            entry = {"type": "plain_text_input", "value": text}
        elif element["type"] == "datetimepicker":
            entry = {"type": "datetimepicker", "selected_date_time": at}
        elif element["type"] == "checkboxes":
            if runs is None:
                selected = element.get("initial_options", [])
            else:
                selected = [option for option in element["options"] if option["value"] in runs]
            entry = {"type": "checkboxes", "selected_options": copy.deepcopy(selected)}
        elif element["type"] == "static_select":
            chosen = [option for option in element["options"] if option["value"] == env]
            entry = {
                "type": "static_select",
                "selected_option": copy.deepcopy((chosen or [element["initial_option"]])[0]),
            }
        else:
            raise AssertionError(f"unexpected input element {element['type']}")
        values[block["block_id"]] = {element["action_id"]: entry}
    return values


def submission(view: View, **inputs: Any) -> dict[str, Any]:
    """A view_submission of the stored `view` with the given inputs (see state_for)."""
    payload = example_payload("view_submission")
    submitted = copy.deepcopy(view)
    submitted["state"] = {"values": state_for(view, **inputs)}
    payload["view"] = submitted
    payload["trigger_id"] = "333.444.submit"
    return payload


# --------------------------------------------------------------------------------------------- inspection


def view_text(view: View) -> str:
    return json.dumps(view.get("blocks", []), ensure_ascii=False)


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [block["text"]["text"] for block in blocks if block.get("type") == "section" and "text" in block]


def wait_view(fake_slack: FakeSlack, done: Callable[[View], bool]) -> View:
    """The one modal the bot opened, once it satisfies `done`."""

    def settled() -> View | None:
        views = list(fake_slack.views.values())
        assert len(views) <= 1, views
        return views[0] if views and done(views[0]) else None

    return fake_slack.wait_for(settled)


def wait_form(fake_slack: FakeSlack) -> View:
    return wait_view(fake_slack, lambda view: "submit" in view)


def wait_notice(fake_slack: FakeSlack) -> View:
    """The modal once it shows something other than the loading text."""
    return wait_view(fake_slack, lambda view: messages.MODAL_LOADING not in view_text(view))


def wait_result(fake_slack: FakeSlack, count: int = 1) -> View:
    return wait_view(fake_slack, lambda view: messages.modal_done(count) in view_text(view))


def thread_posts(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    return fake_slack.messages.get(CHANNEL, [])


def dms(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    return fake_slack.messages.get(DM_CHANNEL, [])


def dm_attempts(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    """chat.postMessage calls addressed to USER (a DM), whether Slack took them or not."""
    return [call for call in fake_slack.api_calls("chat.postMessage") if call.get("channel") == USER]


def button_ids(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def open_form(slack: SlackSender, fake_slack: FakeSlack, message: dict[str, Any]) -> View:
    response = slack.interaction(shortcut_payload(message, fake_slack.new_response_url()))
    assert response.status_code == 200
    return wait_form(fake_slack)


def assert_within(value: datetime, low: datetime, high: datetime) -> None:
    assert low <= value <= high, (low, value, high)


# --------------------------------------------------------------------------------------------- the happy path


@pytest.mark.parametrize("alert", [current_alert, older_alert], ids=["current_alert", "older_alert"])
def test_shortcut_on_an_alert_reschedules_posts_in_its_thread_and_confirms_by_dm(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, alert: Callable[..., dict[str, Any]]
) -> None:
    old = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=45)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=old)
    message = alert(run["id"])
    url = fake_slack.new_response_url()

    response = slack.interaction(shortcut_payload(message, url))
    assert response.status_code == 200 and response.content == b""

    # Opened at once with a loading view, then updated with the form for this run.
    [opened] = fake_slack.wait_for(lambda: fake_slack.api_calls("views.open"))
    assert opened["trigger_id"] == TRIGGER_ID
    assert messages.MODAL_LOADING in view_text(opened["view"])
    form = wait_form(fake_slack)
    assert form["callback_id"] == ids.MODAL_CALLBACK_ID
    assert messages.modal_current("send-reminder", "Prod", run["id"], date_token(old)) in section_texts(form["blocks"])
    inputs = {block["block_id"]: block["element"]["type"] for block in form["blocks"] if block["type"] == "input"}
    assert inputs == {ids.BLOCK_WHEN_TEXT: "plain_text_input", ids.BLOCK_WHEN_AT: "datetimepicker"}

    before = datetime.now(UTC)
    submitted = slack.interaction(submission(form, text="2h"))
    assert submitted.status_code == 200
    ack = submitted.json()
    assert ack["response_action"] == "update" and messages.MODAL_WORKING in view_text(ack["view"])

    result = wait_result(fake_slack)
    new = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert_within(new, before + timedelta(hours=2), datetime.now(UTC) + timedelta(hours=2))
    assert "submit" not in result

    # The summary went into the alert's thread.
    [post] = thread_posts(fake_slack)
    assert post["thread_ts"] == message["ts"]
    posted = view_text(post)
    assert f"<@{USER}> rescheduled *send-reminder* in *Prod*" in posted
    assert date_token(new) in posted and date_token(old) in posted
    assert run["id"] in post["text"]

    # The actor got a one-line DM with Undo, pointing at the thread reply.
    [dm] = dms(fake_slack)
    assert button_ids(dm) == [Button.UNDO.action_id]
    [head] = section_texts(dm["blocks"])
    assert head.startswith(":white_check_mark: You moved <") and "send-reminder> in *Prod*" in head
    assert f"from {date_token(old)} to {date_token(new)}" in head
    assert f"archives/{CHANNEL}/p{post['ts'].replace('.', '')}" in head
    # Nothing was said through the shortcut's response_url: the thread is where the summary lives.
    assert fake_slack.responses(url) == []


def test_datetimepicker_lands_exactly_on_the_picked_instant(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))
    picked = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)

    response = slack.interaction(submission(form, at=int(picked.timestamp())))
    assert response.json()["response_action"] == "update"

    wait_result(fake_slack)
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == picked
    [post] = fake_trigger.calls("POST", RESCHEDULE)
    assert post.json == {"delay": iso(picked)}
    assert date_token(picked) in view_text(thread_posts(fake_slack)[0])


def test_a_run_that_cannot_be_found_is_named_in_the_form_not_dropped(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    known = fake_trigger.add_run(PROD_ENV)["id"]
    unknown = "run_cm9k2x7ab000108l5ghf2d1qz"  # in no environment the bot has a key for
    message = {"type": "message", "user": "U222", "ts": "1751400000.000300", "text": f"{known} and {unknown}"}
    form = open_form(slack, fake_slack, message)

    contexts = [
        element["text"] for block in form["blocks"] if block["type"] == "context" for element in block["elements"]
    ]
    assert contexts == [messages.run_not_found(unknown, "*Prod*")]
    assert json.loads(form["private_metadata"])["runs"] == {known: "prod"}

    slack.interaction(submission(form, text="2h"))
    wait_result(fake_slack)
    assert [post.path.split("/")[-2] for post in fake_trigger.calls("POST", RESCHEDULE)] == [known]


def test_shortcut_on_a_repeat_alert_posts_in_the_first_alerts_thread(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    # Trigger.dev posts a run's repeat alert in the thread of its first one.
    run = fake_trigger.add_run(PROD_ENV)
    repeat = {**current_alert(run["id"]), "ts": "1751371900.000300", "thread_ts": "1751371201.000100"}
    form = open_form(slack, fake_slack, repeat)

    slack.interaction(submission(form, text="1d"))
    wait_result(fake_slack)
    [post] = thread_posts(fake_slack)
    assert post["thread_ts"] == "1751371201.000100"


def test_shortcut_on_a_message_without_a_run_says_so_and_calls_nothing(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    # Trigger.dev's deployment alert carries no run id.
    message = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0TRIGGER",
        "ts": "1751371300.000100",
        "text": ":rotating_light: Deployment failed *20250701.3.prod*",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": ":rotating_light: Deployment failed *20250701.3*"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "View Deployment"},
                        "url": "https://cloud.trigger.dev/projects/v3/proj_abcdefghijklmnopqrst/deployments/x1y2z3",
                    }
                ],
            },
        ],
    }
    url = fake_slack.new_response_url()
    response = slack.interaction(shortcut_payload(message, url))
    assert response.status_code == 200

    [answer] = fake_slack.wait_for(lambda: fake_slack.responses(url))
    assert answer == {"text": messages.NO_RUN_IN_MESSAGE, "response_type": "ephemeral", "replace_original": False}
    # The answer is the handler's last step, so by now anything it would have called has been called.
    assert fake_slack.api_calls("views.open") == []
    assert fake_trigger.requests == []


@pytest.mark.parametrize("status", ["FAILED", "COMPLETED"])
def test_shortcut_on_a_run_that_is_not_delayed_shows_its_status_and_a_link(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, status: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV, status=status)
    slack.interaction(shortcut_payload(current_alert(run["id"]), fake_slack.new_response_url()))

    view = wait_notice(fake_slack)
    assert "submit" not in view and view["close"]["text"] == messages.MODAL_CLOSE
    expected = messages.not_delayed_with_link(
        run["id"], status, "send-reminder", link(f"{DASHBOARD_URL}/runs/{run['id']}", messages.OPEN_IN_TRIGGER)
    )
    assert section_texts(view["blocks"]) == [expected]
    assert f"*{status}*" in expected
    assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_trigger_dev_down_while_looking_up_is_said_in_the_modal(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.fail_next("GET", RETRIEVE, 503, {"error": "Service Unavailable"}, times=10)
    slack.interaction(shortcut_payload(current_alert(run["id"]), fake_slack.new_response_url()))

    view = wait_notice(fake_slack)
    assert section_texts(view["blocks"]) == [messages.UNAVAILABLE] and "submit" not in view
    assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_run_that_started_after_the_form_opened_is_reported_not_moved(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))
    fake_trigger.set_status(run["id"], "EXECUTING")

    assert slack.interaction(submission(form, text="2h")).json()["response_action"] == "update"
    expected = messages.not_delayed(run["id"], "EXECUTING", "send-reminder")
    view = wait_view(fake_slack, lambda view: expected in section_texts(view["blocks"]))
    assert messages.modal_done(1) not in view_text(view)
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    assert thread_posts(fake_slack) == [] and dms(fake_slack) == []


# --------------------------------------------------------------------------------------------- bad input


def _in(delta: timedelta) -> int:
    return int((datetime.now(UTC) + delta).timestamp())


BAD_INPUTS: list[tuple[str, Callable[[], dict[str, Any]], dict[str, str]]] = [
    (
        "unreadable",
        lambda: {"text": "soon"},
        {ids.BLOCK_WHEN_TEXT: "Can't read soon as a time. Try 2h, 1h 30m, tomorrow 9am"},
    ),
    (
        "not_positive",
        lambda: {"text": "0m"},
        {ids.BLOCK_WHEN_TEXT: "0m is not in the future: give a time after now. Try 2h"},
    ),
    (
        "text_past",
        lambda: {"text": "2020-01-01T00:00Z"},
        {ids.BLOCK_WHEN_TEXT: "2020-01-01T00:00Z (Wed 1 Jan 2020 at 01:00, your time) has already passed"},
    ),
    ("text_too_far", lambda: {"text": "400d"}, {ids.BLOCK_WHEN_TEXT: messages.instant_too_far(MAX_DELAY_TEXT)}),
    ("both_empty", dict, {ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER}),
    ("blank_text", lambda: {"text": "   "}, {ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER}),
    ("both_filled", lambda: {"text": "2h", "at": _in(timedelta(days=1))}, {ids.BLOCK_WHEN_TEXT: messages.MODAL_BOTH}),
    ("picker_past", lambda: {"at": _in(-timedelta(hours=1))}, {ids.BLOCK_WHEN_AT: ", your time) has already passed"}),
    (
        "picker_too_far",
        lambda: {"at": _in(timedelta(days=400))},
        {ids.BLOCK_WHEN_AT: messages.instant_too_far(MAX_DELAY_TEXT)},
    ),
]


@pytest.mark.parametrize(("inputs", "errors"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_shown_inline_and_the_modal_stays_open(
    slack: SlackSender,
    fake_slack: FakeSlack,
    fake_trigger: FakeTrigger,
    inputs: Callable[[], dict[str, Any]],
    errors: dict[str, str],
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))
    updates = len(fake_slack.api_calls("views.update"))

    response = slack.interaction(submission(form, **inputs()))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors" and set(answer["errors"]) == set(errors)
    for block, says in errors.items():  # in the reader's zone (the fake profile's Europe/Paris), examples valid now
        assert says in answer["errors"][block]

    # The same modal can still be submitted, and only the good submission reaches Trigger.dev.
    before = datetime.now(UTC)
    assert slack.interaction(submission(form, text="2h")).json()["response_action"] == "update"
    wait_result(fake_slack)
    assert len(fake_slack.api_calls("views.update")) == updates + 1
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert_within(
        fake_trigger.get_run(run["id"])["delayedUntil"],
        before + timedelta(hours=2),
        datetime.now(UTC) + timedelta(hours=2),
    )
    assert len(thread_posts(fake_slack)) == 1 and len(dms(fake_slack)) == 1


def test_unticking_every_run_is_an_inline_error(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    first, second = fake_trigger.add_run(PROD_ENV)["id"], fake_trigger.add_run(PROD_ENV)["id"]
    message = {"type": "message", "user": "U222", "ts": "1751400000.000200", "text": f"{first} and {second}"}
    form = open_form(slack, fake_slack, message)

    response = slack.interaction(submission(form, runs=[]))
    assert response.json() == {
        "response_action": "errors",
        "errors": {ids.BLOCK_RUNS: messages.MODAL_NO_RUNS, ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER},
    }
    response = slack.interaction(submission(form, text="2h", runs=[]))
    assert response.json() == {"response_action": "errors", "errors": {ids.BLOCK_RUNS: messages.MODAL_NO_RUNS}}

    slack.interaction(submission(form, text="2h", runs=[second]))
    wait_result(fake_slack)
    assert [post.path.split("/")[-2] for post in fake_trigger.calls("POST", RESCHEDULE)] == [second]


# --------------------------------------------------------------------------------------------- where things are said


def test_thread_post_refused_still_reschedules_and_the_dm_says_so(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.forbid_channel(CHANNEL)
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))

    slack.interaction(submission(form, text="2h"))
    result = wait_result(fake_slack)

    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
    [attempt] = fake_slack.api_calls("chat.postMessage")[:1]
    assert attempt["channel"] == CHANNEL and attempt["thread_ts"] == current_alert(run["id"])["ts"]
    assert thread_posts(fake_slack) == []
    note = messages.thread_post_failed(CHANNEL, "not_in_channel")
    [dm] = dms(fake_slack)
    [line, said] = section_texts(dm["blocks"])[0].split("\n")
    assert said == note and line.endswith(f" in <#{CHANNEL}>")  # no link to a summary that is nowhere
    assert Button.UNDO.action_id in button_ids(dm)
    assert note in view_text(result)


def test_failure_to_dm_neither_undoes_nor_hides_the_reschedule(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.forbid_channel(USER, "cannot_dm_bot")
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))

    slack.interaction(submission(form, text="2h"))
    wait_result(fake_slack)

    assert len(dm_attempts(fake_slack)) == 1 and dms(fake_slack) == []
    new = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert new != run["delayedUntil"]
    [post] = thread_posts(fake_slack)
    assert date_token(new) in view_text(post)


def test_dm_confirmations_off_sends_no_dm(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> None:
    env = bot_env(fake_slack, fake_trigger, tmp_path, DM_CONFIRMATIONS="false")
    with InProcessBot(env, log_path=tmp_path / "bot.log") as process:
        sender = SlackSender(process.events_url, SIGNING_SECRET)
        run = fake_trigger.add_run(PROD_ENV)
        form = open_form(sender, fake_slack, current_alert(run["id"]))
        sender.interaction(submission(form, text="2h"))
        wait_result(fake_slack)

    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
    assert len(thread_posts(fake_slack)) == 1
    assert dm_attempts(fake_slack) == [] and dms(fake_slack) == []


def test_expired_trigger_id_is_told_through_the_response_url(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.expire_trigger("111.222.expired")
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()

    response = slack.interaction(shortcut_payload(current_alert(run["id"]), url, trigger_id="111.222.expired"))
    assert response.status_code == 200

    [answer] = fake_slack.wait_for(lambda: fake_slack.responses(url))
    assert answer["text"] == messages.TRIGGER_ID_EXPIRED and answer["response_type"] == "ephemeral"
    assert len(fake_slack.api_calls("views.open")) == 1 and fake_slack.views == {}
    assert fake_trigger.requests == []


# --------------------------------------------------------------------------------------------- the 3-second ack


def test_shortcut_is_acknowledged_and_the_modal_opened_before_trigger_dev_answers(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    access_check = fake_trigger.hold("GET", RETRIEVE)

    response = slack.interaction(shortcut_payload(current_alert(run["id"]), fake_slack.new_response_url()))
    # Slack got its 200 while Trigger.dev could not yet have answered anything.
    assert response.status_code == 200 and not access_check.is_set()

    fake_trigger.wait_for(lambda: fake_trigger.calls("GET", RETRIEVE))
    # The bot asked Trigger.dev only after opening the modal with the trigger_id, and is now waiting.
    [opened] = fake_slack.api_calls("views.open")
    assert opened["trigger_id"] == TRIGGER_ID
    [loading] = fake_slack.views.values()
    assert messages.MODAL_LOADING in view_text(loading) and "submit" not in loading
    assert fake_slack.api_calls("views.update") == []

    access_check.set()
    form = wait_form(fake_slack)
    assert form["id"] == loading["id"]


def test_submission_is_acknowledged_before_trigger_dev_answers(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(slack, fake_slack, current_alert(run["id"]))
    access_check = fake_trigger.hold("POST", RESCHEDULE)

    response = slack.interaction(submission(form, text="2h"))
    # The modal switched to "Rescheduling…" while the reschedule request is still held.
    assert response.status_code == 200 and not access_check.is_set()
    assert response.json()["response_action"] == "update"
    assert messages.MODAL_WORKING in view_text(response.json()["view"])

    fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]
    assert thread_posts(fake_slack) == []

    access_check.set()
    wait_result(fake_slack)
    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
