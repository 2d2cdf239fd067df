"""The App Home end to end: signed app_home_opened events to the in-process bot, views.publish on the fake Slack,
runs read from the fake Trigger.dev, buttons clicked on the published Home going through the ordinary buttons path.

The event's envelope is tests/data/slack/payloads/event_link_shared.json with its `event` replaced by an
app_home_opened event shaped as Slack sends it (`user`, `channel`, `tab`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.domain.audit import AuditRecord, Outcome
from bot.render.home import MAX_BLOCKS, MAX_RUNS_SHOWN
from bot.render.mrkdwn import date_token
from bot.slack.home import LOOKUPS_AT_ONCE
from bot.storage import db
from tests.e2e_harness import PROD_ENV, STAGING_KEY, SlackSender, example_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.test_e2e_buttons import summary_via_command
from tests.test_e2e_shortcut_modal import submission, wait_form, wait_result

pytestmark = pytest.mark.e2e

STAGING_ENV = "env_staging"
RETRIEVE = r"^/api/v3/runs/"
SUMMARY_ACTIONS = ["rb1:push_1h", "rb1:push_1d", "rb1:tomorrow_9", "rb1:other", "rb1:run_now", "rb1:open"]


def home_opened(user_id: str = "U111", tab: str = "home", event_id: str | None = None) -> dict[str, Any]:
    payload = example_payload("event_link_shared")
    payload["event"] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D0" + user_id,
        "tab": tab,
        "event_ts": "1700000000.000100",
    }
    payload["event_id"] = event_id or "Ev" + uuid.uuid4().hex[:10].upper()
    return payload


def open_home(slack: SlackSender, fake_slack: FakeSlack, user_id: str = "U111", publishes: int = 1) -> dict[str, Any]:
    """Send app_home_opened and return the Home once it has been published `publishes` times for this person."""
    response = slack.event(home_opened(user_id))
    assert response.status_code == 200
    return published(fake_slack, user_id, publishes)


def published(fake_slack: FakeSlack, user_id: str, count: int) -> dict[str, Any]:
    fake_slack.wait_for(lambda: len(publishes_for(fake_slack, user_id)) >= count)
    view = publishes_for(fake_slack, user_id)[count - 1]["view"]
    view = json.loads(view) if isinstance(view, str) else view  # slack_sdk sends JSON; a form would carry text
    assert view["type"] == "home" and len(view["blocks"]) <= MAX_BLOCKS
    return dict(view)


def publishes_for(fake_slack: FakeSlack, user_id: str) -> list[dict[str, Any]]:
    return [call for call in fake_slack.api_calls("views.publish") if call.get("user_id") == user_id]


def row_of(view: dict[str, Any], run_id: str) -> tuple[str, list[str]]:
    """The text of the run's section, and the action ids of its buttons (none when it has no actions block)."""
    blocks = view["blocks"]
    for index, block in enumerate(blocks):
        if block["type"] == "section" and f"`{run_id}`" in block["text"]["text"]:
            after = blocks[index + 1] if index + 1 < len(blocks) else {}
            buttons = (
                [item["action_id"] for item in after.get("elements", [])] if after.get("type") == "actions" else []
            )
            return block["text"]["text"], buttons
    raise AssertionError(f"{run_id} not on the Home: {json.dumps(view)[:1500]}")


def texts(view: dict[str, Any]) -> list[str]:
    """The mrkdwn of every section and context of the view."""
    found = [block["text"]["text"] for block in view["blocks"] if block["type"] == "section"]
    found += [item["text"] for block in view["blocks"] if block["type"] == "context" for item in block["elements"]]
    return found


def run_ids_shown(view: dict[str, Any]) -> list[str]:
    text = json.dumps(view["blocks"])
    return sorted({part.split("`")[0] for part in text.split("`run_")[1:]})


def click_on_home(slack: SlackSender, view: dict[str, Any], run_id: str, action_id: str, user_id: str = "U111") -> None:
    """Click a button of the Home as Slack sends it: container and view, no channel and no response_url."""
    block = next(b for b in view["blocks"] if b["type"] == "actions" and b["block_id"].endswith(run_id))
    item = next(element for element in block["elements"] if element["action_id"] == action_id)
    payload = example_payload("block_actions")
    for name in ("channel", "message", "response_url"):
        payload.pop(name, None)
    payload["user"] = {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": "T111"}
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {**view, "id": "V0HOME", "team_id": "T111", "app_installed_team_id": "T111"}
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


def seed_moves(database: Path, records: list[AuditRecord]) -> None:
    """Write audit records as the bot does, before it starts (it finds the schema current)."""

    async def write() -> None:
        engine = db.create_engine(f"sqlite:///{database}")
        try:
            await db.migrate(engine)
            async with engine.begin() as conn:
                await conn.execute(db.audit_events.insert(), [record_row(record) for record in records])
        finally:
            await engine.dispose()

    asyncio.run(write())


def record_row(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in AuditRecord.__dataclass_fields__}


def test_a_person_with_no_history_gets_the_how_to_and_where_they_may_act(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    fake_slack.add_user("U222")
    sender, _ = start(
        TRIGGER_SECRET_KEYS=STAGING_KEY,
        ACCESS__PROD__USERS="U111",
        ACCESS__STAGING__CHANNELS="C0OPS",
        CONFIRM_ENVIRONMENTS="prod",
    )
    view = open_home(sender, fake_slack)
    assert messages.HOME_NO_HISTORY in texts(view) and messages.HOME_HOW_TO in texts(view)
    where = next(
        b["text"]["text"] for b in view["blocks"] if messages.HOME_ENVS_TITLE in b.get("text", {}).get("text", "")
    )
    assert messages.home_env_line("Prod", messages.HOME_ANYWHERE, True) in where
    assert messages.home_env_line("Staging", messages.home_only_from("<#C0OPS>"), False) in where
    assert not [b for b in view["blocks"] if b["type"] == "actions"]
    assert fake_trigger.calls("GET", RETRIEVE) == []
    # Someone the prod rule does not name sees only staging.
    other = open_home(sender, fake_slack, "U222")
    where = json.dumps(other["blocks"])
    assert "*Staging*" in where and "*Prod*" not in where


def test_the_runs_a_person_moved_with_their_current_status_and_buttons_on_delayed_ones(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC)
    still = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=3), task_identifier="send-digest")
    done = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=2), task_identifier="import-orders")
    gone = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=2))
    broken = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=2))
    for run in (still, done, gone, broken):
        summary_via_command(slack, fake_slack, f"{run['id']} 5h")
    fake_trigger.set_status(done["id"], "COMPLETED")
    not_found = {"x-should-retry": "true"}  # as the retrieve route says on every 404 (retried once)
    fake_trigger.fail_next("GET", f"/api/v3/runs/{gone['id']}$", 404, {"error": "Not found"}, not_found, times=2)
    failing = {"x-should-retry": "false"}
    fake_trigger.fail_next("GET", f"/api/v3/runs/{broken['id']}$", 500, {"error": "Internal"}, failing)

    view = open_home(slack, fake_slack)

    assert run_ids_shown(view) == sorted(run["id"][4:] for run in (still, done, gone, broken))
    text, buttons = row_of(view, still["id"])
    moved_to = fake_trigger.get_run(still["id"])["delayedUntil"]
    assert "send-digest" in text and "Delayed" in text and messages.home_starts(date_token(moved_to)) in text
    assert buttons == SUMMARY_ACTIONS
    push = next(b for b in view["blocks"] if b.get("block_id", "").endswith(still["id"]))["elements"][0]
    assert json.loads(push["value"]) == {"v": 1, "r": still["id"], "e": "prod", "a": int(moved_to.timestamp() * 1000)}
    text, buttons = row_of(view, done["id"])
    assert "import-orders" in text and "Completed" in text and buttons == []
    text, buttons = row_of(view, gone["id"])
    assert messages.HOME_NOT_FOUND in text and buttons == []
    text, buttons = row_of(view, broken["id"])
    assert messages.HOME_UNREADABLE in text and buttons == []
    # Newest move first.
    order = (broken["id"], gone["id"], done["id"], still["id"])
    positions = [json.dumps(view["blocks"]).index(f"`{run_id}`") for run_id in order]
    assert positions == sorted(positions)


def test_after_a_move_the_home_is_published_again_and_its_buttons_move_the_run(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=3))
    first = open_home(slack, fake_slack)
    assert messages.HOME_NO_HISTORY in texts(first)

    summary_via_command(slack, fake_slack, f"{run['id']} 4h")
    second = published(fake_slack, "U111", 2)
    shown = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert messages.home_starts(date_token(shown)) in row_of(second, run["id"])[0]

    click_on_home(slack, second, run["id"], "rb1:push_1h")
    third = published(fake_slack, "U111", 3)
    moved = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert moved == shown + timedelta(hours=1)
    assert messages.home_starts(date_token(moved)) in row_of(third, run["id"])[0]
    dm = fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages.get("DU111", []) if messages.WHERE_HOME in json.dumps(m.get("blocks"))]
    )
    assert "rb1:undo" in json.dumps(dm[-1]["blocks"])  # the DM's Undo takes it back to where it was


def test_other_on_the_home_opens_the_form_and_its_move_refreshes_the_home(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=3))
    summary_via_command(slack, fake_slack, f"{run['id']} 4h")
    home = open_home(slack, fake_slack)
    click_on_home(slack, home, run["id"], "rb1:other")
    form = wait_form(fake_slack)
    before = datetime.now(UTC)
    assert slack.interaction(submission(form, text="2h")).status_code == 200
    wait_result(fake_slack)
    moved = fake_trigger.get_run(run["id"])["delayedUntil"]
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= moved <= datetime.now(UTC) + timedelta(hours=2)
    after = published(fake_slack, "U111", 2)
    assert messages.home_starts(date_token(moved)) in row_of(after, run["id"])[0]
    # The DM says the move came from the Home (there is no message to point at), and the trail says so too.
    dm = fake_slack.wait_for(lambda: len(d := fake_slack.messages.get("DU111", [])) == 2 and d[1])
    assert messages.WHERE_HOME in json.dumps(dm["blocks"])


def test_another_persons_moves_do_not_appear(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_user("U222")
    theirs = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=3))
    mine = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=3))
    open_home(slack, fake_slack)
    url = fake_slack.new_response_url()
    slack.command(f"{theirs['id']} 2h", response_url=url, user_id="U222")
    fake_slack.wait_for(lambda: fake_slack.channel_messages("C111"))
    summary_via_command(slack, fake_slack, f"{mine['id']} 2h")

    after = published(fake_slack, "U111", 2)
    assert run_ids_shown(after) == [mine["id"][4:]]
    assert publishes_for(fake_slack, "U222") == []  # U222 never opened their Home: nothing to refresh


def test_a_long_history_is_read_and_looked_up_within_bounds(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    runs = [fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=2)) for _ in range(60)]
    records = [
        AuditRecord(
            at=now - timedelta(minutes=len(runs) * attempt + index),
            team_id="T111",
            user_id="U111",
            channel_id="C111",
            surface="command",
            outcome=Outcome.RESCHEDULED,
            environment="prod",
            run_id=run["id"],
            task="send-reminder",
            new_time=now + timedelta(hours=2),
        )
        for attempt in range(5)
        for index, run in enumerate(runs)
    ]
    seed_moves(tmp_path / "bot.sqlite3", records)
    sender, _ = start()
    held = fake_trigger.hold("GET", RETRIEVE)
    sender.event(home_opened())
    fake_trigger.wait_for(lambda: len(fake_trigger.calls("GET", RETRIEVE)) >= LOOKUPS_AT_ONCE)
    held.set()
    view = published(fake_slack, "U111", 1)

    newest = sorted(run["id"][4:] for run in runs[:MAX_RUNS_SHOWN])  # index 0 is the most recent move
    assert run_ids_shown(view) == newest
    assert len(fake_trigger.calls("GET", RETRIEVE)) == MAX_RUNS_SHOWN
    assert fake_trigger.max_in_flight <= LOOKUPS_AT_ONCE
    assert len([b for b in view["blocks"] if b["type"] == "actions"]) == MAX_RUNS_SHOWN


def test_a_retried_event_publishes_once_and_the_messages_tab_publishes_nothing(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, bot = start()
    assert sender.event(home_opened(tab="messages")).status_code == 200
    event = home_opened(event_id="Ev0RETRIED1")
    assert sender.event(event).status_code == 200
    published(fake_slack, "U111", 1)
    assert (
        sender.event(event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code
        == 200
    )
    fake_slack.wait_for(lambda: "ignored a redelivered app_home_opened event" in bot.log_text())
    assert len(fake_slack.api_calls("views.publish")) == 1


def test_the_events_url_answers_slacks_verification_challenge(slack: SlackSender) -> None:
    """Saving a manifest with event subscriptions makes Slack send this to the request URL first."""
    challenge = example_payload("url_verification")
    response = slack.event(challenge)
    assert response.status_code == 200
    assert challenge["challenge"] in response.text
