"""End-to-end harness: run the real bot process against the fakes and send it signed Slack requests."""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import hmac
import io
import itertools
import json
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests import dbs
from tests.fakes._server import QUIET_SECONDS, WAIT_SECONDS, FakeServer, wait_quiet
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger

if TYPE_CHECKING:
    from bot.settings import Mode, Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
PAYLOADS_DIR = REPO_ROOT / "tests" / "data" / "slack" / "payloads"

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-0000"
PROD_KEY = "tr_prod_fakefakefakefakefake0001"
STAGING_KEY = "tr_stg_fakefakefakefakefake0002"
DEV_KEY = "tr_dev_fakefakefakefakefake0003"
PROD_ENV = "env_prod"
DASHBOARD_URL = "https://cloud.trigger.test"

HTTP_TIMEOUT = 10.0
STARTUP_TIMEOUT = 60.0  # a bound for a start that failed, not a measure: a loaded machine takes its time
_TRIGGER_IDS = itertools.count(1)
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "SYSTEMROOT", "VIRTUAL_ENV")
# Called with a bot's log file once the bot has stopped, and with what a command printed (tests/secret_scan.py).
LOG_OBSERVERS: list[Callable[[Path], None]] = []
OUTPUT_OBSERVERS: list[Callable[[str, str], None]] = []


def _observed(args: list[str], result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    for observe in OUTPUT_OBSERVERS:
        observe(f"`reschedule-bot {' '.join(args)}` output", f"{result.stdout}\n{result.stderr}")
    return result


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once per test process. httpx builds a new one for every Client (it
    reads certifi's whole bundle: 25 ms of CPU or more), and tests open a client for nearly every request they send;
    their requests are plain HTTP to loopback, so the context is never even used."""
    return httpx.create_ssl_context()


def http_client(**options: Any) -> httpx.Client:
    """An httpx.Client (with `options`) sharing tls_context()."""
    return httpx.Client(verify=tls_context(), **options)


def http_get(url: str, **options: Any) -> httpx.Response:
    """httpx.get through http_client()."""
    with http_client() as client:
        return client.get(url, **options)


def http_post(url: str, **options: Any) -> httpx.Response:
    """httpx.post through http_client()."""
    with http_client() as client:
        return client.post(url, **options)


def settle(bot: object, *fakes: FakeServer, quiet: float = QUIET_SECONDS, timeout: float = WAIT_SECONDS) -> None:
    """Wait until whatever the last request set off is over, before asserting that something did NOT happen: the bot
    has no acknowledged work left (an in-process bot reports it; a process is judged by the fakes alone) and the
    fakes have heard nothing for `quiet` seconds."""
    busy = getattr(bot, "busy", None)
    deadline = time.monotonic() + timeout
    while busy is not None and busy():
        if time.monotonic() >= deadline:
            raise AssertionError(f"the bot still had work in flight after {timeout} s")
        time.sleep(0.01)
    wait_quiet(fakes, quiet, max(0.1, deadline - time.monotonic()) + quiet)


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: HMAC-SHA256 of `v0:{timestamp}:{raw body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def fresh_trigger_id() -> str:
    """A trigger_id shaped like Slack's, never used before."""
    return f"{int(time.time())}.{next(_TRIGGER_IDS)}.{uuid.uuid4().hex[:16]}"


def example_payload(name: str) -> dict[str, Any]:
    """A deep copy of `payload` (or `fields`) from tests/data/slack/payloads/<name>.json, e.g. "block_actions"."""
    envelope = json.loads((PAYLOADS_DIR / f"{name}.json").read_text())
    return copy.deepcopy(envelope.get("payload", envelope.get("fields")))


class SlackSender:
    """Sends requests to the bot as Slack does: form or JSON bodies, signed with the signing secret.

    Every method accepts `timestamp=` (seconds; default now), `signature=` (replaces the computed one),
    `unsigned=True` (no signature headers at all) and `headers=` (extra headers, e.g. X-Slack-Retry-Num).
    """

    def __init__(self, url: str, signing_secret: str) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self._sent_trigger_ids: set[str] = set()

    def command(
        self,
        text: str,
        *,
        response_url: str,
        user_id: str = "U111",
        channel_id: str = "C111",
        trigger_id: str | None = None,
        team_id: str = "T111",
        command: str = "/reschedule",
        user_name: str = "oncall-engineer",
        channel_name: str = "ops-alerts",
        **sign_options: Any,
    ) -> httpx.Response:
        fields = {
            "token": "verification_token",
            "team_id": team_id,
            "team_domain": "test-domain",
            "enterprise_id": "",
            "enterprise_name": "",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": "A111",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._fresh_command_trigger_id(trigger_id),
        }
        return self.post(urlencode(fields).encode(), "application/x-www-form-urlencoded", **sign_options)

    def _fresh_command_trigger_id(self, trigger_id: str | None) -> str:
        if trigger_id is None or trigger_id in self._sent_trigger_ids:
            trigger_id = fresh_trigger_id()
        self._sent_trigger_ids.add(trigger_id)
        return trigger_id

    def interaction(
        self, payload: dict[str, Any], *, keep_trigger_id: bool = False, **sign_options: Any
    ) -> httpx.Response:
        """A payload as Slack sends it. Slack gives every interaction a trigger_id of its own (a copy is a replay, and
        is refused), so one this sender already sent is replaced by a fresh one, unless `keep_trigger_id`."""
        trigger_id = payload.get("trigger_id")
        if isinstance(trigger_id, str) and not keep_trigger_id:
            if trigger_id in self._sent_trigger_ids:
                trigger_id = fresh_trigger_id()
                payload = {**payload, "trigger_id": trigger_id}
            self._sent_trigger_ids.add(trigger_id)
        body = ("payload=" + quote(json.dumps(payload))).encode()
        return self.post(body, "application/x-www-form-urlencoded", **sign_options)

    def event(self, payload: dict[str, Any], **sign_options: Any) -> httpx.Response:
        return self.post(json.dumps(payload).encode(), "application/json", **sign_options)

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        unsigned: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {"Content-Type": content_type}
        if not unsigned:
            ts = str(int(time.time()) if timestamp is None else timestamp)
            all_headers["X-Slack-Request-Timestamp"] = ts
            all_headers["X-Slack-Signature"] = signature or sign(self.signing_secret, ts, body)
        all_headers.update(headers or {})
        with http_client(timeout=HTTP_TIMEOUT) as client:
            return client.post(self.url, content=body, headers=all_headers)


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m bot <args>` to completion with only `env` (plus a PATH), from `cwd` (so no .env leaks in)."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return _observed(args, result)


@contextlib.contextmanager
def environ_only(env: Mapping[str, str]) -> Iterator[None]:
    """Inside, `env` is all the bot's settings can find in the environment: every variable they read (nested ones
    such as ACCESS__PROD__USERS included) is removed, then `env` is set; all put back on leaving."""
    from bot.settings import Settings

    names = frozenset(name.upper() for name in Settings.model_fields)
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.upper().split("__")[0] in names:
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        yield


def load_settings(mode: Mode, env: Mapping[str, str], *, demo: bool = False) -> Settings:
    """`settings.load(mode)` with `env` as the whole environment and no .env file."""
    from bot import settings

    with environ_only(env):
        return settings.load(mode, demo=demo, _env_file=None)


def run_in_process(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """What `run_cli` does, in this process (no interpreter start-up): `bot.__main__.main(args)` with `env` as the
    only settings, from `cwd` (so no .env leaks in), stdout and stderr captured, logging put back afterwards."""
    from bot.__main__ import main

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out, err = io.StringIO(), io.StringIO()
    with environ_only(env), pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(args)
        finally:
            root.handlers[:], _ = saved
            root.setLevel(saved[1])
    return _observed(args, subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue()))


# The start-up line `serve` logs once listening (bot/messages.py serve_request_url), with the port it bound: a
# process started with --port 0 tells its port this way, so no test picks a port that another may take first.
LISTENING = re.compile(r"listening on http://[^\s/]+:(\d+)\.")


def listening_port(process: subprocess.Popen[bytes], log_path: Path, timeout: float = STARTUP_TIMEOUT) -> int:
    """The port a process started with `--port 0` says it listens on, as soon as it says so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = LISTENING.search(log_path.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.01)
    raise RuntimeError(f"no port announced after {timeout} s:\n{log_path.read_text(errors='replace')}")


@contextlib.contextmanager
def refusing_address() -> Iterator[str]:
    """http://127.0.0.1:<port> where nothing answers: the port is held by a socket that is bound but does not
    listen, so every connection is refused and no other program can start listening there meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


class BotSubprocess:
    """`python -m bot <args>` with only `env` (plus what Python needs), run from the log's folder (so a developer's
    .env cannot leak into the test) with its output in the log. `stop` sends SIGTERM, as a deploy does, waits up to
    `stop_timeout`, then kills; the log is then handed to LOG_OBSERVERS (the secret scan)."""

    stop_timeout = 10.0
    log_path: Path
    process: subprocess.Popen[bytes]

    def _spawn(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV or k.startswith("PYTHON")}
        full_env |= {"PYTHONUNBUFFERED": "1", **env}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                cwd=log_path.parent,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for observe in LOG_OBSERVERS:
            observe(self.log_path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class BotProcess(BotSubprocess):
    """`python -m bot serve` on a port of its own choosing (--port 0, read from its start-up line), started on
    construction and ready once /healthz answers 200."""

    def __init__(self, env: dict[str, str], log_path: Path | None = None, demo: bool = False) -> None:
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="reschedule-bot-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        command = ["serve", "--host", "127.0.0.1", "--port", "0"]
        self._spawn(command + (["--demo"] if demo else []), env, log_path)
        try:
            self.port = listening_port(self.process, log_path)
            self.url = f"http://127.0.0.1:{self.port}"
            self.events_url = self.url + "/slack/events"
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with http_client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"bot exited with {self.process.returncode}:\n{self.log_text()}")
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        raise RuntimeError(f"bot not healthy after {STARTUP_TIMEOUT} s:\n{self.log_text()}")


def start_together(env: dict[str, str], log_dir: Path, names: Sequence[str]) -> list[BotProcess]:
    """A BotProcess per name (its log `<name>.log` in `log_dir`), started at the same moment. When one does not come
    up, those that did are stopped before its error is raised: no process outlives the test that started it."""
    with ThreadPoolExecutor(len(names)) as pool:
        starting = [pool.submit(BotProcess, env, log_dir / f"{name}.log") for name in names]
    started = [future.result() for future in starting if future.exception() is None]
    failed = [error for future in starting if (error := future.exception()) is not None]
    if failed:
        for process in started:
            process.stop()
        raise failed[0]
    return started


def bot_env(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, **overrides: str | None
) -> dict[str, str]:
    """The bot's environment pointed at the fakes; an override of None removes that variable.

    Its database is tmp_path / "bot.sqlite3", unless DATABASE_URL is overridden. When that file is not there yet it is
    made here, at the newest schema (tests/dbs.py new_sqlite), so the bot finds its schema current. A bot that is to
    create its schema itself, as on a first deploy, is given DATABASE_URL explicitly (the same file will do)."""
    database = tmp_path / "bot.sqlite3"
    if "DATABASE_URL" not in overrides and not database.exists():
        dbs.new_sqlite(database)
    env: dict[str, str | None] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "TRIGGER_SECRET_KEY": PROD_KEY,
        "TRIGGER_API_URL": fake_trigger.url,
        "TRIGGER_DASHBOARD_URL": DASHBOARD_URL,
        "TRIGGER_DEADLINE": "4",
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": "INFO",
        # Most tests exercise the direct path; confirmation tests pass CONFIRM_ENVIRONMENTS=None (the default: prod).
        "CONFIRM_ENVIRONMENTS": "",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}
