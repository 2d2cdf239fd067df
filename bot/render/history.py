"""`/reschedule history`: recent audit records as a private list, times as Slack date tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import messages
from bot.domain.audit import AuditRecord, Outcome
from bot.render.mrkdwn import SECTION_TEXT_MAX, code, date_token, escape, section, truncate

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


def line(record: AuditRecord, mention: bool = True) -> str:
    """One record: when, who, what, on which run, from where, and how it ended.

    `mention=False` names the person by id without a live mention (the audit channel must not ping them).
    """
    who = f"<@{record.user_id}>" if mention else code(record.user_id, 40)
    parts = [f"{OUTCOME_EMOJI.get(record.outcome, '•')} {date_token(record.at)} {who}"]
    outcome = messages.HISTORY_OUTCOME[record.outcome]
    parts.append(outcome if record.run_id else messages.HISTORY_OUTCOME_NO_RUN.get(record.outcome, outcome))
    if record.run_id:
        task = f" ({escape(truncate(record.task, 80))})" if record.task else ""
        parts.append(f"{code(record.run_id, 40)}{task}")
    if record.environment:
        parts.append(f"in *{escape(record.environment)}*")
    if record.new_time and record.outcome is Outcome.RESCHEDULED:
        before = date_token(record.previous_time) if record.previous_time else messages.NOT_SCHEDULED
        parts.append(f"{before} → {date_token(record.new_time)}")
    if record.approved_by:
        approver = f"<@{record.approved_by}>" if mention else code(record.approved_by, 40)
        parts.append(messages.history_approved_by(approver))
    parts.append(f"via {escape(messages.HISTORY_SURFACE.get(record.surface, record.surface))}")
    if record.input:
        parts.append(code(record.input, 80))
    return " ".join(parts)


def history(title: str, records: Sequence[AuditRecord]) -> list[Block]:
    """Sections of lines, each within Block Kit's 3000-character limit."""
    if not records:
        return [section(f"{title}\n{messages.HISTORY_EMPTY}")]
    blocks: list[Block] = []
    current = title
    for record in records:
        entry = truncate(line(record), 1000)
        if len(current) + 1 + len(entry) > SECTION_TEXT_MAX:
            blocks.append(section(current))
            current = entry
        else:
            current = f"{current}\n{entry}"
    blocks.append(section(current))
    return blocks[:45]
