"""Buttons on summaries, DMs and confirmation prompts, end to end against the real bot (served in-process)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import messages
from bot.render.mrkdwn import date_token
from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, SlackSender, bot_env, example_payload, fresh_trigger_id
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.summaries import CHANNEL, wait_summary

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
RETRIEVE = r"/api/v3/runs/"


def wait_one(fake_slack: FakeSlack, url: str, count: int = 1) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = fake_slack.wait_for(
        lambda: (r := fake_slack.responses(url)) and len(r) >= count and r
    )
    return posted


def summary_via_command(slack: SlackSender, fake_slack: FakeSlack, text: str) -> dict[str, Any]:
    """Run /reschedule and return the summary the bot posted in the channel (as Slack shows it there), after
    checking that nothing else was said for it through the command's response_url."""
    url = fake_slack.new_response_url()
    count = len(fake_slack.channel_messages(CHANNEL)) + 1
    slack.command(text, response_url=url, channel_id=CHANNEL)
    message = wait_summary(fake_slack, CHANNEL, count)
    assert fake_slack.responses(url) == []
    return message


def private_via_command(slack: SlackSender, fake_slack: FakeSlack, text: str) -> dict[str, Any]:
    """Run /reschedule and return what it answered privately through the response_url (a prompt, a refusal, history)."""
    url = fake_slack.new_response_url()
    slack.command(text, response_url=url)
    return wait_one(fake_slack, url)[0]


def element(message: dict[str, Any], action_id: str) -> tuple[dict[str, Any], str]:
    for block in message.get("blocks", []):
        for item in block.get("elements", []) if block.get("type") == "actions" else []:
            if item.get("action_id") == action_id:
                return item, block["block_id"]
    raise AssertionError(f"no {action_id} in {json.dumps(message)[:800]}")


def action_ids(message: dict[str, Any]) -> list[str]:
    return [
        item["action_id"]
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for item in block["elements"]
    ]


def holding(message: dict[str, Any], action_id: str, value: str) -> tuple[dict[str, Any], str]:
    """The button of `message` carrying `value` and its block id; a stand-in for a value the message does not hold
    (a tampered one)."""
    for block in message.get("blocks", []):
        for item in block.get("elements", []) if block.get("type") == "actions" else []:
            if item.get("value") == value:
                return item, str(block.get("block_id", "b"))
    return {"action_id": action_id}, "b"


def click(
    slack: SlackSender,
    fake_slack: FakeSlack,
    message: dict[str, Any],
    action_id: str,
    *,
    user_id: str = "U111",
    channel_id: str = "C111",
    ephemeral: bool = False,
    value: str | None = None,
) -> tuple[int, str]:
    """Click a button on `message` as Slack sends it; returns (HTTP status, the click's response_url)."""
    item, block_id = element(message, action_id) if value is None else holding(message, action_id, value)
    payload = example_payload("block_actions")
    url = fake_slack.new_response_url()
    payload["user"] = {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": "T111"}
    ts = str(message.get("ts") or "1700000000.000100")  # the bot's own messages carry their ts
    payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": ephemeral}
    payload["channel"] = {"id": channel_id, "name": "ops-alerts"}
    payload["message"] = {**message, "ts": ts, "type": "message"}
    payload["response_url"] = url
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "type": "button",
        "action_ts": "1700000001.000200",
        "text": item.get("text", {"type": "plain_text", "text": "x"}),
    }
    if value is not None:
        action["value"] = value
    elif "value" in item:
        action["value"] = item["value"]
    payload["actions"] = [action]
    response = slack.interaction(payload)
    return response.status_code, url


@pytest.fixture
def delayed(fake_trigger: FakeTrigger) -> dict[str, Any]:
    return fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=3))


def test_summary_offers_every_choice_for_a_delayed_run(
    slack: SlackSender, fake_slack: FakeSlack, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    assert action_ids(message) == [
        "rb1:push_1h",
        "rb1:push_1d",
        "rb1:tomorrow_9",
        "rb1:other",
        "rb1:run_now",
        "rb1:undo",
        "rb1:open",
    ]
    run_now, _ = element(message, "rb1:run_now")
    assert run_now["confirm"]["confirm"]["text"] == messages.CONFIRM_RUN_NOW_OK
    open_button, _ = element(message, "rb1:open")
    assert open_button["url"].endswith(f"/runs/{delayed['id']}")
    # CONFIRM_ENVIRONMENTS is empty in this bot: ordinary buttons act without a dialog.
    assert "confirm" not in element(message, "rb1:push_1h")[0]


def test_push_back_moves_from_the_time_shown_and_updates_the_message_in_place(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    shown = fake_trigger.get_run(delayed["id"])["delayedUntil"]
    status, url = click(slack, fake_slack, message, "rb1:push_1h", user_id="U222")
    assert status == 200
    [update] = wait_one(fake_slack, url)
    assert update["replace_original"] is True
    assert fake_trigger.get_run(delayed["id"])["delayedUntil"] == shown + timedelta(hours=1)
    text = json.dumps(update["blocks"])
    assert "<@U222> rescheduled" in text
    assert date_token(shown + timedelta(hours=1)) in text and date_token(shown) in text
    # The clicker gets a one-line DM: what moved, from when to when, a link to the card clicked, and Undo.
    dm = fake_slack.wait_for(lambda: fake_slack.messages.get("DU222"))
    [line] = [block["text"]["text"] for block in dm[0]["blocks"] if block["type"] == "section"]
    assert line.startswith(":white_check_mark: You moved <") and "send-reminder> in *Prod*" in line
    assert f"from {date_token(shown)} to {date_token(shown + timedelta(hours=1))}" in line
    permalink = f"https://example.slack.com/archives/{CHANNEL}/p{message['ts'].replace('.', '')}"
    assert line.endswith(messages.where_posted(CHANNEL, permalink)) and "\n" not in line
    assert action_ids(dm[0]) == ["rb1:undo"]


def test_double_click_and_two_people_land_on_the_same_instant(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    shown = fake_trigger.get_run(delayed["id"])["delayedUntil"]
    urls = [click(slack, fake_slack, message, "rb1:push_1d", user_id=user)[1] for user in ("U111", "U111", "U333")]
    for url in urls:
        wait_one(fake_slack, url)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 4  # the command, then three clicks
    assert fake_trigger.get_run(delayed["id"])["delayedUntil"] == shown + timedelta(days=1)


def test_undo_restores_the_previous_time_and_the_card_says_so_without_offering_undo_again(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    before = delayed["delayedUntil"]
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    moved = fake_trigger.get_run(delayed["id"])["delayedUntil"]
    _, url = click(slack, fake_slack, message, "rb1:undo", user_id="U222")
    [update] = wait_one(fake_slack, url)
    assert fake_trigger.get_run(delayed["id"])["delayedUntil"] == before
    text = json.dumps(update["blocks"])
    assert "<@U222> undid the last move of *send-reminder* in *Prod*" in text and "rescheduled" not in text
    assert date_token(before) in text and date_token(moved) in text
    # What still applies: pushing back from the restored time; not Undo, whose click would make the move again.
    assert "rb1:undo" not in action_ids(update) and "rb1:push_1h" in action_ids(update)
    assert json.loads(element(update, "rb1:push_1h")[0]["value"])["a"] == int(before.timestamp() * 1000)
    # The DM says it was an undo, and offers no Undo either.
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU222"))
    assert "You undid the move of" in json.dumps(dm["blocks"]) and action_ids(dm) == []


def test_undo_is_not_offered_when_the_previous_time_has_passed(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(seconds=2))
    message = summary_via_command(slack, fake_slack, f"{run['id']} 2h")
    assert "rb1:undo" in action_ids(message)
    fake_slack.wait_for(lambda: datetime.now(UTC) > run["delayedUntil"] + timedelta(milliseconds=200) or None)
    _, url = click(slack, fake_slack, message, "rb1:undo")
    [answer] = wait_one(fake_slack, url)
    assert answer["text"] == messages.UNDO_TOO_LATE and answer["response_type"] == "ephemeral"
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1


def test_run_now_asks_the_server_to_start_it_now_and_the_card_says_it_started_without_push_backs(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    _, url = click(slack, fake_slack, message, "rb1:run_now")
    [update] = wait_one(fake_slack, url)
    assert fake_trigger.calls("POST", RESCHEDULE)[-1].json == {"delay": "0s"}
    assert fake_trigger.get_run(delayed["id"])["delayedUntil"] <= datetime.now(UTC)
    text = json.dumps(update["blocks"], ensure_ascii=False)
    assert "<@U111> started *send-reminder* in *Prod* now" in text
    assert "Delayed" not in text and messages.STATUS_STARTING in text
    assert action_ids(update) == []  # nothing to push back, nothing to undo: the run is starting
    started = fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages.get("DU111") or [] if "You started" in json.dumps(m["blocks"])]
    )
    assert [action_ids(dm) for dm in started] == [[]]


def test_tomorrow_nine_is_in_the_clickers_timezone(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    fake_slack.add_user("U444", tz="America/New_York", tz_offset=-18000)
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    _, url = click(slack, fake_slack, message, "rb1:tomorrow_9", user_id="U444")
    wait_one(fake_slack, url)
    new = fake_trigger.get_run(delayed["id"])["delayedUntil"]
    local = new.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
    assert local.date() == (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=1)).date()
    assert fake_slack.api_calls("users.info")[-1]["user"] == "U444"


def test_open_button_is_only_acknowledged(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    calls_before = len(fake_trigger.requests)
    status, url = click(slack, fake_slack, message, "rb1:open")
    assert status == 200
    # Prove the click was fully handled by sending a second, observable click after it.
    _, later = click(slack, fake_slack, message, "rb9:push_1h", value="{}")
    wait_one(fake_slack, later)
    assert fake_slack.responses(url) == [] and len(fake_trigger.requests) == calls_before


def test_run_no_longer_delayed_replaces_the_buttons_with_its_status(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    fake_trigger.set_status(delayed["id"], "EXECUTING")
    _, url = click(slack, fake_slack, message, "rb1:push_1h")
    update, private = wait_one(fake_slack, url, count=2)
    assert update["replace_original"] is True and action_ids(update) == []
    assert "Executing" in json.dumps(update["blocks"])
    assert private["response_type"] == "ephemeral"
    assert private["text"] == messages.not_delayed_after_click(delayed["id"], "EXECUTING")
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("rb1:push_1h", "not json"),
        ("rb1:push_1h", '{"v":1,"r":"run_x"}'),
        ("rb1:push_1h", '{"v":2,"r":"run_cm9k2x7ab000108l5ghf2d1qz","a":1}'),
        ("rb1:launch_rockets", '{"v":1,"r":"run_cm9k2x7ab000108l5ghf2d1qz"}'),
        ("rb7:push_1h", '{"v":1,"r":"run_cm9k2x7ab000108l5ghf2d1qz","a":1}'),
    ],
    ids=["not-json", "bad-run-id", "future-version", "unknown-button", "other-version"],
)
def test_malformed_or_foreign_buttons_get_a_private_error(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, action_id: str, value: str
) -> None:
    status, url = click(slack, fake_slack, {"blocks": []}, action_id, value=value)
    assert status == 200
    [answer] = wait_one(fake_slack, url)
    assert answer["text"] == messages.FOREIGN_PAYLOAD and answer["response_type"] == "ephemeral"
    assert fake_trigger.requests == []


def test_acknowledged_before_trigger_dev_answers(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    access_check = fake_trigger.hold("GET", RETRIEVE)
    status, url = click(slack, fake_slack, message, "rb1:push_1h")
    assert status == 200 and not access_check.is_set() and fake_slack.responses(url) == []
    access_check.set()
    wait_one(fake_slack, url)


def test_other_opens_the_modal_first_then_fills_it(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    access_check = fake_trigger.hold("GET", RETRIEVE)
    status, _ = click(slack, fake_slack, message, "rb1:other")
    assert status == 200
    # The modal is open (with the trigger_id) while Trigger.dev has not answered yet.
    [opened] = fake_slack.wait_for(lambda: fake_slack.api_calls("views.open"))
    assert messages.MODAL_LOADING in json.dumps(opened["view"], ensure_ascii=False)
    assert fake_slack.api_calls("views.update") == []
    access_check.set()
    [update] = fake_slack.wait_for(lambda: fake_slack.api_calls("views.update"))
    blocks = json.dumps(update["view"]["blocks"])
    assert "when_text" in blocks and "datetimepicker" in blocks


def test_dm_undo_updates_the_dm_in_place_without_another_dm(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    before = delayed["delayedUntil"]
    summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
    _, url = click(slack, fake_slack, dm, "rb1:undo", channel_id="DU111")
    [update] = wait_one(fake_slack, url)
    # The DM now says what the click did, as one line, and offers no Undo: a second click cannot make the move again.
    assert update["replace_original"] is True and action_ids(update) == []
    [line] = [block["text"]["text"] for block in update["blocks"]]
    assert "You undid the move of" in line and f"back to {date_token(before)} {messages.WHERE_DM}" in line
    assert fake_trigger.get_run(delayed["id"])["delayedUntil"] == before
    assert len(fake_slack.messages["DU111"]) == 1


def test_history_lists_an_undo_from_the_dm_as_an_undo_in_the_readers_words(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    before = delayed["delayedUntil"]
    summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    moved = fake_trigger.get_run(delayed["id"])["delayedUntil"]
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
    _, url = click(slack, fake_slack, dm, "rb1:undo", channel_id="DU111")
    wait_one(fake_slack, url)

    def both_recorded() -> dict[str, Any] | None:
        answer = private_via_command(slack, fake_slack, "history")
        return answer if answer["blocks"][0]["text"]["text"].count("\n") == 2 else None  # a title and two lines

    text = fake_slack.wait_for(both_recorded)["blocks"][0]["text"]["text"]
    run = f"*send-reminder* (`{delayed['id']}`) in *Prod*"
    assert (
        f"You undid the last move of {run}: back to {date_token(before)} (from {date_token(moved)}), from the DM."
        in text
    )
    assert f"You moved {run} from {date_token(before)} to {date_token(moved)}, with /reschedule `" in text
    assert " via " not in text and "button undo" not in text and "rb1:" not in text and "*prod*" not in text


def test_dm_failure_never_hides_the_reschedule(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    fake_slack.forbid_channel("U111", "cannot_dm_bot")
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    fake_slack.wait_for(lambda: [c for c in fake_slack.api_calls("chat.postMessage") if c["channel"] == "U111"])
    assert message["ts"] and "rescheduled" in json.dumps(message["blocks"])
    new = fake_trigger.get_run(delayed["id"])["delayedUntil"]
    assert new != delayed["delayedUntil"] and new < datetime.now(UTC) + timedelta(hours=2, seconds=1)
    assert fake_slack.messages.get("DU111") is None


def test_no_dm_when_turned_off(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, DM_CONFIRMATIONS="false")) as process:
        sender = SlackSender(process.events_url, SIGNING_SECRET)
        message = summary_via_command(sender, fake_slack, f"{run['id']} 2h")
        _, url = click(sender, fake_slack, message, "rb1:push_1h")
        wait_one(fake_slack, url)
    assert fake_slack.api_calls("conversations.open") == []


class TestConfirmationEnvironments:
    """With the default CONFIRM_ENVIRONMENTS (prod), nothing in prod moves without an explicit yes."""

    @pytest.fixture
    def prod_bot(self, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> Any:
        with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, CONFIRM_ENVIRONMENTS=None)) as process:
            yield SlackSender(process.events_url, SIGNING_SECRET)

    def test_command_asks_first_and_changes_nothing(
        self, prod_bot: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
    ) -> None:
        prompt = private_via_command(prod_bot, fake_slack, f"{delayed['id']} 2h")
        assert prompt["response_type"] == "ephemeral"
        assert "Prod" in json.dumps(prompt["blocks"]) and action_ids(prompt) == ["rb1:confirm", "rb1:cancel"]
        assert fake_trigger.calls("POST", RESCHEDULE) == []

    def test_confirm_acts_and_posts_to_the_channel(
        self, prod_bot: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
    ) -> None:
        before = datetime.now(UTC)
        prompt = private_via_command(prod_bot, fake_slack, f"{delayed['id']} 2h")
        _, url = click(prod_bot, fake_slack, prompt, "rb1:confirm", ephemeral=True)
        [deleted] = wait_one(fake_slack, url)
        # The summary goes to the channel first, posted by the bot; only then is the private prompt removed.
        posted = wait_summary(fake_slack)
        assert deleted.get("delete_original") is True
        assert len(fake_slack.channel_messages(CHANNEL)) == 1
        new = fake_trigger.get_run(delayed["id"])["delayedUntil"]
        assert before + timedelta(hours=2) - timedelta(seconds=5) <= new <= before + timedelta(hours=2, seconds=5)
        # Buttons on the prod summary carry Slack's confirm dialog naming the run and the new time.
        push = element(posted, "rb1:push_1h")[0]
        assert delayed["id"] in push["confirm"]["text"]["text"]
        # The DM says where the summary went, with a link to it.
        [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
        permalink = f"https://example.slack.com/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}"
        assert json.dumps(messages.where_posted(CHANNEL, permalink))[1:-1] in json.dumps(dm["blocks"])

    def test_confirm_in_a_channel_the_bot_cannot_post_in_answers_through_the_response_url(
        self, prod_bot: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
    ) -> None:
        fake_slack.forbid_channel("G0PRIVATE", "not_in_channel")
        prompt = private_via_command(prod_bot, fake_slack, f"{delayed['id']} 2h")
        _, url = click(prod_bot, fake_slack, prompt, "rb1:confirm", ephemeral=True, channel_id="G0PRIVATE")
        posted, deleted = wait_one(fake_slack, url, count=2)
        # Through the click's response_url for the channel, then the private prompt removed; nothing alarming.
        assert posted["response_type"] == "in_channel" and posted["replace_original"] is False
        assert "rescheduled" in json.dumps(posted["blocks"]) and deleted.get("delete_original") is True
        assert fake_trigger.get_run(delayed["id"])["delayedUntil"] != delayed["delayedUntil"]
        [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
        assert json.dumps(messages.where_channel("G0PRIVATE"))[1:-1] in json.dumps(dm["blocks"])
        assert ":warning:" not in json.dumps(dm["blocks"]) and len(fake_slack.responses(url)) == 2
        assert "G0PRIVATE" not in fake_slack.messages

    def test_confirm_whose_summary_reaches_no_one_says_so_in_the_dm(
        self, prod_bot: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
    ) -> None:
        fake_slack.forbid_channel("G0PRIVATE", "not_in_channel")
        prompt = private_via_command(prod_bot, fake_slack, f"{delayed['id']} 2h")
        value = element(prompt, "rb1:confirm")[0]["value"]
        url = fake_slack.new_response_url()
        fake_slack.spend_response_url(url)  # the fallback route is gone too
        payload = example_payload("block_actions")
        payload.update(
            user={"id": "U111", "team_id": "T111"},
            container={"type": "message", "message_ts": "1.3", "channel_id": "G0PRIVATE", "is_ephemeral": True},
            channel={"id": "G0PRIVATE"},
            message={**prompt, "ts": "1.3"},
            response_url=url,
            trigger_id=fresh_trigger_id(),
            actions=[{"action_id": "rb1:confirm", "block_id": "b", "value": value, "type": "button"}],
        )
        assert prod_bot.interaction(payload).status_code == 200
        [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
        assert fake_trigger.get_run(delayed["id"])["delayedUntil"] != delayed["delayedUntil"]
        assert json.dumps(messages.summary_not_posted("used_url"))[1:-1] in json.dumps(dm["blocks"])
        assert "G0PRIVATE" not in fake_slack.messages

    def test_cancel_changes_nothing(
        self, prod_bot: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
    ) -> None:
        prompt = private_via_command(prod_bot, fake_slack, f"{delayed['id']} 2h")
        _, url = click(prod_bot, fake_slack, prompt, "rb1:cancel", ephemeral=True)
        [answer] = wait_one(fake_slack, url)
        assert answer["text"] == messages.CANCELLED
        assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_expired_response_url_after_a_move_is_said_in_the_dm(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, delayed: dict[str, Any]
) -> None:
    message = summary_via_command(slack, fake_slack, f"{delayed['id']} 2h")
    shown = fake_trigger.get_run(delayed["id"])["delayedUntil"]
    payload = example_payload("block_actions")
    item, block_id = element(message, "rb1:push_1h")
    payload.update(
        user={"id": "U555", "team_id": "T111"},
        container={"type": "message", "message_ts": "1.2", "channel_id": "C111", "is_ephemeral": False},
        channel={"id": "C111"},
        message={**message, "ts": "1.2"},
        response_url=fake_slack.url + "/response/expired-long-ago",  # Slack answers 404 for it
        actions=[{"action_id": "rb1:push_1h", "block_id": block_id, "value": item["value"], "type": "button"}],
    )
    assert slack.interaction(payload).status_code == 200
    # The move happened; the message could not be updated (chat.update was tried, and refused for an unknown ts).
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU555"))
    assert fake_trigger.get_run(delayed["id"])["delayedUntil"] == shown + timedelta(hours=1)
    assert "Slack would not take the summary where you started" in json.dumps(dm["blocks"])
