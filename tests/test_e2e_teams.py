"""Several environments, access control on every surface, and the audit trail, end to end."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.render import ids
from bot.storage import db
from tests.dbs import postgres_url, reset
from tests.e2e_harness import (
    DEV_KEY,
    PROD_ENV,
    STAGING_KEY,
    run_cli,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.summaries import wait_summary
from tests.test_e2e_buttons import action_ids, click, private_via_command, summary_via_command, wait_one
from tests.test_e2e_shortcut_modal import (
    open_form,
    shortcut_payload,
    submission,
    view_text,
    wait_notice,
    wait_result,
    wait_view,
)
from tests.test_runs import current_alert

pytestmark = pytest.mark.e2e

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
RETRIEVE = r"/api/v3/runs/"
STAGING_ENV = "env_staging"
DEV_ENV = "env_dev"


def audit_rows(tmp_path: Path, fake: FakeSlack, count: int) -> list[dict[str, Any]]:
    """The audit table of the bot's SQLite file, once it holds `count` rows."""

    def read() -> list[dict[str, Any]] | None:
        path = tmp_path / "bot.sqlite3"
        if not path.exists():
            return None
        with sqlite3.connect(path) as conn:
            conn.row_factory = sqlite3.Row
            try:
                rows = [dict(row) for row in conn.execute("SELECT * FROM audit_events ORDER BY id")]
            except sqlite3.OperationalError:
                return None
        return rows if len(rows) >= count else None

    rows: list[dict[str, Any]] = fake.wait_for(read)
    return rows


def test_run_found_in_the_second_environment(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY)
    run = fake_trigger.add_run(STAGING_ENV, task_identifier="staging-task")
    message = summary_via_command(sender, fake_slack, f"{run['id']} 2h")
    assert "*staging-task* in *Staging*" in json.dumps(message["blocks"])
    keys = {call.headers["authorization"] for call in fake_trigger.calls("GET", RETRIEVE)}
    assert len(keys) == 2  # both environments were asked
    [post] = fake_trigger.calls("POST", RESCHEDULE)
    assert post.headers["authorization"] == f"Bearer {STAGING_KEY}"


def test_run_in_no_environment_names_every_environment_searched(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    fake_trigger.add_key(DEV_KEY, DEV_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=f"{STAGING_KEY},qa={DEV_KEY}")
    url = fake_slack.new_response_url()
    sender.command("run_cm9k2x7ab000108l5ghf2d1qz 2h", response_url=url)
    [answer] = wait_one(fake_slack, url)
    assert answer["text"] == messages.run_not_found("run_cm9k2x7ab000108l5ghf2d1qz", "*Prod*, *Staging* or *qa*")


def test_a_rejected_key_in_one_environment_is_named(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, _ = start(TRIGGER_SECRET_KEYS=f"qa={DEV_KEY}")  # the fake does not know DEV_KEY: 401
    url = fake_slack.new_response_url()
    sender.command("run_cm9k2x7ab000108l5ghf2d1qz 2h", response_url=url)
    [answer] = wait_one(fake_slack, url)
    assert answer["text"] == messages.key_rejected("qa")


def test_env_flag_forces_one_environment(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY)
    run = fake_trigger.add_run(STAGING_ENV)
    summary_via_command(sender, fake_slack, f"{run['id']} 2h --env staging")
    assert {c.headers["authorization"] for c in fake_trigger.calls("GET", RETRIEVE)} == {f"Bearer {STAGING_KEY}"}
    body = sender.command(f"{run['id']} 2h --env qa", response_url=fake_slack.new_response_url()).json()
    assert body["text"] == messages.unknown_environment("qa", "*prod* or *staging*")


def test_command_refused_names_the_rule_and_changes_nothing(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    fake_slack.add_usergroup("S0PLATFORM", ["U777"], handle="platform")
    sender, _ = start(ACCESS__PROD__GROUPS="S0PLATFORM", ACCESS__PROD__CHANNELS="C0OPS")
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    sender.command(f"{run['id']} 2h", response_url=url)
    [answer] = wait_one(fake_slack, url)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == ":lock: Nothing was changed: *Prod* runs can be moved by @platform in <#C0OPS>."
    assert fake_trigger.calls("POST", RESCHEDULE) == []
    [row] = audit_rows(tmp_path, fake_slack, 1)
    assert row["outcome"] == "refused" and row["run_id"] == run["id"] and row["user_id"] == "U111"


def test_group_member_in_the_right_channel_may_move_prod(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_usergroup("S0PLATFORM", ["U111"], handle="platform")
    sender, _ = start(ACCESS__PROD__GROUPS="S0PLATFORM", ACCESS__PROD__CHANNELS="C0OPS")
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    sender.command(f"{run['id']} 2h", response_url=url, channel_id="C0OPS")
    assert run["id"] in json.dumps(wait_summary(fake_slack, "C0OPS")["blocks"])
    # The same person elsewhere is refused: the channel comes from the signed request.
    other = fake_slack.new_response_url()
    sender.command(f"{run['id']} 3h", response_url=other, channel_id="C111")
    assert "runs can be moved by @platform in <#C0OPS>" in wait_one(fake_slack, other)[0]["text"]


def test_button_refused_for_a_user_not_allowed(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, _ = start(ACCESS__PROD__USERS="U111")
    run = fake_trigger.add_run(PROD_ENV)
    message = summary_via_command(sender, fake_slack, f"{run['id']} 2h")
    moved_to = fake_trigger.get_run(run["id"])["delayedUntil"]
    _, url = click(sender, fake_slack, message, "rb1:push_1h", user_id="U666")
    [answer] = wait_one(fake_slack, url)
    assert answer["text"] == ":lock: Nothing was changed: *Prod* runs can be moved by <@U111>."
    assert answer["response_type"] == "ephemeral"
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == moved_to


def test_dev_open_prod_restricted_by_default_rule(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    fake_trigger.add_key(DEV_KEY, DEV_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=DEV_KEY, ACCESS__DEFAULT__USERS="U999", ACCESS__DEV__USERS="")
    dev_run = fake_trigger.add_run(DEV_ENV)
    prod_run = fake_trigger.add_run(PROD_ENV)
    assert dev_run["id"] in json.dumps(summary_via_command(sender, fake_slack, f"{dev_run['id']} 2h")["blocks"])
    refused = private_via_command(sender, fake_slack, f"{prod_run['id']} 2h")
    assert refused["text"] == ":lock: Nothing was changed: *Prod* runs can be moved by <@U999>."


def test_foreign_workspace_is_refused(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, _ = start(SLACK_TEAM_ID="T111", SLACK_APP_ID="A111")
    run = fake_trigger.add_run(PROD_ENV)
    body = sender.command(f"{run['id']} 2h", response_url=fake_slack.new_response_url(), team_id="T999").json()
    assert body["text"] == messages.FOREIGN_WORKSPACE
    assert fake_trigger.requests == []
    assert run["id"] in json.dumps(summary_via_command(sender, fake_slack, f"{run['id']} 2h")["blocks"])


def test_every_outcome_is_audited_and_history_shows_it(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    sender, _ = start(AUDIT_CHANNEL="C0AUDIT")
    ok = fake_trigger.add_run(PROD_ENV, task_identifier="ok-task")
    failed = fake_trigger.add_run(PROD_ENV, status="FAILED")
    summary_via_command(sender, fake_slack, f"{ok['id']} 2h")
    private_via_command(sender, fake_slack, f"{failed['id']} 2h")
    private_via_command(sender, fake_slack, "run_cm9k2x7ab000108l5ghf2d1qz 2h")
    sender.command(f"{ok['id']} whenever", response_url=fake_slack.new_response_url())
    rows = audit_rows(tmp_path, fake_slack, 4)
    by_outcome = {row["outcome"]: row for row in rows}
    assert set(by_outcome) == {"rescheduled", "not_delayed", "not_found", "invalid_input"}
    success = by_outcome["rescheduled"]
    assert success["environment"] == "prod" and success["task"] == "ok-task" and success["surface"] == "command"
    assert success["input"] == f"{ok['id']} 2h" and success["previous_time"] and success["new_time"]
    assert by_outcome["not_delayed"]["error"] == "status FAILED"
    # One line per action in the audit channel.
    posted = fake_slack.wait_for(lambda: (m := fake_slack.messages.get("C0AUDIT")) and len(m) >= 4 and m)
    assert any(ok["id"] in message["text"] and "rescheduled" in message["text"] for message in posted)

    mine = private_via_command(sender, fake_slack, "history")
    assert mine["response_type"] == "ephemeral"
    text = json.dumps(mine["blocks"])
    assert "Your recent reschedule attempts" in text and ok["id"] in text and "<!date^" in text
    on_run = private_via_command(sender, fake_slack, f"history {ok['id']}")
    assert ok["id"] in json.dumps(on_run["blocks"]) and failed["id"] not in json.dumps(on_run["blocks"])


def test_database_down_the_reschedule_still_happens_and_the_record_is_logged(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, process = start(DATABASE_URL="postgresql://postgres@127.0.0.1:9/nowhere")
    run = fake_trigger.add_run(PROD_ENV)
    message = summary_via_command(sender, fake_slack, f"{run['id']} 2h")
    assert run["id"] in json.dumps(message["blocks"])
    line = fake_slack.wait_for(  # after the write's retries (about 4 s), longer on a loaded machine
        lambda: next(
            (ln for ln in process.log_text().splitlines() if "audit_fallback" in ln and run["id"] in ln), None
        ),
        timeout=30,
    )
    assert '"outcome": "rescheduled"' in line
    history = private_via_command(sender, fake_slack, "history")
    assert history["text"] == messages.HISTORY_UNAVAILABLE


def test_dm_buttons_are_checked_too(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, _ = start(ACCESS__PROD__CHANNELS="C111")
    run = fake_trigger.add_run(PROD_ENV)
    summary_via_command(sender, fake_slack, f"{run['id']} 2h")
    [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
    assert action_ids(dm) == ["rb1:undo", "rb1:open"]
    _, url = click(sender, fake_slack, dm, "rb1:undo", channel_id="DU111")
    [answer] = wait_one(fake_slack, url)
    assert answer["text"] == ":lock: Nothing was changed: *Prod* runs can be moved by anyone in <#C111>."


def test_modal_offers_a_choice_when_several_environments_have_the_run(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
    sender, _ = start(TRIGGER_SECRET_KEYS=STAGING_KEY)
    run_id = "run_cm9k2x7ab000108l5ghf2d1qz"
    fake_trigger.add_run(PROD_ENV, run_id)
    staging_before = fake_trigger.add_run(STAGING_ENV, run_id)["delayedUntil"]
    form = open_form(sender, fake_slack, current_alert(run_id))
    [select] = [block for block in form["blocks"] if block.get("block_id") == ids.BLOCK_ENV]
    assert [option["value"] for option in select["element"]["options"]] == ["prod", "staging"]
    sender.interaction(submission(form, text="3h", env="staging"))
    wait_result(fake_slack)
    assert fake_trigger.get_run(run_id, STAGING_ENV)["delayedUntil"] != staging_before
    [post] = fake_trigger.calls("POST", RESCHEDULE)
    assert post.headers["authorization"] == f"Bearer {STAGING_KEY}"


def test_shortcut_refused_user_sees_the_rule_in_the_modal(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, _ = start(ACCESS__PROD__USERS="U999")
    run = fake_trigger.add_run(PROD_ENV)
    sender.interaction(shortcut_payload(current_alert(run["id"]), fake_slack.new_response_url()))
    notice = wait_notice(fake_slack)
    assert "submit" not in notice
    assert ":lock: Nothing was changed: *Prod* runs can be moved by <@U999>." in view_text(notice)
    assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_modal_submit_is_checked_again_at_the_moment_of_acting(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    fake_slack.add_usergroup("S0PLATFORM", ["U111"], handle="platform")
    sender, _ = start(ACCESS__PROD__GROUPS="S0PLATFORM", USERGROUP_CACHE_SECONDS="0")
    run = fake_trigger.add_run(PROD_ENV)
    form = open_form(sender, fake_slack, current_alert(run["id"]))
    fake_slack.add_usergroup("S0PLATFORM", ["U222"], handle="platform")  # U111 leaves @platform meanwhile
    sender.interaction(submission(form, text="2h"))
    result = wait_view(fake_slack, lambda view: messages.MODAL_WORKING not in view_text(view) and "submit" not in view)
    assert "*Prod* runs can be moved by @platform" in view_text(result)
    assert fake_trigger.calls("POST", RESCHEDULE) == []


def test_postgresql_is_the_same_code_path(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    url = postgres_url()
    asyncio.run(reset(url))
    sender, _ = start(DATABASE_URL=url)
    run = fake_trigger.add_run(PROD_ENV)
    summary_via_command(sender, fake_slack, f"{run['id']} 2h")

    def listed() -> dict[str, Any] | None:
        history = private_via_command(sender, fake_slack, f"history {run['id']}")
        return history if run["id"] in json.dumps(history.get("blocks", [])) else None

    assert "rescheduled" in json.dumps(fake_slack.wait_for(listed)["blocks"])


def test_migrate_command(tmp_path: Path) -> None:
    ok = run_cli(["migrate"], {"DATABASE_URL": f"sqlite:///{tmp_path}/m.sqlite3"}, tmp_path)
    assert ok.returncode == 0 and f"database schema is at revision {db.LATEST}" in ok.stdout
    down = run_cli(["migrate"], {"DATABASE_URL": "postgresql://bot:hunter2@127.0.0.1:9/x"}, tmp_path)
    assert down.returncode == 1 and "the database did not answer" in down.stderr
    assert "hunter2" not in down.stderr and "Traceback" not in down.stderr


def test_foreign_workspace_clicks_are_acknowledged_and_ignored(
    start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    sender, _ = start(SLACK_TEAM_ID="T111")
    payload = {
        "type": "block_actions",
        "team": {"id": "T999"},
        "user": {"id": "U1", "team_id": "T999"},
        "api_app_id": "A111",
        "container": {"type": "message", "channel_id": "C1", "message_ts": "1.2"},
        "trigger_id": "111.222.foreign",
        "response_url": fake_slack.new_response_url(),
        "actions": [{"action_id": "rb1:run_now", "value": '{"v":1,"r":"run_cm9k2x7ab000108l5ghf2d1qz"}'}],
    }
    response = sender.interaction(payload)
    assert response.status_code == 200 and response.content == b""
    assert fake_trigger.requests == []


def test_audit_channel_lines_do_not_ping_anyone(start: Any, fake_slack: FakeSlack, fake_trigger: FakeTrigger) -> None:
    sender, _ = start(AUDIT_CHANNEL="C0AUDIT")
    run = fake_trigger.add_run(PROD_ENV)
    summary_via_command(sender, fake_slack, f"{run['id']} 2h")
    [line] = fake_slack.wait_for(lambda: fake_slack.messages.get("C0AUDIT"))
    assert "`U111`" in line["text"] and "<@" not in line["text"]
