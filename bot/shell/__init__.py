"""`reschedule-bot shell`: the bot in a terminal, with a stand-in for Slack and (with --demo) for Trigger.dev.

The bot is built exactly as `serve` builds it; only Slack's side is local (bot/shell/slack_stand_in.py), and with
--demo Trigger.dev is the built-in simulation (bot/demo.py). Interactive with line editing and history, or scripted:
`-c LINE` (repeatable) or lines from a pipe run without prompts and print the transcript.
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
from bot.shell.session import HELP, Ask, Session
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
    lines: Iterator[str] = iter(args.command) if args.command else iter(sys.stdin.readline, "")
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
    lines: Iterator[str],
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
        session = Session(client, stand_in, secret.encode(), lambda: bot.deps.inflight.busy == 0, ask, console, tz)
        try:
            if not scripted:
                _enable_line_editing()
                console.print(BANNER)
                if args.demo:
                    console.print(_demo_intro())
            while True:
                text = await ask("› ") if not scripted else next(lines, None)
                if text is None:
                    break
                if scripted:
                    console.print(f"[bold]› {escape(text.rstrip())}[/]")
                if not await session.line(text):
                    break
        finally:
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


def _scripted_ask(lines: Iterator[str], console: Console) -> Ask:
    """Answers to prompts come from the next script lines, echoed into the transcript."""

    async def ask(question: str) -> str | None:
        answer = next(lines, None)
        if answer is not None:
            console.print(f"{question}{answer.rstrip()}", markup=False)
        return None if answer is None else answer.rstrip("\n")

    return ask


def _enable_line_editing() -> None:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (importing it gives input() editing and history)


__all__ = ["HELP", "main"]
