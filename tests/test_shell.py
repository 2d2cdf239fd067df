"""`reschedule-bot shell`: whole sessions driven by a script, on the bot's real path, with the demo Trigger.dev."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import demo
from tests.e2e_harness import run_cli, run_in_process

pytestmark = pytest.mark.e2e


def shell(tmp_path: Path, *lines: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`reschedule-bot shell --demo` with `lines` as -c arguments, with nothing configured but `env`."""
    args = ["shell", "--demo", "--timezone", "UTC"]
    for line in lines:
        args += ["-c", line]
    done = run_in_process(args, {"COLUMNS": "120", **(env or {})}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_a_move_needs_no_settings_and_shows_the_summary_and_the_dm(tmp_path: Path) -> None:
    out = shell(tmp_path, demo.FIRST_TRY).stdout  # what the banner suggests first
    assert "#C0DEMO" in out and "@U0DEMO rescheduled send-trial-reminder in Staging" in out
    assert "DM from reschedule-bot" in out and "Demo: a simulated Trigger.dev" in out
    assert re.search(r"\[\d\] Push back 1h", out)


def test_a_prod_move_asks_first_and_a_click_confirms_it(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_DIGEST} 5h", "click Reschedule").stdout
    prompt, _, after = out.partition("› click Reschedule")
    assert "only you can see this" in prompt and "[1] Reschedule" in prompt and "rescheduled" not in prompt
    assert "@U0DEMO rescheduled send-weekly-digest in Prod" in after
    assert "(the private message above was removed)" in after


def test_a_button_with_a_confirm_dialog_asks_and_no_sends_nothing(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER} 3h", "click Run now", "n", "click Push back 1h").stdout
    run_now, _, pushed = out.partition("› click Push back 1h")
    assert "[y/N] n" in run_now and "Cancelled: nothing was sent." in run_now
    assert "message updated" in pushed and "rescheduled send-trial-reminder" in pushed


def test_the_modal_is_a_form_whose_inline_errors_are_shown_and_fixed(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER}", "click Reschedule…", "soon", "", "3h", "").stdout
    assert "▣ Reschedule run" in out and "When (optional): soon" in out
    assert "⚠ Can't read soon as a time" in out
    assert "rescheduled send-trial-reminder in Staging" in out and "Rescheduled." in out


def test_bad_input_is_answered_privately_and_moves_nothing(tmp_path: Path) -> None:
    out = shell(
        tmp_path, "/reschedule nonsense", f"/reschedule {demo.RUN_IMPORT_EXECUTING} 1h", "/reschedule run_x 4"
    ).stdout
    assert "is not a Trigger.dev run id or run link" in out
    assert "EXECUTING, so nothing was changed" in out
    assert "@U0DEMO rescheduled" not in out and "#C0DEMO" not in out


def test_history_lists_what_this_session_did(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER} 3h", "/reschedule history").stdout
    history = out.split("› /reschedule history", 1)[1]
    assert "Your recent reschedule attempts" in history and demo.RUN_REMINDER in history


def test_an_access_rule_refuses_as_it_would_in_slack_and_another_user_passes(tmp_path: Path) -> None:
    refused = shell(tmp_path, f"/reschedule {demo.RUN_DIGEST} 5h", env={"ACCESS__PROD__USERS": "U0ONCALL"}).stdout
    assert "You cannot move runs in Prod, so I did not look there: Prod runs" in refused
    assert "can be moved by @U0ONCALL" in refused
    allowed = run_in_process(
        ["shell", "--demo", "--user", "U0ONCALL", "-c", f"/reschedule {demo.RUN_DIGEST} 5h"],
        {"ACCESS__PROD__USERS": "U0ONCALL", "COLUMNS": "120"},
        tmp_path,
    ).stdout
    assert "Prod runs are moved only after a confirmation" in allowed


def test_lines_from_a_pipe_run_without_prompts_and_end_at_eof(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--demo"],
        input=f"help\n/reschedule {demo.RUN_REMINDER} 3h\n",
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "click <n>" in done.stdout and "rescheduled send-trial-reminder" in done.stdout


def test_the_demo_refuses_to_start_with_a_real_key_configured(tmp_path: Path) -> None:
    done = run_cli(["shell", "--demo"], {"TRIGGER_SECRET_KEY": "tr_prod_realrealrealrealreal0001"}, tmp_path)
    assert done.returncode == 2 and "tr_prod_realrealrealrealreal0001" not in done.stdout + done.stderr


def test_list_shows_the_seeded_delayed_runs_soonest_first_and_a_click_opens_the_modal(tmp_path: Path) -> None:
    out = shell(tmp_path, "/reschedule list", "click 3", "").stdout
    listed, _, clicked = out.partition("› click 3")
    assert "only you can see this" in listed and "4 delayed runs in Prod and Staging" in listed
    order = [listed.index(run) for run in (demo.RUN_REMINDER, demo.RUN_DIGEST, demo.RUN_INVOICES, demo.RUN_SYNC)]
    assert order == sorted(order) and demo.RUN_IMPORT_EXECUTING not in listed
    assert "[1] Push all back…" in listed and "[5] Reschedule…" in listed
    assert "▣ Reschedule run" in clicked and "send-weekly-digest in Prod" in clicked


def test_list_filters_by_tag_in_the_demo(tmp_path: Path) -> None:
    out = shell(tmp_path, "/reschedule list --tag crm").stdout
    assert demo.RUN_SYNC in out and demo.RUN_REMINDER not in out and "tagged crm" in out
