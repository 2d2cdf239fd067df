"""`reschedule-bot socket`: the bot over Slack's Socket Mode until SIGTERM or SIGINT, then a clean stop.

slack_sdk's aiohttp Socket Mode client (bot/slack/socket_client.py) asks `apps.connections.open` on SLACK_API_URL
for a WebSocket URL with the App-Level Token, and opens a new connection whenever Slack sends `disconnect` (handing
over from the old one) or the socket is dropped (checked every SOCKET_PING_INTERVAL seconds). Each envelope passes
the same front door as an HTTP request (bot/slack/body.py), goes through the same Bolt app, and is acknowledged over
the socket as soon as its listener acks.

On SIGTERM or SIGINT the socket is closed first, so Slack sends new requests to another connection (or reports
the app as unreachable), then the acknowledged work is finished and recorded within SHUTDOWN_GRACE
(`Bot.aclose`), and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot import wiring
from bot.collector import tune_for_serving
from bot.settings import Settings
from bot.slack.bot_identity import check_app_token
from bot.slack.socket_client import SocketModeDoor

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run(config: Settings) -> int:
    """Serve Slack over Socket Mode until a stop signal; the process's exit status (SlackRejected at start)."""
    assert config.slack_app_token is not None
    app_token = config.slack_app_token.get_secret_value()
    identity = await wiring.check_slack(config)
    await check_app_token(str(config.slack_api_url), app_token)
    bot = wiring.build(config, socket_mode=True, slack_identity=identity)
    stop = _stop_on_signals()
    await bot.start()
    tune_for_serving()
    # app.client carries SLACK_API_URL, so apps.connections.open goes where every other Web API call goes.
    door = SocketModeDoor(bot.app, app_token, ping_interval=config.socket_ping_interval)
    connecting = asyncio.ensure_future(door.connect())
    try:
        await stop.wait()
        log.info("stopping: closing the Socket Mode connection, then finishing acknowledged work")
    finally:
        try:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connecting
            await door.close()
        finally:
            await bot.aclose()
    log.info("stopped")
    return 0


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (instead of the default: dying by the signal, mid-request)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    return stop
