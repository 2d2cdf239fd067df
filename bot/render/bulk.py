"""Many runs in one move: the private Confirm / Cancel prompt and the one summary message of the set (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot import messages
from bot.domain.bulk import BulkItem, BulkOutcome
from bot.render.ids import BULK_MODAL_CALLBACK_ID, BulkValue, Button
from bot.render.modal_views import when_inputs
from bot.render.mrkdwn import (
    FALLBACK_TEXT_MAX,
    SECTION_TEXT_MAX,
    context,
    date_token,
    escape,
    fallback_time,
    section,
    truncate,
)
from bot.render.summary import Block, Summary

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


def bulk_prompt(key: str, count: int, env_titles: Sequence[str], when: datetime, missing: int) -> list[Block]:
    """The private prompt: how many runs, in which environments, to which time; Confirm / Cancel."""
    value = BulkValue(k=key).encode()
    text = messages.bulk_prompt(count, all_of(env_titles), date_token(when), missing)
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
) -> Summary:
    """The set's one message: how many moved, and each skipped run with its reason and link. `when` None: an
    Undo (each run back to its own previous time); `undo_key`: the set's Undo button."""
    moved = [item for item in items if item.outcome is BulkOutcome.MOVED]
    skipped = [item for item in items if item.outcome is not BulkOutcome.MOVED]
    if when is None:
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
    for item in skipped:
        line = messages.bulk_skipped(
            item.run_id,
            run_url(item.run_id),
            SKIP_REASONS[item.outcome],
            escape(item.env_title),
            escape(truncate(item.detail, 200)),
        )
        if len(chunk) + len(line) + 1 > SECTION_TEXT_MAX:
            if len(blocks) >= MAX_SKIP_SECTIONS + 2:
                break
            blocks.append(section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
        shown += 1
    if chunk:
        blocks.append(section(chunk))
    if shown < len(skipped):
        more = messages.bulk_more(len(skipped) - shown)
        blocks.append(context(more))
    if undo_key:
        blocks.append(bulk_undo_actions(undo_key))
    if when is None:
        plain = messages.bulk_undo_fallback(len(moved), total, len(skipped))
    else:
        plain = messages.bulk_fallback(len(moved), total, fallback_time(when), len(skipped))
    return Summary(text=truncate(plain, FALLBACK_TEXT_MAX), blocks=blocks)
