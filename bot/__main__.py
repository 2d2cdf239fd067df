"""Command line: `reschedule-bot serve | socket | migrate | shell | check` (also `python -m bot …`)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Sequence

from bot import __version__, logs, operator_messages, settings
from bot.slack.bot_identity import SlackRejected


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reschedule-bot", description="Reschedule delayed Trigger.dev runs from Slack."
    )
    parser.add_argument("--version", action="version", version=f"reschedule-bot {__version__}")
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz, GET /metrics (for deployment)")
    serve.add_argument("--host", default="0.0.0.0", help="interface to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT or 3000; 0: any free port)")
    serve.add_argument("--demo", action="store_true", help="a real Slack app against a simulated Trigger.dev (no key)")
    socket = sub.add_parser("socket", help="Socket Mode: no public URL needed (for local development)")
    socket.add_argument("--demo", action="store_true", help="a real Slack app against a simulated Trigger.dev (no key)")
    sub.add_parser("migrate", help="create or upgrade the database schema, then exit")
    shell = sub.add_parser("shell", help="try the bot in the terminal: a stand-in for Slack, on the bot's real path")
    shell.add_argument("--demo", action="store_true", help="use the built-in simulated Trigger.dev (needs no settings)")
    shell.add_argument("--user", default="U0DEMO", help="the Slack user id you act as (default U0DEMO)")
    shell.add_argument("--channel", default="C0DEMO", help="the channel id you type in (default C0DEMO)")
    shell.add_argument("--timezone", default=None, help="your Slack timezone, e.g. Europe/Paris (default: local)")
    shell.add_argument(
        "-c",
        "--command",
        action="append",
        default=[],
        help="a line to run (repeatable), printing a transcript; a question takes the next line as its answer "
        "unless that line is a command",
    )
    shell.add_argument("--yes", action="store_true", help="answer every y/N question yes (for scripts)")
    sub.add_parser("check", help="check the configuration and prove each credential works, changing nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.mode == "shell":
        if importlib.util.find_spec("rich") is None:  # the shell extra, which a deploy leaves out
            print(operator_messages.SHELL_NEEDS_EXTRA, file=sys.stderr)
            return 2
        from bot.shell import main as shell

        return shell(args)
    if args.mode == "check":
        from bot.check import main as check

        return check(args)
    try:
        config = settings.load(args.mode, demo=getattr(args, "demo", False))
    except settings.ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.configure(config.log_level, config.log_format)
    if args.mode == "serve":
        return _serve(config, args.host, config.port if args.port is None else args.port)
    if args.mode == "socket":
        return asyncio.run(_socket(config))
    return asyncio.run(_migrate(config))


async def _migrate(config: settings.Settings) -> int:
    from bot.storage import db

    engine = db.create_engine(config.database_url.get_secret_value())
    try:
        version = await db.migrate(engine)
    except Exception as exc:
        print(f"reschedule-bot migrate: the database did not answer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"database schema is at revision {version}")
    return 0


def _serve(config: settings.Settings, host: str, port: int) -> int:
    from bot import wiring
    from bot.collector import tune_for_serving
    from bot.server import serve

    try:
        identity = asyncio.run(wiring.check_slack(config))
    except SlackRejected as exc:
        print(exc, file=sys.stderr)
        return 2
    bot = wiring.build(config, slack_identity=identity)
    tune_for_serving()
    return serve(bot, host, port)


async def _socket(config: settings.Settings) -> int:
    from bot import socket_mode

    try:
        return await socket_mode.run(config)
    except SlackRejected as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
