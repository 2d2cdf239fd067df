"""The real bot served inside the test process: same build as `reschedule-bot serve`, no interpreter start-up.

`InProcessBot(env)` does what `python -m bot serve` does with `env` as its only configuration (no other variable
and no .env file): `settings.load("serve", _env_file=None)` with `env` as the environment while it reads,
`logs.configure`, auth.test (`wiring.check_slack`),
`wiring.build`, then uvicorn serving `server.asgi_app(bot)` on a free 127.0.0.1 port, in a thread with its own
event loop. Requests are real HTTP and signed, so `SlackSender` works unchanged. `stop()` is what SIGTERM does:
uvicorn stops accepting, finishes open requests, and runs the lifespan shutdown (drain, audit flush, close).

It has BotProcess's interface: `.url`, `.events_url`, `.log_path`, `.log_text()`, `.stop()`, context manager.
The bot's log lines (formatted and redacted by bot/logs.py) go to `log_path`; lines logged by the test's own
thread (its HTTP client, say) are left out, as they would not be in the process's log either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import pytest
import uvicorn

from bot import logs, settings, wiring
from bot.server import asgi_app, listening_socket
from tests.e2e_harness import LOG_OBSERVERS, STARTUP_TIMEOUT, load_settings

STOP_TIMEOUT = 60.0  # beyond any shutdown the bot allows itself (bounded by SHUTDOWN_GRACE, 30 s by default)
# Loggers whose levels logs.configure sets; restored afterwards so one test's LOG_LEVEL does not reach the next.
_CONFIGURED_LOGGERS = ("", "slack_sdk", logs.SLACK_WEB_API_LOGGER, "slack_bolt", "httpx", "httpcore", "alembic")
logger = logging.getLogger("uvicorn.error")  # where uvicorn's server logs


# `_Server` below reimplements uvicorn's Server.shutdown with its internals (servers, server_state, lifespan,
# _wait_tasks_to_complete), for the tests' speed only; written for these versions (tests/test_inprocess.py checks).
UVICORN_VERSIONS = (">=0.30", "<0.56")
UVICORN_INTERNALS = ("server_state", "force_exit", "_wait_tasks_to_complete")  # made by Server() itself
UVICORN_SERVING_SETS = ("self.servers", "self.lifespan")  # made once Server.serve runs


class _Server(uvicorn.Server):
    """uvicorn's server, told to stop by an event instead of noticing `should_exit` on its 0.1 s tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_requested: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self.stop_requested = asyncio.Event()
        if self.should_exit:
            return
        await self.on_tick(0)  # sets the Date header, as the first tick does
        await self.stop_requested.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's Server.shutdown without its fixed 0.1 s pause after closing idle connections (a test's
        client has closed its own by then; busy ones are still waited for, then the lifespan shutdown runs)."""
        logger.info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0)
        try:
            await asyncio.wait_for(self._wait_tasks_to_complete(), timeout=self.config.timeout_graceful_shutdown)
        except TimeoutError:
            logger.error("Cancel %s running task(s), timeout graceful shutdown exceeded", len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


@contextlib.contextmanager
def _certificates_looked_up_when_needed() -> Iterator[None]:
    """While the bot is built, httpx's TLS context for its Trigger.dev client finds certificates in a folder when a
    TLS connection needs them (SSL_CERT_DIR), instead of reading a whole bundle as it is built (SSL_CERT_FILE, or
    certifi's): 25 to 50 ms of CPU for every bot started, when the tests' Trigger.dev is plain HTTP on loopback."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SSL_CERT_FILE", raising=False)
        patch.setenv("SSL_CERT_DIR", ssl.get_default_verify_paths().capath or "")
        yield


class _OtherThreads(logging.Filter):
    def __init__(self, excluded: int) -> None:
        super().__init__()
        self.excluded = excluded

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.excluded


class InProcessBot:
    """The bot built from `env` alone and served on a free port, ready once uvicorn listens."""

    def __init__(self, env: dict[str, str], log_path: Path | None = None, demo: bool = False) -> None:
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="reschedule-bot-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.port = 0
        self.url = self.events_url = ""
        self._server: _Server | None = None
        self._bot: wiring.Bot | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._restore_logging: Callable[[], None] = lambda: None
        # Configuration problems raise ConfigError here, before anything is started.
        config = load_settings("serve", env, demo=demo)  # demo: `serve --demo` (Trigger.dev simulated in-process)
        self._log_file: IO[str] = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self._restore_logging = self._configure_logging(config.log_level, config.log_format)
        try:
            with _certificates_looked_up_when_needed():
                self._start(config)
        except BaseException:
            self.stop()
            raise

    # lifecycle -------------------------------------------------------------------------------------------

    def _start(self, config: settings.Settings) -> None:
        # Bound here and handed to uvicorn, so no other process can take the port between choosing and binding.
        self._socket = listening_socket("127.0.0.1", 0)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.events_url = self.url + "/slack/events"
        self._thread = threading.Thread(target=self._serve, args=(config,), name=f"bot-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (self._server is not None and self._server.started):
            if not self._thread.is_alive():
                error, self._error = self._error, None
                raise RuntimeError(f"bot stopped at start: {error!r}\n{self.log_text()}")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"bot not listening after {STARTUP_TIMEOUT} s:\n{self.log_text()}")
            time.sleep(0.002)

    def _serve(self, config: settings.Settings) -> None:
        """The body of bot.__main__._serve, minus the process: check the token, build, serve until stopped."""
        try:
            identity = asyncio.run(wiring.check_slack(config))
            bot = wiring.build(config, slack_identity=identity)
            self._bot = bot
            uvicorn_config = uvicorn.Config(
                asgi_app(bot), host="127.0.0.1", port=self.port, log_config=None, access_log=False
            )
            server = _Server(uvicorn_config)
            self._server = server
            asyncio.run(self._run(server, self._socket))
        except BaseException as exc:  # SystemExit too: uvicorn exits when its start-up fails
            self._error = exc

    async def _run(self, server: _Server, sock: socket.socket | None) -> None:
        self._loop = asyncio.get_running_loop()
        await server.serve(sockets=[sock] if sock is not None else None)

    def stop(self) -> None:
        """Stop as SIGTERM would (finish requests, drain acknowledged work, flush the audit), then clean up."""
        thread, server, loop = self._thread, self._server, self._loop
        try:
            if thread is not None and thread.is_alive() and server is not None:
                server.should_exit = True
                if loop is not None:
                    with contextlib.suppress(RuntimeError):  # the loop already closed: it is stopping anyway
                        loop.call_soon_threadsafe(self._wake, server)
                thread.join(STOP_TIMEOUT)
                if thread.is_alive():
                    server.force_exit = True
                    thread.join(5)
                    raise RuntimeError(f"bot did not stop within {STOP_TIMEOUT} s:\n{self.log_text()}")
            if self._error is not None:
                error, self._error = self._error, None
                raise RuntimeError(f"bot failed while serving: {error!r}\n{self.log_text()}") from error
        finally:
            self._thread = None
            if self._socket is not None:
                self._socket.close()
            self._restore_logging()
            self._restore_logging = lambda: None
            for observe in LOG_OBSERVERS:
                observe(self.log_path)

    def busy(self) -> bool:
        """Whether a request is still being answered or acknowledged work is still running (read from the test's
        thread: a snapshot, which is all a wait needs)."""
        server, bot = self._server, self._bot
        if server is None or bot is None:
            return False
        return bool(server.server_state.tasks) or bool(bot.deps.inflight.unfinished())

    @staticmethod
    def _wake(server: _Server) -> None:
        if server.stop_requested is not None:
            server.stop_requested.set()

    # logging ---------------------------------------------------------------------------------------------

    def _configure_logging(self, level: str, fmt: logs.LogFormat = "text") -> Callable[[], None]:
        """logs.configure as the process does, with its one handler writing to log_path instead of stderr.

        Handlers already on the root logger (pytest's capture) are kept; on restore the bot's handler is
        removed and closed and every level logs.configure changed is put back.
        """
        root = logging.getLogger()
        kept = list(root.handlers)
        levels = {name: logging.getLogger(name).level for name in _CONFIGURED_LOGGERS}
        logs.configure(level, fmt)
        [handler] = root.handlers
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(self._log_file)
        handler.addFilter(_OtherThreads(threading.get_ident()))
        root.handlers[:] = [*kept, handler]

        def restore() -> None:
            root.removeHandler(handler)
            handler.close()
            self._log_file.close()
            for name, value in levels.items():
                logging.getLogger(name).setLevel(value)

        return restore

    def log_text(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
