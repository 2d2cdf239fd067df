"""Thousands of signed but malformed requests against the real process, through either door: `serve` over HTTP, and
`socket` with each request as the Socket Mode envelope Slack would send (tests/fuzz_requests.py).

Every kind of request Slack sends, with tampered button values, modal metadata and ids, fields missing or of the
wrong type, raw bytes that are not UTF-8, bodies near and over the bound. The bot must answer every one below 500,
log no traceback, keep its memory flat, and move nothing a request did not name: the fake Trigger.dev also holds
decoy runs that no request mentions, and no request may move a run more often than requests named it. Only prod
exists and only U111 may move its runs (ACCESS__PROD__USERS), so every move is by U111, whoever else a request
names. The seed is fixed, so a failure names a request that can be replayed.
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, BotProcess, BotSubprocess, bot_env, http_client, settle, sign
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.fuzz_requests import Corpus, FuzzRequest
from tests.socket_harness import deliver, socket_bot

pytestmark = [pytest.mark.e2e, pytest.mark.slow(seconds=40)]  # the longest: started before all others

SEED = 20261130
REQUESTS = 3000
WARM_UP = 300  # requests before memory is first measured (caches, pools and code paths warmed)
RSS_GROWTH_MIB = 16  # about 2 MiB measured; keeping every body received would be over 50
MAX_DELAY = timedelta(days=365)  # the bot's default MAX_DELAY
RESCHEDULE = re.compile(r"^/api/v1/runs/([^/]+)/reschedule$")
RUN_PATH = re.compile(r"/runs/([^/?]+)")
RUN_ID = re.compile(rb"run_[A-Za-z0-9]{20,30}")
# What an exception nobody handled leaves in the log: uvicorn's, asyncio's, and the bot's own catch-all (a listener
# that failed on input it should have refused).
UNHANDLED = (
    "Traceback",
    "Exception in ASGI application",
    "Task exception was never retrieved",
    "Exception in callback",
    "unexpected error",
)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def post(client: httpx.Client, url: str, request: FuzzRequest) -> httpx.Response:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": request.content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(SIGNING_SECRET, timestamp, request.body),
    }
    return client.post(url, content=request.body, headers=headers)


Send = Callable[[FuzzRequest], int]  # a request through the door; the status it was answered with


@contextmanager
def open_door(
    door: str, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, **env: str
) -> Iterator[tuple[BotProcess | BotSubprocess, Send]]:
    """The bot process behind `door`, and how to send it a request (Socket Mode: 200 once acknowledged). Afterwards,
    over Socket Mode, every envelope was acknowledged."""
    if door == "http":
        settings = bot_env(fake_slack, fake_trigger, tmp_path, **env)
        with BotProcess(settings, log_path=tmp_path / "bot.log") as process, http_client(timeout=30) as client:
            yield process, lambda request: post(client, process.events_url, request).status_code
        return
    with socket_bot(fake_slack, fake_trigger, tmp_path, **env) as (socket_process, socket):

        def send(request: FuzzRequest) -> int:
            socket.wait_ack(deliver(socket, request.body, request.content_type).envelope_id)
            return 200

        yield socket_process, send
        assert socket.unacked() == [], socket.describe()


@pytest.mark.parametrize("door", ["http", "socket"])
def test_thousands_of_signed_malformed_requests_move_nothing_unnamed_and_break_nothing(
    door: str, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    named = [fake_trigger.add_run(PROD_ENV)["id"] for _ in range(2)]
    named += [fake_trigger.add_run(PROD_ENV, status=status)["id"] for status in ("EXECUTING", "COMPLETED")]
    decoys = {fake_trigger.add_run(PROD_ENV)["id"] for _ in range(3)}
    response_urls = [fake_slack.new_response_url() for _ in range(4)] + [fake_slack.url + "/response/expired"]
    corpus = Corpus(random.Random(SEED), named, response_urls)
    naming: Counter[str] = Counter()  # run id → how many requests named it
    mentioned: set[str] = set()  # every run-id-shaped string any request carried
    statuses: Counter[tuple[str, int]] = Counter()
    started = datetime.now(UTC) - timedelta(seconds=1)

    with open_door(door, fake_slack, fake_trigger, tmp_path, ACCESS__PROD__USERS="U111") as (process, send):
        for number in range(REQUESTS):
            if number == WARM_UP:
                settle(None, fake_slack, fake_trigger, quiet=1.0, timeout=60)
                warm = rss_kib(process.process.pid)
            request = corpus.request()
            status = send(request)
            shown = request.body[:600].decode("utf-8", errors="replace")
            assert status < 500, f"request {number} ({request.kind}): {shown}"
            statuses[(request.kind, status)] += 1
            mentioned.update(match.decode() for match in RUN_ID.findall(request.body))
            naming.update(run_id for run_id in named if run_id.encode() in request.body)
        settle(None, fake_slack, fake_trigger, quiet=1.0, timeout=60)
        grown_mib = (rss_kib(process.process.pid) - warm) / 1024
        finished = datetime.now(UTC)
    log = process.log_text()

    for sign_of_a_crash in UNHANDLED:
        assert sign_of_a_crash not in log, [line for line in log.splitlines() if sign_of_a_crash in line][:5]
    assert grown_mib < RSS_GROWTH_MIB, f"RSS grew by {grown_mib:.1f} MiB over {REQUESTS - WARM_UP} requests"

    # Every Trigger.dev call is about a run some request carried; decoys are never even looked up.
    looked_up = {match[1] for r in fake_trigger.requests if (match := RUN_PATH.search(r.path))}
    assert looked_up <= mentioned and not looked_up & decoys, looked_up - mentioned
    moves = [(m[1], r) for r in fake_trigger.calls("POST", RESCHEDULE.pattern) if (m := RESCHEDULE.match(r.path))]
    moved = Counter(run_id for run_id, _ in moves)
    for run_id, count in moved.items():
        assert count <= naming[run_id], f"{run_id} moved {count} times, named by {naming[run_id]} requests"
    for _, move in moves:
        target = datetime.fromisoformat(move.json["delay"].replace("Z", "+00:00"))
        assert started < target <= finished + MAX_DELAY, move.json
    # Only the one person the access rule allows moved anything, whoever else the requests said they came from; the
    # others were refused (the audit trail has both).
    movers = Counter(re.findall(r"rescheduled run=\S+ env=\S+ by=(\S+)", log))
    assert set(movers) == {"U111"}, movers
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        audited = Counter(db.execute("SELECT user_id, outcome FROM audit_events").fetchall())
    assert {user for user, outcome in audited if outcome == "rescheduled"} == {"U111"}, audited
    assert {user for user, outcome in audited if outcome == "refused"} >= {"U222", "W0OTHER"}, audited
    # The fuzz reached the action path, not only the front door: runs were found and some were moved.
    assert looked_up and moves, statuses
    assert {kind for kind, status in statuses if status == 200} >= {"command", "block_actions", "view_submission"}
