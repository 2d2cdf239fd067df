"""mrkdwn helpers: escaping what is not ours, Slack date tokens, and truncation to Block Kit limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ELLIPSIS = "…"

# Block Kit limits (Slack's Block Kit reference).
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
CONTEXT_TEXT_MAX = 2000
BUTTON_TEXT_MAX = 75
URL_MAX = 3000
FALLBACK_TEXT_MAX = 3000


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section block, cut to Block Kit's limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX)}}


def context(text: str) -> dict[str, Any]:
    """A context block of one mrkdwn line, cut to Block Kit's limit."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, CONTEXT_TEXT_MAX)}]}


def escape(text: str) -> str:
    """Escape Slack's three control characters, `&` first, so nothing foreign can ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str, limit: int = 200) -> str:
    """Untrusted text in an inline code span: escaped, backticks neutralised, bounded in length."""
    cleaned = truncate(text.replace("`", "ˋ").replace("\n", " "), limit)
    return f"`{escape(cleaned)}`"


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


def fallback_time(when: datetime, *, seconds: bool = False) -> str:
    """How a time reads where Slack cannot localise it (notifications, old clients): to the minute."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def date_token(when: datetime, *, seconds: bool = False) -> str:
    """A `<!date^…>` token: every reader sees the time in their own Slack timezone, to the minute (`seconds`:
    only where they are needed to tell two times apart)."""
    unix = int(when.timestamp())
    clock = "{time_secs}" if seconds else "{time}"
    return f"<!date^{unix}^{{date_short_pretty}} at {clock}|{fallback_time(when, seconds=seconds)}>"


def same_minute(first: datetime | None, second: datetime | None) -> bool:
    """Whether two different times read the same to the minute (then both are shown with seconds)."""
    if first is None or second is None or first == second:
        return False
    return first.replace(second=0, microsecond=0) == second.replace(second=0, microsecond=0)


def link(url: str, label: str) -> str:
    """A mrkdwn link to one of our own URLs with an escaped label."""
    safe_url = url.replace(">", "%3E").replace("<", "%3C").replace("|", "%7C")
    return f"<{safe_url}|{escape(label)}>"
