"""Many runs in one move, end to end: `/reschedule run_a run_b … <when>`, one private confirmation for the fixed
set, each run on its own, one summary, one DM, one audit row per run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.render import ids
from bot.render.ids import Button
from tests.e2e_harness import DASHBOARD_URL, PROD_ENV, PROD_KEY, STAGING_KEY, SlackSender
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.summaries import CHANNEL
from tests.test_e2e_buttons import RESCHEDULE, RETRIEVE, click, private_via_command, wait_one
from tests.test_e2e_shortcut_modal import shortcut_payload, submission, view_text, wait_form, wait_view
from tests.test_e2e_teams import audit_rows

pytestmark = pytest.mark.e2e

STAGING_ENV = "env_staging"
MISSING = "run_doesnotexist0000000000001"
CONFIRM = Button.BULK_CONFIRM.action_id
CANCEL = Button.BULK_CANCEL.action_id


def delayed_until(fake_trigger: FakeTrigger, run_id: str, env_id: str = PROD_ENV) -> datetime:
    value: datetime = fake_trigger.get_run(run_id, env_id)["delayedUntil"]
    return value


def confirm(
    slack: SlackSender, fake_slack: FakeSlack, prompt: dict[str, Any], *, user_id: str = "U111"
) -> tuple[str, list[dict[str, Any]]]:
    """Click Confirm on the private prompt; returns the click's response_url and what it has received so far."""
    status, url = click(slack, fake_slack, prompt, CONFIRM, ephemeral=True, user_id=user_id)
    assert status == 200
    return url, fake_slack.responses(url)


def channel_summary(fake_slack: FakeSlack, url: str) -> dict[str, Any]:
    """The set's one summary in the channel: posted by the bot once the set is done (nothing for the channel
    through the click's response_url)."""
    posted: dict[str, Any] = fake_slack.wait_for(
        lambda: next((m for m in fake_slack.channel_messages(CHANNEL) if "done." in json.dumps(m["blocks"])), None)
    )
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert [r for r in fake_slack.responses(url) if r.get("response_type") == "in_channel"] == []
    return posted


def dms(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    return [call for call in fake_slack.api_calls("chat.postMessage") if call.get("channel") == "U111"]


def test_a_set_across_two_environments_gets_one_outcome_per_run(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY, ACCESS__STAGING__USERS="U999")
    moved = fake_trigger.add_run(PROD_ENV)
    executing = fake_trigger.add_run(PROD_ENV, status="EXECUTING")
    refused = fake_trigger.add_run(STAGING_ENV)
    before = delayed_until(fake_trigger, refused["id"], STAGING_ENV)
    ids = [moved["id"], executing["id"], MISSING, refused["id"]]
    prompt = private_via_command(sender, fake_slack, " ".join([*ids, moved["id"], "3h"]))
    assert prompt["response_type"] == "ephemeral"
    text = json.dumps(prompt["blocks"])
    assert "*4 runs* in *Prod*" in text and ", your time?" in text
    note = (
        ":lock: 2 of them are not in *Prod*. You cannot move runs in *Staging*, so I did not look there: "
        "*Staging* runs can be moved by <@U999>."
    )
    assert note in text
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    assert all(r.headers["authorization"] == f"Bearer {PROD_KEY}" for r in fake_trigger.requests)  # never staging's
    looked_up = len(fake_trigger.calls("GET", RETRIEVE))
    assert looked_up == 4  # each id once, in Prod only (a 404 is not asked again)

    url, _ = confirm(sender, fake_slack, prompt)
    summary = channel_summary(fake_slack, url)
    body = "\n".join(b["text"]["text"] for b in summary["blocks"] if b["type"] == "section")
    assert "*1 moved*, *3 skipped*" in body
    assert f"|{executing['id']}> in Prod: not delayed (EXECUTING)" in body
    assert f"|{MISSING}>: not found" in body
    assert f"|{refused['id']}>: not found" in body and "U999" not in body  # nobody is notified in the channel
    assert len(fake_trigger.calls("GET", RETRIEVE)) == looked_up  # Confirm moved what the prompt found: no look-up
    assert all(r.headers["authorization"] == f"Bearer {PROD_KEY}" for r in fake_trigger.requests)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert delayed_until(fake_trigger, moved["id"]) > datetime.now(UTC) + timedelta(hours=2, minutes=50)
    assert delayed_until(fake_trigger, refused["id"], STAGING_ENV) == before

    rows = audit_rows(tmp_path, fake_slack, 4)
    by_run = {row["run_id"]: row["outcome"] for row in rows}
    assert by_run == {
        moved["id"]: "rescheduled",
        executing["id"]: "not_delayed",
        MISSING: "not_found",
        refused["id"]: "not_found",
    }
    assert len(rows) == 4
    fake_slack.wait_for(lambda: dms(fake_slack) or None)
    assert len(dms(fake_slack)) == 1
    permalink = f"https://example.slack.com/archives/{CHANNEL}/p{summary['ts'].replace('.', '')}"
    # The DM is one line linking to the set's summary (which names every run), and the set's Undo.
    [dm] = dms(fake_slack)
    [line] = [block["text"]["text"] for block in dm["blocks"] if block["type"] == "section"]
    assert line.startswith(":white_check_mark: You moved *1 of 4 runs* in *Prod* to <!date^")
    assert line.endswith(f"(3 skipped) {messages.where_posted(CHANNEL, permalink)}")
    assert [block["type"] for block in dm["blocks"]] == ["section", "actions"]
    # The summary lists the run moved too, with its link.
    assert f"Moved in *Prod*: <{DASHBOARD_URL}/runs/{moved['id']}|{moved['id']}>" in body
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert [r for r in fake_slack.responses(url) if r.get("response_type") == "in_channel"] == []


def test_a_rate_limit_midway_slows_the_set_but_it_completes(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(12)]
    prompt = private_via_command(slack, fake_slack, " ".join([*(r["id"] for r in runs), "2h"]))
    fake_trigger.rate_limit(times=12, reset_in=0.3)
    _, _ = confirm(slack, fake_slack, prompt)
    # A large set's summary is posted at once and updated until its final state.
    posted = fake_slack.wait_for(
        lambda: [c for c in fake_slack.api_calls("chat.postMessage") if c.get("channel") == "C111"] or None
    )
    assert len(posted) == 1

    def final() -> dict[str, Any] | None:
        updates = fake_slack.api_calls("chat.update")
        return updates[-1] if updates and "12 of 12 done" in json.dumps(updates[-1]) else None

    last = fake_slack.wait_for(final)
    assert "*12 moved*, *0 skipped*" in json.dumps(last)
    sent = fake_trigger.calls("GET", r"/api/v3/runs/") + fake_trigger.calls("POST", RESCHEDULE)
    assert len(sent) >= 24 + 12  # every run read and moved, plus the twelve refused with 429
    soon = datetime.now(UTC) + timedelta(hours=1, minutes=50)
    assert all(delayed_until(fake_trigger, run["id"]) > soon for run in runs)


def test_cancel_moves_nothing_and_the_prompt_is_spent(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(2)]
    prompt = private_via_command(slack, fake_slack, f"{runs[0]['id']} {runs[1]['id']} 2h")
    _, url = click(slack, fake_slack, prompt, CANCEL, ephemeral=True)
    assert wait_one(fake_slack, url)[0]["text"] == messages.CANCELLED
    _, again = click(slack, fake_slack, prompt, CONFIRM, ephemeral=True)
    assert wait_one(fake_slack, again)[0]["text"] == messages.BULK_EXPIRED
    assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_a_confirm_by_another_person_is_refused(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(2)]
    prompt = private_via_command(slack, fake_slack, f"{runs[0]['id']} {runs[1]['id']} 2h")
    _, url = click(slack, fake_slack, prompt, CONFIRM, ephemeral=True, user_id="U222")
    assert wait_one(fake_slack, url)[0]["text"] == messages.BULK_NOT_YOURS
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    url, _ = confirm(slack, fake_slack, prompt)  # the person who asked still can
    assert "*2 moved*" in json.dumps(channel_summary(fake_slack, url)["blocks"])


def test_a_sets_summary_where_the_bot_cannot_post_goes_through_the_response_url(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.forbid_channel("G0PRIVATE", "not_in_channel")
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(2)]
    prompt = private_via_command(slack, fake_slack, f"{runs[0]['id']} {runs[1]['id']} 2h")
    _, url = click(slack, fake_slack, prompt, CONFIRM, ephemeral=True, channel_id="G0PRIVATE")
    summary = fake_slack.wait_for(
        lambda: next((r for r in fake_slack.responses(url) if r.get("response_type") == "in_channel"), None)
    )
    assert "*2 moved*" in json.dumps(summary["blocks"]) and summary["replace_original"] is False
    assert len([c for c in fake_slack.api_calls("chat.postMessage") if c["channel"] == "G0PRIVATE"]) == 1  # tried
    assert "G0PRIVATE" not in fake_slack.messages
    # The private prompt is removed and the DM says where, without a warning.
    fake_slack.wait_for(lambda: any(r.get("delete_original") for r in fake_slack.responses(url)))
    [dm] = fake_slack.wait_for(lambda: dms(fake_slack) or None)
    assert "You moved *2 runs* in *Prod* to " in json.dumps(dm)
    assert json.dumps(f" {messages.where_channel('G0PRIVATE')}")[1:-1] in json.dumps(dm)
    assert ":warning:" not in json.dumps(dm)


def test_a_run_that_appears_after_the_prompt_is_not_swept_in(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(2)]
    prompt = private_via_command(slack, fake_slack, f"{runs[0]['id']} {runs[1]['id']} 2h")
    later = fake_trigger.add_run(PROD_ENV)
    before = delayed_until(fake_trigger, later["id"])
    url, _ = confirm(slack, fake_slack, prompt)
    assert "*2 moved*" in json.dumps(channel_summary(fake_slack, url)["blocks"])
    assert delayed_until(fake_trigger, later["id"]) == before
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 2


def test_more_runs_than_the_limit_are_refused_at_once(start: Any, fake_slack: FakeSlack) -> None:
    sender, _ = start(BULK_LIMIT="3")
    ids = [f"run_{n:024d}" for n in range(4)]
    url = fake_slack.new_response_url()
    response = sender.command(" ".join([*ids, "2h"]), response_url=url)
    assert response.json()["text"] == messages.bulk_too_many(4, 3)


# --- the list's Push all back… ------------------------------------------------------------------------------------


def test_push_all_back_from_the_list_moves_exactly_the_runs_listed(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    now = datetime.now(UTC)
    runs = [fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=n + 1)) for n in range(3)]
    listing = private_via_command(slack, fake_slack, "list")
    later = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(minutes=30))  # not in the list shown
    before = delayed_until(fake_trigger, later["id"])
    status, list_url = click(slack, fake_slack, listing, Button.BULK_PUSH_ALL.action_id, ephemeral=True)
    assert status == 200
    form = wait_view(fake_slack, lambda view: "submit" in view)
    assert "*3 runs*" in view_text(form)

    refused = slack.interaction(submission(form, text="soonish"))
    assert refused.json()["response_action"] == "errors"
    closed = slack.interaction(submission(form, text="5h"))
    assert closed.json()["response_action"] == "clear"
    prompt = wait_one(fake_slack, list_url)[0]
    assert prompt["response_type"] == "ephemeral"
    assert "*3 runs* in *Prod*" in json.dumps(prompt["blocks"])
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    url, _ = confirm(slack, fake_slack, prompt)
    assert "*3 moved*, *0 skipped*" in json.dumps(channel_summary(fake_slack, url)["blocks"])
    soon = datetime.now(UTC) + timedelta(hours=4, minutes=50)
    assert all(delayed_until(fake_trigger, run["id"]) > soon for run in runs)
    assert delayed_until(fake_trigger, later["id"]) == before
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 3


def test_push_all_back_of_another_persons_list_is_refused(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    for _ in range(2):
        fake_trigger.add_run(PROD_ENV)
    listing = private_via_command(slack, fake_slack, "list")
    _, url = click(slack, fake_slack, listing, Button.BULK_PUSH_ALL.action_id, ephemeral=True, user_id="U222")
    assert wait_one(fake_slack, url)[0]["text"] == messages.BULK_NOT_YOURS
    assert fake_slack.views == {}


UNDO = Button.BULK_UNDO.action_id


def undo_result(fake_slack: FakeSlack, summary: dict[str, Any]) -> dict[str, Any]:
    """The set's summary as the Undo leaves it: the bot's message clicked, updated in place (chat.update)."""

    def undone() -> dict[str, Any] | None:
        [message] = [m for m in fake_slack.channel_messages(CHANNEL) if m["ts"] == summary["ts"]]
        text = json.dumps(message["blocks"])
        return message if "back to its own previous time" in text and "done." in text else None

    final: dict[str, Any] = fake_slack.wait_for(undone)
    assert len(fake_slack.channel_messages(CHANNEL)) == 1  # updated, not posted again
    return final


def dm_blocks(call: dict[str, Any]) -> dict[str, Any]:
    blocks = call.get("blocks")
    return {"blocks": json.loads(blocks) if isinstance(blocks, str) else blocks}


def test_a_set_moved_then_undone_goes_back_run_by_run_and_a_passed_time_is_skipped(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    sender, _ = start()
    now = datetime.now(UTC).replace(microsecond=0)
    first = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(minutes=30))
    second = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(minutes=50))
    soon = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(seconds=4))
    previous = {run["id"]: delayed_until(fake_trigger, run["id"]) for run in (first, second, soon)}
    prompt = private_via_command(sender, fake_slack, f"{first['id']} {second['id']} {soon['id']} 2h")
    url, _ = confirm(sender, fake_slack, prompt)
    summary = channel_summary(fake_slack, url)
    assert "*3 moved*" in json.dumps(summary["blocks"])
    moved_to = {run_id: delayed_until(fake_trigger, run_id) for run_id in previous}
    assert all(at > now + timedelta(hours=1, minutes=50) for at in moved_to.values())
    [dm] = fake_slack.wait_for(lambda: dms(fake_slack) or None)
    fake_slack.wait_for(lambda: datetime.now(UTC) > previous[soon["id"]] + timedelta(milliseconds=200) or None)

    _, undo_url = click(sender, fake_slack, summary, UNDO)
    undone = undo_result(fake_slack, summary)
    body = json.dumps(undone["blocks"])
    assert "*2 moved*, *1 skipped*" in body and "back to its own previous time" in body
    assert f"|{soon['id']}> in Prod: {messages.BULK_PASSED}" in body
    assert UNDO not in body  # one Undo: the result has none
    assert [r for r in fake_slack.responses(undo_url) if r.get("blocks")] == []  # shown in place, not re-posted
    assert delayed_until(fake_trigger, first["id"]) == previous[first["id"]]
    assert delayed_until(fake_trigger, second["id"]) == previous[second["id"]]
    assert delayed_until(fake_trigger, soon["id"]) == moved_to[soon["id"]]
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 3 + 2
    undo_dm = fake_slack.wait_for(lambda: (d := dms(fake_slack)) and len(d) == 2 and d[1])
    assert "You undid your move of several runs: *2 of 3 runs* back to their previous times" in json.dumps(undo_dm)
    rows = audit_rows(tmp_path, fake_slack, 5)
    assert [r["outcome"] for r in rows].count("rescheduled") == 5

    # The DM's Undo, clicked afterwards, does nothing: the set was undone once.
    _, again = click(sender, fake_slack, dm_blocks(dm), UNDO, channel_id="D111")
    assert wait_one(fake_slack, again)[0]["text"] == messages.BULK_UNDO_EXPIRED
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 5
    assert delayed_until(fake_trigger, first["id"]) == previous[first["id"]]


def test_another_persons_undo_is_refused_and_the_owner_can_still_undo(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(2)]
    previous = {run["id"]: delayed_until(fake_trigger, run["id"]) for run in runs}
    prompt = private_via_command(slack, fake_slack, f"{runs[0]['id']} {runs[1]['id']} 2h")
    url, _ = confirm(slack, fake_slack, prompt)
    summary = channel_summary(fake_slack, url)
    _, other = click(slack, fake_slack, summary, UNDO, user_id="U222")
    assert wait_one(fake_slack, other)[0]["text"] == messages.BULK_UNDO_NOT_YOURS
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 2
    assert all(delayed_until(fake_trigger, run_id) != at for run_id, at in previous.items())
    click(slack, fake_slack, summary, UNDO)
    assert "*2 moved*, *0 skipped*" in json.dumps(undo_result(fake_slack, summary)["blocks"])
    assert all(delayed_until(fake_trigger, run_id) == at for run_id, at in previous.items())


# --------------------------------------------------------------------------------------------- the shortcut

MESSAGE_TS = "1751400000.000100"


def test_shortcut_on_a_message_naming_several_runs_moves_the_ticked_ones_as_one_set(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    slack, _ = start()
    a, b, c, d, e = (fake_trigger.add_run(PROD_ENV, task_identifier=f"task-{n}")["id"] for n in "abcde")
    failed = fake_trigger.add_run(PROD_ENV, status="FAILED", task_identifier="task-f")["id"]
    before = {run_id: fake_trigger.get_run(run_id)["delayedUntil"] for run_id in (a, b, c, d, e)}
    # Each id sits somewhere else; `a` appears three times.
    message = {
        "type": "message",
        "user": "U222",
        "ts": MESSAGE_TS,
        "text": f"Nightly batch: {a} is stuck",
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "r1",
                "elements": [
                    {
                        "type": "rich_text_list",
                        "style": "bullet",
                        "elements": [
                            {"type": "rich_text_section", "elements": [{"type": "text", "text": f"also {b}"}]},
                            {"type": "rich_text_section", "elements": [{"type": "text", "text": a}]},
                        ],
                    }
                ],
            }
        ],
        "attachments": [
            {
                "id": 1,
                "fallback": f"Runs {a} stuck",
                "pretext": f"first {a}",
                "title": "Stuck runs",
                "title_link": f"https://cloud.trigger.dev/projects/v3/proj_abcdefghijklmnopqrst/runs/{c}",
                "text": f"and {failed} failed",
                "fields": [{"title": "Run", "value": d, "short": True}],
                "blocks": [
                    {
                        "type": "actions",
                        "block_id": "x1",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": "open",
                                "text": {"type": "plain_text", "text": "Open"},
                                "url": f"{DASHBOARD_URL}/runs/{e}",
                            }
                        ],
                    }
                ],
            }
        ],
    }
    shortcut_url = fake_slack.new_response_url()
    assert slack.interaction(shortcut_payload(message, shortcut_url)).status_code == 200
    form = wait_form(fake_slack)

    # Every delayed run is offered once, all ticked; the failed one is listed as not movable.
    [runs_block] = [block for block in form["blocks"] if block.get("block_id") == ids.BLOCK_RUNS]
    assert runs_block["element"]["type"] == "checkboxes"
    assert [option["value"] for option in runs_block["element"]["options"]] == [a, b, c, d, e]
    assert runs_block["element"]["initial_options"] == runs_block["element"]["options"]
    [context] = [block for block in form["blocks"] if block["type"] == "context"]
    assert failed in context["elements"][0]["text"] and "Failed" in context["elements"][0]["text"]
    assert form["title"]["text"] == messages.MODAL_TITLE_MANY

    # Two ticked: the form closes and the set is confirmed once, privately, before anything moves.
    closed = slack.interaction(submission(form, text="3h", runs=[b, d]))
    assert closed.json() == {"response_action": "clear"}
    prompt = wait_one(fake_slack, shortcut_url)[0]
    assert prompt["response_type"] == "ephemeral"
    assert "*2 runs* in *Prod*" in json.dumps(prompt["blocks"])
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    confirm(slack, fake_slack, prompt)
    summary = fake_slack.wait_for(lambda: fake_slack.messages.get("C111"))
    [posted] = summary
    assert posted["thread_ts"] == MESSAGE_TS  # in the thread of the message, like a single run's summary
    assert "*2 moved*, *0 skipped*" in json.dumps(posted["blocks"]) and UNDO in json.dumps(posted["blocks"])
    moved = {run_id for run_id in before if fake_trigger.get_run(run_id)["delayedUntil"] != before[run_id]}
    assert moved == {b, d}
    assert {post.path.split("/")[-2] for post in fake_trigger.calls("POST", RESCHEDULE)} == {b, d}
    [dm] = fake_slack.wait_for(lambda: dms(fake_slack) or None)
    assert "You moved *2 runs* in *Prod*" in json.dumps(dm["blocks"])
    rows = audit_rows(tmp_path, fake_slack, 2)
    assert sorted(row["run_id"] for row in rows if row["outcome"] == "rescheduled") == sorted([b, d])


def many_runs_message(run_ids: list[str]) -> dict[str, Any]:
    return {"type": "message", "user": "U222", "ts": MESSAGE_TS, "text": "Stuck: " + " ".join(run_ids)}


def test_shortcut_on_a_message_naming_more_runs_than_a_form_holds_moves_them_as_one_set(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    slack, _ = start()
    delayed = [fake_trigger.add_run(PROD_ENV)["id"] for _ in range(10)]
    done = fake_trigger.add_run(PROD_ENV, status="COMPLETED")["id"]
    run_ids = [*delayed, done, MISSING]
    shortcut_url = fake_slack.new_response_url()
    slack.interaction(shortcut_payload(many_runs_message(run_ids), shortcut_url))
    form = wait_view(fake_slack, lambda view: "submit" in view)
    assert "*12 runs* named in the message" in view_text(form)
    assert fake_trigger.calls("POST", RESCHEDULE) == []

    # A picked date and time works as in the one-run form; both filled is refused inline.
    at = int((datetime.now(UTC) + timedelta(hours=6)).timestamp())
    both = slack.interaction(submission(form, text="2h", at=at))
    assert both.json() == {"response_action": "errors", "errors": {ids.BLOCK_WHEN_TEXT: messages.MODAL_BOTH}}
    assert slack.interaction(submission(form, at=at)).json() == {"response_action": "clear"}
    prompt = wait_one(fake_slack, shortcut_url)[0]
    assert "*12 runs* in *Prod*" in json.dumps(prompt["blocks"])

    confirm(slack, fake_slack, prompt)

    def final() -> dict[str, Any] | None:
        updates = [u for u in fake_slack.api_calls("chat.update") if "12 of 12 done" in json.dumps(u.get("blocks"))]
        return updates[-1] if updates else None

    final_summary = fake_slack.wait_for(final)
    [posted] = fake_slack.messages["C111"]
    assert posted["thread_ts"] == MESSAGE_TS and final_summary["ts"] == posted["ts"]
    body = json.dumps(final_summary["blocks"])
    assert "*10 moved*, *2 skipped*" in body and done in body and MISSING in body
    assert all(delayed_until(fake_trigger, run_id) == datetime.fromtimestamp(at, UTC) for run_id in delayed)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 10
    assert len(fake_slack.wait_for(lambda: dms(fake_slack) or None)) == 1
    audit_rows(tmp_path, fake_slack, 12)


def test_shortcut_on_a_message_naming_more_runs_than_the_limit_says_so_and_moves_nothing(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    slack, _ = start(BULK_LIMIT="3")
    run_ids = [fake_trigger.add_run(PROD_ENV)["id"] for _ in range(4)]
    shortcut_url = fake_slack.new_response_url()
    slack.interaction(shortcut_payload(many_runs_message(run_ids), shortcut_url))
    assert wait_one(fake_slack, shortcut_url)[0]["text"] == messages.bulk_too_many_in_message(4, 3)
    assert fake_slack.views == {}
    assert fake_trigger.calls("POST", RESCHEDULE) == []
