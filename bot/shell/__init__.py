"""`reschedule-bot shell`: the bot in a terminal, with a stand-in for Slack and (with --demo) for Trigger.dev.

The bot is built exactly as `serve` builds it; only Slack's side is local (bot/shell/slack_stand_in.py), and with
--demo Trigger.dev is the built-in simulation (bot/demo.py). Interactive with line editing and history, or scripted:
`-c LINE` (repeatable) or lines from a pipe run one after the other and print the transcript.

In a script, a question the bot asks (a button's "Are you sure? [y/N]", a form's fields) takes the next line as its
answer, shown after the question in the transcript, unless that line is a command (`/…`, `click …`, `help`, `exit`):
then the question is left unanswered (No; the form is closed) and the line runs as a command. `--yes` answers every
y/N question yes without taking a line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import AnyHttpUrl, SecretStr
from rich.console import Console
from rich.markup import escape

from bot import logs, settings, wiring
from bot.server import asgi_app
from bot.shell.session import EXIT_WORDS, HELP, Ask, Session
from bot.shell.slack_stand_in import SlackStandIn

BANNER = "reschedule-bot shell: type what you would type in Slack. `help` for the commands, `exit` to leave."


def main(args: argparse.Namespace) -> int:
    try:
        config = settings.load("shell", demo=args.demo)
    except settings.ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    tz_name = args.timezone or local_timezone()
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"reschedule-bot shell: unknown timezone {tz_name!r} (use a name like Europe/Paris)", file=sys.stderr)
        return 2
    # The transcript is the output: log lines only for errors, unless LOG_LEVEL asks for more.
    logs.configure(config.log_level if "log_level" in config.model_fields_set else "ERROR")
    scripted = bool(args.command) or not sys.stdin.isatty()
    lines = ScriptLines(iter(args.command) if args.command else iter(sys.stdin.readline, ""))
    console = Console(highlight=False)
    try:
        return asyncio.run(_run(args, config, tz_name, tz, console, lines, scripted))
    except KeyboardInterrupt:  # Ctrl-C: the session was cancelled and closed; leaving is what was asked
        console.print()
        return 0


def local_timezone() -> str:
    """The machine's IANA timezone name (from /etc/localtime), else UTC."""
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return "UTC"


async def _run(
    args: argparse.Namespace,
    config: settings.Settings,
    tz_name: str,
    tz: ZoneInfo,
    console: Console,
    lines: ScriptLines,
    scripted: bool,
) -> int:
    stand_in = SlackStandIn(user=args.user, channel=args.channel, timezone=tz_name)
    await stand_in.start()
    secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="reschedule-bot-shell-") as scratch:
        update: dict[str, object] = {
            "slack_bot_token": SecretStr("xoxb-shell-stand-in"),
            "slack_signing_secret": SecretStr(secret),
            "slack_app_token": None,
            "slack_api_url": AnyHttpUrl(stand_in.api_url),
            "slack_team_id": None,
            "slack_app_id": None,
            "audit_channel": None,
        }
        if args.demo:  # the demo keeps nothing: its audit trail lives as long as the session
            update["database_url"] = SecretStr(f"sqlite:///{Path(scratch) / 'shell.sqlite3'}")
        config = config.model_copy(update=update)
        transport = _demo_transport() if args.demo else None
        bot = wiring.build(config, transport=transport)
        await bot.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi_app(bot)), base_url="http://shell")
        ask = _scripted_ask(lines, console) if scripted else _prompt_ask
        idle = lambda: bot.deps.inflight.busy == 0  # noqa: E731
        session = Session(client, stand_in, secret.encode(), idle, ask, console, tz, yes=args.yes)
        watcher: asyncio.Task[None] | None = None
        try:
            if not scripted:
                _enable_line_editing()
                console.print(BANNER)
                if args.demo:
                    console.print(_demo_intro())
                watcher = asyncio.create_task(session.watch(), name="shell-updates")
            while True:
                text = await ask("› ") if not scripted else lines.next()
                if text is None:
                    break
                if scripted:
                    console.print(f"[bold]› {escape(text.rstrip())}[/]")
                if not await session.line(text):
                    break
        finally:
            if watcher is not None:
                watcher.cancel()
            await client.aclose()
            await bot.aclose()
            await stand_in.close()
    return 0


def _demo_transport() -> httpx.AsyncBaseTransport:
    from bot.demo import DemoTrigger

    return DemoTrigger()


def _demo_intro() -> str:
    from bot import demo

    return (
        "Demo: a simulated Trigger.dev, nothing real is moved. Delayed runs to try: "
        f"{demo.RUN_DIGEST} (prod), {demo.RUN_REMINDER} (staging); "
        f"already running: {demo.RUN_IMPORT_EXECUTING}.\n"
        f"Try: {demo.FIRST_TRY}"
    )


async def _prompt_ask(question: str) -> str | None:
    """input() in a daemon thread, so the event loop stays free: Ctrl-C cancels the session at once (and a
    reader still blocked on the terminal does not hold up the exit). None at end of input (Ctrl-D)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def read() -> None:
        try:
            line: str | None = input(question)
        except (EOFError, OSError):
            line = None
        loop.call_soon_threadsafe(_settle, answer, line)

    threading.Thread(target=read, name="shell-input", daemon=True).start()
    return await answer


def _settle(answer: asyncio.Future[str | None], line: str | None) -> None:
    if not answer.done():  # cancelled by Ctrl-C meanwhile
        answer.set_result(line)


class ScriptLines:
    """The lines of a script (`-c` or a pipe), with a look at the next one before taking it."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._ahead: list[str] = []

    def peek(self) -> str | None:
        if not self._ahead:
            following = next(self._lines, None)
            if following is None:
                return None
            self._ahead.append(following)
        return self._ahead[0]

    def next(self) -> str | None:
        return self._ahead.pop(0) if self._ahead or self.peek() is not None else None


def is_command(line: str) -> bool:
    """A line a script means as a command, never as an answer to a question."""
    text = line.strip().lower()
    return text.startswith(("/", "click ")) or text in EXIT_WORDS or text in ("help", "?")


def _scripted_ask(lines: ScriptLines, console: Console) -> Ask:
    """Answers to questions come from the next script line, echoed after the question; a command line is not
    taken as an answer: the question is left unanswered (No, or the form closed), and the line runs next."""

    async def ask(question: str) -> str | None:
        following = lines.peek()
        if following is None or is_command(following):
            console.print(f"{question}(no answer in the script)", markup=False)
            return None
        answer = lines.next() or ""
        console.print(f"{question}{answer.rstrip()}", markup=False)
        return answer.rstrip("\n")

    return ask


def _enable_line_editing() -> None:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (importing it gives input() editing and history)


__all__ = ["HELP", "main"]
