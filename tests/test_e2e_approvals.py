"""Protected environments end to end, with signed requests against the real bot and the fake servers: a move in a
protected environment becomes a request in the approval channel; another approver's Approve carries it out through
the action path (both names on the summary, in the audit and the history; the DM with Undo to the person who asked);
Reject, a click of the person who asked, or of anyone else, moves nothing; each surface asks instead of moving."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages, wiring
from tests.e2e_harness import (
    DASHBOARD_URL,
    PROD_ENV,
    SIGNING_SECRET,
    STAGING_KEY,
    SlackSender,
    bot_env,
    example_payload,
    fresh_trigger_id,
    load_settings,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, sqlite_rows
from tests.inprocess import InProcessBot
from tests.summaries import CHANNEL, wait_summary
from tests.test_e2e_buttons import click, summary_via_command, wait_one
from tests.test_e2e_home import click_on_home, open_home
from tests.test_e2e_shortcut_modal import open_form, submission, view_text, wait_view
from tests.test_e2e_unfurl import buttons, click_preview, link_event, one_unfurl
from tests.test_e2e_workflow_steps import failed_with, move
from tests.test_runs import current_alert

pytestmark = pytest.mark.e2e

APPROVER = "U222"
OUTSIDER = "U333"
GROUP = "S0APPROVERS"
APPROVALS = "C999"  # APPROVAL__PROD__CHANNEL
APPROVE = "rb1:approve"
REJECT = "rb1:reject"


def protected_env(**more: str | None) -> dict[str, str | None]:
    """Prod protected: U111 (the person asking in these tests) and the members of GROUP approve."""
    return {"APPROVAL__PROD__APPROVERS": f"U111,{GROUP}", "APPROVAL__PROD__CHANNEL": APPROVALS, **more}


@pytest.fixture
def people(fake_slack: FakeSlack) -> None:
    fake_slack.add_user(APPROVER)
    fake_slack.add_user(OUTSIDER)
    fake_slack.add_usergroup(GROUP, [APPROVER], handle="prod-approvers")


@pytest.fixture
def sender(start: Any, people: None) -> SlackSender:
    slack: SlackSender = start(**protected_env())[0]
    return slack


def ask(slack: SlackSender, fake_slack: FakeSlack, text: str) -> tuple[str, dict[str, Any]]:
    """`/reschedule <text>` by U111 in C111: what they were told privately, and the request posted for approvers."""
    url = fake_slack.new_response_url()
    slack.command(text, response_url=url, channel_id=CHANNEL)
    told = wait_one(fake_slack, url)[0]
    return told["text"], wait_summary(fake_slack, APPROVALS)


def request_now(fake_slack: FakeSlack) -> dict[str, Any]:
    return fake_slack.channel_messages(APPROVALS)[0]


def decide(slack: SlackSender, fake_slack: FakeSlack, request: dict[str, Any], action: str, user: str) -> str:
    """Click Approve / Reject on the request as `user`, as Slack sends it (each click its own trigger_id); returns
    the click's response_url."""
    [button] = [
        e for b in request["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action
    ]
    payload = example_payload("block_actions")
    url = fake_slack.new_response_url()
    payload["trigger_id"] = fresh_trigger_id()
    payload["user"] = {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T111"}
    ts = request["ts"]
    payload["container"] = {"type": "message", "message_ts": ts, "channel_id": APPROVALS, "is_ephemeral": False}
    payload["channel"] = {"id": APPROVALS, "name": "prod-approvals"}
    payload["message"] = {**request, "type": "message"}
    payload["response_url"] = url
    payload["actions"] = [
        {"action_id": action, "block_id": "approval", "type": "button", "value": button["value"], "action_ts": "1.2"}
    ]
    assert slack.interaction(payload).status_code == 200
    return url


def private_answer(fake_slack: FakeSlack, url: str) -> str:
    text: str = wait_one(fake_slack, url)[0]["text"]
    return text


def dm_texts(fake_slack: FakeSlack, user: str = "U111") -> list[str]:
    return [json.dumps(m) for m in fake_slack.channel_messages("D" + user)]


def reschedules(fake_trigger: FakeTrigger) -> int:
    return len(fake_trigger.calls("POST", RESCHEDULE))


def delayed(fake_trigger: FakeTrigger, hours: float = 3) -> dict[str, Any]:
    return fake_trigger.add_run(
        PROD_ENV, delayed_until=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    )


def push_all_back_and_confirm(sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, typed: str) -> str:
    """Two runs delayed in prod, listed, "Push all back" clicked with `typed` (a time or a duration) in its form, and
    the set's Confirm clicked: what the person is then told privately."""
    for hours in (2, 3):
        delayed(fake_trigger, hours)
    url = fake_slack.new_response_url()
    sender.command("list", response_url=url)
    listing = wait_one(fake_slack, url)[0]
    status, list_url = click(sender, fake_slack, listing, "rb1:bulk_push_all", ephemeral=True)
    assert status == 200
    form = wait_view(fake_slack, lambda view: "submit" in view)
    assert sender.interaction(submission(form, text=typed)).json()["response_action"] == "clear"
    prompt = wait_one(fake_slack, list_url)[0]
    _, confirm_url = click(sender, fake_slack, prompt, "rb1:bulk_confirm", ephemeral=True)
    return private_answer(fake_slack, confirm_url)


def test_ask_then_another_approver_approves_and_the_move_names_both(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = delayed(fake_trigger)
    told, request = ask(sender, fake_slack, f"{run['id']} 2h --reason payroll cut-off moved")
    assert "protected environment" in told and f"<#{APPROVALS}>" in told and f"<!subteam^{GROUP}>" in told
    shown = json.dumps(request["blocks"])
    assert "<@U111> asks to move a run in *Prod*" in shown and "payroll cut-off moved" in shown
    assert f"<!subteam^{GROUP}>" in shown  # the group is mentioned as the group
    assert reschedules(fake_trigger) == 0 and fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]

    decide(sender, fake_slack, request, APPROVE, APPROVER)
    moved = fake_slack.wait_for(
        lambda: "approved by" in json.dumps(request_now(fake_slack)) and request_now(fake_slack)
    )
    assert "<@U111> rescheduled" in json.dumps(moved["blocks"]) and f"approved by <@{APPROVER}>" in json.dumps(moved)
    assert APPROVE not in json.dumps(moved)  # the buttons are gone
    assert reschedules(fake_trigger) == 1
    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
    # The person who asked gets the DM with Undo, naming the approver.
    dm = fake_slack.wait_for(lambda: dm_texts(fake_slack))
    assert "rb1:undo" in dm[0] and dm[0].count(f"approved by <@{APPROVER}>") == 1
    # The audit trail and /reschedule history name both.
    rows = fake_slack.wait_for(
        lambda: [r for r in sqlite_rows(tmp_path / "bot.sqlite3") if r["outcome"] == "rescheduled"] or None
    )
    assert (rows[0]["user_id"], rows[0]["approved_by"]) == ("U111", APPROVER)
    url = fake_slack.new_response_url()
    sender.command("history", response_url=url)
    history = json.dumps(wait_one(fake_slack, url)[0])
    assert f"approved by <@{APPROVER}>" in history and "asked for approval" in history


def test_a_second_click_or_a_copy_is_told_what_already_happened(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    fake_slack.wait_for(lambda: reschedules(fake_trigger) == 1)
    again = decide(sender, fake_slack, request, REJECT, APPROVER)  # the message as it was before: a stale copy
    assert "already approved" in private_answer(fake_slack, again)
    assert reschedules(fake_trigger) == 1


def test_reject_moves_nothing_and_the_asker_is_told_by_whom(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    decide(sender, fake_slack, request, REJECT, APPROVER)
    dm = fake_slack.wait_for(lambda: dm_texts(fake_slack))
    assert f"<@{APPROVER}> rejected your request" in dm[0]
    shown = json.dumps(request_now(fake_slack))
    assert f"Rejected by <@{APPROVER}>" in shown and APPROVE not in shown
    assert reschedules(fake_trigger) == 0
    rows = fake_slack.wait_for(
        lambda: [r for r in sqlite_rows(tmp_path / "bot.sqlite3") if r["outcome"] == "approval_rejected"] or None
    )
    assert (rows[0]["user_id"], rows[0]["run_id"]) == (APPROVER, run["id"])


def test_the_person_who_asked_may_not_approve_their_own_request_even_as_an_approver(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    url = decide(sender, fake_slack, request, APPROVE, "U111")
    assert private_answer(fake_slack, url) == messages.APPROVAL_OWN_REQUEST
    assert reschedules(fake_trigger) == 0 and APPROVE in json.dumps(request_now(fake_slack))
    decide(sender, fake_slack, request, APPROVE, APPROVER)  # another approver still can
    fake_slack.wait_for(lambda: reschedules(fake_trigger) == 1)


def test_a_click_by_someone_who_is_not_an_approver_is_refused_privately_and_changes_nothing(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    for action in (APPROVE, REJECT):
        url = decide(sender, fake_slack, request, action, OUTSIDER)
        assert "Only <@U111> or <!subteam^" in private_answer(fake_slack, url)
    assert reschedules(fake_trigger) == 0 and APPROVE in json.dumps(request_now(fake_slack))
    assert dm_texts(fake_slack) == []


def test_an_approver_refused_by_the_access_rules_may_not_approve(
    start: Any, people: None, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    slack, _ = start(**protected_env(ACCESS__PROD__USERS="U111"))
    run = delayed(fake_trigger)
    _, request = ask(slack, fake_slack, f"{run['id']} 2h")
    url = decide(slack, fake_slack, request, APPROVE, APPROVER)
    assert "can be moved by <@U111>" in private_answer(fake_slack, url)
    assert reschedules(fake_trigger) == 0


def test_undo_of_an_approved_move_by_the_person_who_asked_needs_no_new_approval(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    dm = fake_slack.wait_for(lambda: fake_slack.channel_messages("DU111"))[0]
    status, _ = click(sender, fake_slack, dm, "rb1:undo", user_id="U111", channel_id="DU111")
    assert status == 200
    fake_slack.wait_for(lambda: fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"])
    assert len(fake_slack.channel_messages(APPROVALS)) == 1  # no new request
    # A new move is a new request.
    ask(sender, fake_slack, f"{run['id']} 5h")
    assert len(fake_slack.channel_messages(APPROVALS)) == 2


def test_the_approver_may_undo_the_move_they_approved_without_a_new_approval(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    summary = fake_slack.wait_for(lambda: "rb1:undo" in json.dumps(request_now(fake_slack)) and request_now(fake_slack))
    status, _ = click(sender, fake_slack, summary, "rb1:undo", user_id=APPROVER, channel_id=APPROVALS)
    assert status == 200
    fake_slack.wait_for(lambda: fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"])
    assert len(fake_slack.channel_messages(APPROVALS)) == 1 and reschedules(fake_trigger) == 2


def test_a_button_on_a_summary_asks_instead_of_moving(
    start: Any, people: None, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    slack: SlackSender = start(**protected_env())[0]
    _, request = ask(slack, fake_slack, f"{run['id']} 2h")
    decide(slack, fake_slack, request, APPROVE, APPROVER)
    # The approved request is now the move's summary, with the summary's buttons: Push back 1 day asks again.
    summary = fake_slack.wait_for(
        lambda: "rb1:push_1d" in json.dumps(request_now(fake_slack)) and request_now(fake_slack)
    )
    moved_to = fake_trigger.get_run(run["id"])["delayedUntil"]
    status, _ = click(slack, fake_slack, summary, "rb1:push_1d", channel_id=APPROVALS)
    assert status == 200
    request = wait_summary(fake_slack, APPROVALS, 2)
    assert reschedules(fake_trigger) == 1 and fake_trigger.get_run(run["id"])["delayedUntil"] == moved_to
    decide(slack, fake_slack, request, APPROVE, APPROVER)
    fake_slack.wait_for(lambda: fake_trigger.get_run(run["id"])["delayedUntil"] == moved_to + timedelta(days=1))


def test_a_set_asks_once_and_moves_every_run_on_approve(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [delayed(fake_trigger), delayed(fake_trigger, 4)]
    url = fake_slack.new_response_url()
    sender.command(f"{runs[0]['id']} {runs[1]['id']} 2h", response_url=url)
    prompt = wait_one(fake_slack, url)[0]
    status, confirm_url = click(sender, fake_slack, prompt, "rb1:bulk_confirm", ephemeral=True)
    assert status == 200
    assert "protected environment" in private_answer(fake_slack, confirm_url)
    request = wait_summary(fake_slack, APPROVALS)
    shown = json.dumps(request["blocks"])
    assert "asks to move 2 runs" in shown and "send-reminder" in shown
    assert all(f"`{run['id']}` (now <!date^{int(run['delayedUntil'].timestamp())}^" in shown for run in runs)
    assert reschedules(fake_trigger) == 0
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    fake_slack.wait_for(lambda: reschedules(fake_trigger) == 2)
    summary = fake_slack.wait_for(
        lambda: next((m for m in fake_slack.channel_messages(CHANNEL) if "done." in json.dumps(m["blocks"])), None)
    )
    assert f"Approved by <@{APPROVER}>" in json.dumps(summary["blocks"])
    assert f"Approved by <@{APPROVER}>" in json.dumps(request_now(fake_slack))


def test_a_move_from_a_link_preview_is_asked_for_and_approved(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    url = f"{DASHBOARD_URL}/runs/{run['id']}"
    sender.event(link_event([url]))
    card = one_unfurl(fake_slack)["unfurls"][url]
    assert any(item["action_id"] == "rb1:push_1h" for item in buttons(card))
    click_preview(sender, fake_slack, url, card, "rb1:push_1h")
    request = wait_summary(fake_slack, APPROVALS)
    assert reschedules(fake_trigger) == 0
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    moved_to = run["delayedUntil"] + timedelta(hours=1)
    fake_slack.wait_for(lambda: fake_trigger.get_run(run["id"])["delayedUntil"] == moved_to)


def test_the_workflow_step_fails_with_a_sentence_saying_approval_is_needed(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    error = failed_with(sender, fake_slack, "reschedule_run", move(run["id"], user="U111"))
    assert error == messages.approval_workflow("Prod")
    assert reschedules(fake_trigger) == 0 and fake_slack.channel_messages(APPROVALS) == []


async def test_an_undecided_request_expires_and_the_asker_is_told(
    people: None, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, fake_trigger, tmp_path, **protected_env(APPROVAL_TIMEOUT="10m"))
    served = await asyncio.to_thread(InProcessBot, env, tmp_path / "bot.log")
    try:
        slack = SlackSender(served.events_url, SIGNING_SECRET)
        gone, stale, soon = delayed(fake_trigger), delayed(fake_trigger), delayed(fake_trigger)
        _, first = await asyncio.to_thread(ask, slack, fake_slack, f"{gone['id']} 2h")
        for run in (stale, soon):
            await asyncio.to_thread(ask, slack, fake_slack, f"{run['id']} 2h")
        # The expiry loop of a process built from the same settings, on an injected clock.
        built = wiring.build(load_settings("serve", env))
        expiry = built.approval_expiry
        assert expiry is not None
        started = datetime.now(UTC)
        try:
            # 3 minutes on: only the run someone else moved to start within the margin ends its request.
            fake_trigger.set_delayed_until(soon["id"], started + timedelta(seconds=30))
            expiry.clock = lambda: started + timedelta(minutes=3)
            assert await expiry.tick() == 1
            # 11 minutes on: past APPROVAL_TIMEOUT, and a run that started meanwhile is reported.
            fake_trigger.set_status(gone["id"], "EXECUTING")
            expiry.clock = lambda: started + timedelta(minutes=11)
            assert await expiry.tick() == 2
            assert await expiry.tick() == 0  # nothing is ended twice
        finally:
            await built.aclose()
        ended = [r for r in sqlite_rows(tmp_path / "bot.sqlite3") if r["outcome"] == "approval_expired"]
        assert sorted(r["run_id"] for r in ended) == sorted([gone["id"], stale["id"], soon["id"]])
        assert {r["user_id"] for r in ended} == {"U111"}
        texts = [json.dumps(m) for m in fake_slack.channel_messages(APPROVALS)]
        assert "no longer delayed" in texts[0] and "Expired" in texts[1] and "Expired" in texts[2]
        assert all(APPROVE not in text for text in texts)
        dms = dm_texts(fake_slack)
        assert sum("no longer delayed" in text for text in dms) == 1 and sum("expired" in text for text in dms) == 2
        url = decide(slack, fake_slack, first, APPROVE, APPROVER)  # a click after the end changes nothing
        assert "already expired" in await asyncio.to_thread(private_answer, fake_slack, url)
        assert reschedules(fake_trigger) == 0
    finally:
        await asyncio.to_thread(served.stop)


def test_two_approves_reaching_two_processes_on_postgresql_move_once(
    people: None, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, postgres: str
) -> None:
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres, **protected_env())
    one = InProcessBot(env, log_path=tmp_path / "one.log")
    two = InProcessBot(env, log_path=tmp_path / "two.log")
    try:
        senders = [SlackSender(one.events_url, SIGNING_SECRET), SlackSender(two.events_url, SIGNING_SECRET)]
        run = delayed(fake_trigger)
        _, request = ask(senders[0], fake_slack, f"{run['id']} 2h")
        fake_slack.add_usergroup(GROUP, [APPROVER, OUTSIDER], handle="prod-approvers")
        with ThreadPoolExecutor(2) as pool:
            urls = list(
                pool.map(
                    lambda pair: decide(pair[0], fake_slack, request, APPROVE, pair[1]),
                    zip(senders, [APPROVER, OUTSIDER], strict=True),
                )
            )
        fake_slack.wait_for(lambda: "approved by" in json.dumps(request_now(fake_slack)))
        answered = fake_slack.wait_for(lambda: [u for u in urls if fake_slack.responses(u)] or None)
        assert len(answered) == 1 and "already approved" in fake_slack.responses(answered[0])[0]["text"]
        assert reschedules(fake_trigger) == 1
    finally:
        one.stop()
        two.stop()


def test_the_form_from_the_message_shortcut_asks_instead_of_moving(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    form = open_form(sender, fake_slack, current_alert(run["id"]))
    assert "Reason (for the approver)" in view_text(form)  # a protected environment: the form asks why
    submitted = submission(form, text="2h")
    submitted["view"]["state"]["values"]["reason"]["reason_input"]["value"] = "quarter close  "
    assert sender.interaction(submitted).status_code == 200
    shown = wait_view(fake_slack, lambda view: "protected environment" in view_text(view))
    assert f"<#{APPROVALS}>" in view_text(shown)
    request = wait_summary(fake_slack, APPROVALS)
    assert "*Reason*\\nquarter close" in json.dumps(request["blocks"])
    assert reschedules(fake_trigger) == 0
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    fake_slack.wait_for(lambda: reschedules(fake_trigger) == 1)


def test_push_all_back_from_the_list_asks_once_for_the_set(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    assert "protected environment" in push_all_back_and_confirm(sender, fake_slack, fake_trigger, "tomorrow 9am")
    request = wait_summary(fake_slack, APPROVALS)
    assert "asks to move 2 runs" in json.dumps(request["blocks"]) and reschedules(fake_trigger) == 0


def test_a_push_by_a_duration_in_a_protected_environment_says_to_move_to_one_time_instead(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    """Each run of a push goes to its own time, which one request for approval cannot carry: nothing moves, and
    the person is told how to ask (a time, which one request carries)."""
    assert push_all_back_and_confirm(sender, fake_slack, fake_trigger, "5h") == messages.PUSH_NEEDS_APPROVAL
    assert reschedules(fake_trigger) == 0


def test_a_button_on_the_app_home_asks_instead_of_moving(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    fake_slack.wait_for(lambda: reschedules(fake_trigger) == 1)
    home = open_home(sender, fake_slack)
    assert run["id"] in json.dumps(home)
    click_on_home(sender, home, run["id"], "rb1:push_1d")
    second = wait_summary(fake_slack, APPROVALS, 2)
    assert "asks to move a run" in json.dumps(second["blocks"])
    told = fake_slack.wait_for(lambda: [t for t in dm_texts(fake_slack) if "protected environment" in t] or None)
    assert f"<#{APPROVALS}>" in told[0]
    assert reschedules(fake_trigger) == 1


def test_without_an_approval_channel_the_request_is_posted_where_the_move_was_asked(
    start: Any, people: None, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    slack: SlackSender = start(**protected_env(APPROVAL__PROD__CHANNEL=None))[0]
    run = delayed(fake_trigger)
    url = fake_slack.new_response_url()
    slack.command(f"{run['id']} 2h", response_url=url, channel_id=CHANNEL)
    assert f"<#{CHANNEL}>" in private_answer(fake_slack, url)
    request = wait_summary(fake_slack, CHANNEL)
    assert "asks to move a run" in json.dumps(request["blocks"]) and reschedules(fake_trigger) == 0


def test_a_run_that_started_before_the_approve_is_reported_not_moved(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    fake_trigger.set_status(run["id"], "EXECUTING")
    decide(sender, fake_slack, request, APPROVE, APPROVER)
    shown = fake_slack.wait_for(
        lambda: "no longer delayed" in json.dumps(request_now(fake_slack)) and request_now(fake_slack)
    )
    assert APPROVE not in json.dumps(shown)
    assert any("was not carried out" in text for text in fake_slack.wait_for(lambda: dm_texts(fake_slack)))
    assert reschedules(fake_trigger) == 0


def test_trigger_dev_refusing_the_approved_move_is_said_on_the_request_and_to_both(
    sender: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = delayed(fake_trigger)
    _, request = ask(sender, fake_slack, f"{run['id']} 2h")
    fake_trigger.fail_next("POST", RESCHEDULE, 401, {"error": "Invalid API key"}, times=5)
    url = decide(sender, fake_slack, request, APPROVE, APPROVER)
    assert "key" in private_answer(fake_slack, url)
    shown = json.dumps(request_now(fake_slack))
    assert f"Approved by <@{APPROVER}>, but the move did not go through" in shown and APPROVE not in shown
    assert any("did not go through" in text for text in fake_slack.wait_for(lambda: dm_texts(fake_slack)))
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]


def test_an_environment_that_is_not_protected_moves_at_once(
    start: Any, people: None, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, "env_staging")
    slack: SlackSender = start(TRIGGER_SECRET_KEYS=STAGING_KEY, **protected_env())[0]
    run = fake_trigger.add_run("env_staging", delayed_until=datetime.now(UTC) + timedelta(hours=3))
    summary = summary_via_command(slack, fake_slack, f"{run['id']} 2h")
    assert "<@U111> rescheduled" in json.dumps(summary["blocks"]) and "approved by" not in json.dumps(summary)
    assert reschedules(fake_trigger) == 1 and fake_slack.channel_messages(APPROVALS) == []
