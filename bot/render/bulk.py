"""Many runs in one move: the private Confirm / Cancel prompt and the one summary message of the set (pure)."""

from __future__ import annotations

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
    same_minute,
    section,
    truncate,
)
from bot.render.summary import Block, Summary
from bot.render.times import spoken

# Skipped runs are listed in sections of at most SECTION_TEXT_MAX characters, in at most MAX_SKIP_SECTIONS of them
# (with a head and a count, well within Block Kit's 50 blocks); beyond that they are counted.
MAX_SKIP_SECTIONS = 10
SKIP_REASONS = {
    BulkOutcome.NOT_DELAYED: messages.BULK_SKIP_NOT_DELAYED,
    BulkOutcome.NOT_FOUND: messages.BULK_SKIP_NOT_FOUND,
    BulkOutcome.REFUSED: messages.BULK_SKIP_REFUSED,
    BulkOutcome.FAILED: messages.BULK_SKIP_FAILED,
    BulkOutcome.PASSED: messages.BULK_PASSED,
}


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
) -> list[Block]:
    """The private prompt: how many runs, in which environments, to which time; Confirm / Cancel. With `planned`
    (each run's current and new time): a push by `shift` names each run's move; a move to `when` names every run
    it would take earlier than it is now (or says none)."""
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
        text = messages.bulk_prompt(count, all_of(env_titles), said(when), missing)
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
    head: str = "",
    undo_key: str | None = None,
    shift: timedelta | None = None,
) -> Summary:
    """The set's one message: how many moved, each moved run with which way it went, and each skipped run with
    its reason and link. `shift`: a push, each run by that much; else `when` None: an Undo (each run back to its own
    previous time); `undo_key`: the set's Undo button."""
    moved = [item for item in items if item.outcome is BulkOutcome.MOVED]
    skipped = [item for item in items if item.outcome is not BulkOutcome.MOVED]
    if shift is not None:
        title = messages.bulk_push_head(user_id, len(items), total, format_duration(shift), final)
    elif when is None:
        title = messages.bulk_undo_head(user_id, len(items), total, final)
    else:
        title = messages.bulk_head(user_id, len(items), total, date_token(when), final)
    counts = messages.bulk_counts(len(moved), len(skipped))
    blocks: list[Block] = []
    if head:
        blocks.append(section(head))
    blocks.append(section(f"{title}\n{counts}"))
    chunk = ""
    shown = 0
    for item in [*moved, *skipped]:
        line = _line(item, run_url)
        if len(chunk) + len(line) + 1 > SECTION_TEXT_MAX:
            if len(blocks) >= MAX_SKIP_SECTIONS + 2:
                break
            blocks.append(section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
        shown += 1
    if chunk:
        blocks.append(section(chunk))
    if shown < len(moved) + len(skipped):
        more = messages.bulk_more(len(moved) + len(skipped) - shown)
        blocks.append(context(more))
    if undo_key:
        blocks.append(bulk_undo_actions(undo_key))
    if shift is not None:
        plain = messages.bulk_push_fallback(len(moved), total, format_duration(shift), len(skipped))
    elif when is None:
        plain = messages.bulk_undo_fallback(len(moved), total, len(skipped))
    else:
        plain = messages.bulk_fallback(len(moved), total, fallback_time(when), len(skipped))
    return Summary(text=truncate(plain, FALLBACK_TEXT_MAX), blocks=blocks)


def _line(item: BulkItem, run_url: Callable[[str], str]) -> str:
    """One run of the summary: a moved run says which way it went, a skipped one why."""
    if item.outcome is BulkOutcome.MOVED and item.new is not None and item.previous is not None:
        if item.new > item.previous:
            direction = messages.BULK_LATER
        elif item.new < item.previous:
            direction = messages.BULK_EARLIER
        else:
            direction = messages.BULK_SAME
        return messages.bulk_moved(
            item.run_id,
            run_url(item.run_id),
            escape(item.env_title),
            direction,
            date_token(item.previous, seconds=same_minute(item.previous, item.new)),
            date_token(item.new, seconds=same_minute(item.previous, item.new)),
        )
    if item.outcome is BulkOutcome.MOVED:
        return messages.bulk_skipped(item.run_id, run_url(item.run_id), messages.BULK_MOVED, escape(item.env_title), "")
    return messages.bulk_skipped(
        item.run_id,
        run_url(item.run_id),
        SKIP_REASONS[item.outcome],
        escape(item.env_title),
        escape(truncate(item.detail, 200)),
    )
