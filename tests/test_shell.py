"""`reschedule-bot shell`: whole sessions driven by a script, on the bot's real path, with the demo Trigger.dev."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from rich.console import Console

from bot import demo
from bot.shell.session import Session
from bot.shell.slack_stand_in import Seen, SlackStandIn
from tests.e2e_harness import run_cli, run_in_process

pytestmark = pytest.mark.e2e


def shell(
    tmp_path: Path, *lines: str, env: dict[str, str] | None = None, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`reschedule-bot shell --demo` with `lines` as -c arguments, with nothing configured but `env`."""
    args = ["shell", "--demo", "--timezone", "UTC", *options]
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


def test_a_label_typed_exactly_clicks_that_button_though_longer_labels_contain_it(tmp_path: Path) -> None:
    """After the list (its buttons say `Reschedule…`), `click Reschedule` is the confirmation's `Reschedule`."""
    out = shell(tmp_path, "/reschedule list", f"/reschedule {demo.RUN_DIGEST} 5h", "click Reschedule").stdout
    listed, _, after = out.partition("› click Reschedule")
    assert "Reschedule…" in listed and "buttons match" not in after
    assert "@U0DEMO rescheduled send-weekly-digest in Prod" in after


def test_a_misspelt_shell_word_is_answered_with_what_it_probably_meant(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER} 3h", "clik 1", "hlep").stdout
    assert "Not a command. Did you mean click 1?" in out
    assert "Not a command. Did you mean help?" in out


def test_a_mistyped_or_foreign_slash_command_gets_slacks_answer_and_moves_nothing(tmp_path: Path) -> None:
    out = " ".join(shell(tmp_path, f"/reschedul {demo.RUN_REMINDER} 3h", "/giphy hello").stdout.split())
    assert f"/reschedul is not a valid command. Did you mean /reschedule {demo.RUN_REMINDER} 3h?" in out
    assert "/giphy is not a valid command. This app's command is /reschedule; type help for what it takes." in out
    assert "@U0DEMO rescheduled" not in out and "#C0DEMO" not in out


def test_a_bare_click_or_a_button_label_alone_says_how_to_press_it(tmp_path: Path) -> None:
    out = shell(tmp_path, "click", f"/reschedule {demo.RUN_REMINDER} 3h", "click", "undo", "push back 1h").stdout
    before, _, after = out.partition(f"› /reschedule {demo.RUN_REMINDER} 3h")
    assert "There is no button on screen." in before
    bare, _, labels = after.partition("› undo")
    assert "Click which button? On screen: [1] Push back 1h" in bare
    undo = re.findall(r"\[(\d+)\] Undo", after)[-1]  # the newest: the DM's
    assert f"Not a command. To press that button, type click Undo (or click {undo})." in labels
    assert "type click Push back 1h" in labels and "message updated" not in labels  # told, not pressed


@pytest.mark.parametrize("typed", ["tomorrow 9am", "3h", "friday", "yesterday"])
def test_a_time_typed_alone_says_how_to_move_a_run_to_it(tmp_path: Path, typed: str) -> None:
    out = shell(tmp_path, typed).stdout
    assert f"Not a command. To move a run to that time, type /reschedule <run> {typed}, with the run's id or" in out


def test_a_pasted_run_link_gets_its_preview_whose_button_moves_the_run_and_redraws_it(tmp_path: Path) -> None:
    link = f"https://cloud.demo.trigger.invalid/runs/{demo.RUN_REMINDER}"
    out = shell(tmp_path, f"see {link}", "click Push back 1h", "https://example.com/elsewhere").stdout
    shared, _, clicked = out.partition("› click Push back 1h")
    assert "(posted in #C0DEMO)" in shared and "preview of a link you posted in #C0DEMO" in shared
    assert "send-trial-reminder in Staging" in shared and re.search(r"\[\d+\] Push back 1h", shared)
    moved, _, other = clicked.partition("› https://example.com/elsewhere")
    assert "#C0DEMO, in the thread of your message" in moved and "@U0DEMO rescheduled send-trial-reminder" in moved
    assert "preview updated" in moved and "DM from reschedule-bot" in moved
    assert "No preview: the bot previews only links to runs it finds in the Trigger.dev dashboard." in other


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
    # As in Slack: the view the submission is acknowledged with first, then what the move did after it.
    assert out.index("Rescheduling…") < out.index("rescheduled send-trial-reminder") < out.index("Rescheduled.")


def test_bad_input_is_answered_privately_and_moves_nothing(tmp_path: Path) -> None:
    out = shell(
        tmp_path, "/reschedule nonsense", f"/reschedule {demo.RUN_IMPORT_EXECUTING} 1h", "/reschedule run_x 4"
    ).stdout
    assert "is not a Trigger.dev run id or run link" in out
    assert "EXECUTING, so nothing was changed" in out
    assert "@U0DEMO rescheduled" not in out and "#C0DEMO" not in out


def test_a_line_meant_for_the_command_typed_without_it_is_given_back_with_it(tmp_path: Path) -> None:
    out = " ".join(shell(tmp_path, "list", f"{demo.RUN_REMINDER} 3h", "hello").stdout.split())
    assert "Commands start with /reschedule. Did you mean /reschedule list?" in out
    assert f"Did you mean /reschedule {demo.RUN_REMINDER} 3h?" in out
    assert "Not a command. Type /reschedule" in out  # "hello" reads as nothing the command takes
    assert "@U0DEMO rescheduled" not in out


def test_help_lists_one_thing_to_type_per_line_within_a_narrow_terminal(tmp_path: Path) -> None:
    shown = shell(tmp_path, "help").stdout.split("› help", 1)[1].strip().splitlines()
    typed = [line.split("  ")[1] for line in shown if line.startswith(("  /reschedule", "  click"))]
    assert typed == [
        "/reschedule <run> <when>",
        "/reschedule <run>",
        "/reschedule list",
        "/reschedule history",
        "/reschedule help",
        "click <n>, or just <n>",
        "click <words>",
    ]
    assert max(len(line) for line in shown) <= 90


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


def after(out: str, line: str) -> str:
    """What the shell printed for the script line `line` (up to the next line)."""
    return out.split(f"› {line}\n", 1)[1].split("\n› ", 1)[0]


def test_a_button_is_clicked_by_any_part_of_its_label_in_any_case(tmp_path: Path) -> None:
    move = f"/reschedule {demo.RUN_REMINDER} 3h"
    out = shell(tmp_path, move, "click tomorrow", "click PUSH BACK 1 D").stdout
    assert "message updated: New start time: tomorrow at 09:00" in after(out, "click tomorrow")
    assert "message updated: New start time: " in after(out, "click PUSH BACK 1 D")
    again = shell(tmp_path, move, "click Tomorrow 09:00").stdout
    assert "New start time: tomorrow at 09:00" in after(again, "click Tomorrow 09:00")


def test_a_label_several_buttons_share_lists_them_and_clicks_nothing(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER} 3h", "click undo").stdout
    undo = after(out, "click undo")
    assert "2 buttons match 'undo'; nothing was clicked." in undo
    assert re.search(r"\[\d+\] Undo \(in the channel\)", undo) and re.search(r"\[\d+\] Undo \(in the DM\)", undo)
    assert "message updated" not in out


def shown_numbers(out: str) -> list[int]:
    """The button numbers on the messages shown (inside their panels), in order."""
    return [int(n) for line in out.splitlines() if line.startswith("│") for n in re.findall(r"\[(\d+)\] ", line)]


def test_buttons_are_numbered_once_for_the_session_and_an_updated_message_brings_new_numbers(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER} 3h", "click 1", "click 1").stdout
    first = out.split("› click 1\n", 1)[0]
    assert "[1] Push back 1h" in first
    numbers = shown_numbers(out)
    assert numbers == list(range(1, len(numbers) + 1))  # one count across every message, never restarting
    clicked = after(out, "click 1")
    assert "message updated: New start time:" in clicked
    assert f"[{len(shown_numbers(first)) + 1}] Push back 1h" in clicked  # the updated card's buttons come next
    assert "No button [1]." in out.split("› click 1\n", 2)[2]  # the message that had it was replaced


def test_a_script_line_that_is_a_command_is_never_taken_as_an_answer(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER} 3h", "click Run now", "click Push back 1h").stdout
    run_now = after(out, "click Run now")
    assert "[y/N] (no answer in the script)" in run_now and "Cancelled: nothing was sent." in run_now
    assert "message updated: New start time:" in after(out, "click Push back 1h")


def test_a_form_left_unanswered_by_a_script_is_closed_and_the_next_command_runs(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER}", "click Reschedule…", "/reschedule history").stdout
    assert "(no answer in the script)" in after(out, "click Reschedule…")
    assert "Closed the form: nothing was sent." in after(out, "click Reschedule…")
    assert "Your recent reschedule attempts" in after(out, "/reschedule history")


def test_yes_answers_the_questions_of_a_script(tmp_path: Path) -> None:
    out = shell(tmp_path, f"/reschedule {demo.RUN_REMINDER} 3h", "click Run now", options=("--yes",)).stdout
    run_now = after(out, "click Run now")
    assert "[y/N] y (--yes)" in run_now and "Cancelled" not in run_now and "message updated" in run_now


async def test_an_update_the_bot_makes_between_lines_is_shown_when_it_happens_saying_what_changed() -> None:
    stand_in = SlackStandIn(user="U0DEMO", channel="C0DEMO", timezone="UTC")
    output = io.StringIO()
    console = Console(file=output, width=120, highlight=False)

    async def no_answer(_: str) -> str | None:
        return None

    session = Session(httpx.AsyncClient(), stand_in, b"s", lambda: True, no_answer, console, ZoneInfo("UTC"))
    card = {
        "text": "card",
        "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Status*\nDelayed"}]}],
    }
    stand_in.seen.append(Seen("message", card, "1.000001"))
    session.show()
    watching = asyncio.create_task(session.watch(period=0.01))
    try:
        finished = {**card, "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Status*\nDone"}]}]}
        stand_in.seen.append(Seen("updated", finished, "1.000001"))
        for _ in range(500):
            if "updated" in output.getvalue():
                break
            await asyncio.sleep(0.01)
    finally:
        watching.cancel()
    assert "message updated by the bot: Status: Done" in output.getvalue()
