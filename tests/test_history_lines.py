"""`/reschedule history` and AUDIT_CHANNEL: each audit record reads as a sentence a person would write, with no
stored value (surface, action id, environment name) shown as it is stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.audit import AuditRecord, Outcome
from bot.render.history import history, line
from bot.render.mrkdwn import date_token

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BEFORE = AT + timedelta(hours=1)
AFTER = AT + timedelta(hours=3)
RUN = "run_cm9k2x7ab000108l5ghf2d1qz"
TITLES = {"staging": "Staging", "billing_prod": "billing-prod"}


def record(surface: str, input: str, outcome: Outcome = Outcome.RESCHEDULED, **fields: object) -> AuditRecord:
    base: dict[str, object] = {
        "environment": "staging",
        "run_id": RUN,
        "task": "send-trial-reminder",
        "previous_time": BEFORE,
        "new_time": AFTER,
        "channel_id": "C111",
    }
    base.update(fields)
    channel = base.pop("channel_id")
    return AuditRecord(AT, "T1", "U1", channel, surface, outcome, input=input, **base)  # type: ignore[arg-type]


def test_an_undo_from_the_dm_is_listed_as_an_undo_in_the_readers_words() -> None:
    undo = record("dm", "button undo", previous_time=AFTER, new_time=BEFORE, channel_id="DU1")
    said = line(undo, viewer="U1", titles=TITLES)
    assert said == (
        f":leftwards_arrow_with_hook: {date_token(AT)} You undid the last move of *send-trial-reminder* (`{RUN}`) in "
        f"*Staging*: back to {date_token(BEFORE)} (from {date_token(AFTER)}), from the DM."
    )


@pytest.mark.parametrize(
    ("surface", "input", "how"),
    [
        ("button", "button push_1h", ", with *Push back 1h* in <#C111>."),
        ("button", "button rb1:push_1d", ", with *Push back 1 day* in <#C111>."),
        ("dm", "button rb1:bulk_confirm", ", with *Move them* from the DM."),
        ("button", "button confirm", ", with *Reschedule* in <#C111>."),
        ("command", "run_x 2h", ", with /reschedule `run_x 2h`."),
        ("modal", "3h", ", in the form (`3h`)."),
        ("home", "button tomorrow_9", ", with *Tomorrow 09:00 (your time)* from the App Home."),
        ("shortcut", "", ", with the *Reschedule run* shortcut."),
    ],
)
def test_how_a_move_was_made_is_said_in_words_never_as_stored(surface: str, input: str, how: str) -> None:
    said = line(record(surface, input), titles=TITLES)
    assert said.endswith(how)
    assert f"<@U1> moved *send-trial-reminder* (`{RUN}`) in *Staging* from {date_token(BEFORE)} to" in said
    for internal in ("via", "button button", "rb1:", "push_1", "bulk_confirm", "tomorrow_9", " button "):
        assert internal not in said


def test_the_sets_undo_and_run_now_say_what_they_did() -> None:
    on_card = line(record("button", "button undo"), titles=TITLES)
    assert on_card.endswith(f"(from {date_token(BEFORE)}), in <#C111>.")  # the sentence says undo; no button named
    undone = line(record("dm", "button rb1:bulk_undo", channel_id="DU1"), titles=TITLES)
    assert "undid the last move of" in undone and "bulk_undo" not in undone and "rb1" not in undone
    started = line(record("button", "button run_now", new_time=AT), titles=TITLES)
    assert (
        "started *send-trial-reminder*" in started and "at once" in started and "with *Run now* in <#C111>" in started
    )


def test_environments_are_named_by_their_titles_as_everywhere_else() -> None:
    assert "in *Staging*" in line(record("command", "x 2h"), titles=TITLES)
    assert "in *billing-prod*" in line(record("command", "x 2h", environment="billing_prod"), titles=TITLES)
    # An environment no longer configured keeps the name it was stored under.
    assert "in *qa*" in line(record("command", "x 2h", environment="qa"), titles=TITLES)


def test_attempts_that_moved_nothing_read_as_sentences() -> None:
    unread = record("command", "run_nope 2h", Outcome.INVALID_INPUT, run_id=None, environment=None)
    assert line(unread).endswith(
        "<@U1> asked for something that could not be read or done, with /reschedule `run_nope 2h`."
    )
    missing = record("command", "x", Outcome.NOT_FOUND, task=None, environment=None)
    assert f"<@U1> looked for `{RUN}`, which was not found, with /reschedule `x`." in line(missing)
    late = record("button", "button undo", Outcome.INVALID_INPUT)
    assert "asked for something that could not be done with *send-trial-reminder*" in line(late)
    refused = record("dm", "button undo", Outcome.REFUSED, channel_id="DU1")
    assert line(refused, mention=False).startswith(f":lock: {date_token(AT)} `U1` was refused moving")


def test_the_readers_own_records_say_you_and_others_are_mentioned() -> None:
    mine = record("command", "x 2h")
    theirs = replace(mine, user_id="U2")
    [block] = history("*Everything done to* `run_x`", [mine, theirs], viewer="U1", titles=TITLES)
    text = block["text"]["text"]
    assert " You moved " in text and " <@U2> moved " in text and "<@U1>" not in text
