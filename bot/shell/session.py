"""One shell session: each line becomes the request Slack would send, through the bot's real front door.

A line is signed with the session's signing secret and posted to the production ASGI app (verification, body checks,
Bolt, the listeners, the action path). The session then waits until everything that request started has finished and
shows what the person would see in Slack: channel messages, private replies, DMs, updated messages, modals.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.markup import escape

from bot import messages
from bot.domain.delays import DelayError, DelayProblem
from bot.domain.typed_time import parse_when
from bot.shell import blocks
from bot.shell.slack_stand_in import BOT_USER, TEAM_ID, Seen, SlackStandIn, previewed

SETTLE_TIMEOUT_SECONDS = 60.0
SETTLE_POLL_SECONDS = 0.02
CHANGE_WIDTH = 48  # what changed, in an updated message's title
EXIT_WORDS = frozenset({"exit", "quit", ":q"})
_HELP_LINES = (
    (f"{messages.COMMAND} <run> <when>", "move a run"),
    (f"{messages.COMMAND} <run>", "show it"),
    (f"{messages.COMMAND} {messages.LIST_WORD}", "the delayed runs"),
    (f"{messages.COMMAND} {messages.HISTORY_WORD}", "your recent moves"),
    (f"{messages.COMMAND} help", "the bot's help"),
    ("<a run's link>", "post it in the channel: its preview, with buttons"),
    ("click <n>, or just <n>", "click button [n]"),
    ("click <words>", "click the button whose label has these words"),
    ("exit (or Ctrl-D)", "leave"),
)
HELP = "\n".join(
    [
        "Type what you would type in Slack:",
        *(f"  {typed:<27}{does}" for typed, does in _HELP_LINES),
        "Buttons keep their number for the whole session. `click tomorrow` clicks the one",
        'button whose label contains "tomorrow" (any case), or lists the candidates when',
        "several do.",
    ]
)

Ask = Callable[[str], Awaitable[str | None]]
WHERE = {
    "message": "in the channel",
    "dm": "in the DM",
    "ephemeral": "private",
    "updated": "updated",
    "preview": "in a preview",
}
LINK = re.compile(r"https?://[^\s<>|]+")


@dataclass(frozen=True, slots=True)
class Clickable:
    """A button on screen and where it is: the message it sits on, for the request a click sends."""

    button: blocks.Button
    seen: Seen


def _label_key(clickable: Clickable, ellipsis: bool = False) -> str:
    """The label as typed words are compared with it: any case, spaces as one, without its trailing `…` unless
    `ellipsis` (`Reschedule` is the confirmation's button, `Reschedule…` a list's)."""
    label = clickable.button.label.lower()
    return " ".join((label if ellipsis else label.rstrip("…")).split())


class Session:
    """Drives the bot as Slack would for one person in one channel.

    Args:
        client: an httpx client whose transport is the bot's ASGI app.
        stand_in: Slack's side, answering the bot's calls and recording what it shows.
        secret: the signing secret the bot was built with.
        idle: True when the bot has no acknowledged work left.
        ask: reads an answer to a prompt (None: no more input).
        yes: answer every y/N question yes without asking (`--yes`).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        stand_in: SlackStandIn,
        secret: bytes,
        idle: Callable[[], bool],
        ask: Ask,
        console: Console,
        tz: ZoneInfo,
        yes: bool = False,
    ) -> None:
        self.client = client
        self.stand_in = stand_in
        self.secret = secret
        self.idle = idle
        self.ask = ask
        self.console = console
        self.tz = tz
        self.yes = yes
        # Every button shown gets the next number, kept for the session; a message updated or removed takes its
        # buttons away (the updated one brings its own, numbered anew).
        self.live: dict[int, Clickable] = {}
        self.next_number = 1
        self.bodies: dict[str, dict[str, Any]] = {}  # what each message (by ref) showed last: to say what changed
        self.places: dict[str, str] = {}  # where each message (by ref) first appeared: channel, DM, private
        self.shown = 0  # how many of stand_in.seen are on screen
        self.form: Seen | None = None
        self.busy = False  # handling a line (updates found meanwhile are shown with its output)
        self._triggers = itertools.count(1)

    # ----------------------------------------------------------------------------------------------- lines

    async def line(self, text: str) -> bool:
        """Handle one line; False when the person asked to leave."""
        self.busy = True
        try:
            return await self._line(text)
        finally:
            self.busy = False

    async def _line(self, text: str) -> bool:
        text = text.strip()
        if not text:
            return True
        if text.lower() in EXIT_WORDS:
            return False
        if text.lower() in ("help", "?"):
            self.console.print(HELP, markup=False)
        elif text.startswith("/"):
            await self.command(text)
        elif LINK.search(text):
            await self.share(text)
        elif text.lower().startswith("click ") or text.isdigit():
            await self.click(text.split(" ", 1)[1] if text.lower().startswith("click ") else text)
        elif text.lower() == "click":
            if self.live:
                self.console.print(f"[yellow]Click which button?[/] On screen: {self.listing(self.live)}")
            else:
                self.console.print("[yellow]There is no button on screen.[/]")
        elif (pressed := self.labelled(text)) is not None:
            number, label = pressed
            self.console.print(
                f"[yellow]Not a command.[/] To press that button, type [bold]click {escape(label)}[/] "
                f"(or [bold]click {number}[/])."
            )
        elif self.reads_as_a_time(text):
            self.console.print(
                f"[yellow]Not a command.[/] To move a run to that time, type "
                f"[bold]{messages.COMMAND} <run> {escape(text)}[/], with the run's id or link for <run>."
            )
        elif _meant_for_the_command(text):
            self.console.print(
                f"[yellow]Commands start with {messages.COMMAND}.[/] Did you mean "
                f"[bold]{messages.COMMAND} {escape(text)}[/]?"
            )
        elif (meant := _respelled_shell_word(text)) is not None:
            self.console.print(f"[yellow]Not a command.[/] Did you mean [bold]{escape(meant)}[/]?")
        else:
            self.console.print(f"[yellow]Not a command.[/] Type {messages.COMMAND} …, click <n>, help or exit.")
        return True

    async def command(self, text: str) -> None:
        name, _, rest = text.partition(" ")
        if name != messages.COMMAND:  # Slack answers a command no app has, and sends nothing to the bot
            self.console.print(f"[yellow]{escape(name)} is not a valid command.[/] {_command_meant(name, rest)}")
            return
        fields = {
            "command": name,
            "text": rest.strip(),
            "team_id": TEAM_ID,
            "channel_id": self.stand_in.channel,
            "user_id": self.stand_in.user,
            "response_url": self.stand_in.new_response_url(),
            "trigger_id": self.trigger_id(),
        }
        ack = await self.send(urlencode(fields).encode())
        if ack:
            self.stand_in.seen.append(Seen("ephemeral", ack, self.stand_in.new_ts()))
        await self.settle()

    async def share(self, text: str) -> None:
        """Post `text` in the channel as the person, and send the `link_shared` event Slack sends for its links."""
        ts = self.stand_in.new_ts()
        channel = self.stand_in.channel
        self.stand_in.messages[ts] = {"ts": ts, "text": text, "user": self.stand_in.user}
        links = [{"url": url, "domain": urlsplit(url).hostname or ""} for url in dict.fromkeys(LINK.findall(text))]
        event = {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "api_app_id": "A0SHELL",
            "event": {
                "type": "link_shared",
                "channel": channel,
                "user": self.stand_in.user,
                "message_ts": ts,
                "unfurl_id": f"{channel}.{ts}",
                "source": "conversations_history",
                "links": links,
                "event_ts": ts,
            },
            "event_id": f"Ev{uuid.uuid4().hex}",
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": TEAM_ID, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
            ],
        }
        shown = len(self.stand_in.seen)
        self.console.print(f"[dim](posted in #{escape(channel)})[/]")
        await self.send(json.dumps(event).encode(), "application/json")
        await self.settle()
        if len(self.stand_in.seen) == shown:
            self.console.print(
                "[dim]No preview: the bot previews only links to runs it finds in the Trigger.dev dashboard.[/]"
            )

    async def click(self, which: str) -> None:
        target = self.find_button(which.strip())
        if target is None:
            return
        button, seen = target.button, target.seen
        if button.confirm and not await self.confirmed(button.confirm):
            self.console.print("[dim]Cancelled: nothing was sent.[/]")
            return
        if button.url:
            self.console.print(f"[dim]Opens {escape(button.url)}[/]")
        body = self.click_payload(button, seen)
        await self.send(("payload=" + quote(json.dumps(body))).encode())
        await self.settle()

    def find_button(self, which: str) -> Clickable | None:
        """The button numbered `which`, or the one whose label is `which` (exactly as typed, then without a
        trailing `…`) or contains it (any case); when several do, they are listed and none is clicked."""
        if not self.live:
            self.console.print("[yellow]There is no button on screen.[/]")
            return None
        if which.isdigit():
            found = self.live.get(int(which))
            if found is None:
                self.console.print(f"[yellow]No button [{escape(which)}].[/] On screen: {self.listing(self.live)}")
            return found
        typed = " ".join(which.lower().split())
        wanted = " ".join(which.lower().rstrip("…").split())
        as_typed = {n: c for n, c in self.live.items() if _label_key(c, ellipsis=True) == typed}
        exact = as_typed or {n: c for n, c in self.live.items() if _label_key(c) == wanted}
        matches = exact or {n: c for n, c in self.live.items() if wanted in _label_key(c)}
        if len(matches) == 1:
            return next(iter(matches.values()))
        if matches:
            self.console.print(
                f"[yellow]{len(matches)} buttons match {escape(repr(which))}; nothing was clicked.[/] "
                f"Click one by its number: {self.listing(matches)}"
            )
            return None
        self.console.print(f"[yellow]No button matches {escape(repr(which))}.[/] On screen: {self.listing(self.live)}")
        return None

    def reads_as_a_time(self, text: str) -> bool:
        """Whether `text` is a time as /reschedule reads one (`tomorrow 9am`, `3h`), even one it would refuse as
        past or too far: someone typing it alone meant to move a run."""
        try:
            parse_when(text, now=datetime.now(UTC), max_delay=timedelta.max, zone=self.tz)
        except DelayError as exc:
            return exc.kind not in (DelayProblem.UNREADABLE, DelayProblem.EMPTY, DelayProblem.TOO_LONG)
        except (ValueError, OverflowError):
            return False
        return True

    def labelled(self, text: str) -> tuple[int, str] | None:
        """The newest button on screen whose label is `text` (any case, without its `…`), as its number and label:
        someone typing `undo` means the Undo button."""
        typed = " ".join(text.lower().rstrip("…").split())
        found = [(n, c.button.label) for n, c in self.live.items() if _label_key(c) == typed]
        return found[-1] if found else None

    def listing(self, buttons: dict[int, Clickable]) -> str:
        where = {n: WHERE[self.places.get(c.seen.ref, c.seen.kind)] for n, c in buttons.items()}
        return escape(", ".join(f"[{n}] {c.button.label} ({where[n]})" for n, c in buttons.items()))

    async def confirmed(self, confirm: dict[str, Any]) -> bool:
        title = (confirm.get("title") or {}).get("text", "Are you sure?")
        text = (confirm.get("text") or {}).get("text", "")
        if self.yes:
            self.console.print(f"{title} {text} [y/N] y (--yes)", markup=False)
            return True
        answer = await self.ask(f"{title} {text} [y/N] ")
        return (answer or "").strip().lower() in ("y", "yes")

    def click_payload(self, button: blocks.Button, seen: Seen) -> dict[str, Any]:
        in_dm = seen.kind == "dm"
        channel = "D" + self.stand_in.user if in_dm else self.stand_in.channel
        message = self.stand_in.messages.get(seen.ref, seen.body)
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": seen.ref or self.stand_in.new_ts(),
            "channel_id": channel,
            "is_ephemeral": seen.kind == "ephemeral",
        }
        preview = previewed(seen.ref)
        if preview is not None:  # a link's preview: Slack names the person's message and the link
            ts, url = preview
            message = self.stand_in.messages.get(ts, {"ts": ts})
            container = {
                "type": "message_attachment",
                "message_ts": ts,
                "attachment_id": 1,
                "channel_id": channel,
                "is_ephemeral": False,
                "is_app_unfurl": True,
                "app_unfurl_url": url,
            }
        action = {k: v for k, v in button.action.items() if k in ("action_id", "value", "type", "block_id", "text")}
        return {
            "type": "block_actions",
            "team": {"id": TEAM_ID},
            "user": {"id": self.stand_in.user, "team_id": TEAM_ID},
            "api_app_id": "A0SHELL",
            "container": container,
            "channel": {"id": channel},
            "message": message,
            "trigger_id": self.trigger_id(),
            "response_url": self.stand_in.new_response_url(seen.ref),
            "actions": [{**action, "action_ts": str(time.time())}],
        }

    # ----------------------------------------------------------------------------------------------- forms

    async def fill_form(self) -> None:
        """Prompt for the open form's inputs and submit it, as often as the bot shows errors (three times)."""
        errors: dict[str, str] | None = None
        for _ in range(3):
            if self.form is None:
                return
            view = self.form.body
            _, inputs = blocks.view(view, self.tz, datetime.now(UTC), errors)
            values: dict[str, Any] = {}
            for field in inputs:
                answer = await self.ask(f"{field.label}{' (optional)' if field.optional else ''}: ")
                if answer is None or answer.strip().lower() == "cancel":
                    self.console.print("[dim]Closed the form: nothing was sent.[/]")
                    self.form = None
                    return
                values[field.block_id] = {field.action_id: self.input_value(field, answer.strip())}
            submitted = {**view, "state": {"values": values}}
            body = {
                "type": "view_submission",
                "team": {"id": TEAM_ID},
                "user": {"id": self.stand_in.user, "team_id": TEAM_ID},
                "api_app_id": "A0SHELL",
                "trigger_id": self.trigger_id(),
                "view": submitted,
            }
            before = len(self.stand_in.seen)
            answer_body = await self.send(("payload=" + quote(json.dumps(body))).encode())
            if answer_body.get("response_action") == "errors":
                errors = {str(k): str(v) for k, v in (answer_body.get("errors") or {}).items()}
                self.show_form(view, errors)
                continue
            if answer_body.get("response_action") == "update" and isinstance(answer_body.get("view"), dict):
                # Slack shows the acknowledgement's view first: what the bot did after acknowledging (here, while
                # the request was still being answered) comes after it.
                updated = Seen("modal", {**answer_body["view"], "id": view.get("id")}, "")
                self.stand_in.seen.insert(max(before, self.shown), updated)
            self.form = None
            await self.settle()
            return

    def input_value(self, field: blocks.Input, answer: str) -> dict[str, Any]:
        kind = field.element.get("type")
        if kind == "datetimepicker":
            return {"type": kind, "selected_date_time": self.epoch(answer)}
        if kind == "checkboxes":
            options = list(field.element.get("options") or [])
            if not answer:
                return {"type": kind, "selected_options": list(field.element.get("initial_options") or [])}
            chosen = [
                options[int(n) - 1]
                for n in answer.replace(",", " ").split()
                if n.isdigit() and 0 < int(n) <= len(options)
            ]
            return {"type": kind, "selected_options": chosen}
        if kind == "static_select":
            options = list(field.element.get("options") or [])
            picked = options[int(answer) - 1] if answer.isdigit() and 0 < int(answer) <= len(options) else None
            return {"type": kind, "selected_option": picked or field.element.get("initial_option")}
        return {"type": kind or "plain_text_input", "value": answer or None}

    def epoch(self, answer: str) -> int | None:
        """A picked date and time: Unix seconds, or a time read as the bot reads typed times, in the person's
        timezone ("2026-12-09 09:00", "tomorrow 9am"; a time already past is picked as it is, for the bot to say)."""
        if not answer:
            return None
        if answer.isdigit():
            return int(answer)
        try:
            when = parse_when(answer, now=datetime.now(UTC), max_delay=timedelta.max, zone=self.tz)
        except DelayError as exc:
            if exc.resolved is None:
                return -1  # shown as unreadable by the bot, as Slack's picker never sends it
            when = exc.resolved
        return int(when.timestamp())

    # ----------------------------------------------------------------------------------------------- plumbing

    def trigger_id(self) -> str:
        """Unique across sessions too: two shells sharing a database must not look like replays of each other."""
        return f"{int(time.time())}.{next(self._triggers)}.{uuid.uuid4().hex}"

    async def send(self, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, Any]:
        """POST `body` as Slack would (form-encoded, or JSON for an event; signed now); the acknowledgement's JSON
        body, if any."""
        ts = str(int(time.time()))
        signature = "v0=" + hmac.new(self.secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        response = await self.client.post("/slack/events", content=body, headers=headers)
        if response.status_code != 200:
            self.console.print(f"[red]The bot answered HTTP {response.status_code}.[/]")
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {}

    async def settle(self) -> None:
        """Wait until the request's work is done (no acknowledged work, no new screen output), then show it."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        quiet, last = 0, -1
        while time.monotonic() < deadline and quiet < 5:
            await asyncio.sleep(SETTLE_POLL_SECONDS)
            count = len(self.stand_in.seen)
            quiet = quiet + 1 if self.idle() and count == last else 0
            last = count
        self.show()
        if self.form is not None:
            await self.fill_form()

    def show(self, as_it_happened: bool = False) -> None:
        """Print what appeared since last time, numbering its buttons; `as_it_happened`: between lines, when the
        bot updates something by itself (a card following its run), each is labelled as such."""
        new = self.stand_in.seen[self.shown :]
        self.shown = len(self.stand_in.seen)
        now = datetime.now(UTC)
        for seen in new:
            if seen.kind == "removed":
                self.retire(seen.ref)
                self.console.print("[dim](the private message above was removed)[/]")
                continue
            if seen.kind == "modal":
                self.show_form(seen.body)
                self.form = seen if "submit" in seen.body else None
                continue
            title, style = {
                "preview": (f"preview of a link you posted in #{self.stand_in.channel}", "magenta"),
                "message": (f"#{self.stand_in.channel}", "blue"),
                "dm": ("DM from reschedule-bot", "green"),
                "ephemeral": ("only you can see this", "yellow"),
                "updated": ("message updated", "cyan"),
            }[seen.kind]
            if seen.kind == "message" and seen.body.get("thread_ts"):
                title += ", in the thread of your message"
            if seen.kind == "updated" and previewed(seen.ref) is not None:
                title = "preview updated"
            if seen.kind == "updated":
                before = self.bodies.get(seen.ref)
                change = blocks.what_changed(before, seen.body, self.tz, now, CHANGE_WIDTH) if before else ""
                title = f"{title}{' by the bot' if as_it_happened else ''}{': ' + change if change else ''}"
                self.retire(seen.ref)
            panel, found = blocks.message(seen.body, title, self.tz, now, self.next_number, style)
            self.console.print(panel)
            for button in found:
                self.live[self.next_number] = Clickable(button, seen)
                self.next_number += 1
            if seen.ref and seen.kind != "updated":
                self.places.setdefault(seen.ref, seen.kind)
            if seen.ref:  # a copy: the stand-in updates its record of a message in place
                self.bodies[seen.ref] = copy.deepcopy(seen.body)

    def retire(self, ref: str) -> None:
        """The buttons of the message `ref` are gone (it was updated or removed)."""
        for number in [n for n, c in self.live.items() if ref and c.seen.ref == ref]:
            del self.live[number]

    async def watch(self, period: float = 0.1) -> None:
        """Show what the bot changes between lines (a card that follows its run, a late DM) as it happens."""
        while True:
            await asyncio.sleep(period)
            if not self.busy and len(self.stand_in.seen) > self.shown:
                self.console.print()
                self.show(as_it_happened=True)
                self.console.print("› ", end="")

    def show_form(self, view: dict[str, Any], errors: dict[str, str] | None = None) -> None:
        panel, _ = blocks.view(view, self.tz, datetime.now(UTC), errors)
        self.console.print(panel)


def _respelled_shell_word(text: str) -> str | None:
    """The line with its first word spelt as the shell's own word it resembles (`clik 1` → `click 1`), or None."""
    first, _, rest = text.partition(" ")
    close = difflib.get_close_matches(first.lower(), ("click", "help", "exit"), n=1, cutoff=0.75)
    return f"{close[0]} {rest}".strip() if close else None


def _command_meant(name: str, rest: str) -> str:
    """What to say after a slash command Slack does not know: the bot's own, with what followed it."""
    typed = f"{messages.COMMAND} {rest.strip()}".strip()
    if difflib.get_close_matches(name.lower(), (messages.COMMAND,), n=1, cutoff=0.6):
        return f"Did you mean [bold]{escape(typed)}[/]?"
    return f"This app's command is [bold]{messages.COMMAND}[/]; type help for what it takes."


def _meant_for_the_command(text: str) -> bool:
    """A line that reads as what follows /reschedule (`list`, `history`, a run id), typed without it."""
    first = text.split(maxsplit=1)[0].lower()
    return first in (messages.LIST_WORD, messages.HISTORY_WORD) or first.startswith("run_")
