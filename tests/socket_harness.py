"""End-to-end harness for Socket Mode: the real `python -m bot socket` process against the fakes, and a sender that
delivers Slack's requests as Socket Mode envelopes (tests/fakes/socket_mode.py).

`SocketSender` is a SlackSender whose requests travel over the socket instead of HTTP, so every helper written for
HTTP tests (summary_via_command, click, open_form, submission, …) drives a Socket Mode session unchanged: the body
a helper builds becomes the envelope's payload, and the envelope's ack comes back as the HTTP response would
(status 200, the ack's payload as the JSON body, empty when the ack has none).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import httpx

from tests.e2e_harness import STARTUP_TIMEOUT, SlackSender
from tests.fakes.socket_mode import FakeSocketMode

APP_TOKEN = "xapp-1-A111-socketmode-0001"
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "SYSTEMROOT", "VIRTUAL_ENV")


def envelope_for(body: bytes, content_type: str) -> tuple[str, dict[str, Any], bool]:
    """(type, payload, accepts_response_payload) of the envelope Slack sends for an HTTP request body."""
    if content_type.startswith("application/json"):
        event: dict[str, Any] = json.loads(body)
        return "events_api", event, False
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    if set(fields) == {"payload"}:
        interaction: dict[str, Any] = json.loads(fields["payload"])
        return "interactive", interaction, True
    return "slash_commands", dict(fields), True


class SocketSender(SlackSender):
    """Sends each request as an envelope on the fake socket and answers with its ack (see the module doc)."""

    def __init__(self, socket: FakeSocketMode) -> None:
        super().__init__(socket.url, signing_secret="")
        self.socket = socket

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
        if timestamp is not None or signature is not None or unsigned or headers:
            raise TypeError("Socket Mode requests carry no signature or headers")
        kind, payload, accepts = envelope_for(body, content_type)
        envelope = self.socket.send(kind, payload, accepts_response_payload=accepts)
        ack = self.socket.wait_ack(envelope.envelope_id)
        content = json.dumps(ack.payload).encode() if ack.payload else b""
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})


class SocketBotProcess:
    """`python -m bot socket` with `env`, started on construction and ready once it has opened a connection to
    `socket` (the `count`-th: a test may start it after others)."""

    def __init__(self, env: dict[str, str], socket: FakeSocketMode, log_path: Path) -> None:
        self.socket = socket
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV or k.startswith("PYTHON")}
        full_env |= {"PYTHONUNBUFFERED": "1", **env}
        already = len(socket.connections)
        with open(log_path, "wb") as log:
            # Run from the log's folder, not the repo root, so a developer's .env cannot leak into the test.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "socket"],
                cwd=log_path.parent,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_connected(already + 1)
        except BaseException:
            self.stop()
            raise

    def _wait_connected(self, count: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(self.socket.connections) < count:
            if self.process.poll() is not None:
                raise RuntimeError(f"bot exited with {self.process.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bot not connected after {STARTUP_TIMEOUT} s:\n{self.log_text()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
