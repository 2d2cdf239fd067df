"""`/reschedule list` end to end: the in-process bot, signed requests, fake Slack and the fake Trigger.dev listing runs
as the real server does (7-day default window, creation order, pages)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot import messages
from bot.render.ids import Button
from bot.render.run_list import MAX_RUNS_SHOWN
from tests.e2e_harness import PROD_ENV, PROD_KEY, STAGING_KEY, SlackSender, http_get
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.summaries import CHANNEL, wait_summary
from tests.test_e2e_buttons import click, private_via_command
from tests.test_e2e_shortcut_modal import submission, wait_form, wait_result

pytestmark = pytest.mark.e2e

STAGING_ENV = "env_staging"
LIST = r"^/api/v1/runs$"


def listed_ids(message: dict[str, Any]) -> list[str]:
    """The run ids of the list's Reschedule… buttons, top to bottom (Push all back… carries a set, not a run)."""
    return [
        json.loads(item["value"])["r"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for item in block["elements"]
        if item["action_id"] != Button.BULK_PUSH_ALL.action_id
    ]


def test_list_across_two_environments_is_private_and_soonest_first(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY)
    now = datetime.now(UTC)
    late = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=5), task_identifier="late-task")
    soon = fake_trigger.add_run(STAGING_ENV, delayed_until=now + timedelta(hours=1), tags=["vip"])
    middle = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=3))
    fake_trigger.add_run(PROD_ENV, status="EXECUTING")
    message = private_via_command(sender, fake_slack, "list")
    assert message["response_type"] == "ephemeral"
    assert listed_ids(message) == [soon["id"], middle["id"], late["id"]]
    text = json.dumps(message["blocks"])
    assert "3 delayed runs* in *Prod* and *Staging*" in text and "`vip`" in text
    assert re.search(r" in (59m \d+s|1h) ", text)
    calls = fake_trigger.calls("GET", LIST)
    assert {call.headers["authorization"] for call in calls} == {f"Bearer {PROD_KEY}", f"Bearer {STAGING_KEY}"}
    assert fake_trigger.calls("POST", r"/reschedule$") == []


def test_a_run_created_ten_days_ago_and_due_tomorrow_is_listed(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC)
    old = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(days=1), created_at=now - timedelta(days=10))
    # The server's own default window would miss it:
    default = http_get(
        f"{fake_trigger.url}/api/v1/runs",
        params={"filter[status]": "DELAYED"},
        headers={"Authorization": f"Bearer {PROD_KEY}"},
    )
    assert default.json()["data"] == []
    message = private_via_command(slack, fake_slack, "list")
    assert listed_ids(message) == [old["id"]]


def test_more_runs_than_fit_are_counted_with_how_to_narrow(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC)
    runs = [fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=n + 1)) for n in range(130)]
    message = private_via_command(slack, fake_slack, "list")
    assert listed_ids(message) == [run["id"] for run in runs[:MAX_RUNS_SHOWN]]
    assert len(message["blocks"]) <= 50
    assert messages.list_more(130 - MAX_RUNS_SHOWN) in json.dumps(message["blocks"])
    pages = fake_trigger.calls("GET", LIST)
    assert len(pages) == 2 and "page%5Bafter%5D" in pages[1].query


def test_task_tag_and_within_filter_the_list(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC)
    wanted = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=2), task_identifier="sync", tags=["a"])
    fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=9), task_identifier="sync", tags=["a"])
    fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=1), task_identifier="sync", tags=["b"])
    fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=1), task_identifier="other", tags=["a"])
    message = private_via_command(slack, fake_slack, "list sync --tag a --within 6h")
    assert listed_ids(message) == [wanted["id"]]
    assert "for tasks starting with `sync` tagged `a` due within 6h" in json.dumps(message["blocks"])


def test_a_task_given_to_list_matches_by_the_start_of_its_name_in_any_case_and_the_reply_names_the_matches(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    hour = datetime.now(UTC) + timedelta(hours=1)
    trial = fake_trigger.add_run(PROD_ENV, delayed_until=hour, task_identifier="send-trial-reminder")
    later = hour + timedelta(hours=1)
    digest = fake_trigger.add_run(PROD_ENV, delayed_until=later, task_identifier="Send-weekly-digest")
    fake_trigger.add_run(PROD_ENV, delayed_until=hour, task_identifier="resend-invoice")
    message = private_via_command(slack, fake_slack, "list SEND")
    assert listed_ids(message) == [trial["id"], digest["id"]]
    text = json.dumps(message["blocks"])
    assert "*2 delayed runs* in *Prod* for tasks starting with `SEND`" in text
    assert messages.list_tasks_matched("`SEND`", ["send-trial-reminder", "Send-weekly-digest"], 0) in text
    # Trigger.dev's own filter is exact: the listing is asked without it, within the same bounds.
    [call] = fake_trigger.calls("GET", LIST)
    assert "taskIdentifier" not in call.query and "page%5Bsize%5D" in call.query


def test_a_task_that_starts_no_name_but_is_a_tag_or_inside_a_name_gets_the_list_to_type_instead(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    hour = datetime.now(UTC) + timedelta(hours=1)
    fake_trigger.add_run(PROD_ENV, delayed_until=hour, task_identifier="generate-invoices", tags=["Billing"])
    fake_trigger.add_run(PROD_ENV, delayed_until=hour, task_identifier="charge-cards", tags=["billing", "<@U1>"])
    fake_trigger.add_run(PROD_ENV, delayed_until=hour + timedelta(days=2), tags=["billing"])  # beyond --within
    message = private_via_command(slack, fake_slack, "list billing --within 6h")
    assert listed_ids(message) == []
    text = json.dumps(message["blocks"])
    assert messages.list_tagged_instead("`billing`", 2, "`/reschedule list --tag billing --within 6h`") in text

    message = private_via_command(slack, fake_slack, "list INVOICES")
    text = json.dumps(message["blocks"])
    assert (
        messages.list_named_inside("`INVOICES`", ["generate-invoices"], 0, "`/reschedule list generate-invoices`")
        in text
    )
    assert "tagged" not in text  # no run is tagged INVOICES

    message = private_via_command(slack, fake_slack, "list nothing-like-it")
    assert [block["type"] for block in message["blocks"]] == ["section"]  # the empty list alone, no note


def test_a_tag_that_matches_nothing_gets_the_tags_there_are_and_the_likest_to_type(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    hour = datetime.now(UTC) + timedelta(hours=1)
    fake_trigger.add_run(PROD_ENV, delayed_until=hour, task_identifier="send-digest", tags=["email", "weekly"])
    fake_trigger.add_run(PROD_ENV, delayed_until=hour, task_identifier="sync-crm", tags=["crm", "<@U1>"])
    message = private_via_command(slack, fake_slack, "list --tag emial")
    text = json.dumps(message["blocks"])
    assert "Tags on the delayed runs: `email`, " in text  # the likest first
    assert all(f"`{tag}`" in text for tag in ("weekly", "crm", "&lt;@U1&gt;")) and "<@U1>" not in text
    assert "Did you mean `/reschedule list --tag email`?" in text
    # Asked once with the tag, then once without it to see the tags there are.
    assert [("filter%5Btag%5D=emial" in call.query) for call in fake_trigger.calls("GET", LIST)] == [True, False]

    message = private_via_command(slack, fake_slack, "list send --tag zzz")
    text = json.dumps(message["blocks"])
    assert messages.list_tags_carried(["`email`", "`weekly`"], 0, "") in text  # those of send-… only, no guess

    message = private_via_command(slack, fake_slack, "list --tag email")  # it matched: no second listing
    assert len(listed_ids(message)) == 1 and len(fake_trigger.calls("GET", LIST)) == 5


def test_an_empty_list_says_so(slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    message = private_via_command(slack, fake_slack, "list")
    assert message["text"] == "No delayed runs"
    assert messages.list_empty("*Prod*", "") in json.dumps(message["blocks"])


def test_reschedule_from_the_list_opens_the_modal(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC)
    fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=1))
    second = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=2), task_identifier="pick-me")
    message = private_via_command(slack, fake_slack, "list")
    value = next(
        item["value"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for item in block["elements"]
        if json.loads(item["value"]).get("r") == second["id"]
    )
    status, _ = click(slack, fake_slack, message, "rb1:reschedule", ephemeral=True, value=value)
    assert status == 200
    fake_slack.wait_for(lambda: fake_slack.api_calls("views.open"))
    [update] = fake_slack.wait_for(lambda: fake_slack.api_calls("views.update"))
    assert "pick-me" in json.dumps(update["view"]["blocks"])


def test_runs_moved_from_the_list_one_after_another_get_their_summaries_in_the_channel_and_the_list_stays(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=soon, task_identifier="pick-me")
    other = fake_trigger.add_run(PROD_ENV, delayed_until=soon + timedelta(minutes=5), task_identifier="then-me")
    message = private_via_command(slack, fake_slack, "list")
    values = [item["value"] for block in message["blocks"] if block["type"] == "actions" for item in block["elements"]]
    [first, second] = [value for value in values if json.loads(value).get("r")]
    _, url = click(slack, fake_slack, message, "rb1:reschedule", ephemeral=True, value=first)
    form = wait_form(fake_slack)
    assert slack.interaction(submission(form, text="3h")).status_code == 200
    wait_result(fake_slack)
    summary = wait_summary(fake_slack)
    assert "<@U111> rescheduled *pick-me* in *Prod*" in json.dumps(summary["blocks"])
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
    permalink = f"https://example.slack.com/archives/{CHANNEL}/p{summary['ts'].replace('.', '')}"
    assert json.dumps(messages.where_posted(CHANNEL, permalink))[1:-1] in json.dumps(dm["blocks"])
    assert fake_trigger.get_run(run["id"])["delayedUntil"] > datetime.now(UTC) + timedelta(hours=2, minutes=50)
    # The list stays for the next move: nothing replaces or removes it, and nothing reaches the channel through it.
    assert fake_slack.responses(url) == []
    _, url = click(slack, fake_slack, message, "rb1:reschedule", ephemeral=True, value=second)
    form = fake_slack.wait_for(
        lambda: next(
            (view for view in fake_slack.views.values() if "submit" in view and view["id"] != form["id"]), None
        )
    )
    assert slack.interaction(submission(form, text="2h")).status_code == 200
    fake_slack.wait_for(lambda: len(fake_slack.channel_messages(CHANNEL)) == 2 or None)
    assert "*then-me*" in json.dumps(fake_slack.channel_messages(CHANNEL)[1]["blocks"])
    assert fake_trigger.get_run(other["id"])["delayedUntil"] > datetime.now(UTC) + timedelta(hours=1, minutes=50)
    assert fake_slack.responses(url) == []


def test_an_environment_the_rule_excludes_is_not_listed_and_says_who_can(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY, ACCESS__PROD__USERS="U999")
    fake_trigger.add_run(PROD_ENV)
    visible = fake_trigger.add_run(STAGING_ENV)
    message = private_via_command(sender, fake_slack, "list")
    assert listed_ids(message) == [visible["id"]]
    note = ":lock: You cannot move runs in *Prod*, so I did not list runs there: *Prod* runs can be moved by <@U999>."
    assert json.dumps(note)[1:-1] in json.dumps(message["blocks"])
    assert {call.headers["authorization"] for call in fake_trigger.calls("GET", LIST)} == {f"Bearer {STAGING_KEY}"}


def test_an_environment_that_fails_is_named(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, _ = start(TRIGGER_SECRET_KEYS="qa=tr_dev_unknownunknownunknown01")  # the fake rejects this key
    run = fake_trigger.add_run(PROD_ENV)
    message = private_via_command(sender, fake_slack, "list")
    assert listed_ids(message) == [run["id"]]
    assert messages.list_failed("*qa*", messages.LIST_FAILED_KEY) in json.dumps(message["blocks"])


def test_bad_flags_are_answered_in_the_ack(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    body = slack.command("list --within soon", response_url=fake_slack.new_response_url()).json()
    assert body == {
        "text": messages.within_unreadable("soon"),  # one line, with examples: not the whole usage
        "response_type": "ephemeral",
    }
    assert fake_trigger.requests == []


def test_no_environment_to_act_in_says_so(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, _ = start(ACCESS__PROD__USERS="U999")
    fake_trigger.add_run(PROD_ENV)
    message = private_via_command(sender, fake_slack, "list")
    assert message["text"] == (
        ":lock: You cannot move runs in *Prod*, so I did not list runs there: *Prod* runs can be moved by <@U999>."
    )
    assert fake_trigger.requests == []


def test_when_no_environment_can_be_listed_the_failure_is_explained(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.fail_next("GET", LIST, 401, {"error": "Invalid API key"})
    message = private_via_command(slack, fake_slack, "list")
    assert message["text"] == messages.key_rejected("Prod")


def test_the_fake_lists_as_the_server_does(fake_trigger: FakeTrigger) -> None:
    """Newest first, pages linked by pagination.next, unknown statuses refused, page[size] bounded."""
    runs = [fake_trigger.add_run(PROD_ENV, created_at=datetime.now(UTC) - timedelta(minutes=n)) for n in range(3)]

    def get(**params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {PROD_KEY}"}
        return http_get(f"{fake_trigger.url}/api/v1/runs", params=params, headers=headers)

    first = get(**{"page[size]": "2"}).json()
    assert [run["id"] for run in first["data"]] == [runs[0]["id"], runs[1]["id"]]
    second = get(**{"page[size]": "2", "page[after]": first["pagination"]["next"]}).json()
    assert [run["id"] for run in second["data"]] == [runs[2]["id"]] and second["pagination"] == {}
    assert get(**{"filter[status]": "FOO"}).status_code == 400
    assert get(**{"page[size]": "101"}).status_code == 400
    assert get(**{"filter[status]": "COMPLETED"}).json()["data"] == []
