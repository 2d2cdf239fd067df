"""End-to-end harness for Socket Mode: the real `python -m bot socket` process against the fakes, and a sender that
delivers Slack's requests as Socket Mode envelopes (tests/fakes/socket_mode.py).

`SocketSender` is a SlackSender whose requests travel over the socket instead of HTTP, so every helper written for
HTTP tests (summary_via_command, click, open_form, submission, …) drives a Socket Mode session unchanged: the body
a helper builds becomes the envelope's payload, and the envelope's ack comes back as the HTTP response would
(status 200, the ack's payload as the JSON body, empty when the ack has none).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tests.e2e_harness import STARTUP_TIMEOUT, BotSubprocess, SlackSender, bot_env
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import Envelope, FakeSocketMode
from tests.fakes.trigger import FakeTrigger

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


def deliver(socket: FakeSocketMode, body: bytes, content_type: str) -> Envelope:
    """Deliver any HTTP request body over the socket: as the envelope Slack would send for it, or, for a body no
    envelope carries (not UTF-8, not JSON, not an object), as the broken text frame it would make around it."""
    try:
        kind, payload, accepts = envelope_for(body, content_type)
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        return socket.send(kind, payload, accepts_response_payload=accepts)
    envelope_id = str(uuid.uuid4())
    text = body.decode("utf-8", errors="replace")
    frame = f'{{"envelope_id":"{envelope_id}","type":"interactive","accepts_response_payload":true,"payload":{text}}}'
    sent = socket.send_text(frame, envelope_id)
    assert sent is not None
    return sent


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


class SocketBotProcess(BotSubprocess):
    """`python -m bot socket` with `env`, started on construction and ready once it has opened a connection to
    `socket` (the `count`-th: a test may start it after others)."""

    stop_timeout = 40.0  # a clean stop finishes acknowledged work first

    def __init__(self, env: dict[str, str], socket: FakeSocketMode, log_path: Path) -> None:
        self.socket = socket
        already = len(socket.connections)
        self._spawn(["socket"], env, log_path)
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
            time.sleep(0.01)


@contextmanager
def socket_bot(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, **env: str | None
) -> Iterator[tuple[SocketBotProcess, FakeSocketMode]]:
    """`python -m bot socket` (with bot_env's settings and `env`) connected to a new FakeSocketMode for fake_slack;
    its log is tmp_path / "bot.log"."""
    fake_slack.app_token = APP_TOKEN
    settings = bot_env(fake_slack, fake_trigger, tmp_path, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=APP_TOKEN, **env)
    with FakeSocketMode(fake_slack) as socket, SocketBotProcess(settings, socket, tmp_path / "bot.log") as process:
        yield process, socket
