"""Command line: `reschedule-bot serve | socket | migrate` (also `python -m bot …`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot import __version__, logs, settings
from bot.slack.bot_identity import SlackRejected, check_app_token


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reschedule-bot", description="Reschedule delayed Trigger.dev runs from Slack."
    )
    parser.add_argument("--version", action="version", version=f"reschedule-bot {__version__}")
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz (for deployment)")
    serve.add_argument("--host", default="0.0.0.0", help="interface to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT or 3000)")
    sub.add_parser("socket", help="Socket Mode: no public URL needed (for local development)")
    sub.add_parser("migrate", help="create or upgrade the database schema, then exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = settings.load(args.mode)
    except settings.ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    if args.mode == "serve":
        return _serve(config, args.host, args.port or config.port)
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
    print(f"database schema is at version {version}")
    return 0


def _serve(config: settings.Settings, host: str, port: int) -> int:
    from bot import wiring
    from bot.server import serve

    try:
        identity = asyncio.run(wiring.check_slack(config))
    except SlackRejected as exc:
        print(exc, file=sys.stderr)
        return 2
    return serve(wiring.build(config, slack_identity=identity), host, port)


async def _socket(config: settings.Settings) -> int:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot import wiring

    assert config.slack_app_token is not None
    app_token = config.slack_app_token.get_secret_value()
    try:
        identity = await wiring.check_slack(config)
        await check_app_token(str(config.slack_api_url), app_token)
    except SlackRejected as exc:
        print(exc, file=sys.stderr)
        return 2
    bot = wiring.build(config, socket_mode=True, slack_identity=identity)
    await bot.start()
    handler = AsyncSocketModeHandler(bot.app, app_token)
    try:
        await handler.start_async()  # type: ignore[no-untyped-call]
    finally:
        try:
            await handler.close_async()  # type: ignore[no-untyped-call]
        finally:
            await bot.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
