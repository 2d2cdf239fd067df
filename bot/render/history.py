"""`/reschedule history` (and AUDIT_CHANNEL): each audit record as a sentence a person would write, times as Slack
date tokens.

"You undid the last move of *send-trial-reminder* (`run_…`) in *Staging*: back to 15:57, from the DM." The stored
surface and input (`button`, `button undo`, `button rb1:bulk_undo`) are read into what the person did here once,
with the words kept in bot/messages.py; no stored value is shown as it is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot import messages
from bot.domain.actions import Did
from bot.domain.audit import AuditRecord, Outcome
from bot.render.ids import ACTION_PATTERN, Button
from bot.render.mrkdwn import SECTION_TEXT_MAX, code, date_token, escape, same_minute, section, truncate

Block = dict[str, Any]

OUTCOME_EMOJI = {
    Outcome.RESCHEDULED: ":white_check_mark:",
    Outcome.REFUSED: ":lock:",
    Outcome.NOT_DELAYED: ":no_entry_sign:",
    Outcome.NOT_FOUND: ":mag:",
    Outcome.INVALID_INPUT: ":warning:",
    Outcome.FAILED: ":x:",
    Outcome.UNKNOWN: ":grey_question:",
}
DID_EMOJI = {Did.UNDONE: ":leftwards_arrow_with_hook:", Did.STARTED: ":arrow_forward:"}
TYPED = frozenset({"command", "modal"})  # surfaces whose input is what the person typed (shown, in a code span)
UNDO_BUTTONS = frozenset({Button.UNDO, Button.BULK_UNDO})


def clicked(record: AuditRecord) -> Button | None:
    """The button a record's input names (`button push_1h`, or an action id such as `button rb1:bulk_undo`)."""
    if not record.input.startswith("button "):
        return None
    value = ACTION_PATTERN.sub("", record.input.removeprefix("button ").strip(), count=1)
    try:
        return Button(value)
    except ValueError:
        return None


def did(record: AuditRecord) -> Did:
    """What a recorded move did: an Undo, Run now, or a move to a time."""
    button = clicked(record)
    if button in UNDO_BUTTONS:
        return Did.UNDONE
    return Did.STARTED if button is Button.RUN_NOW else Did.MOVED


def line(
    record: AuditRecord,
    mention: bool = True,
    *,
    viewer: str | None = None,
    titles: Mapping[str, str] | None = None,
) -> str:
    """One record as a sentence: when, who, what they did to which run (task and id), in which environment (its
    title, as everywhere else: `titles` maps configured names to titles), from when to when, and how.

    `viewer`: the person reading, named "You" in their own records. `mention=False` names others by id without a
    live mention (the audit channel must not ping them).
    """
    if viewer is not None and record.user_id == viewer:
        who = messages.HISTORY_YOU
    else:
        who = f"<@{record.user_id}>" if mention else code(record.user_id, 40)
    done = did(record) if record.outcome is Outcome.RESCHEDULED else Did.MOVED
    emoji = DID_EMOJI.get(done) or OUTCOME_EMOJI.get(record.outcome, "•")
    env = None
    if record.environment:
        env = escape((titles or {}).get(record.environment) or record.environment)
    what = _what(record, done, env)
    if record.approved_by:
        approver = f"<@{record.approved_by}>" if mention else code(record.approved_by, 40)
        what += ", " + messages.history_approved_by(approver)
    return f"{emoji} {date_token(record.at)} {who} {what}{_how(record)}."


def _run(record: AuditRecord) -> str:
    """The run a record names: its task in bold and its id, or its id alone."""
    assert record.run_id is not None
    run_id = code(record.run_id, 40)
    return f"*{escape(truncate(record.task, 80))}* ({run_id})" if record.task else run_id


def _what(record: AuditRecord, done: Did, env: str | None) -> str:
    if record.run_id is None:
        return messages.HISTORY_NO_RUN.get(record.outcome, messages.HISTORY_NO_RUN[Outcome.FAILED])
    run = _run(record)
    where = f" in *{env}*" if env else ""
    if record.outcome is not Outcome.RESCHEDULED:
        return messages.HISTORY_ATTEMPT[record.outcome].format(run=run, where=where)
    seconds = same_minute(record.previous_time, record.new_time)
    previous = date_token(record.previous_time, seconds=seconds) if record.previous_time else None
    new = date_token(record.new_time, seconds=seconds) if record.new_time else None
    return messages.history_done(done, run, where, previous, new)


def _how(record: AuditRecord) -> str:
    """How and from where: the command typed, the button clicked, the DM, the App Home, a link preview…"""
    if record.surface in TYPED:
        typed = code(record.input, 80) if record.input else ""
        return messages.history_typed(record.surface, typed)
    button = clicked(record)
    label = messages.HISTORY_BUTTONS.get(button) if button is not None else None
    if button in UNDO_BUTTONS:
        label = None  # the sentence already says it was an undo
    return messages.history_clicked(record.surface, label, record.channel_id)


def history(
    title: str,
    records: Sequence[AuditRecord],
    *,
    viewer: str | None = None,
    titles: Mapping[str, str] | None = None,
) -> list[Block]:
    """Sections of lines, each within Block Kit's 3000-character limit."""
    if not records:
        return [section(f"{title}\n{messages.HISTORY_EMPTY}")]
    blocks: list[Block] = []
    current = title
    for record in records:
        entry = truncate(line(record, viewer=viewer, titles=titles), 1000)
        if len(current) + 1 + len(entry) > SECTION_TEXT_MAX:
            blocks.append(section(current))
            current = entry
        else:
            current = f"{current}\n{entry}"
    blocks.append(section(current))
    return blocks[:45]
