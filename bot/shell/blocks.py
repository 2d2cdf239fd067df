"""Block Kit as terminal text: sections, fields, context, date tokens in the reader's timezone, links, buttons.

Pure: takes a message or a view, returns rich renderables and the buttons or inputs in the order they are shown,
so the session can number them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

Block = dict[str, Any]

_SPECIAL = re.compile(r"<([^<>]+)>")
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])"), "bold"),
    (re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])"), "italic"),
    (re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])"), "strike"),
)
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI = {
    ":white_check_mark:": "✅",
    ":warning:": "⚠️",
    ":hourglass:": "⌛",
    ":hourglass_flowing_sand:": "⏳",
    ":lock:": "🔒",
    ":mag:": "🔍",
    ":no_entry_sign:": "🚫",
    ":information_source:": "ℹ️",
    ":boom:": "💥",
    ":arrows_counterclockwise:": "🔄",
    ":grey_question:": "❔",
    ":x:": "❌",
    ":clock3:": "🕒",
}
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:")


@dataclass(frozen=True, slots=True)
class Button:
    """A button as shown: its label, the action Slack would send, and what it asks first (if anything)."""

    label: str
    action: dict[str, Any]
    url: str | None
    confirm: dict[str, Any] | None


def format_date(unix: int, pattern: str, tz: ZoneInfo, now: datetime) -> str:
    """A `<!date^…^pattern|…>` token as Slack shows it to a reader in `tz`."""
    when = datetime.fromtimestamp(unix, tz)
    today = now.astimezone(tz).date()
    days = (when.date() - today).days
    pretty = {0: "today", 1: "tomorrow", -1: "yesterday"}.get(days, when.strftime("%a %d %b %Y"))
    ago = _ago(when - now.astimezone(tz))
    values = {
        "date_short_pretty": pretty,
        "date_long_pretty": pretty,
        "date_pretty": pretty,
        "date_num": when.strftime("%Y-%m-%d"),
        "date": when.strftime("%d %B %Y"),
        "date_short": when.strftime("%b %d, %Y"),
        "date_long": when.strftime("%A, %d %B %Y"),
        "time": when.strftime("%H:%M"),
        "time_secs": when.strftime("%H:%M:%S"),
        "ago": ago,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), pattern)


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    size, unit = next(
        (
            (abs(seconds) // length, name)
            for length, name in ((86400, "day"), (3600, "hour"), (60, "minute"))
            if abs(seconds) >= length
        ),
        (abs(seconds), "second"),
    )
    text = f"{size} {unit}{'' if size == 1 else 's'}"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def mrkdwn(text: str, tz: ZoneInfo, now: datetime) -> Text:
    """Slack mrkdwn (already escaped as Slack escapes it) as styled terminal text."""

    def special(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("!date^"):
            parts = inner[len("!date^") :].split("^", 1)
            pattern = parts[1].split("|", 1)[0] if len(parts) > 1 else "{date_num} {time}"
            return escape(format_date(int(parts[0]), pattern, tz, now)) if parts[0].isdigit() else escape(inner)
        if inner.startswith("@"):
            return f"[bold cyan]@{escape(inner[1:])}[/]"
        if inner.startswith("#"):
            channel, _, name = inner[1:].partition("|")
            return f"[bold cyan]#{escape(name or channel)}[/]"
        if inner.startswith("!"):
            return escape("@" + inner[1:].split("|")[0])
        url, _, label = inner.partition("|")
        shown = escape(_unescape(label or url))
        where = f" [dim]({escape(url)})[/]" if label else ""
        return f"[link={escape(url)}][underline]{shown}[/underline][/link]{where}"

    pieces: list[str] = []
    last = 0
    for match in _SPECIAL.finditer(text):
        pieces.append(_styled(escape(_unescape(text[last : match.start()]))))
        pieces.append(special(match))
        last = match.end()
    pieces.append(_styled(escape(_unescape(text[last:]))))
    return Text.from_markup(_EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(0), m.group(0)), "".join(pieces)))


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _styled(text: str) -> str:
    text = _CODE.sub(lambda m: f"[bold magenta]{m.group(1)}[/]", text)
    for pattern, style in _STYLES:
        text = pattern.sub(_wrap(style), text)
    return text


def _wrap(style: str) -> Callable[[re.Match[str]], str]:
    return lambda match: f"[{style}]{match.group(1)}[/{style}]"


def _text_of(element: Any, tz: ZoneInfo, now: datetime) -> Text:
    if not isinstance(element, dict):
        return Text("")
    value = str(element.get("text", ""))
    return mrkdwn(value, tz, now) if element.get("type") == "mrkdwn" else Text(value)


def blocks(
    items: list[Block], tz: ZoneInfo, now: datetime, first_number: int = 1
) -> tuple[list[RenderableType], list[Button]]:
    """Renderables for `items`, and the buttons among them (numbered from `first_number` in the text)."""
    shown: list[RenderableType] = []
    buttons: list[Button] = []
    for block in items:
        kind = block.get("type")
        if kind == "section":
            if block.get("text"):
                shown.append(_text_of(block["text"], tz, now))
            fields = [_text_of(field_, tz, now) for field_ in block.get("fields") or []]
            if fields:  # Slack shows a section's fields two to a row
                grid = Table.grid(padding=(0, 4))
                grid.add_column()
                grid.add_column()
                for left, right in itertools.zip_longest(fields[::2], fields[1::2], fillvalue=Text("")):
                    grid.add_row(left, right)
                shown.append(grid)
        elif kind == "context":
            line = Text(style="dim")
            for element in block.get("elements") or []:
                line.append(_text_of(element, tz, now)).append("  ")
            shown.append(line)
        elif kind == "actions":
            line = Text()
            for element in block.get("elements") or []:
                if element.get("type") != "button":
                    continue
                number = first_number + len(buttons)
                label = str((element.get("text") or {}).get("text", "?"))
                buttons.append(
                    Button(
                        label,
                        {**element, "block_id": block.get("block_id", "")},
                        element.get("url"),
                        element.get("confirm"),
                    )
                )
                style = {"primary": "bold green", "danger": "bold red"}.get(str(element.get("style")), "bold")
                line.append(f"[{number}] ", style="dim").append(label, style=style).append("   ")
            shown.append(line)
        elif kind == "divider":
            shown.append(Text("─" * 40, style="dim"))
        elif kind == "header":
            heading = _text_of(block.get("text"), tz, now)
            heading.stylize("bold")
            shown.append(heading)
    return shown, buttons


def message(
    body: dict[str, Any], title: str, tz: ZoneInfo, now: datetime, first_number: int = 1, style: str = "blue"
) -> tuple[RenderableType, list[Button]]:
    """A message as a panel titled `title` (where it appeared), with its numbered buttons."""
    shown, buttons = blocks(list(body.get("blocks") or []), tz, now, first_number)
    if not shown:
        shown = [mrkdwn(str(body.get("text", "")), tz, now)]
    return Panel(Group(*shown), title=title, title_align="left", border_style=style, expand=False), buttons


def plain_lines(body: dict[str, Any], tz: ZoneInfo, now: datetime) -> list[str]:
    """A message as plain lines of text, each field's label and value on one line ("Status: ⏳ Delayed"), the
    fields first (they say what a message is about: times, status)."""
    fields: list[str] = []
    lines: list[str] = []
    for block in body.get("blocks") or []:
        kind = block.get("type")
        if kind in ("section", "header") and block.get("text"):
            lines += _text_of(block["text"], tz, now).plain.splitlines()
        if kind == "section":
            fields += [": ".join(_text_of(f, tz, now).plain.splitlines()) for f in block.get("fields") or []]
        if kind == "context":
            lines.append("  ".join(_text_of(e, tz, now).plain for e in block.get("elements") or []))
    if not fields and not lines:
        lines = mrkdwn(str(body.get("text", "")), tz, now).plain.splitlines()
    return [line.strip() for line in fields + lines if line.strip()]


def what_changed(before: dict[str, Any], after: dict[str, Any], tz: ZoneInfo, now: datetime, width: int = 70) -> str:
    """The first line of `after` that `before` did not have, shortened ("Status: ✅ Completed"), or ""."""
    old = set(plain_lines(before, tz, now))
    new = [line for line in plain_lines(after, tz, now) if line not in old]
    text = new[0] if new else ""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Input:
    """One input of a modal form: its block and action ids, label, element, and whether it may be left empty."""

    block_id: str
    action_id: str
    label: str
    element: dict[str, Any]
    optional: bool


def view(
    modal: dict[str, Any], tz: ZoneInfo, now: datetime, errors: dict[str, str] | None = None
) -> tuple[RenderableType, list[Input]]:
    """A modal as a panel, and its inputs in order (errors, keyed by block id, shown under their input)."""
    shown: list[RenderableType] = []
    inputs: list[Input] = []
    for block in modal.get("blocks") or []:
        if block.get("type") == "input":
            element = block.get("element") or {}
            label = str((block.get("label") or {}).get("text", ""))
            inputs.append(
                Input(
                    str(block.get("block_id")),
                    str(element.get("action_id")),
                    label,
                    element,
                    bool(block.get("optional")),
                )
            )
            hint = (block.get("hint") or {}).get("text")
            shown.append(Text.assemble((f"▸ {label}", "bold"), (f"  ({hint})" if hint else "", "dim")))
            if element.get("type") in ("checkboxes", "static_select"):
                for number, option in enumerate(element.get("options") or [], start=1):
                    shown.append(Text("    ").append(f"{number}. ").append(_text_of(option.get("text"), tz, now)))
            if errors and block.get("block_id") in errors:
                shown.append(Text(f"    ⚠ {errors[str(block.get('block_id'))]}", style="bold red"))
        else:
            rendered, _ = blocks([block], tz, now)
            shown.extend(rendered)
    title = str((modal.get("title") or {}).get("text", "Modal"))
    return Panel(
        Group(*shown) if shown else Text(""),
        title=f"▣ {title}",
        title_align="left",
        border_style="magenta",
        expand=False,
    ), inputs
