"""Look-ups only where the person may act, and one answer everywhere for where they may not: signed requests to
the real bot, Trigger.dev requests counted per key at the fake."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.domain.audit import AuditRecord, Outcome
from bot.limits import LISTS_AT_ONCE, PER_PERSON
from bot.render.ids import Button
from tests.e2e_harness import DASHBOARD_URL, PROD_ENV, PROD_KEY, STAGING_KEY, SlackSender
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger, new_run_id
from tests.test_e2e_buttons import RESCHEDULE, RETRIEVE, click, private_via_command, wait_one
from tests.test_e2e_home import home_opened, published, seed_moves
from tests.test_e2e_metrics import scrape, value
from tests.test_e2e_unfurl import link_event, one_unfurl

pytestmark = pytest.mark.e2e

STAGING_ENV = "env_staging"
LIST = r"^/api/v1/runs$"
RULE = "*Prod* runs can be moved by <@U999>."


def test_someone_kept_out_of_prod_spends_none_of_its_rate_limit(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY, ACCESS__PROD__USERS="U999")
    prompts = []
    for _ in range(4):
        made_up = " ".join(new_run_id() for _ in range(100))
        prompts.append(private_via_command(sender, fake_slack, f"{made_up} 2h"))
    note = f":lock: 100 of them are not in *Staging*. You cannot move runs in *Prod*, so I did not look there: {RULE}"
    assert [prompt["text"] for prompt in prompts] == [note] * 4  # no Move them that could only say "not found"
    # Each made-up id asked once (a 404 is not retried), in Staging only: not one request with the prod key.
    assert fake_trigger.requests_per_key() == {STAGING_KEY: 400}
    assert PROD_KEY not in fake_trigger.requests_per_key()


def test_confirm_moves_what_the_prompt_found_without_looking_again(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(3)]
    prompt = private_via_command(slack, fake_slack, " ".join([*(run["id"] for run in runs), "2h"]))
    assert len(fake_trigger.calls("GET", RETRIEVE)) == 3
    click(slack, fake_slack, prompt, Button.BULK_CONFIRM.action_id, ephemeral=True)
    fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 3 or None)
    fake_slack.wait_for(
        lambda: next((m for m in fake_slack.channel_messages("C111") if "done." in json.dumps(m["blocks"])), None)
    )
    assert len(fake_trigger.calls("GET", RETRIEVE)) == 3  # no second look-up
    soon = datetime.now(UTC) + timedelta(hours=1, minutes=50)
    assert all(fake_trigger.get_run(run["id"])["delayedUntil"] > soon for run in runs)


def test_a_person_kept_out_of_prod_gets_the_same_answer_on_every_surface(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV, task_identifier="secret-task", tags=["customer-42"], version="20261207.1")
    other = fake_trigger.add_run(PROD_ENV, task_identifier="secret-task")
    now = datetime.now(UTC)
    earlier = AuditRecord(  # a move this person made while the rule still let them
        at=now - timedelta(days=1),
        team_id="T111",
        user_id="U111",
        channel_id="C111",
        surface="command",
        outcome=Outcome.RESCHEDULED,
        environment="prod",
        run_id=run["id"],
        task="secret-task",
        new_time=now + timedelta(hours=1),
    )
    seed_moves(tmp_path / "bot.sqlite3", [earlier])
    sender, _ = start(ACCESS__PROD__USERS="U999")
    one_run = f":lock: You cannot move runs in *Prod*, so I did not look for `{run['id']}` there: {RULE}"

    shown = private_via_command(sender, fake_slack, run["id"])
    moved = private_via_command(sender, fake_slack, f"{run['id']} 2h")
    a_set = private_via_command(sender, fake_slack, f"{run['id']} {other['id']} 2h")
    listed = private_via_command(sender, fake_slack, "list")
    sender.event(link_event([f"{DASHBOARD_URL}/runs/{run['id']}"]))
    preview = one_unfurl(fake_slack)["unfurls"][f"{DASHBOARD_URL}/runs/{run['id']}"]
    sender.event(home_opened())
    home = published(fake_slack, "U111", 1)

    assert shown["text"] == moved["text"] == one_run
    assert a_set["text"] == f":lock: You cannot move runs in *Prod*, so I did not look there: {RULE}"
    assert listed["text"] == f":lock: You cannot move runs in *Prod*, so I did not list runs there: {RULE}"
    assert [block["text"]["text"] for block in preview["blocks"]] == [one_run.replace("You", "<@U111>", 1)]
    assert one_run in json.dumps(home["blocks"])
    for answer in (shown, moved, a_set, listed, preview, home):
        seen = json.dumps(answer)
        assert "secret-task" not in seen and "customer-42" not in seen and "20261207.1" not in seen
    assert not [b for b in home["blocks"] if b["type"] == "actions"]
    assert not any(b["type"] == "actions" for answer in (a_set, listed, preview) for b in answer.get("blocks", []))
    assert fake_trigger.requests == []  # Prod was never asked for this person


def test_lists_are_bounded_per_process_and_a_person_gets_a_word_when_over_their_cap(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, bot = start()
    fake_trigger.add_run(PROD_ENV)
    held: threading.Event = fake_trigger.hold("GET", LIST)
    people = [f"U{n}00" for n in range(1, LISTS_AT_ONCE + 3)]
    urls = []
    for user in people:
        urls.append(fake_slack.new_response_url())
        sender.command("list", response_url=urls[-1], user_id=user)
    for _ in range(PER_PERSON - 1):  # the first person's further lists, up to their cap
        urls.append(fake_slack.new_response_url())
        sender.command("list", response_url=urls[-1], user_id=people[0])
    waiting = len(people) + PER_PERSON - 1 - LISTS_AT_ONCE
    fake_trigger.wait_for(lambda: len(fake_trigger.calls("GET", LIST)) >= LISTS_AT_ONCE or None)
    fake_slack.wait_for(lambda: value(scrape(bot.url), "waiting_for_turn", kind="list") >= waiting or None)
    over = fake_slack.new_response_url()
    sender.command("list", response_url=over, user_id=people[0])
    assert wait_one(fake_slack, over)[0]["text"] == messages.STILL_WORKING
    held.set()
    answers = [wait_one(fake_slack, url)[0] for url in urls]
    assert all(answer["response_type"] == "ephemeral" and "blocks" in answer for answer in answers)
    assert fake_trigger.max_in_flight == LISTS_AT_ONCE  # never more lists read at once than the bound
    assert len(fake_trigger.calls("GET", LIST)) == len(urls)
