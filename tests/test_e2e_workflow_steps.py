"""The Workflow Builder steps end to end: signed `function_executed` events (shaped as
tests/data/slack/payloads/event_function_executed.json) to the real bot served in-process, Trigger.dev and Slack
faked on loopback. Each step is read back from the fake's functions.completeSuccess / functions.completeError, which
take only the execution's own token; every test also checks that token went nowhere else."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages, workflow_messages
from bot.domain.delays import format_duration
from bot.render.mrkdwn import date_token
from bot.slack.workflow_steps import LIST_STEP, RESCHEDULE_STEP
from tests.e2e_harness import (
    BOT_TOKEN,
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
from tests.faults import RESCHEDULE, audit_of, sqlite_rows
from tests.inprocess import InProcessBot
from tests.socket_harness import SocketSender
from tests.test_e2e_socket_mode import sender, socket_bot, socket_mode  # noqa: F401 (fixtures)
from tests.test_e2e_two_processes import query

pytestmark = pytest.mark.e2e

USER = "U111"
DM_CHANNEL = "D" + USER
STAGING_ENV = "env_staging"
MAX_DELAY = timedelta(days=365)  # the default MAX_DELAY


@pytest.fixture(autouse=True)
def execution_tokens_go_nowhere_else(fake_slack: FakeSlack) -> Iterator[None]:
    """After every test: the executions' tokens were used for functions.complete* only, and every completion
    used its own execution's token."""
    yield
    tokens = {done["token"] for done in fake_slack.completions}
    for method, token in fake_slack.tokens_used():
        if method.startswith("functions.complete"):
            assert token != BOT_TOKEN, f"{method} with the bot's token"
        else:
            assert token not in tokens, f"an execution's token used for {method}"
            assert token == BOT_TOKEN, f"{method} called with {token[:5]}…"


def step(
    fake_slack: FakeSlack, callback_id: str, inputs: dict[str, str], event_id: str | None = None
) -> tuple[dict[str, Any], str]:
    """A `function_executed` event for the step `callback_id` with `inputs`, and its execution id."""
    payload = example_payload("event_function_executed")
    execution_id, token = fake_slack.new_execution()
    event = payload["event"]
    event["function"]["callback_id"] = callback_id
    event.update(inputs=inputs, function_execution_id=execution_id, bot_access_token=token)
    payload["event_id"] = event_id or f"Ev{uuid.uuid4().hex[:12].upper()}"
    return payload, execution_id


def completion(fake_slack: FakeSlack, execution_id: str) -> dict[str, Any]:
    """The call that ended the execution, once made (its method, outputs or error, and token)."""
    done: list[dict[str, Any]] = fake_slack.wait_for(lambda: fake_slack.completions_of(execution_id) or None)
    return done[0]


def run_step(slack: SlackSender, fake_slack: FakeSlack, callback_id: str, inputs: dict[str, str]) -> dict[str, Any]:
    payload, execution_id = step(fake_slack, callback_id, inputs)
    response = slack.event(payload)
    assert response.status_code == 200 and response.text == ""
    return completion(fake_slack, execution_id)


def failed_with(slack: SlackSender, fake_slack: FakeSlack, callback_id: str, inputs: dict[str, str]) -> str:
    done = run_step(slack, fake_slack, callback_id, inputs)
    assert done["method"] == "functions.completeError", done
    error: str = done["error"]
    return error


def move(run_id: str, when: str = "2h", user: str = USER, **more: str) -> dict[str, str]:
    return {"run": run_id, "when": when, "user": user, **more}


def test_the_step_moves_the_run_through_the_action_path_and_outputs_the_times(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    previous = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    run = fake_trigger.add_run(PROD_ENV, delayed_until=previous, task_identifier="send-<reminder>")
    before = datetime.now(UTC)
    done = run_step(slack, fake_slack, RESCHEDULE_STEP, move(f"{DASHBOARD_URL}/runs/{run['id']}", "2h"))
    after = datetime.now(UTC)

    assert done["method"] == "functions.completeSuccess"
    outputs = done["outputs"]
    assert set(outputs) == {"run_id", "environment", "previous_start_time", "new_start_time"}
    assert (outputs["run_id"], outputs["environment"]) == (run["id"], "prod")
    assert outputs["previous_start_time"] == int(previous.timestamp())
    assert int((before + timedelta(hours=2)).timestamp()) - 1 <= outputs["new_start_time"]
    assert outputs["new_start_time"] <= int((after + timedelta(hours=2)).timestamp())
    assert int(fake_trigger.get_run(run["id"])["delayedUntil"].timestamp()) == outputs["new_start_time"]

    # The DM with Undo goes to the person the step acts for, with the bot's token; no channel gets a summary.
    dm = fake_slack.wait_for(lambda: fake_slack.channel_messages(DM_CHANNEL) or None)[0]
    assert workflow_messages.WHERE_WORKFLOW in dm["text"] + json.dumps(dm["blocks"])
    assert "send-&lt;reminder&gt;" in json.dumps(dm["blocks"])
    actions = [item["action_id"] for block in dm["blocks"] if block["type"] == "actions" for item in block["elements"]]
    assert "rb1:undo" in actions
    assert [call["channel"] for call in fake_slack.api_calls("chat.postMessage")] == [USER]
    assert fake_slack.api_calls("chat.postEphemeral") == []

    bot.stop()  # flushes the audit trail
    [row] = sqlite_rows(tmp_path / "bot.sqlite3")
    assert (row["outcome"], row["surface"], row["user_id"], row["channel_id"]) == (
        "rescheduled",
        "workflow",
        USER,
        None,
    )
    assert row["run_id"] == run["id"] and row["environment"] == "prod"
    assert "when=2h" in row["input"]


def test_history_names_the_surface_workflow_builder(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    assert run_step(slack, fake_slack, RESCHEDULE_STEP, move(run["id"]))["method"] == "functions.completeSuccess"
    url = fake_slack.new_response_url()
    fake_slack.wait_for(lambda: _history_has_move(slack, fake_slack, url))
    history = json.dumps(fake_slack.responses(url)[-1])
    assert "from Workflow Builder" in history


def _history_has_move(slack: SlackSender, fake_slack: FakeSlack, url: str) -> bool:
    """Ask /reschedule history (the audit row is written in the background) until it lists the move."""
    count = len(fake_slack.responses(url))
    slack.command("history", response_url=url)
    answers = fake_slack.wait_for(lambda: fake_slack.responses(url)[count:] or None)
    return "Workflow Builder" in json.dumps(answers)


def test_each_refusal_completes_the_step_with_a_sentence_and_moves_nothing(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    delayed = fake_trigger.add_run(PROD_ENV)
    started = fake_trigger.add_run(PROD_ENV, status="EXECUTING", task_identifier="import-orders")
    missing = "run_" + "0" * 25
    limit = format_duration(MAX_DELAY)

    assert failed_with(slack, fake_slack, RESCHEDULE_STEP, move("not a run")) == workflow_messages.workflow_not_a_run(
        "not a run"
    )
    unreadable = failed_with(slack, fake_slack, RESCHEDULE_STEP, move(delayed["id"], "soonish"))
    assert unreadable.startswith(workflow_messages.workflow_bad_time("")) and "soonish" in unreadable
    assert "tomorrow 9am" in unreadable  # an example valid now, in the person's terms
    too_far = failed_with(slack, fake_slack, RESCHEDULE_STEP, move(delayed["id"], "400d"))
    assert (
        too_far.startswith(workflow_messages.workflow_bad_time("")) and "too far ahead" in too_far and limit in too_far
    )
    assert (
        failed_with(slack, fake_slack, RESCHEDULE_STEP, move(delayed["id"], "now"))
        == workflow_messages.WORKFLOW_NOT_NOW
    )
    assert failed_with(
        slack, fake_slack, RESCHEDULE_STEP, move(started["id"])
    ) == workflow_messages.workflow_not_delayed(started["id"], "EXECUTING", "import-orders")
    assert failed_with(slack, fake_slack, RESCHEDULE_STEP, move(missing)) == workflow_messages.workflow_not_found(
        missing, "Prod"
    )
    assert failed_with(slack, fake_slack, RESCHEDULE_STEP, move(delayed["id"], environment="qa")) == (
        workflow_messages.workflow_unknown_environment("qa", "prod")
    )
    assert (
        failed_with(slack, fake_slack, RESCHEDULE_STEP, move(delayed["id"], user=""))
        == workflow_messages.WORKFLOW_NO_USER
    )

    assert fake_trigger.calls("POST", RESCHEDULE) == []
    assert fake_slack.api_calls("chat.postMessage") == []  # no DM for a move that did not happen
    bot.stop()
    outcomes = [(row["outcome"], row["surface"]) for row in sqlite_rows(tmp_path / "bot.sqlite3")]
    assert ("not_delayed", "workflow") in outcomes and ("not_found", "workflow") in outcomes
    assert outcomes.count(("invalid_input", "workflow")) == 4


def test_a_person_without_access_is_refused_and_the_refusal_audited(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    slack, bot = start(ACCESS__PROD__USERS="U999")
    run = fake_trigger.add_run(PROD_ENV)
    error = failed_with(slack, fake_slack, RESCHEDULE_STEP, move(run["id"]))
    assert error == workflow_messages.workflow_refused("Prod", by_channel=False)
    listed = failed_with(slack, fake_slack, LIST_STEP, {"within": "12h", "user": USER})
    assert listed == workflow_messages.WORKFLOW_NOTHING_TO_LIST
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    bot.stop()
    assert [outcome for outcome, _ in audit_of(tmp_path / "bot.sqlite3", run["id"])] == ["refused"]


def test_a_channel_rule_refuses_a_step_which_runs_in_no_channel(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    slack, _ = start(ACCESS__PROD__CHANNELS="C0OPS")
    run = fake_trigger.add_run(PROD_ENV)
    error = failed_with(slack, fake_slack, RESCHEDULE_STEP, move(run["id"]))
    assert error == workflow_messages.workflow_refused("Prod", by_channel=True)
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]


def test_a_confirming_environment_moves_on_the_workflows_own_submission(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    slack, _ = start(CONFIRM_ENVIRONMENTS="prod")
    run = fake_trigger.add_run(PROD_ENV)
    assert run_step(slack, fake_slack, RESCHEDULE_STEP, move(run["id"]))["method"] == "functions.completeSuccess"
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1


def test_trigger_dev_down_completes_both_steps_with_an_error(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    slack, _ = start(TRIGGER_DEADLINE="2")
    run = fake_trigger.add_run(PROD_ENV)
    fake_trigger.refuse_connections()
    try:
        moved = failed_with(slack, fake_slack, RESCHEDULE_STEP, move(run["id"]))
        listed = failed_with(slack, fake_slack, LIST_STEP, {"within": "12h", "user": USER})
    finally:
        fake_trigger.accept_connections()
    assert moved == listed == workflow_messages.WORKFLOW_UNAVAILABLE
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == run["delayedUntil"]


def test_a_retried_event_completes_the_step_once(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    slack, bot = start()
    run = fake_trigger.add_run(PROD_ENV)
    payload, execution_id = step(fake_slack, RESCHEDULE_STEP, move(run["id"]))
    assert slack.event(payload).status_code == 200
    assert completion(fake_slack, execution_id)["method"] == "functions.completeSuccess"
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert slack.event(payload, headers=retry).status_code == 200
    bot.stop()  # finishes whatever the retry started
    assert len(fake_slack.completions_of(execution_id)) == 1
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert len(fake_slack.api_calls("chat.postMessage")) == 1  # one DM


def test_the_same_event_reaching_two_processes_on_one_database_completes_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, postgres: str
) -> None:
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres)
    with (
        InProcessBot(env, log_path=tmp_path / "one.log") as one,
        InProcessBot(env, log_path=tmp_path / "two.log") as two,
    ):
        run = fake_trigger.add_run(PROD_ENV)
        payload, execution_id = step(fake_slack, RESCHEDULE_STEP, move(run["id"]))
        senders = [SlackSender(process.events_url, SIGNING_SECRET) for process in (one, two)]
        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(lambda sender: sender.event(payload).status_code, senders))
        assert statuses == [200, 200]
        assert completion(fake_slack, execution_id)["method"] == "functions.completeSuccess"
    # Both stopped: whatever either started has finished.
    assert len(fake_slack.completions_of(execution_id)) == 1
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    sql = f"SELECT outcome FROM audit_events WHERE run_id = '{run['id']}'"
    assert query(postgres, sql) == [("rescheduled",)]


def test_the_list_step_outputs_the_runs_due_soonest_first_for_the_persons_environments(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    slack, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY, ACCESS__STAGING__USERS="U999")
    now = datetime.now(UTC)
    late = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=5), task_identifier="late <task> & co")
    soon = fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(hours=1), tags=["vip"])
    fake_trigger.add_run(PROD_ENV, delayed_until=now + timedelta(days=2))  # beyond the window
    hidden = fake_trigger.add_run(STAGING_ENV, delayed_until=now + timedelta(hours=2))  # U111 may not act there
    done = run_step(slack, fake_slack, LIST_STEP, {"within": "12h", "user": USER})

    assert done["method"] == "functions.completeSuccess"
    outputs = done["outputs"]
    assert outputs["count"] == 2
    summary = outputs["summary"]
    assert summary.index(soon["id"]) < summary.index(late["id"]) and hidden["id"] not in summary
    assert "*2 delayed runs* in *Prod* due within 12h, soonest first" in summary
    assert date_token(soon["delayedUntil"]) in summary
    assert f"<{DASHBOARD_URL}/runs/{soon['id']}|{messages.OPEN_IN_TRIGGER}>" in summary
    assert "`vip`" in summary and "*late &lt;task&gt; &amp; co*" in summary and "<task>" not in summary

    filtered = run_step(slack, fake_slack, LIST_STEP, {"within": "12h", "tag": "vip", "user": USER})
    assert filtered["outputs"]["count"] == 1 and late["id"] not in filtered["outputs"]["summary"]
    empty = run_step(slack, fake_slack, LIST_STEP, {"within": "30m", "user": USER})
    assert empty["outputs"] == {"count": 0, "summary": messages.list_empty("*Prod*", " due within 30m")}
    bad = failed_with(slack, fake_slack, LIST_STEP, {"within": "soon", "user": USER})
    assert bad == workflow_messages.workflow_bad_within("soon")


def test_a_function_executed_event_of_the_wrong_shape_is_refused_at_the_door(
    slack: SlackSender, fake_slack: FakeSlack
) -> None:
    payload, execution_id = step(fake_slack, RESCHEDULE_STEP, move("run_x"))
    payload["event"]["function"] = "reschedule_run"
    assert slack.event(payload).status_code == 400
    payload["event"]["function"] = {"callback_id": RESCHEDULE_STEP}
    payload["event"]["inputs"] = ["run_x"]
    assert slack.event(payload).status_code == 400
    assert fake_slack.completions_of(execution_id) == []


def test_both_steps_over_socket_mode_are_acknowledged_and_completed(
    sender: SocketSender,  # noqa: F811 (the fixture imported above)
    fake_slack: FakeSlack,
    fake_trigger: FakeTrigger,
) -> None:
    """The same events as Socket Mode envelopes to `python -m bot socket` (the fixture checks every envelope was
    acknowledged): the move completes with its outputs, the list with its summary."""
    run = fake_trigger.add_run(PROD_ENV, delayed_until=datetime.now(UTC) + timedelta(hours=1))
    moved = run_step(sender, fake_slack, RESCHEDULE_STEP, move(run["id"], "3h"))
    assert moved["method"] == "functions.completeSuccess" and moved["outputs"]["run_id"] == run["id"]
    listed = run_step(sender, fake_slack, LIST_STEP, {"within": "12h", "user": USER})
    assert listed["outputs"]["count"] == 1 and run["id"] in listed["outputs"]["summary"]


def test_the_event_is_acknowledged_before_trigger_dev_answers(
    slack: SlackSender, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    release = fake_trigger.hold("GET", r"^/api/v3/runs/")
    try:
        payload, execution_id = step(fake_slack, RESCHEDULE_STEP, move(run["id"]))
        assert slack.event(payload).status_code == 200  # answered while Trigger.dev holds the look-up
        fake_trigger.wait_for(lambda: fake_trigger.calls("GET", r"^/api/v3/runs/"))
        assert fake_slack.completions_of(execution_id) == []
    finally:
        release.set()
    assert completion(fake_slack, execution_id)["method"] == "functions.completeSuccess"


ODD_INPUTS: list[tuple[str, dict[str, Any]]] = [
    (RESCHEDULE_STEP, {}),
    (RESCHEDULE_STEP, {"run": 5, "when": None, "user": USER}),
    (RESCHEDULE_STEP, {"run": ["run_x"], "when": {"h": 2}, "user": USER}),
    (RESCHEDULE_STEP, {"run": "run_x" * 1000, "when": "2h", "user": USER}),
    (RESCHEDULE_STEP, {"run": "run_cm9k2x7ab000108l5ghf2d1qz", "when": "\u0000\u200b", "user": USER}),
    (RESCHEDULE_STEP, {"run": "run_cm9k2x7ab000108l5ghf2d1qz", "when": "2h", "user": {"id": USER}}),
    (RESCHEDULE_STEP, {"run": "run_cm9k2x7ab000108l5ghf2d1qz", "when": "2h", "user": "<@U111>"}),
    (RESCHEDULE_STEP, {"run": "run_cm9k2x7ab000108l5ghf2d1qz", "when": "2h", "user": USER, "environment": 7}),
    (LIST_STEP, {"within": 12, "user": USER}),
    (LIST_STEP, {"within": "12h", "user": USER, "environment": "x" * 5000}),
    (LIST_STEP, {"within": "9" * 40 + "h", "user": USER}),
]


def test_odd_inputs_end_the_step_with_a_sentence_never_a_traceback(
    slack: SlackSender, bot: InProcessBot, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    for callback_id, inputs in ODD_INPUTS:
        payload, execution_id = step(fake_slack, callback_id, {})
        payload["event"]["inputs"] = inputs
        assert slack.event(payload).status_code == 200
        done = completion(fake_slack, execution_id)
        assert done["method"] == "functions.completeError", (inputs, done)
        assert "Traceback" not in done["error"] and "Reference" not in done["error"], done["error"]
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    bot.stop()
    assert "Traceback" not in bot.log_text()
