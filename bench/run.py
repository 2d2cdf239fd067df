"""Benchmark: the real bot (`python -m bot serve`) against a bare Bolt baseline, under the same burst, on 127.0.0.1.

Run from the repository root:

    .venv/bin/python -m bench.run              # full run (~1.5 min on 2 cores): writes bench/RESULTS.md and
                                               # bench/profile-burst.txt
    .venv/bin/python -m bench.run --quick      # smoke run (1 round, no profile); prints only (see --output)

Three processes per measurement: this one (the fake Slack and the fake Trigger.dev of tests/fakes, in threads,
and the bookkeeping), the server under test (the bot, or bench/baseline_app.py served the same way), and the load
generator (`python -m bench.load`, a separate process that signs and sends the commands and reports its timings
as JSON on stdout). The fake Trigger.dev answers every API call 150 ms after it arrives. On a machine of two cores
or more, the server under test (either system) runs alone on one core, and the other two processes on the rest
(`prepare`; `--no-pin` lets them share).

Per round and per system: a fresh server against fresh fakes, 3 warm-up commands (not counted), then a burst of
100 `/reschedule <run> 2h` (each for its own delayed run) from 25 connections at once. Rounds alternate which
system goes first; the report gives medians over the rounds and the ratio bot / baseline. After the rounds: 100
sequential commands to each system, 10 mistyped run ids to the bot, and (unless --quick or --no-profile) one more
bot burst under pyinstrument, whose report is written to bench/profile-burst.txt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

import httpx

from bot import messages
from bot.render.ids import Button
from bot.simulator import RateLimit
from tests.e2e_harness import (
    BOT_TOKEN,
    PROD_ENV,
    PROD_KEY,
    REPO_ROOT,
    SIGNING_SECRET,
    SlackSender,
    bot_env,
    listening_port,
)
from tests.fakes._server import RecordedRequest, Reply, json_reply
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger, new_run_id
from tests.test_e2e_buttons import click

System = Literal["bot", "baseline"]
SYSTEMS: tuple[System, ...] = ("bot", "baseline")

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_PATH = BENCH_DIR / "RESULTS.md"
PROFILE_PATH = BENCH_DIR / "profile-burst.txt"

TRIGGER_LATENCY = 0.150  # seconds the fake Trigger.dev takes to answer every API call
CHANNEL = "C111"  # where the commands are typed (the bot posts its summaries there)
BURST = 100
BURST_CONCURRENCY = 25
# The burst's commands come from this many people in turn: one person has at most a few requests in progress at once
# (bot/limits.py), as a team's burst after an incident would.
PEOPLE = tuple(f"U{111 + n}" for n in range(BURST_CONCURRENCY))
ROUNDS = 5
WARMUP = 3
SEQUENTIAL = 100
MISTYPED = 10
MISTYPED_INTERVAL = 0.5  # seconds between two mistyped commands (each takes ~0.6 s to answer)
SLACK_ACK_LIMIT = 3.0  # Slack shows the user an error when the 200 comes later
SLOW_ACK = 1.0  # acks above this are flagged
STARTUP_TIMEOUT = 30.0
HEALTH_POLL = 0.01
DRAIN_TIMEOUT = 60.0
WARMUP_TIMEOUT = 15.0  # longest wait for the answers of one batch
IDLE_TIMEOUT = 5.0  # longest wait for the server's CPU counter to stop moving
FAKE_BACKLOG = 1024  # listen backlog of the fakes (socketserver's default of 5 overflows under this load)
DEFAULT_MAX_SECONDS = 280.0
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "VIRTUAL_ENV")
# The interpreter both servers run in (--server-python): by default this one, whose environment has the test tools
# and the shell extra; a deploy's (requirements.lock only) measures memory as deployed, without rich.
SERVER_PYTHON = [sys.executable]
SERVER_CORE: list[int] = []  # the core the server under test has to itself (empty: it is not pinned)
# Run as `python -c PINNED <core> <program> <args…>`: the program, on that core only (affinity is kept across exec).
PINNED = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.execv(sys.argv[2], sys.argv[2:])"


# the fakes -----------------------------------------------------------------------------------------------------


class LatencyTrigger(FakeTrigger):
    """FakeTrigger answering every /api/ request `latency` seconds after it arrived, each in its own thread.

    tests/fakes has only `hold` (one event releasing every matching request at once), not a per-request latency.
    """

    def __init__(self, latency: float) -> None:
        # No token bucket of the server's size: the load runs here would spend it; `limit_to` sets one when wanted.
        super().__init__(rate_limit=RateLimit(limit=10**9, refill=10**9))
        self.latency = latency
        self._stopping = threading.Event()
        self._bucket_lock = threading.Lock()

    def handle(self, request: RecordedRequest) -> Reply | None:
        if request.path.startswith("/api/"):
            self._stopping.wait(max(0.0, request.at + self.latency - time.time()))
            if self.bucket is not None and "authorization" in request.headers:
                return self._bucketed(request)
        return super().handle(request)

    # A small rate-limit bucket for the Sets section: `limit` requests per fixed window of `window` seconds,
    # reported as Trigger.dev reports it (x-ratelimit-remaining / x-ratelimit-reset in ms); beyond it, 429.
    bucket: tuple[int, float] | None = None
    _window = -1
    _used = 0
    windows = 0  # windows in which requests were answered (each new one is a reset of the bucket)
    refused = 0  # requests answered 429

    def limit_to(self, limit: int, window: float) -> None:
        with self._bucket_lock:
            self.bucket, self._window, self._used, self.windows, self.refused = (limit, window), -1, 0, 0, 0

    def _bucketed(self, request: RecordedRequest) -> Reply | None:
        assert self.bucket is not None
        limit, window = self.bucket
        with self._bucket_lock:
            index = math.floor(time.time() / window)
            if index != self._window:
                self._window, self._used, self.windows = index, 0, self.windows + 1
            self._used += 1
            over = self._used > limit
            self.refused += over
            remaining = max(0, limit - self._used)
        reset_ms = int((index + 1) * window * 1000)
        headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining)}
        headers["x-ratelimit-reset"] = str(reset_ms)
        if over:
            body = {"error": "Rate limit exceeded", "reset": reset_ms, "remaining": -1, "limit": limit}
            return json_reply(429, body, headers)
        reply = super().handle(request)
        if reply is not None:
            reply.headers = {**reply.headers, **headers}
        return reply

    def stop(self) -> None:
        self._stopping.set()
        super().stop()


@dataclass
class Fakes:
    slack: FakeSlack
    trigger: LatencyTrigger

    def delayed_runs(self, n: int) -> list[tuple[str, str]]:
        """`n` fresh delayed runs (delayed by 1 h), each with its own response_url."""
        return [(self.trigger.add_run(PROD_ENV)["id"], self.slack.new_response_url()) for _ in range(n)]

    def missing_runs(self, n: int) -> list[tuple[str, str]]:
        return [(new_run_id(), self.slack.new_response_url()) for _ in range(n)]

    def answers(self, samples: Sequence[Sample] = ()) -> dict[str, Answer]:
        """The first answer to each command, by its response_url path: the first POST to the response_url, or
        the summary posted in the command's channel with chat.postMessage, found by the run id of
        one of `samples`."""
        first: dict[str, Answer] = {}
        by_run = {s.run_id: httpx.URL(s.response_url).path for s in samples}
        for request in self.slack.requests:
            if request.method == "POST" and request.path.startswith("/response/"):
                first.setdefault(request.path, Answer(request.at, request.json))
            elif by_run and request.path == "/api/chat.postMessage":
                args = _args(request)
                if args.get("channel") != CHANNEL:
                    continue  # a DM confirmation
                path = next((path for run_id, path in by_run.items() if run_id in str(args.get("blocks"))), None)
                if path is not None:
                    first.setdefault(path, Answer(request.at, args))
        return first

    def api_calls(self, method: str) -> int:
        return sum(1 for r in self.slack.requests if r.path == f"/api/{method}")

    def calls(self) -> int:
        """API calls received so far by both fakes (Slack's Web API and Trigger.dev's API)."""
        slack = sum(1 for r in self.slack.requests if r.path.startswith("/api/"))
        return slack + sum(1 for r in self.trigger.requests if r.path.startswith("/api/"))

    def dm_calls(self) -> int:
        """chat.postMessage calls to a person (the DM confirmations), not to the channel."""
        return sum(
            1 for r in self.slack.requests if r.path == "/api/chat.postMessage" and _args(r).get("channel") != CHANNEL
        )


@dataclass(frozen=True, slots=True)
class Answer:
    at: float  # time.time() on arrival at the fake Slack
    json: Any  # what was posted: the response_url body, or chat.postMessage's arguments


def _args(request: RecordedRequest) -> dict[str, Any]:
    """A Web API call's arguments (JSON or form)."""
    if isinstance(request.json, dict):
        return request.json
    return {key: values[0] for key, values in parse_qs(request.text()).items()}


@contextmanager
def fakes() -> Iterator[Fakes]:
    with LatencyTrigger(TRIGGER_LATENCY) as trigger, FakeSlack(BOT_TOKEN) as slack:
        trigger.keep_alive = slack.keep_alive = True  # as the real services do: connections are reused
        trigger.add_key(PROD_KEY, PROD_ENV)
        for person in PEOPLE:
            slack.add_user(person)
        for url in (trigger.url, slack.url):
            if not url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"refusing to benchmark anything but 127.0.0.1: {url}")
        yield Fakes(slack, trigger)


# the server under test -----------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (/proc/<pid>/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_main_thread_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process's main thread, where its event loop runs (its task of the same id);
    the rest of proc_cpu is its other threads' (aiosqlite's, reading the database, say)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of a live process, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[name] = int(rest.split()[0])
    return values


class Server:
    """A server process on a free loopback port; `healthy_after` is the time from spawn to /healthz answering 200."""

    def __init__(
        self, system: System, fakes: Fakes, workdir: Path, profile_to: Path | None = None, root: Path = REPO_ROOT
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.system = system
        self.log_path = workdir / f"{system}.log"
        # The bot with its features on: DM confirmations, audit in SQLite (in workdir), and no confirmation step.
        env = bot_env(
            fakes.slack, fakes.trigger, workdir, TRIGGER_DEADLINE="10", CONFIRM_ENVIRONMENTS="", DM_CONFIRMATIONS="true"
        )
        full_env = {k: v for k, v in os.environ.items() if k in KEPT_ENV}
        full_env |= {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root), **env}  # `root`'s bot/ is the one that runs
        listen = ["--host", "127.0.0.1", "--port", "0"]  # any free port, read back from its start-up line
        python = SERVER_PYTHON[0]
        if system == "baseline":
            command = [python, "-m", "bench.baseline_app", *listen]
        elif profile_to is not None:  # pyinstrument: a test tool, from this environment
            command = [sys.executable, "-m", "bench.profiled_bot", str(profile_to), "serve", *listen]
        else:
            command = [python, "-m", "bot", "serve", *listen]
        if system != "baseline":  # as a deploy does (the Procfile's release step): the schema first, then serve
            subprocess.run([python, "-m", "bot", "migrate"], cwd=workdir, env=full_env, check=True, capture_output=True)
        if SERVER_CORE:
            command = [command[0], "-c", PINNED, str(SERVER_CORE[0]), *command]
        started = time.perf_counter()
        with open(self.log_path, "wb") as log:
            # cwd is the work folder, not the repo root, so a developer's .env cannot leak in.
            self.process = subprocess.Popen(command, cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.port = listening_port(self.process, self.log_path, STARTUP_TIMEOUT)
            self.url = f"http://127.0.0.1:{self.port}"
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.healthy_after = time.perf_counter() - started

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.system} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(HEALTH_POLL)
        raise RuntimeError(f"{self.system} not healthy after {STARTUP_TIMEOUT} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def main_thread_cpu(self) -> float:
        return proc_main_thread_cpu(self.pid)

    def wait_idle(self) -> float:
        """Wait (bounded) until the server's CPU counter stops moving for 0.3 s; returns the counter."""
        deadline = time.monotonic() + IDLE_TIMEOUT
        last, still = self.cpu(), 0
        while time.monotonic() < deadline and still < 3:
            time.sleep(0.1)
            now = self.cpu()
            still = still + 1 if now - last < 0.015 else 0
            last = now
        return last

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# the load generator --------------------------------------------------------------------------------------------


def command_body(run_id: str, response_url: str, user_id: str = "U111") -> str:
    """A /reschedule form body, as tests.e2e_harness.SlackSender.command builds it, with a trigger_id of its own
    (as Slack gives every command; the bot refuses a second request with a trigger_id it has seen)."""
    return urlencode(
        {
            "token": "verification_token",
            "team_id": "T111",
            "team_domain": "test-domain",
            "enterprise_id": "",
            "enterprise_name": "",
            "channel_id": CHANNEL,
            "channel_name": "ops-alerts",
            "user_id": user_id,
            "user_name": "oncall-engineer",
            "command": "/reschedule",
            "text": f"{run_id} 2h",
            "api_app_id": "A111",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{int(time.time())}.111.{uuid.uuid4().hex}",
        }
    )


@dataclass
class Sample:
    run_id: str
    response_url: str
    sent_at: float = 0.0  # time.time() in the load generator (same clock as RecordedRequest.at)
    ack: float | None = None
    ack_ok: bool = False  # 200 with an empty body
    error: str | None = None
    answered_at: float | None = None
    answer: Any = None

    @property
    def end_to_end(self) -> float | None:
        return None if self.answered_at is None or not self.sent_at else self.answered_at - self.sent_at


@dataclass
class LoadRun:
    samples: list[Sample]
    elapsed: float
    load_cpu: float
    reconnects: int


class LoadGenerator:
    """`python -m bench.load` with its job; `go()` starts the sending, `result()` waits for the report."""

    def __init__(self, server: Server, runs: Sequence[tuple[str, str]], concurrency: int, interval: float = 0.0):
        self.samples = [Sample(run_id, url) for run_id, url in runs]
        job = {
            "host": "127.0.0.1",
            "port": server.port,
            "path": "/slack/events",
            "signing_secret": SIGNING_SECRET,
            "bodies": [
                command_body(s.run_id, s.response_url, PEOPLE[n % len(PEOPLE)]) for n, s in enumerate(self.samples)
            ],
            "concurrency": concurrency,
            "interval": interval,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.load"],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        ready = self.process.stdout.readline()
        if not ready.strip() or not json.loads(ready).get("ready"):
            self.process.kill()
            raise RuntimeError(f"the load generator did not start: {ready!r}")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self, timeout: float = 120.0) -> LoadRun:
        out, _ = self.process.communicate(timeout=timeout)
        if self.process.returncode != 0:
            raise RuntimeError(f"the load generator failed with {self.process.returncode}")
        data = json.loads(out.strip().splitlines()[-1])
        for sample, result in zip(self.samples, data["results"], strict=True):
            sample.sent_at = result["sent_at"]
            sample.ack = result["ack"]
            sample.error = result["error"]
            sample.ack_ok = result["status"] == 200 and result["body"] == ""
            if sample.error is None and not sample.ack_ok:
                sample.error = f"ack {result['status']}: {result['body'][:200]!r}"
        return LoadRun(self.samples, data["elapsed"], data["load_cpu"], data["reconnects"])


def send(server: Server, runs: Sequence[tuple[str, str]], concurrency: int, interval: float = 0.0) -> LoadRun:
    load = LoadGenerator(server, runs, concurrency, interval)
    load.go()
    return load.result()


def wait_answers(
    fakes: Fakes, samples: Sequence[Sample], extra: Callable[[], bool] | None = None, timeout: float = DRAIN_TIMEOUT
) -> bool:
    """Wait (bounded) until every sample has its response_url answer (and `extra()` holds); fill them in.

    Returns whether everything came in time."""
    wanted = {httpx.URL(s.response_url).path for s in samples}
    deadline = time.monotonic() + timeout
    done = False
    while not done and time.monotonic() < deadline:
        done = wanted <= fakes.answers(samples).keys() and (extra is None or extra())
        if not done:
            time.sleep(0.02)
    answers = fakes.answers(samples)
    for sample in samples:
        answer = answers.get(httpx.URL(sample.response_url).path)
        if answer is not None:
            sample.answered_at, sample.answer = answer.at, answer.json
    return done


def rescheduled(fakes: Fakes, sample: Sample) -> bool:
    """Posted in the channel (through the response_url, or by the bot itself), and the run really moved to 2 h after
    the command."""
    if not isinstance(sample.answer, dict):
        return False
    if sample.answer.get("response_type") != "in_channel" and sample.answer.get("channel") != CHANNEL:
        return False
    run = fakes.trigger.get_run(sample.run_id)
    moved_by = run["delayedUntil"].timestamp() - sample.sent_at
    return bool(run["status"] == "DELAYED" and 7100 < moved_by < 7300)


def told_not_found(sample: Sample) -> bool:
    expected = messages.run_not_found(sample.run_id, "*Prod*")
    return isinstance(sample.answer, dict) and sample.answer.get("text") == expected


# one burst -----------------------------------------------------------------------------------------------------


@dataclass
class Burst:
    system: System
    round: int
    samples: list[Sample] = field(default_factory=list)
    healthy_after: float = 0.0
    cpu: float = 0.0  # server CPU seconds over the burst
    cpu_main: float = 0.0  # of which its main thread's (the event loop's)
    memory_start: dict[str, int] = field(default_factory=dict)
    memory_end: dict[str, int] = field(default_factory=dict)
    load_cpu: float = 0.0
    reconnects: int = 0
    correct: int = 0
    dms: int = 0  # DM confirmations posted for the burst (chat.postMessage calls)
    calls: int = 0  # Slack Web API and Trigger.dev API calls made for the burst
    others_cpu: float = 0.0  # CPU seconds used by other processes on the machine during the burst
    wall: float = 0.0  # go signal → server idle again
    failure: str | None = None

    def acks(self) -> list[float]:
        return [s.ack for s in self.samples if s.ack is not None]

    def end_to_ends(self) -> list[float]:
        return [e for e in (s.end_to_end for s in self.samples) if e is not None]

    def completion(self) -> float | None:
        """First send → last summary, when every command was answered."""
        answered = [s.answered_at for s in self.samples if s.answered_at is not None]
        if not self.samples or len(answered) < len(self.samples):
            return None
        return max(answered) - min(s.sent_at for s in self.samples)

    def cpu_ms_per_command(self, cpu: float | None = None) -> float | None:
        """`cpu` (by default all the server's) in ms per command."""
        return (self.cpu if cpu is None else cpu) * 1000 / len(self.samples) if self.samples else None

    def slow_acks(self) -> list[float]:
        return [a for a in self.acks() if a > SLOW_ACK]


def warm_up(server: Server, fakes: Fakes) -> None:
    """A few commands one at a time, each answered before the next: lazy imports, auth.test, pools, DB."""
    for run in fakes.delayed_runs(WARMUP):
        dms = fakes.dm_calls()
        samples = send(server, [run], 1).samples
        dm_sent = lambda dms=dms: fakes.dm_calls() > dms  # noqa: E731 (a late DM is not counted in the burst)
        if not wait_answers(fakes, samples, dm_sent, WARMUP_TIMEOUT) or not rescheduled(fakes, samples[0]):
            shown = samples[0].error or repr(samples[0].answer)[:300]
            raise RuntimeError(f"warm-up command not rescheduled ({shown}); log:\n{server.log_tail(15)}")


def burst(
    system: System,
    number: int,
    workdir: Path,
    profile_to: Path | None = None,
    root: Path = REPO_ROOT,
    concurrency: int = BURST_CONCURRENCY,
) -> Burst:
    """One round of `system` (the bot from `root`, a checkout of this repository) under the burst, sent from
    `concurrency` connections."""
    outcome = Burst(system, number)
    try:
        with fakes() as fk:
            server = Server(system, fk, workdir, profile_to, root)
            try:
                outcome.healthy_after = server.healthy_after
                warm_up(server, fk)
                dms_before, calls_before = fk.dm_calls(), fk.calls()
                load = LoadGenerator(server, fk.delayed_runs(BURST), concurrency)
                cpu_before = server.wait_idle()
                main_before = server.main_thread_cpu()
                outcome.memory_start = proc_memory(server.pid)
                if profile_to is not None:
                    os.kill(server.pid, signal.SIGUSR1)
                noise, started = Noise.start(), time.monotonic()
                load.go()
                result = load.result()
                outcome.samples, outcome.load_cpu, outcome.reconnects = (
                    result.samples,
                    result.load_cpu,
                    result.reconnects,
                )

                def dms_done() -> bool:
                    return fk.dm_calls() - dms_before >= BURST

                wait_answers(fk, outcome.samples, dms_done)
                outcome.cpu = server.wait_idle() - cpu_before
                outcome.cpu_main = server.main_thread_cpu() - main_before
                outcome.wall = time.monotonic() - started
                outcome.others_cpu = noise.others(outcome.cpu, outcome.load_cpu)
                outcome.memory_end = proc_memory(server.pid)
                outcome.dms = fk.dm_calls() - dms_before
                outcome.calls = fk.calls() - calls_before
                if profile_to is not None:
                    os.kill(server.pid, signal.SIGUSR2)
                    wait_file(profile_to)
                if not server.alive():
                    raise RuntimeError(f"{system} exited with {server.process.returncode}")
            finally:
                server.stop()
            outcome.correct = sum(rescheduled(fk, s) for s in outcome.samples)
        errors = [s.error for s in outcome.samples if s.error]
        if errors:
            outcome.failure = f"{len(errors)} failed requests, e.g. {errors[0]}"
        elif outcome.correct < len(outcome.samples):
            outcome.failure = f"{len(outcome.samples) - outcome.correct} of {len(outcome.samples)} not rescheduled"
        elif outcome.dms < len(outcome.samples):
            outcome.failure = f"only {outcome.dms} DM confirmations for {len(outcome.samples)} moves (are DMs on?)"
    except Exception as exc:  # report it and go on with the other rounds
        outcome.failure = f"{type(exc).__name__}: {str(exc)[:500]}"
    return outcome


def wait_file(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (path.exists() and path.stat().st_size > 0):
        time.sleep(0.05)


# the machine ---------------------------------------------------------------------------------------------------


def prepare(server_python: str, pin: bool = True) -> None:
    """Before any server starts: the interpreter servers run in, the fakes' listen backlog, and (`pin`, on a machine
    of two cores or more) a core of its own for the server under test. The server then runs alone on the last core
    this process may use, and this process (the fakes' threads) and the load generator on the others: the server's
    CPU per command is then its own work, not what sharing a core with the load it is measured under costs it (both
    systems alike; without it the bot's figure moved by up to half from one burst to the next on 2 cores)."""
    SERVER_PYTHON[0] = server_python
    ThreadingHTTPServer.request_queue_size = FAKE_BACKLOG  # the fakes are this process's only servers
    usable = sorted(os.sched_getaffinity(0))
    SERVER_CORE.clear()
    if pin and len(usable) >= 2:
        SERVER_CORE.append(usable[-1])
        os.sched_setaffinity(0, set(usable[:-1]))  # threads and processes started from here on inherit it


def cores() -> str:
    """Where the servers and the load ran, for the report."""
    if not SERVER_CORE:
        return "not pinned: the server under test shares the cores with the fakes and the load generator"
    others = ", ".join(str(core) for core in sorted(os.sched_getaffinity(0)))
    return f"the server under test alone on CPU {SERVER_CORE[0]}; the fakes and the load generator on CPU {others}"


def machine_busy() -> float:
    """CPU seconds every core has spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process (the fakes' threads and the bookkeeping)."""
    return sum(os.times()[:2])


@dataclass
class Noise:
    """What else used the CPU while a burst ran: machine busy time minus the server, load generator and fakes."""

    busy: float = 0.0
    own: float = 0.0

    @classmethod
    def start(cls) -> Noise:
        return cls(machine_busy(), own_cpu())

    def others(self, server_cpu: float, load_cpu: float) -> float:
        return max(0.0, machine_busy() - self.busy - (own_cpu() - self.own) - server_cpu - load_cpu)


# sequential commands and mistyped ids --------------------------------------------------------------------------


@dataclass
class Extra:
    system: System
    sequential: list[Sample] = field(default_factory=list)
    sequential_correct: int = 0
    sequential_cpu: float | None = None  # server CPU seconds over the sequential commands, to idle after the last DM
    mistyped: list[Sample] = field(default_factory=list)
    mistyped_correct: int = 0
    failure: str | None = None


def extra(system: System, workdir: Path) -> Extra:
    """`SEQUENTIAL` commands one at a time (each sent when the previous one is acked); then, to the bot only,
    `MISTYPED` well-formed ids Trigger.dev does not know, one every MISTYPED_INTERVAL s."""
    outcome = Extra(system)
    try:
        with fakes() as fk:
            server = Server(system, fk, workdir)
            try:
                warm_up(server, fk)
                dms_before = fk.dm_calls()
                cpu_before = server.wait_idle()
                outcome.sequential = send(server, fk.delayed_runs(SEQUENTIAL), 1).samples
                wait_answers(fk, outcome.sequential, lambda: fk.dm_calls() - dms_before >= SEQUENTIAL)
                outcome.sequential_cpu = server.wait_idle() - cpu_before
                outcome.sequential_correct = sum(rescheduled(fk, s) for s in outcome.sequential)
                if system == "bot":
                    outcome.mistyped = send(server, fk.missing_runs(MISTYPED), MISTYPED, MISTYPED_INTERVAL).samples
                    wait_answers(fk, outcome.mistyped)
                    outcome.mistyped_correct = sum(told_not_found(s) for s in outcome.mistyped)
            finally:
                server.stop()
    except Exception as exc:
        outcome.failure = f"{type(exc).__name__}: {str(exc)[:500]}"
    return outcome


# reporting -----------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def scaled(value: float | None, by: float) -> float | None:
    return None if value is None else value * by


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def mib(memory: dict[str, int], name: str) -> float | None:
    return memory[name] / 1024 if name in memory else None


@dataclass(frozen=True)
class Metric:
    label: str
    value: Callable[[Burst], float | None]
    digits: int = 0


METRICS = (
    Metric("Ack p50 (ms)", lambda b: scaled(percentile(b.acks(), 50), 1000), 1),
    Metric("Ack p99 (ms)", lambda b: scaled(percentile(b.acks(), 99), 1000), 1),
    Metric("Ack max (ms)", lambda b: scaled(max(b.acks(), default=None), 1000), 1),
    Metric("Send → summary in the channel p50 (ms)", lambda b: scaled(percentile(b.end_to_ends(), 50), 1000)),
    Metric("Send → summary in the channel p99 (ms)", lambda b: scaled(percentile(b.end_to_ends(), 99), 1000)),
    Metric("Burst completion, first send → last summary (ms)", lambda b: scaled(b.completion(), 1000)),
    Metric("Server CPU per command (ms)", lambda b: b.cpu_ms_per_command(), 1),
    Metric("… of which the event loop's thread (ms)", lambda b: b.cpu_ms_per_command(b.cpu_main), 1),
    # max: the process's and its main thread's counters are read one after the other, a tick apart at worst
    Metric("… of which other threads (ms)", lambda b: b.cpu_ms_per_command(max(0.0, b.cpu - b.cpu_main)), 1),
    Metric("VmRSS after the burst (MiB)", lambda b: mib(b.memory_end, "VmRSS"), 1),
    Metric("VmRSS after the burst (MB, 10^6 bytes)", lambda b: scaled(mib(b.memory_end, "VmRSS"), 1.048576), 1),
    Metric("RssAnon after the burst (MiB)", lambda b: mib(b.memory_end, "RssAnon"), 1),
    Metric("Time to healthy after start (ms)", lambda b: b.healthy_after * 1000),
    Metric("API calls per command (Slack + Trigger.dev)", lambda b: b.calls / len(b.samples) if b.samples else None, 1),
)


def median_of(bursts: Sequence[Burst], metric: Metric) -> float | None:
    values = [v for v in (metric.value(b) for b in bursts if b.failure is None) if v is not None]
    return statistics.median(values) if values else None


def spread_of(bursts: Sequence[Burst], metric: Metric) -> str:
    values = [v for v in (metric.value(b) for b in bursts if b.failure is None) if v is not None]
    if len(values) < 2:
        return ""
    return f" ({fmt(min(values), metric.digits)}–{fmt(max(values), metric.digits)})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def comparison(bursts: Sequence[Burst]) -> str:
    by_system = {system: [b for b in bursts if b.system == system] for system in SYSTEMS}
    rows = []
    for metric in METRICS:
        bot, base = (median_of(by_system[s], metric) for s in SYSTEMS)
        ratio = f"{bot / base:.2f}×" if bot is not None and base else "—"
        rows.append(
            [
                metric.label,
                fmt(bot, metric.digits) + spread_of(by_system["bot"], metric),
                fmt(base, metric.digits) + spread_of(by_system["baseline"], metric),
                ratio,
            ]
        )
    slow = {s: sum(len(b.slow_acks()) for b in by_system[s]) for s in SYSTEMS}
    acks = {s: sum(len(b.acks()) for b in by_system[s]) for s in SYSTEMS}
    rows.append(
        [
            f"Acks over {SLOW_ACK:g} s",
            f"{slow['bot']} of {acks['bot']}",
            f"{slow['baseline']} of {acks['baseline']}",
            "—",
        ]
    )
    correct = {
        s: f"{sum(b.correct for b in by_system[s])}/{sum(len(b.samples) for b in by_system[s])}" for s in SYSTEMS
    }
    rows.append(["Rescheduled and answered in the channel", correct["bot"], correct["baseline"], "—"])
    n = {s: len([b for b in by_system[s] if b.failure is None]) for s in SYSTEMS}
    header = [
        "Burst of 100, concurrency 25",
        f"bot, median of {n['bot']} (min–max)",
        f"baseline, median of {n['baseline']} (min–max)",
        "bot / baseline",
    ]
    return markdown_table(header, rows)


def per_round(bursts: Sequence[Burst]) -> str:
    rows = []
    for b in bursts:
        rows.append(
            [
                f"{b.round}" if b.round else "profiled",
                b.system,
                *(fmt(m.value(b), m.digits) for m in METRICS[:7]),
                fmt(mib(b.memory_end, "VmRSS"), 1),
                fmt(b.healthy_after * 1000),
                str(len(b.slow_acks())),
                f"{b.correct}/{len(b.samples)}",
                str(b.dms),
                fmt(b.load_cpu * 1000),
                fmt(b.others_cpu * 1000),
            ]
        )
    header = [
        "Round",
        "System",
        "Ack p50",
        "Ack p99",
        "Ack max",
        "E2E p50",
        "E2E p99",
        "Completion",
        "CPU/cmd",
        "VmRSS MiB",
        "Healthy",
        f">{SLOW_ACK:g} s",
        "Correct",
        "DMs",
        "Load-gen CPU",
        "Others' CPU",
    ]
    return markdown_table(header, rows)


def extras_table(extras: Sequence[Extra]) -> str:
    rows = []
    for e in extras:
        acks = [s.ack for s in e.sequential if s.ack is not None]
        e2e = [v for v in (s.end_to_end for s in e.sequential) if v is not None]
        rows.append(
            [
                f"{e.system}: sequential commands, ack",
                str(len(e.sequential)),
                *(fmt(scaled(percentile(acks, p), 1000), 1) for p in (50, 99)),
                fmt(scaled(max(acks, default=None), 1000), 1),
                f"{e.sequential_correct}/{len(e.sequential)} rescheduled",
            ]
        )
        rows.append(
            [
                f"{e.system}: sequential commands, send → summary",
                str(len(e.sequential)),
                *(fmt(scaled(percentile(e2e, p), 1000), 1) for p in (50, 99)),
                fmt(scaled(max(e2e, default=None), 1000), 1),
                "",
            ]
        )
        if e.mistyped:
            answers = [v for v in (s.end_to_end for s in e.mistyped) if v is not None]
            rows.append(
                [
                    f"{e.system}: mistyped run id → “not found” answer",
                    str(len(e.mistyped)),
                    *(fmt(scaled(percentile(answers, p), 1000), 1) for p in (50, 99)),
                    fmt(scaled(max(answers, default=None), 1000), 1),
                    f"{e.mistyped_correct}/{len(e.mistyped)} told not found",
                ]
            )
    table = markdown_table(["Measurement", "N", "p50 ms", "p99 ms", "max ms", "Correct"], rows)
    return table + sequential_cpu(extras)


def sequential_cpu(extras: Sequence[Extra]) -> str:
    """The sentence comparing the servers' CPU per command over the sequential commands (empty without both)."""
    per_command = {
        e.system: e.sequential_cpu * 1000 / len(e.sequential) for e in extras if e.sequential_cpu and e.sequential
    }
    bot, baseline = per_command.get("bot"), per_command.get("baseline")
    if bot is None or baseline is None:
        return ""
    return (
        "\n\nServer CPU per command over the sequential commands (from before the first until idle after the last "
        f"DM): bot {bot:.1f} ms, baseline {baseline:.1f} ms ({bot / baseline:.2f}×). A burst's commands share the "
        "database's transactions (bot/storage/transactions.py) and the event loop's wake-ups; commands one at a time, "
        "as most workspaces send them, each pay their own.\n"
    )


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return (
        f"nproc {len(os.sched_getaffinity(0)) + len(SERVER_CORE)} ({model}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


def code_version() -> str:
    """The commit benchmarked, and whether bot/ had uncommitted changes (others may be editing it)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bot"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not head:
        return "unknown (not a git checkout)"
    return f"git {head}" + (f" plus uncommitted changes to {len(dirty)} paths under bot/" if dirty else " (bot/ clean)")


def shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def server_environment() -> str:
    """Which interpreter the servers ran in, and whether rich (the shell extra) was installed in it: with rich,
    httpx loads its command-line client too (about 4 MiB)."""
    probe = "import importlib.util; print(importlib.util.find_spec('rich') is not None)"
    has_rich = subprocess.run([SERVER_PYTHON[0], "-c", probe], capture_output=True, text=True).stdout.strip()
    extra = "rich installed (the shell extra)" if has_rich == "True" else "without rich, as a deploy"
    return f"`{SERVER_PYTHON[0]}`, {extra}"


def command_line(argv: Sequence[str]) -> str:
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = str(exe)
    return shlex.join([shown, "-m", "bench.run", *argv])


def cpu_ratios(bursts: Sequence[Burst]) -> list[str]:
    """Bot / baseline CPU per command within each round: the two bursts of a round ran back to back, so they saw
    much the same load from the rest of the machine."""
    ratios = []
    for number in sorted({b.round for b in bursts if b.round}):
        pair = {b.system: b.cpu_ms_per_command() for b in bursts if b.round == number and b.failure is None}
        bot, base = pair.get("bot"), pair.get("baseline")
        if bot is not None and base:
            ratios.append(bot / base)
    if not ratios:
        return []
    shown = ", ".join(f"{r:.2f}×" for r in ratios)
    return [f"- CPU per command, bot / baseline within each round: {shown} (median {statistics.median(ratios):.2f}×)."]


def noise_notes(bursts: Sequence[Burst], load_before: float, load_after: float) -> list[str]:
    notes = [
        f"- Load average (1 min) {load_before:.2f} before the run, {load_after:.2f} after it; *Others' CPU* is the "
        "CPU time the rest of the machine used during each burst (from /proc/stat, minus the server, the load "
        "generator and this process)."
    ]
    busy = [b for b in bursts if b.wall > 0 and b.others_cpu > 0.25 * b.wall]
    p50 = [v for v in (METRICS[0].value(b) for b in bursts if b.round) if v is not None]
    if busy:
        notes.append(
            f"- **Noisy: other processes were using the CPU** ({len(busy)} of {len(bursts)} bursts saw more than a "
            "quarter of a core used by others; other engineers' tests may have been running). Medians over "
            "alternating rounds soften this, but compare ratios rather than absolute figures."
        )
    elif load_before > 1.0:
        notes.append(
            f"- **Possibly noisy: the load average was {load_before:.2f} before the run**, though no burst saw more "
            "than a quarter of a core used by others. Compare ratios rather than absolute figures."
        )
    elif len(p50) >= 2 and max(p50) > 2 * min(p50):
        notes.append("- Ack medians vary more than 2× between rounds: treat the absolute figures as noisy.")
    return notes


def report(
    bursts: Sequence[Burst],
    extras: Sequence[Extra],
    profiled: Burst | None,
    profile_path: Path,
    argv: Sequence[str],
    total: float,
    loads: tuple[float, float],
) -> str:
    measured = [b for b in bursts if b.round]
    slow = [
        f"- **{b.system}, round {b.round}: {len(b.slow_acks())} acks over {SLOW_ACK:g} s** "
        f"(worst {max(b.slow_acks()) * 1000:.0f} ms)"
        for b in measured
        if b.slow_acks()
    ]
    failures = [f"- **{b.system}, round {b.round or 'profiled'}: {b.failure}**" for b in bursts if b.failure]
    failures += [f"- **{e.system}, sequential / mistyped: {e.failure}**" for e in extras if e.failure]
    failures += [
        f"- {b.system}, round {b.round or 'profiled'}: the load generator had to reconnect {b.reconnects} times "
        "(the server closed keep-alive connections)"
        for b in bursts
        if b.reconnects
    ]
    profile_line = []
    if profiled is not None:
        profile_line = [
            f"- Profiled bot burst (pyinstrument sampling every 1 ms, not in the medians): ack p50 "
            f"{fmt(METRICS[0].value(profiled), 1)} ms, p99 {fmt(METRICS[1].value(profiled), 1)} ms, send → summary "
            f"p50 {fmt(METRICS[3].value(profiled))} ms, CPU {fmt(profiled.cpu_ms_per_command(), 1)} ms per command; "
            f"the report is in {shown_path(profile_path)}."
        ]
    quick = " (--quick: a smoke run, not representative)" if "--quick" in argv else ""
    return "\n".join(
        [
            f"# reschedule-bot benchmark: the bot against a bare Bolt baseline{quick}",
            "",
            f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- Machine: {machine()}",
            f"- Cores: {cores()}",
            f"- Code: {code_version()}",
            f"- Command (from the repository root): `{command_line(argv)}`",
            f"- Servers' interpreter: {server_environment()}",
            f"- Total wall time: {total:.0f} s",
            "",
            f"A burst of {BURST} `/reschedule <run> 2h` (each for its own delayed run) sent from "
            f"{BURST_CONCURRENCY} connections at once, the fake Trigger.dev answering every call "
            f"{TRIGGER_LATENCY * 1000:.0f} ms after it arrives. Medians over the rounds (min–max in brackets):",
            "",
            comparison(measured),
            "",
            *slow,
            *failures,
            *cpu_ratios(measured),
            *noise_notes(measured, *loads),
            *profile_line,
            "",
            "## The two systems",
            "",
            "- **bot**: `python -m bot serve` with its features on: DM confirmations (a DM after every move), the "
            "audit trail in SQLite (a file in a temporary folder), INFO "
            'logging to a file, TRIGGER_DEADLINE=10 and CONFIRM_ENVIRONMENTS="" (the Prod environment used here '
            "moves at once, without a confirmation button, so every command really reschedules). Everything else "
            "is whatever bot/ does in the code named above (uncommitted changes included).",
            "- **baseline**: bench/baseline_app.py, a bare Bolt `AsyncApp` served the same way (Starlette + Bolt's "
            "AsyncSlackRequestHandler, `uvicorn.run(log_config=None, access_log=False)`, signature verification "
            "on, process_before_response=False) whose /reschedule listener acks and makes the calls the bot makes "
            "for one command, in the same order: the two Trigger.dev calls with the same headers (GET "
            "/api/v3/runs/{id}, POST /api/v1/runs/{id}/reschedule) over one shared httpx.AsyncClient, then "
            "`chat.postMessage` of the summary to the channel, `chat.getPermalink` of it and `chat.postMessage` of "
            "a DM with the link to the person, through Bolt's AsyncWebClient on one shared aiohttp session (as the "
            "bot's). Nothing else: no audit, follow-up, logging or metrics. Bolt calls auth.test on its first "
            "request (the bot calls it before serving, so its time to healthy includes it). *API calls per "
            "command* counts what both fakes received during the burst: the same figure for both systems means "
            "the same calls.",
            "",
            "## Method",
            "",
            "- Three processes: this one (the fake Slack and Trigger.dev of tests/fakes in threads, listening with "
            f"a backlog of {FAKE_BACKLOG}), the server under test, and the load generator `python -m bench.load`, "
            "which signs the requests as Slack does (each command with a trigger_id of its own, as Slack sends "
            "them), sends them over keep-alive connections opened before the burst with a minimal asyncio HTTP "
            "client, and reports its timings as JSON on stdout.",
            f"- Per round and system: fresh fakes, a fresh server, {WARMUP} warm-up commands one at a time (not "
            "counted), then the burst. Rounds alternate which system goes first.",
            "- *Ack*: from just before the request is written until its 200 has been read (Slack's limit is 3 s). "
            "*Send → summary*: from the same instant until the summary arrives at the fake Slack (the bot posts it "
            "with chat.postMessage, and so does the baseline; arrival time recorded by the fake, same clock). "
            "*Burst completion*: first send → last summary. Both fakes keep connections open between requests, as "
            "Slack's and Trigger.dev's servers do.",
            "- The load is a closed loop: each of the 25 connections sends its next command when the previous one "
            "is acked. A server that acks slowly therefore has fewer commands in progress at once, and each of them "
            "waits less behind the others: compare send → summary p50 with that in mind (burst completion and p99 "
            "include the ack delays).",
            "- *CPU per command*: the server's utime + stime (/proc/<pid>/stat) from just before the burst until it "
            "is idle again after the last summary and the last DM, divided by the number of commands; the event "
            "loop's thread is the process's main thread (/proc/<pid>/task/<pid>/stat), other threads are the rest "
            "(the bot's: aiosqlite's, reading its database, and a worker writing while another process holds SQLite's "
            "lock). *RSS*: /proc/<pid>/status after that; RssAnon "
            "is the process's own memory, VmRSS adds mapped files. *Time to healthy*: from spawning the process "
            "until GET /healthz answers 200 (polled "
            f"every {HEALTH_POLL * 1000:.0f} ms).",
            "",
            "## Per round",
            "",
            "Times in ms (E2E = send → summary; Completion = first send → last summary; CPU/cmd = server CPU ms per "
            "command; Healthy = time to healthy; DMs = DM confirmations posted; Load-gen CPU and Others' CPU in ms "
            "over the burst).",
            "",
            per_round([*measured, *([profiled] if profiled else [])]),
            "",
            "## Other measurements",
            "",
            f"One fresh process per system, same fakes ({TRIGGER_LATENCY * 1000:.0f} ms per Trigger.dev call): "
            f"{SEQUENTIAL} commands one at a time (each sent as soon as the previous one is acked, so the work "
            f"after the ack overlaps the next commands), then, to the bot only, {MISTYPED} mistyped run ids (one "
            f"every {MISTYPED_INTERVAL:g} s; the bot asks once (a 404 is not retried) before answering “not found”).",
            "",
            extras_table(extras),
            "",
        ]
    )


PROFILE_HEADER = """\
pyinstrument profile of one burst of the bot ({burst} `/reschedule <run> 2h` at concurrency {concurrency}, fake
Trigger.dev answering each call after {latency} ms, DM confirmations and SQLite audit on): the main thread (the
event loop, where every coroutine runs) sampled every 1 ms from just before the burst until the bot was idle after
the last DM. Written by `python -m bench.run` on {date}, {code}.
Server CPU over the profiled window (all threads, sampling overhead included): {cpu:.2f} s in {wall:.2f} s.
The bot's writes to SQLite run on the event loop (sampled); its reads run in aiosqlite's threads, which are not
sampled: their CPU is in that figure, not below.
The first two sections are shares of the busy time (the loop not waiting in select/epoll); the call tree (library
frames folded under the bot's frame that called them) and the flat list are shares of all samples.

"""


def write_profile(raw: Path, profiled: Burst, path: Path) -> None:
    header = PROFILE_HEADER.format(
        burst=BURST,
        concurrency=BURST_CONCURRENCY,
        latency=f"{TRIGGER_LATENCY * 1000:.0f}",
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        code=code_version(),
        cpu=profiled.cpu,
        wall=profiled.wall,
    )
    path.write_text(header + raw.read_text())


# main ----------------------------------------------------------------------------------------------------------


# sets: many runs in one move ------------------------------------------------------------------------------------

SET_SMALL = 50
SET_SMALL_TARGET = 1.5  # seconds, Confirm → final summary
SET_LARGE = 100
SET_BUCKET = 40  # requests per window in the rate-limited set (the bot waits below 20 left: LOW_REMAINING)
SET_WINDOW = 2.0  # seconds per window
SET_TIMEOUT = 90.0
SET_WAITING = "waiting"  # the bot's log line when a set waits for the rate limit to reset


@dataclass
class SetRun:
    name: str
    runs: int
    bucket: tuple[int, float] | None
    seconds: float | None = None  # Confirm click sent → final summary arrived at the fake Slack
    moved: int = 0
    failed: int = 0  # runs not moved, by the summary and by the fake's own record
    progress: int = 0  # updates of the summary before its final state
    waits: int = 0  # the bot's waits for the rate limit to reset (its log)
    windows: int = 0  # rate-limit windows the fake answered in
    refused: int = 0  # requests the fake answered 429
    failure: str | None = None


def bulk_set(fakes: Fakes, workdir: Path, name: str, runs: int, bucket: tuple[int, float] | None) -> SetRun:
    """`/reschedule <runs> 2h` to the real bot process, then Confirm (signed as Slack signs them): the time from
    the click until the set's final summary, its progress updates and its outcome."""
    result = SetRun(name, runs, bucket)
    server = Server("bot", fakes, workdir)
    try:
        ids = [fakes.trigger.add_run(PROD_ENV)["id"] for _ in range(runs)]
        sender = SlackSender(server.url + "/slack/events", SIGNING_SECRET)
        url = fakes.slack.new_response_url()
        sender.command(" ".join([*ids, "2h"]), response_url=url)
        prompt = wait_for(lambda: next((r for r in fakes.slack.responses(url) if r.get("blocks")), None), 30.0)
        if prompt is None:
            result.failure = "no Confirm prompt"
            return result
        if bucket is not None:
            fakes.trigger.limit_to(*bucket)
        updates_before = len(fakes.slack.api_calls("chat.update"))
        done = f"{runs} of {runs} done"
        clicked = time.time()
        status, _ = click(sender, fakes.slack, prompt, Button.BULK_CONFIRM.action_id, ephemeral=True)

        def finished() -> RecordedRequest | None:
            updates = (r for r in fakes.slack.requests if r.path == "/api/chat.update" and r.at >= clicked)
            return next((r for r in updates if done in _said(r)), None)

        final = wait_for(finished, SET_TIMEOUT)
        if status != 200 or final is None:
            result.failure = f"Confirm answered {status}; no final summary within {SET_TIMEOUT:g} s"
            return result
        result.seconds = final.at - clicked
        result.progress = len(fakes.slack.api_calls("chat.update")) - updates_before - 1
        said = _said(final)
        moved = re.search(r"\*(\d+) moved\*", said)
        result.moved = int(moved.group(1)) if moved else 0
        soon = datetime.now(UTC).timestamp() + 1.8 * 3600
        landed = sum(1 for run_id in ids if fakes.trigger.get_run(run_id, PROD_ENV)["delayedUntil"].timestamp() > soon)
        result.failed = runs - min(result.moved, landed)
        if bucket is not None:
            result.windows, result.refused = fakes.trigger.windows, fakes.trigger.refused
            fakes.trigger.bucket = None
        server.stop()
        logged = server.log_path.read_text(errors="replace").splitlines()
        result.waits = sum(1 for line in logged if SET_WAITING in line)
        if result.failed:
            result.failure = f"{result.failed} runs not moved"
        elif bucket is not None and result.waits < 2:
            result.failure = f"the set waited for the rate limit {result.waits} times (needs 2 or more)"
        elif bucket is None and result.seconds >= SET_SMALL_TARGET:
            result.failure = f"took {result.seconds:.2f} s (target under {SET_SMALL_TARGET:g} s)"
    finally:
        server.stop()
    return result


def _said(request: RecordedRequest) -> str:
    """The text of a Slack API call, whether sent as JSON or as a form."""
    if request.json is not None:
        return json.dumps(request.json, ensure_ascii=False)
    return " ".join(" ".join(values) for values in parse_qs(request.text()).values())


def wait_for(probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.01)
    return None


def sets_section(sets: Sequence[SetRun]) -> str:
    if not sets:
        return ""
    rows = []
    for run in sets:
        limit = "none (750 a window)" if run.bucket is None else f"{run.bucket[0]} requests per {run.bucket[1]:g} s"
        rows.append(
            [
                f"{run.runs} runs",
                limit,
                fmt(None if run.seconds is None else run.seconds * 1000),
                f"{run.moved}/{run.runs}",
                str(run.failed),
                str(run.progress),
                str(run.waits) if run.bucket is not None else "—",
                f"{run.windows} windows, {run.refused} × 429" if run.bucket is not None else "—",
                "ok" if run.failure is None else f"**{run.failure}**",
            ]
        )
    table = markdown_table(
        [
            "Set",
            "Trigger.dev rate limit",
            "Confirm → final summary (ms)",
            "Moved",
            "Failed runs",
            "Progress updates",
            "Waits for the reset",
            "Fake's bucket",
            "Result",
        ],
        rows,
    )
    return "\n".join(
        [
            "",
            "## Sets",
            "",
            f"Many runs in one move, on the real bot process (`python -m bot serve`, as above; fresh fakes, the fake "
            f"Trigger.dev answering every call {TRIGGER_LATENCY * 1000:.0f} ms after it arrives): "
            "`/reschedule <runs> 2h`, then a click on **Move them**, both signed as Slack signs them. Timed from "
            "sending the click until the set's final summary (its `chat.update` saying every run is done) arrives "
            "at the fake Slack. *Progress updates*: updates of the summary before its final state. *Waits for the "
            "reset*: the bot's own log lines saying the set waits for Trigger.dev's rate limit to reset. For the "
            f"second set the fake answers with a bucket of {SET_BUCKET} requests per {SET_WINDOW:g} s window "
            "(x-ratelimit-remaining / x-ratelimit-reset as Trigger.dev sends them, 429 beyond it), switched on after "
            f"the prompt was shown; the set needs about {SET_LARGE} requests (its Confirm moves what the prompt "
            "found, without looking again). *Failed runs*: runs the summary "
            "does not count as moved or that the fake does not show at the new time.",
            "",
            table,
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: one round, no profile")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per system (default %(default)d)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled burst")
    parser.add_argument(
        "--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, help="no new phase starts after (default %(default)g)"
    )
    parser.add_argument(
        "--server-python",
        default=sys.executable,
        help="the interpreter both servers run in, e.g. a deploy's made from requirements.lock (default: this one)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let the server share the cores with the fakes and the load generator"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="work in this new folder and keep it (servers' logs and databases)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"where to write the Markdown (default {RESULTS_PATH.relative_to(REPO_ROOT)}; --quick writes nothing "
        "unless this is given)",
    )
    args = parser.parse_args(args_list)
    prepare(args.server_python, pin=not args.no_pin)
    rounds = 1 if args.quick else max(1, args.rounds)
    output: Path | None = args.output if args.output is not None or args.quick else RESULTS_PATH
    profile = not (args.quick or args.no_profile)
    if profile and importlib.util.find_spec("pyinstrument") is None:
        print("[bench] pyinstrument is not installed (pip install -e '.[test]'): no profile", file=sys.stderr)
        profile = False
    profile_path = PROFILE_PATH if output == RESULTS_PATH or output is None else output.with_suffix(".profile.txt")

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    bursts: list[Burst] = []
    extras: list[Extra] = []
    profiled: Burst | None = None
    sets: list[SetRun] = []

    max_seconds = float(args.max_seconds)

    def in_time() -> bool:
        return time.monotonic() - started < max_seconds

    with tempfile.TemporaryDirectory(prefix="reschedule-bench-") as tmp:
        work = Path(tmp) if args.keep is None else args.keep.resolve()
        for number in range(1, rounds + 1):
            order = SYSTEMS if number % 2 else SYSTEMS[::-1]
            for system in order:
                if not in_time():
                    break
                print(f"[bench] round {number}: {system} …", file=sys.stderr, flush=True)
                bursts.append(burst(system, number, work / f"r{number}-{system}"))
        for system in SYSTEMS:
            if in_time():
                print(f"[bench] sequential commands: {system} …", file=sys.stderr, flush=True)
                extras.append(extra(system, work / f"extra-{system}"))
        if profile and in_time():
            print("[bench] profiled bot burst …", file=sys.stderr, flush=True)
            raw = work / "profile.txt"
            profiled = burst("bot", 0, work / "profiled", profile_to=raw)
            if raw.exists() and output is not None:
                write_profile(raw, profiled, profile_path)
        for name, runs, bucket in (("small", SET_SMALL, None), ("limited", SET_LARGE, (SET_BUCKET, SET_WINDOW))):
            if in_time():
                print(f"[bench] a set of {runs} runs …", file=sys.stderr, flush=True)
                with fakes() as set_fakes:
                    sets.append(bulk_set(set_fakes, work / f"set-{name}", name, runs, bucket))
    loads = (load_before, os.getloadavg()[0])
    text = report(bursts, extras, profiled, profile_path, args_list, time.monotonic() - started, loads)
    text = text.rstrip("\n") + "\n" + sets_section(sets)
    print(text)
    if output is not None:
        output.write_text(text)
        print(f"[bench] written to {output}", file=sys.stderr)
    failed = any(b.failure for b in bursts) or any(e.failure for e in extras) or any(r.failure for r in sets)
    return 1 if failed or (profiled is not None and profiled.failure) else 0


if __name__ == "__main__":
    sys.exit(main())
