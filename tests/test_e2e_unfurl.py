"""Link previews of run links, end to end: signed `link_shared` events to the real bot (served in-process), Trigger.dev
and Slack faked on loopback, the preview read back from the fake's `chat.unfurl` calls."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.render.mrkdwn import date_token
from tests.e2e_harness import (
    DASHBOARD_URL,
    PROD_ENV,
    SIGNING_SECRET,
    STAGING_KEY,
    SlackSender,
    bot_env,
    example_payload,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot

pytestmark = pytest.mark.e2e

HOST = DASHBOARD_URL.removeprefix("https://")
RETRIEVE = r"^/api/v3/runs/"
RESCHEDULE = r"/api/v1/runs/.+/reschedule"
PREVIEW_BUTTONS = ["rb1:push_1h", "rb1:push_1d", "rb1:tomorrow_9", "rb1:other", "rb1:run_now"]
MESSAGE_TS = "1700000000.000100"
STAGING_ENV = "env_staging"


def link_event(
    urls: list[str],
    *,
    user: str = "U111",
    channel: str = "C111",
    source: str = "conversations_history",
    event_id: str | None = None,
) -> dict[str, Any]:
    """An `event_callback` carrying `link_shared` for `urls`, shaped as tests/data/slack/payloads/event_link_shared."""
    payload = example_payload("event_link_shared")
    payload["event_id"] = event_id or f"Ev{uuid.uuid4().hex[:12].upper()}"
    event = payload["event"]
    event.update(user=user, channel=channel, source=source, message_ts=MESSAGE_TS)
    event["links"] = [{"domain": url.split("/")[2], "url": url} for url in urls]
    if source == "composer":
        event.update(channel="COMPOSER", unfurl_id=f"C111.{uuid.uuid4().hex}", message_ts=uuid.uuid4().hex)
    return payload


def delayed_run(fake_trigger: FakeTrigger, task: str = "send-reminder", env: str = PROD_ENV) -> dict[str, Any]:
    return fake_trigger.add_run(env, delayed_until=datetime.now(UTC) + timedelta(hours=3), task_identifier=task)


def one_unfurl(fake_slack: FakeSlack) -> dict[str, Any]:
    """The one chat.unfurl call, once it has been made."""
    calls: list[dict[str, Any]] = fake_slack.wait_for(lambda: fake_slack.unfurls or None)
    assert len(calls) == 1, fake_slack.describe()
    return calls[0]


def wait_log(bot: InProcessBot, text: str, fake_slack: FakeSlack) -> str:
    def logged() -> str | None:
        log = bot.log_text()
        return log if text in log else None

    found: str = fake_slack.wait_for(logged)
    return found


def texts(card: dict[str, Any]) -> str:
    return json.dumps(card["blocks"])


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for block in card["blocks"] if block["type"] == "actions" for item in block["elements"]]


def test_every_dashboard_link_form_gets_a_compact_card_with_the_summary_buttons(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [delayed_run(fake_trigger, task=f"task-{n}") for n in range(4)]
    urls = [
        f"{DASHBOARD_URL}/orgs/acme/projects/web-Ab1c/env/prod/runs/{runs[0]['id']}?span=abc",
        f"{DASHBOARD_URL}/orgs/acme/projects/web-Ab1c/runs/{runs[1]['id']}",
        f"{DASHBOARD_URL}/projects/v3/proj_abcdefghijklmnop/runs/{runs[2]['id']}",
        f"{DASHBOARD_URL}/runs/{runs[3]['id']}/",
    ]
    others = [f"{DASHBOARD_URL}/orgs/acme/projects/web-Ab1c", f"https://elsewhere.test/runs/{runs[0]['id']}"]
    response = slack.event(link_event(urls + others))
    assert response.status_code == 200
    call = one_unfurl(fake_slack)
    assert (call["channel"], call["ts"]) == ("C111", MESSAGE_TS)
    assert list(call["unfurls"]) == urls  # keyed by the exact URLs shared; the other two links get nothing
    for url, run in zip(urls, runs, strict=True):
        card = call["unfurls"][url]
        shown = texts(card)
        assert messages.UNFURL_HEAD.format(task=run["taskIdentifier"], env="Prod") in shown
        assert messages.LABEL_STATUS in shown and "Delayed" in shown
        assert date_token(run["delayedUntil"]) in shown
        assert run["id"] in shown
        elements = buttons(card)
        assert [item["action_id"] for item in elements] == PREVIEW_BUTTONS
        assert {json.loads(item["value"])["r"] for item in elements} == {run["id"]}
        assert {json.loads(item["value"])["e"] for item in elements} == {"prod"}
    assert fake_slack.api_calls("chat.postMessage") == [] and fake_slack.api_calls("chat.postEphemeral") == []


def test_a_run_that_is_not_delayed_is_shown_without_buttons(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV, status="EXECUTING", task_identifier="import-orders")
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    slack.event(link_event([url]))
    card = one_unfurl(fake_slack)["unfurls"][url]
    assert "Executing" in texts(card) and messages.LABEL_SCHEDULED not in texts(card)
    assert buttons(card) == []


def test_at_most_five_runs_per_message_are_looked_up_all_at_once(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [delayed_run(fake_trigger) for _ in range(7)]
    urls = [f"{DASHBOARD_URL}/runs/{run['id']}" for run in runs]
    urls.insert(2, f"{DASHBOARD_URL}/projects/v3/proj_abc/runs/{runs[0]['id']}")  # a second link to the first run
    held = fake_trigger.hold("GET", RETRIEVE)
    try:
        slack.event(link_event(urls))
        # All five lookups are in flight together, while none has been answered.
        fake_trigger.wait_for(lambda: len(fake_trigger.calls("GET", RETRIEVE)) >= 5 or None)
    finally:
        held.set()
    call = one_unfurl(fake_slack)
    assert list(call["unfurls"]) == urls[:6]  # five runs, one of them linked twice; runs six and seven ignored
    asked = [request.path.rsplit("/", 1)[-1] for request in fake_trigger.calls("GET", RETRIEVE)]
    assert sorted(asked) == sorted(run["id"] for run in runs[:5])
    assert call["unfurls"][urls[0]] == call["unfurls"][urls[2]]


def test_runs_are_looked_up_in_every_environment(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    staging = delayed_run(fake_trigger, task="sync-crm", env=STAGING_ENV)
    slack, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY)
    url = f"{DASHBOARD_URL}/runs/{staging['id']}"
    slack.event(link_event([url]))
    card = one_unfurl(fake_slack)["unfurls"][url]
    assert messages.UNFURL_HEAD.format(task="sync-crm", env="Staging") in texts(card)
    assert {json.loads(item["value"])["e"] for item in buttons(card)} == {"staging"}


def test_an_unknown_run_gets_no_preview_and_nothing_is_said(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    missing = "run_" + "z" * 25
    slack.event(link_event([f"{DASHBOARD_URL}/runs/{missing}"]))
    wait_log(bot, f"run {missing} is in none of prod", fake_slack)
    assert fake_slack.api_calls("chat.unfurl") == []
    assert fake_slack.api_calls("chat.postMessage") == [] and fake_slack.api_calls("chat.postEphemeral") == []


def test_an_unknown_run_beside_a_known_one_previews_only_the_known_one(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    known, unknown = f"{DASHBOARD_URL}/runs/{run['id']}", f"{DASHBOARD_URL}/runs/run_{'y' * 25}"
    slack.event(link_event([unknown, known]))
    assert list(one_unfurl(fake_slack)["unfurls"]) == [known]


def test_trigger_dev_down_gives_no_preview_and_nothing_in_the_channel(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    fake_trigger.fail_next("GET", RETRIEVE, 503, {"error": "Service Unavailable"}, times=100)
    slack, bot = start(TRIGGER_DEADLINE="1")
    response = slack.event(link_event([f"{DASHBOARD_URL}/runs/{run['id']}"]))
    assert response.status_code == 200
    log = wait_log(bot, f"could not read run {run['id']}", fake_slack)
    assert "Traceback" not in log
    for method in ("chat.unfurl", "chat.postMessage", "chat.postEphemeral"):
        assert fake_slack.api_calls(method) == [], method


def test_the_event_is_acknowledged_before_trigger_dev_answers(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    held = fake_trigger.hold("GET", RETRIEVE)
    try:
        response = slack.event(link_event([f"{DASHBOARD_URL}/runs/{run['id']}"]))
        assert response.status_code == 200  # answered while the lookup is still held
        assert fake_slack.unfurls == []
    finally:
        held.set()
    one_unfurl(fake_slack)


def test_a_retried_event_is_handled_once(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    event = link_event([f"{DASHBOARD_URL}/runs/{run['id']}"])
    assert slack.event(event).status_code == 200
    one_unfurl(fake_slack)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert slack.event(event, headers=retry).status_code == 200
    wait_log(bot, f"ignored a redelivered link_shared event '{event['event_id']}' (X-Slack-Retry-Num 1)", fake_slack)
    assert len(fake_slack.api_calls("chat.unfurl")) == 1
    assert len(fake_trigger.calls("GET", RETRIEVE)) == 1
    # Another event for the same link (another message) is its own event, and is previewed.
    slack.event(link_event([f"{DASHBOARD_URL}/runs/{run['id']}"]))
    fake_slack.wait_for(lambda: len(fake_slack.unfurls) == 2 or None)


def test_a_retry_reaching_another_process_sharing_postgresql_is_ignored_there(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, postgres: str, tmp_path: Path
) -> None:
    run = delayed_run(fake_trigger)
    event = link_event([f"{DASHBOARD_URL}/runs/{run['id']}"])
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres)
    with (
        InProcessBot(env, log_path=tmp_path / "one.log") as one,
        InProcessBot(env, log_path=tmp_path / "two.log") as two,
    ):
        # The first delivery is still looking the run up (Slack gave up waiting) when the retry reaches the other.
        held = fake_trigger.hold("GET", RETRIEVE)
        try:
            assert SlackSender(one.events_url, SIGNING_SECRET).event(event).status_code == 200
            fake_trigger.wait_for(lambda: fake_trigger.calls("GET", RETRIEVE) or None)
            retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            assert SlackSender(two.events_url, SIGNING_SECRET).event(event, headers=retry).status_code == 200
            wait_log(two, "ignored a redelivered link_shared event", fake_slack)
        finally:
            held.set()
        one_unfurl(fake_slack)
        log = two.log_text()  # both bots log to the same root logger: each file holds the lines of both
    assert log.count("ignored a redelivered link_shared event") == 1
    assert len(fake_trigger.calls("GET", RETRIEVE)) == 1
    assert len(fake_slack.api_calls("chat.unfurl")) == 1


def test_a_link_still_in_the_composer_is_previewed_by_unfurl_id_without_buttons(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    event = link_event([url], source="composer")
    slack.event(event)
    call = one_unfurl(fake_slack)
    assert (call["unfurl_id"], call["source"]) == (event["event"]["unfurl_id"], "composer")
    assert "channel" not in call
    assert buttons(call["unfurls"][url]) == []


def click_preview(
    slack: SlackSender, fake_slack: FakeSlack, url: str, card: dict[str, Any], action_id: str, user_id: str = "U111"
) -> str:
    """Click a button of a preview as Slack sends it: the container is the app unfurl's attachment."""
    [item] = [element for element in buttons(card) if element["action_id"] == action_id]
    [block] = [block for block in card["blocks"] if block["type"] == "actions"]
    payload = example_payload("block_actions")
    response_url = fake_slack.new_response_url()
    payload["user"] = {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": "T111"}
    payload["container"] = {
        "type": "message_attachment",
        "message_ts": MESSAGE_TS,
        "attachment_id": 1,
        "channel_id": "C111",
        "is_ephemeral": False,
        "is_app_unfurl": True,
        "app_unfurl_url": url,
    }
    payload["message"] = {"type": "message", "user": "U111", "ts": MESSAGE_TS, "text": f"look <{url}>"}
    payload["response_url"] = response_url
    payload["actions"] = [
        {
            "action_id": action_id,
            "block_id": block["block_id"],
            "type": "button",
            "action_ts": "1700000001.000200",
            "text": item["text"],
            "value": item["value"],
        }
    ]
    assert slack.interaction(payload).status_code == 200
    return response_url


def test_a_click_on_a_preview_moves_the_run_through_the_buttons_path(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_user("U222")
    run = delayed_run(fake_trigger)
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    slack.event(link_event([url]))
    card = one_unfurl(fake_slack)["unfurls"][url]
    response_url = click_preview(slack, fake_slack, url, card, "rb1:push_1h", user_id="U222")
    moved_to = run["delayedUntil"] + timedelta(hours=1)
    # The summary goes into the thread of the message holding the preview (someone else's message)...
    [summary] = fake_slack.wait_for(lambda: fake_slack.messages.get("C111"))
    assert summary["thread_ts"] == MESSAGE_TS
    assert "<@U222> rescheduled" in json.dumps(summary["blocks"])
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == moved_to
    # ...and the preview is drawn again with the new time, its buttons now computed from it.
    fake_slack.wait_for(lambda: len(fake_slack.unfurls) == 2 or None)
    redraw = fake_slack.unfurls[1]
    assert (redraw["channel"], redraw["ts"], list(redraw["unfurls"])) == ("C111", MESSAGE_TS, [url])
    assert date_token(moved_to) in texts(redraw["unfurls"][url])
    assert [item["action_id"] for item in buttons(redraw["unfurls"][url])] == PREVIEW_BUTTONS
    dm = fake_slack.wait_for(lambda: fake_slack.messages.get("DU222"))
    assert "You moved" in json.dumps(dm[0]["blocks"]) and f"/p{summary['ts'].replace('.', '')}" in json.dumps(dm)
    assert fake_slack.responses(response_url) == []  # nothing replaced through the click's response_url


def test_a_click_on_a_preview_of_a_run_that_has_started_redraws_it_and_says_so_privately(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    slack.event(link_event([url]))
    card = one_unfurl(fake_slack)["unfurls"][url]
    fake_trigger.set_status(run["id"], "EXECUTING")
    response_url = click_preview(slack, fake_slack, url, card, "rb1:push_1d")
    [note] = fake_slack.wait_for(lambda: fake_slack.responses(response_url) or None)
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False
    assert note["text"] == messages.not_delayed_after_click(run["id"], "EXECUTING", "preview")
    fake_slack.wait_for(lambda: len(fake_slack.unfurls) == 2 or None)
    redrawn = fake_slack.unfurls[1]["unfurls"][url]
    assert "Executing" in texts(redrawn) and buttons(redrawn) == []
    assert fake_trigger.calls("POST", RESCHEDULE) == [] and "C111" not in fake_slack.messages


def test_other_on_a_preview_opens_the_form_and_its_move_lands_in_the_thread_and_the_preview(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    slack.event(link_event([url]))
    card = one_unfurl(fake_slack)["unfurls"][url]
    click_preview(slack, fake_slack, url, card, "rb1:other")
    # The form opens with a loading view, then shows the run; its metadata says where the summary will go.
    form = fake_slack.wait_for(lambda: next((v for v in fake_slack.views.values() if "submit" in v), None))
    origin = json.loads(form["private_metadata"])["origin"]
    assert origin == {"kind": "shortcut", "channel": "C111", "ts": MESSAGE_TS, "preview_url": url}
    submission = example_payload("view_submission")
    values = {}
    for block in form["blocks"]:
        if block.get("type") == "input":
            element = block["element"]
            entry = (
                {"type": "plain_text_input", "value": "5h"}
                if element["type"] == "plain_text_input"
                else {"type": element["type"], "selected_date_time": None}
            )
            values[block["block_id"]] = {element["action_id"]: entry}
    submission["view"] = {**form, "state": {"values": values}}
    submission["trigger_id"] = "333.444.preview"
    assert slack.interaction(submission).status_code == 200
    [post] = fake_slack.wait_for(lambda: fake_slack.messages.get("C111"))
    assert post["thread_ts"] == MESSAGE_TS and "rescheduled" in json.dumps(post["blocks"])
    fake_slack.wait_for(lambda: len(fake_slack.unfurls) == 2 or None)
    moved_to = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert moved_to > run["delayedUntil"] + timedelta(hours=1)
    assert date_token(moved_to) in texts(fake_slack.unfurls[1]["unfurls"][url])


def test_preview_buttons_ask_first_in_a_confirm_environment(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    slack, _ = start(CONFIRM_ENVIRONMENTS=None)  # the default: prod asks first
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    slack.event(link_event([url]))
    card = one_unfurl(fake_slack)["unfurls"][url]
    by_id = {item["action_id"]: item for item in buttons(card)}
    assert set(by_id) == set(PREVIEW_BUTTONS)
    assert all("confirm" in by_id[action] for action in ("rb1:push_1h", "rb1:push_1d", "rb1:tomorrow_9", "rb1:run_now"))


def test_a_link_shared_by_someone_kept_out_is_not_looked_up_and_every_click_is_checked(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_user("U9")
    run = delayed_run(fake_trigger, task="secret-task")
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    slack, _ = start(ACCESS__PROD__USERS="U9")
    slack.event(link_event([url], user="U111"))  # shared by someone the rule keeps out of prod
    card = one_unfurl(fake_slack)["unfurls"][url]
    assert fake_trigger.requests == []  # prod was not asked for this sharer
    answer = (
        f":lock: <@U111> cannot move runs in *Prod*, so I did not look for `{run['id']}` there: "
        "*Prod* runs can be moved by <@U9>."
    )  # the answer every surface gives, without the run's task, time or buttons
    assert [block["text"]["text"] for block in card["blocks"]] == [answer]
    assert buttons(card) == [] and "secret-task" not in json.dumps(card)
    slack.event(link_event([url], user="U9"))  # shared by someone who may move prod runs
    fake_slack.wait_for(lambda: len(fake_slack.unfurls) == 2 or None)
    allowed = fake_slack.unfurls[1]["unfurls"][url]
    assert [item["action_id"] for item in buttons(allowed)] == PREVIEW_BUTTONS
    # U111 clicks a button of U9's preview: refused privately by the buttons path; the run stays where it was.
    response_url = click_preview(slack, fake_slack, url, allowed, "rb1:push_1d", user_id="U111")
    [refusal] = fake_slack.wait_for(lambda: fake_slack.responses(response_url) or None)
    assert refusal["response_type"] == "ephemeral"
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]


def test_url_verification_still_answers_the_challenge(slack: SlackSender) -> None:
    payload = example_payload("url_verification")
    response = slack.event(payload)
    assert response.status_code == 200
    assert response.json() == {"challenge": payload["challenge"]}


def test_an_unsigned_link_shared_event_does_nothing(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    response = slack.event(link_event([f"{DASHBOARD_URL}/runs/{run['id']}"]), unsigned=True)
    assert response.status_code == 401
    assert fake_trigger.calls("GET", RETRIEVE) == [] and fake_slack.unfurls == []


def test_a_link_shared_event_of_an_odd_shape_is_acknowledged_and_ignored(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    event = link_event([f"{DASHBOARD_URL}/runs/run_{'x' * 25}"])
    event["event"]["links"] = "not a list"
    response = slack.event(event)
    assert response.status_code == 200
    log = wait_log(bot, "ignored a link_shared event of an unexpected shape", fake_slack)
    assert "Traceback" not in log
    assert fake_trigger.calls("GET", RETRIEVE) == [] and fake_slack.unfurls == []


def test_a_link_shared_in_a_channel_shared_with_another_organisation_gets_no_preview_when_slack_connect_is_off(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed_run(fake_trigger)
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    slack, bot = start(ALLOW_SLACK_CONNECT="false")
    shared = link_event([url], user="U0GUEST") | {"is_ext_shared_channel": True}
    assert slack.event(shared).status_code == 200
    wait_log(bot, "refused a request from a Slack Connect user of another organisation", fake_slack)
    assert fake_slack.unfurls == [] and fake_trigger.requests == []  # not even looked up
    # The same link in a channel of the workspace alone gets its preview, with its buttons.
    assert slack.event(link_event([f"{DASHBOARD_URL}/runs/{run['id']}"])).status_code == 200
    assert [
        item["action_id"] for item in buttons(one_unfurl(fake_slack)["unfurls"][f"{DASHBOARD_URL}/runs/{run['id']}"])
    ] == PREVIEW_BUTTONS
