"""Many runs in one move: the private Confirm / Cancel prompt and the one summary message of the set (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import messages
from bot.domain.bulk import BulkItem, BulkOutcome, Planned
from bot.domain.delays import format_duration
from bot.domain.typed_time import UTC_READER, ReaderZone
from bot.render.ids import BULK_MODAL_CALLBACK_ID, BulkValue, Button
from bot.render.modal_views import when_inputs
from bot.render.mrkdwn import (
    FALLBACK_TEXT_MAX,
    SECTION_TEXT_MAX,
    context,
    date_token,
    escape,
    fallback_time,
    link,
    same_minute,
    section,
    truncate,
)
from bot.render.summary import Block, Summary
from bot.render.times import spoken

# Moved runs (a link each) and skipped runs (a line each) are listed in sections of at most SECTION_TEXT_MAX
# characters, in at most MAX_MOVED_SECTIONS and MAX_SKIP_SECTIONS of them (with a head, the counts and the Undo, well
# within Block Kit's 50 blocks); beyond that they are counted ("and N more").
MAX_MOVED_SECTIONS = 3
MAX_SKIP_SECTIONS = 10
SKIP_REASONS = {
    BulkOutcome.NOT_DELAYED: messages.BULK_SKIP_NOT_DELAYED,
    BulkOutcome.NOT_FOUND: messages.BULK_SKIP_NOT_FOUND,
    BulkOutcome.REFUSED: messages.BULK_SKIP_REFUSED,
    BulkOutcome.FAILED: messages.BULK_SKIP_FAILED,
    BulkOutcome.PASSED: messages.BULK_PASSED,
    BulkOutcome.MOVED_SINCE: messages.BULK_SKIP_MOVED_SINCE,
}


def _detail(item: BulkItem) -> str:
    """Why a run was skipped, escaped; for a run moved since, who moved it (a mention) and where it was left."""
    if item.outcome is BulkOutcome.MOVED_SINCE and item.new is not None:
        user = item.detail if re.fullmatch(r"[UW][A-Z0-9]{2,30}", item.detail) else ""
        return messages.moved_since(user, date_token(item.new))
    return escape(truncate(item.detail, 200))


def all_of(titles: Sequence[str]) -> str:
    """`*Prod*`, `*Prod* and *Staging*`, `*Prod*, *Staging* and *Dev*` (escaped)."""
    quoted = [f"*{escape(title)}*" for title in titles]
    if not quoted:
        return messages.BULK_NOWHERE
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


MAX_PROMPT_LINES = 20  # runs named one by one in a prompt; beyond that they are counted


@dataclass(frozen=True, slots=True)
class Reading:
    """How the reader reads times in a private prompt: `now` and their zone."""

    now: datetime
    reader: ReaderZone = UTC_READER


def bulk_prompt(
    key: str,
    count: int,
    env_titles: Sequence[str],
    when: datetime | None,
    missing: int,
    *,
    reading: Reading | None = None,
    planned: Sequence[Planned] | None = None,
    shift: timedelta | None = None,
    unread: int = 0,
    note: str = "",
) -> list[Block]:
    """The private prompt: how many runs, in which environments, to which time; Confirm / Cancel. With `planned`
    (each run's current and new time): a push by `shift` names each run's move; a move to `when` names every run
    it would take earlier than it is now (or says none). `unread`: runs Trigger.dev could not be asked about; `note`:
    a sentence after it (the environments the person may not act in, which were not looked in)."""
    value = BulkValue(k=key).encode()

    def said(moment: datetime, whose: bool = True) -> str:
        return spoken(moment, reading.now, reading.reader, whose=whose) if reading else date_token(moment)

    if shift is not None:
        text = messages.bulk_push_prompt(count, all_of(env_titles), format_duration(shift), missing)
        lines = [
            messages.bulk_push_line(p.run_id, escape(p.task), said(p.current, False), said(p.target, False))
            for p in planned or ()
        ]
        if lines and reading:
            lines.insert(0, messages.times_below(reading.reader.known))
    else:
        assert when is not None
        text = messages.bulk_prompt(count, all_of(env_titles), said(when), missing, unread)
        earlier = [p for p in planned or () if p.earlier]
        lines = [messages.bulk_earlier_line(p.run_id, escape(p.task), said(p.current, False)) for p in earlier]
        if planned is not None:
            lines.insert(0, messages.BULK_EARLIER_HEAD if earlier else messages.BULK_NONE_EARLIER)
    if len(lines) > MAX_PROMPT_LINES:
        lines = [*lines[:MAX_PROMPT_LINES], messages.bulk_more_lines(len(lines) - MAX_PROMPT_LINES)]
    if lines:
        text = text + "\n" + "\n".join(lines)
    return [
        section(text),
        *([section(note)] if note else []),
        {
            "type": "actions",
            "block_id": f"bulk:{key}",
            "elements": [
                {
                    "type": "button",
                    "action_id": Button.BULK_CONFIRM.action_id,
                    "text": {"type": "plain_text", "text": messages.BULK_CONFIRM_OK},
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": Button.BULK_CANCEL.action_id,
                    "text": {"type": "plain_text", "text": messages.CONFIRM_DENY},
                    "value": value,
                },
            ],
        },
    ]


def bulk_time_view(
    count: int, metadata: str, *, from_message: bool = False, hint: str = messages.HINT_WHEN_TEXT
) -> dict[str, Any]:
    """The form a list's **Push all back…** (or the shortcut on a message naming many runs) opens: one time for
    the whole set, typed or picked."""
    return {
        "type": "modal",
        "callback_id": BULK_MODAL_CALLBACK_ID,
        "title": {"type": "plain_text", "text": messages.BULK_MODAL_TITLE},
        "submit": {"type": "plain_text", "text": messages.BULK_MODAL_SUBMIT},
        "close": {"type": "plain_text", "text": messages.MODAL_CANCEL},
        "private_metadata": metadata,
        "blocks": [
            section(messages.bulk_modal_head(count, from_message)),
            *when_inputs(hint),
        ],
    }


def bulk_undo_actions(undo_key: str) -> Block:
    """The set's one Undo: its value names the undo set (each run with its own previous time)."""
    return {
        "type": "actions",
        "block_id": f"bulk_undo:{undo_key}",
        "elements": [
            {
                "type": "button",
                "action_id": Button.BULK_UNDO.action_id,
                "text": {"type": "plain_text", "text": messages.BULK_UNDO},
                "value": BulkValue(k=undo_key).encode(),
            }
        ],
    }


def bulk_summary(
    user_id: str,
    when: datetime | None,
    total: int,
    items: Sequence[BulkItem],
    run_url: Callable[[str], str],
    *,
    final: bool,
    undo_key: str | None = None,
    shift: timedelta | None = None,
    approved_by: str | None = None,
) -> Summary:
    """The set's one message: how many moved, the runs moved and each skipped run with its reason and link. The
    moved runs are listed compactly (a link each, by environment) when all went later to one time; a push (`shift`:
    each run by that much), or a set taking some runs earlier, says for each run which way it went. `when` None: an
    Undo (each run back to its own previous time); `undo_key`: the set's Undo button."""
    moved = [item for item in items if item.outcome is BulkOutcome.MOVED]
    skipped = [item for item in items if item.outcome is not BulkOutcome.MOVED]
    if shift is not None:
        title = messages.bulk_push_head(user_id, len(items), total, format_duration(shift), final)
    elif when is None:
        title = messages.bulk_undo_head(user_id, len(items), total, final)
    else:
        title = messages.bulk_head(user_id, len(items), total, date_token(when), final)
    counts = messages.bulk_counts(len(moved), len(skipped))
    if approved_by:  # a set in a protected environment, moved on another person's Approve
        counts += "\n" + messages.approved_set_note(approved_by)
    blocks: list[Block] = [section(f"{title}\n{counts}")]
    went_earlier = any(
        item.new is not None and item.previous is not None and item.new < item.previous for item in moved
    )
    if shift is not None or went_earlier:
        moved_text, left = _sections([[_moved_line(item, run_url)] for item in moved], MAX_MOVED_SECTIONS, False)
    else:
        moved_text, left = _sections(_moved_lines(moved, run_url), MAX_MOVED_SECTIONS, lead_in=True)
    blocks += [section(text) for text in moved_text]
    if left:
        blocks.append(context(messages.bulk_moved_more(left)))
    lines = [
        messages.bulk_skipped(
            item.run_id,
            run_url(item.run_id),
            SKIP_REASONS[item.outcome],
            escape(item.env_title),
            _detail(item),
        )
        for item in skipped
    ]
    skipped_text, left = _sections([[line] for line in lines], MAX_SKIP_SECTIONS, lead_in=False)
    blocks += [section(text) for text in skipped_text]
    if left:
        blocks.append(context(messages.bulk_more(left)))
    if undo_key:
        blocks.append(bulk_undo_actions(undo_key))
    if shift is not None:
        plain = messages.bulk_push_fallback(len(moved), total, format_duration(shift), len(skipped))
    elif when is None:
        plain = messages.bulk_undo_fallback(len(moved), total, len(skipped))
    else:
        plain = messages.bulk_fallback(len(moved), total, fallback_time(when), len(skipped))
    return Summary(text=truncate(plain, FALLBACK_TEXT_MAX), blocks=blocks)


def _moved_lines(moved: Sequence[BulkItem], run_url: Callable[[str], str]) -> list[list[str]]:
    """One line per environment: its lead-in, then a link to each run moved there (the pieces of the line)."""
    by_env: dict[str, list[str]] = {}
    for item in moved:
        by_env.setdefault(item.env_title, []).append(link(run_url(item.run_id), item.run_id))
    return [[messages.bulk_moved_in(escape(title)), *links] for title, links in by_env.items()]


def _sections(lines: Sequence[Sequence[str]], max_sections: int, lead_in: bool) -> tuple[list[str], int]:
    """`lines` packed into at most `max_sections` texts of at most SECTION_TEXT_MAX characters, one line after
    another; with `lead_in`, each line is a lead-in followed by items (`Moved in *Prod*: a, b`), else each line is
    one item. Also returns how many items did not fit."""
    texts: list[str] = []
    current = ""
    left = 0
    for line in lines:
        for index, piece in enumerate(line):
            counted = not (lead_in and index == 0)
            if len(texts) >= max_sections:
                left += counted
                continue
            glue = "" if not current else "\n" if index == 0 else " " if index == 1 and lead_in else ", "
            if current and len(current) + len(glue) + len(piece) > SECTION_TEXT_MAX:
                texts.append(current)
                current, glue = "", ""
                if len(texts) >= max_sections:
                    left += counted
                    continue
            current += glue + piece
    if current:
        texts.append(current)
    return texts, left


def bulk_dm(
    when: datetime | None,
    total: int,
    items: Sequence[BulkItem],
    where: str,
    *,
    note: str = "",
    undo_key: str | None = None,
    shift: timedelta | None = None,
) -> Summary:
    """The set's DM: one line (how many moved, where, to when, how many skipped, a link to the summary), a note
    on a second line when needed, and the set's **Undo**. `shift`: the DM of a push; else `when` None: of an Undo."""
    moved = [item for item in items if item.outcome is BulkOutcome.MOVED]
    skipped = len(items) - len(moved)
    titles = list(dict.fromkeys(item.env_title for item in moved if item.env_title))
    if shift is not None:
        pushed = format_duration(shift)
        line = messages.bulk_push_dm_line(len(moved), total, all_of(titles), pushed, skipped, where)
    elif when is None:
        line = messages.bulk_undo_dm_line(len(moved), total, skipped, where)
    else:
        line = messages.bulk_dm_line(len(moved), total, all_of(titles), date_token(when), skipped, where)
    blocks: list[Block] = [section(f"{line}\n{note}" if note else line)]
    if undo_key:
        blocks.append(bulk_undo_actions(undo_key))
    if shift is not None:
        plain = messages.bulk_push_fallback(len(moved), total, format_duration(shift), skipped)
    elif when is None:
        plain = messages.bulk_undo_fallback(len(moved), total, skipped)
    else:
        plain = messages.bulk_fallback(len(moved), total, fallback_time(when), skipped)
    return Summary(text=truncate(plain, FALLBACK_TEXT_MAX), blocks=blocks)


def _moved_line(item: BulkItem, run_url: Callable[[str], str]) -> str:
    """One moved run of the summary, saying which way it went."""
    if item.new is None or item.previous is None:
        return messages.bulk_skipped(item.run_id, run_url(item.run_id), messages.BULK_MOVED, escape(item.env_title), "")
    if item.new > item.previous:
        direction = messages.BULK_LATER
    elif item.new < item.previous:
        direction = messages.BULK_EARLIER
    else:
        direction = messages.BULK_SAME
    seconds = same_minute(item.previous, item.new)
    return messages.bulk_moved(
        item.run_id,
        run_url(item.run_id),
        escape(item.env_title),
        direction,
        date_token(item.previous, seconds=seconds),
        date_token(item.new, seconds=seconds),
    )
