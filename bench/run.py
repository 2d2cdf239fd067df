"""Benchmark of the real bot process (`python -m bot serve`) on 127.0.0.1 against the local fake Slack and Trigger.dev.

Run from the repository root:

    .venv/bin/python -m bench.run              # full run (~1 min on 2 cores), writes bench/RESULTS.md
    .venv/bin/python -m bench.run --quick      # smoke run, every N divided by 10; prints only (see --output)

Every scenario starts its own bot process (tests.e2e_harness.BotProcess) against fresh fakes (tests.fakes), sends
signed `/reschedule <run> 2h` commands for distinct delayed runs, and measures:

* ack latency: from just before the HTTP POST to /slack/events until its 200 has been read (Slack gives up at 3 s);
* end to end: from the same instant until the summary's POST arrives at the response_url (the fake records the
  arrival time of every request, so this is not quantised by the 20 ms polling of `wait_for`);
* each bot's VmRSS (and VmHWM, the peak) from /proc/<pid>/status, right after start and after its run.

Bounded: fixed request counts, a total time cap (--max-seconds, default 240) after which no more requests are sent
and every wait is cut short; every socket is on 127.0.0.1. The senders run in this process as threads, next to the
fakes' server threads, so on a small machine they compete with the bot for CPU (and with each other for the GIL):
the numbers are an upper bound on what the bot itself adds.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import queue
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bot import messages
from tests.e2e_harness import (
    BOT_TOKEN,
    HTTP_TIMEOUT,
    PROD_ENV,
    PROD_KEY,
    REPO_ROOT,
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    bot_env,
    sign,
)
from tests.fakes._server import RecordedRequest, Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import RETRIEVE_PATH, FakeTrigger, new_run_id

SLACK_ACK_LIMIT = 3.0  # seconds: Slack shows the user an error if the 200 comes later
SLOW_RETRIEVE = 2.0  # seconds the slow Trigger.dev holds every retrieve
DEFAULT_MAX_SECONDS = 240.0
WARMUP_REQUESTS = 3  # per bot, not counted; the first one is reported as the cold request
DRAIN_TIMEOUT = 60.0  # longest wait for the summaries of one scenario after its last ack
RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
LOOPBACK = "http://127.0.0.1:"
FAKE_BACKLOG = 1024  # listen backlog of the fake servers; the stdlib default is 5


@dataclass(frozen=True)
class Counts:
    ack_sequential: int = 300
    ack_concurrent: int = 600
    ack_concurrency: int = 20
    ack_slow: int = 50
    ack_slow_concurrency: int = 10
    end_to_end: int = 200
    not_found: int = 30

    def divided(self, by: int) -> Counts:
        return Counts(
            ack_sequential=max(1, self.ack_sequential // by),
            ack_concurrent=max(1, self.ack_concurrent // by),
            ack_concurrency=self.ack_concurrency,
            ack_slow=max(1, self.ack_slow // by),
            ack_slow_concurrency=self.ack_slow_concurrency,
            end_to_end=max(1, self.end_to_end // by),
            not_found=max(1, self.not_found // by),
        )


class Budget:
    """The whole benchmark's time cap; `expired()` also remembers that the cap was hit."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.hit = False

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.hit = True
        return self.hit

    def wait_limit(self, wanted: float) -> float:
        """A timeout for one wait: `wanted`, cut to what is left (at least a moment, so wait_for checks once)."""
        return max(0.05, min(wanted, self.remaining()))


@dataclass
class Sample:
    """One slash command as sent: its run, its response_url, when it left and how long the ack took."""

    run_id: str
    response_url: str
    sent_at: float = 0.0  # time.time(), comparable with RecordedRequest.at
    ack: float | None = None  # seconds; None when no HTTP answer came
    ack_ok: bool = False  # 200 with an empty body, as Bolt acks a command it answers later
    error: str | None = None
    answered_at: float | None = None  # when the first POST to the response_url arrived
    answer: Any = None  # its JSON body

    @property
    def end_to_end(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.sent_at


class TimedSender(SlackSender):
    """tests.e2e_harness.SlackSender over one persistent httpx.Client, timing each POST.

    SlackSender.post builds a new httpx.Client (SSL context included) per request, which costs more CPU than the
    bot's whole ack; here one client per sender thread keeps its connection alive. Only the default signing is
    supported (no forged, stale or unsigned requests).
    """

    def __init__(self, url: str, client: httpx.Client) -> None:
        super().__init__(url, SIGNING_SECRET)
        self.client = client

    def post(self, body: bytes, content_type: str, **sign_options: Any) -> httpx.Response:
        if sign_options:
            raise TypeError(f"TimedSender signs every request normally; got {sorted(sign_options)}")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(self.signing_secret, timestamp, body),
        }
        return self.client.post(self.url, content=body, headers=headers)

    def send(self, sample: Sample, text: str) -> Sample:
        """Send `/reschedule <text>` for `sample`, filling in its timing; never raises for network trouble."""
        sample.sent_at = time.time()
        start = time.perf_counter()
        try:
            response = self.command(text, response_url=sample.response_url)
        except httpx.HTTPError as exc:
            sample.error = f"{type(exc).__name__}: {exc}"
            return sample
        sample.ack = time.perf_counter() - start
        sample.ack_ok = response.status_code == 200 and response.content == b""
        if not sample.ack_ok:
            sample.error = f"ack {response.status_code}: {response.text[:200]!r}"
        return sample


class SlowTrigger(FakeTrigger):
    """FakeTrigger answering every retrieve `delay` seconds late, each in its own server thread.

    FakeServer.hold does not fit: its one event releases every held request at once, so it cannot hold each of
    many requests, arriving at different times, for the same 2 s.
    """

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self._stopping = threading.Event()

    def handle(self, request: RecordedRequest) -> Reply | None:
        if request.method == "GET" and RETRIEVE_PATH.match(request.path):
            self._stopping.wait(self.delay)
        return super().handle(request)

    def stop(self) -> None:
        self._stopping.set()
        super().stop()


def use_fake_backlog(backlog: int) -> None:
    """Give the fakes' servers a listen backlog of `backlog` (tests/fakes itself is not edited).

    socketserver listens with a backlog of 5. The bot opens a new connection for every Trigger.dev request and
    every response_url POST (the fakes close each connection after answering), so under concurrent load the fakes'
    accept queues overflow, the kernel drops SYNs and the bot's connects wait out a 1 s (then 3 s) retransmit:
    latency of the fakes, not of the bot, and not what api.trigger.dev or hooks.slack.com do. This sets the class
    attribute for the whole benchmark process, where the fakes are the only ThreadingHTTPServer.
    """
    ThreadingHTTPServer.request_queue_size = backlog


def listen_overflows() -> int | None:
    """The kernel's TcpExt ListenOverflows counter (system-wide; on loopback here, mostly ours)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table["ListenOverflows"]) if "ListenOverflows" in table else None
    return None


@dataclass
class Fixture:
    """One bot process and the fakes it talks to."""

    bot: BotProcess
    slack: FakeSlack
    trigger: FakeTrigger


@contextmanager
def bot_against_fakes(trigger: FakeTrigger, workdir: Path) -> Iterator[Fixture]:
    """Start `trigger`, a FakeSlack and a bot (TRIGGER_DEADLINE=10) on loopback; stop all three afterwards."""
    workdir.mkdir(parents=True)
    with trigger, FakeSlack(BOT_TOKEN) as slack:
        trigger.add_key(PROD_KEY, PROD_ENV)
        slack.add_user("U111")
        # CONFIRM_ENVIRONMENTS="": move at once even in Prod, so every command really reschedules (the default asks
        # Prod moves to be confirmed with a button first). A bot without that setting ignores it.
        env = bot_env(slack, trigger, workdir, TRIGGER_DEADLINE="10", CONFIRM_ENVIRONMENTS="")
        with BotProcess(env, log_path=workdir / "bot.log") as bot:
            for url in (trigger.url, slack.url, bot.url):
                if not url.startswith(LOOPBACK):
                    raise RuntimeError(f"refusing to benchmark anything but 127.0.0.1: {url}")
            yield Fixture(bot, slack, trigger)


# measuring ---------------------------------------------------------------------------------------------------


def delayed_runs(fixture: Fixture, n: int) -> list[Sample]:
    """`n` fresh delayed runs, each with its own response_url."""
    return [Sample(fixture.trigger.add_run(PROD_ENV)["id"], fixture.slack.new_response_url()) for _ in range(n)]


def missing_runs(fixture: Fixture, n: int) -> list[Sample]:
    """`n` well-formed run ids that Trigger.dev does not know (a mistyped id)."""
    return [Sample(new_run_id(), fixture.slack.new_response_url()) for _ in range(n)]


def send_all(fixture: Fixture, samples: list[Sample], concurrency: int, budget: Budget) -> list[Sample]:
    """Send every sample's command from `concurrency` threads, each as fast as its acks come back.

    Returns the samples actually sent (fewer when the time cap is hit).
    """
    jobs: queue.SimpleQueue[Sample] = queue.SimpleQueue()
    for sample in samples:
        jobs.put(sample)
    sent: list[Sample] = []
    sent_lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            sender = TimedSender(fixture.bot.events_url, client)
            while not budget.expired():
                try:
                    sample = jobs.get_nowait()
                except queue.Empty:
                    return
                sender.send(sample, f"{sample.run_id} 2h")
                with sent_lock:
                    sent.append(sample)

    threads = [threading.Thread(target=worker, name=f"sender-{i}") for i in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent


def send_one_by_one_waiting(fixture: Fixture, samples: list[Sample], budget: Budget) -> list[Sample]:
    """Send each command and wait for its answer at the response_url before sending the next."""
    sent: list[Sample] = []
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        sender = TimedSender(fixture.bot.events_url, client)
        for sample in samples:
            if budget.expired():
                break
            sender.send(sample, f"{sample.run_id} 2h")
            sent.append(sample)
            with suppress(AssertionError):  # unanswered samples are counted as such
                fixture.slack.wait_for(partial(fixture.slack.responses, sample.response_url), budget.wait_limit(15.0))
    collect_answers(fixture, sent)
    return sent


def answers_by_path(slack: FakeSlack) -> dict[str, RecordedRequest]:
    """The first POST to each response_url path, in one pass over everything the fake received."""
    first: dict[str, RecordedRequest] = {}
    for request in slack.requests:
        if request.method == "POST" and request.path.startswith("/response/"):
            first.setdefault(request.path, request)
    return first


def collect_answers(fixture: Fixture, samples: Sequence[Sample]) -> None:
    answers = answers_by_path(fixture.slack)
    for sample in samples:
        answer = answers.get(httpx.URL(sample.response_url).path)
        if answer is not None:
            sample.answered_at, sample.answer = answer.at, answer.json


def wait_for_answers(fixture: Fixture, samples: Sequence[Sample], budget: Budget) -> float:
    """Wait (bounded) until every sent sample has its answer; returns how long that took."""
    start = time.monotonic()
    wanted = {httpx.URL(s.response_url).path for s in samples}
    with suppress(AssertionError):
        fixture.slack.wait_for(
            lambda: wanted <= answers_by_path(fixture.slack).keys(), budget.wait_limit(DRAIN_TIMEOUT)
        )
    collect_answers(fixture, samples)
    return time.monotonic() - start


def rescheduled(fixture: Fixture, sample: Sample) -> bool:
    """The summary was posted in the channel and the run really moved (it started delayed by 1 h, asked for 2 h)."""
    if not isinstance(sample.answer, dict) or sample.answer.get("response_type") != "in_channel":
        return False
    run = fixture.trigger.get_run(sample.run_id)
    moved_by = run["delayedUntil"].timestamp() - sample.sent_at
    return bool(run["status"] == "DELAYED" and 7100 < moved_by < 7300)


def told_not_found(sample: Sample) -> bool:
    expected = messages.run_not_found(sample.run_id, "*Prod*")
    return isinstance(sample.answer, dict) and sample.answer.get("text") == expected


def rss(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS), RssAnon (private memory) and RssFile (mapped files) of a live process, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[name] = int(rest.split()[0])
    return values


def process_cpu(pid: int) -> float:
    """User + system CPU seconds a live process has used (/proc/<pid>/stat utime and stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process, every thread included: the senders and the fakes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# scenarios ---------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one bot process went through."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    correct: int = 0  # answers that are what the scenario expects
    cold: Sample | None = None
    rss_start: dict[str, int] = field(default_factory=dict)
    rss_end: dict[str, int] = field(default_factory=dict)
    send_seconds: float = 0.0
    drain_seconds: float = 0.0
    failure: str | None = None
    planned: int = 0
    listen_overflows: int | None = None
    wall: float = 0.0  # from the bot being ready to the end of its run, warm-up included
    bot_cpu: float = 0.0  # over `wall`
    bench_cpu: float = 0.0  # over `wall`: senders and fakes


def warm_up(fixture: Fixture, budget: Budget) -> Sample | None:
    """A few reschedules, each awaited, so lazy imports and Bolt's auth.test are out of the way; returns the first."""
    samples = send_one_by_one_waiting(fixture, delayed_runs(fixture, WARMUP_REQUESTS), budget)
    return samples[0] if samples else None


def scenario(
    name: str,
    trigger: FakeTrigger,
    workdir: Path,
    budget: Budget,
    body: Callable[[Fixture, Outcome], None],
) -> Outcome:
    outcome = Outcome(name)
    if budget.expired():
        outcome.failure = "not run: time cap reached"
        return outcome
    print(f"[bench] {name} …", file=sys.stderr, flush=True)
    overflows_before = listen_overflows()
    try:
        with bot_against_fakes(trigger, workdir) as fixture:
            pid = fixture.bot.process.pid
            outcome.rss_start = rss(pid)
            wall, bot_cpu, bench_cpu = time.monotonic(), process_cpu(pid), own_cpu()
            outcome.cold = warm_up(fixture, budget)
            body(fixture, outcome)
            if fixture.bot.process.poll() is not None:
                raise RuntimeError(f"the bot exited with {fixture.bot.process.returncode}")
            outcome.rss_end = rss(pid)
            outcome.wall = time.monotonic() - wall
            outcome.bot_cpu, outcome.bench_cpu = process_cpu(pid) - bot_cpu, own_cpu() - bench_cpu
            errors = [s.error for s in outcome.samples if s.error]
            wrong = len(outcome.samples) - outcome.correct
            if errors:
                outcome.failure = f"{len(errors)} failed requests, e.g. {errors[0]}"
            elif wrong:
                example = next((s.answer for s in outcome.samples if s.answer is not None), None)
                shown = repr(example.get("text") if isinstance(example, dict) else example)[:300]
                outcome.failure = f"{wrong} of {len(outcome.samples)} commands not answered as expected, e.g. {shown}"
    except Exception as exc:  # report and go on with the other scenarios
        outcome.failure = f"{type(exc).__name__}: {str(exc)[:500]}"
    overflows_after = listen_overflows()
    if overflows_before is not None and overflows_after is not None:
        outcome.listen_overflows = overflows_after - overflows_before
    return outcome


def ack_load(n: int, concurrency: int, budget: Budget) -> Callable[[Fixture, Outcome], None]:
    """`n` commands from `concurrency` senders as fast as acks come back; then wait for every summary."""

    def body(fixture: Fixture, outcome: Outcome) -> None:
        outcome.planned = n
        samples = delayed_runs(fixture, n)
        start = time.monotonic()
        outcome.samples = send_all(fixture, samples, concurrency, budget)
        outcome.send_seconds = time.monotonic() - start
        outcome.drain_seconds = wait_for_answers(fixture, outcome.samples, budget)
        outcome.correct = sum(rescheduled(fixture, s) for s in outcome.samples)

    return body


def end_to_end(n: int, budget: Budget) -> Callable[[Fixture, Outcome], None]:
    def body(fixture: Fixture, outcome: Outcome) -> None:
        outcome.planned = n
        start = time.monotonic()
        outcome.samples = send_one_by_one_waiting(fixture, delayed_runs(fixture, n), budget)
        outcome.send_seconds = time.monotonic() - start
        outcome.correct = sum(rescheduled(fixture, s) for s in outcome.samples)

    return body


def not_found(n: int, budget: Budget) -> Callable[[Fixture, Outcome], None]:
    def body(fixture: Fixture, outcome: Outcome) -> None:
        outcome.planned = n
        start = time.monotonic()
        outcome.samples = send_one_by_one_waiting(fixture, missing_runs(fixture, n), budget)
        outcome.send_seconds = time.monotonic() - start
        outcome.correct = sum(told_not_found(s) for s in outcome.samples)

    return body


# reporting ---------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f}"


@dataclass(frozen=True)
class Row:
    label: str
    outcome: Outcome
    metric: str  # "ack" or "e2e"
    concurrency: int
    margin: bool  # show the margin to Slack's 3 s
    ok_label: str


def row_cells(row: Row) -> list[str]:
    samples = row.outcome.samples
    values = [v for v in (s.ack if row.metric == "ack" else s.end_to_end for s in samples) if v is not None]
    sent = f"{len(samples)}" if len(samples) == row.outcome.planned else f"{len(samples)} of {row.outcome.planned}"
    if not values:
        stats = ["—"] * 4
        margin = "—"
    else:
        stats = [ms(percentile(values, p)) for p in (50, 95, 99)] + [ms(max(values))]
        margin = f"{(SLACK_ACK_LIMIT - max(values)) * 1000:.0f} ms" if row.margin else "—"
    correct = f"{row.outcome.correct}/{len(samples)} {row.ok_label}"
    return [row.label, sent, str(row.concurrency), *stats, margin, correct]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


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
        f"nproc {len(os.sched_getaffinity(0))} ({model}), Python {platform.python_version()} "
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


def command_line(argv: Sequence[str]) -> str:
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = str(exe)
    return shlex.join([shown, "-m", "bench.run", *argv])


def report(
    outcomes: dict[str, Outcome], counts: Counts, argv: Sequence[str], budget: Budget, total: float, backlog: int
) -> str:
    seq, conc, slow, e2e, missing = (outcomes[k] for k in ("seq", "conc", "slow", "e2e", "missing"))
    rows = [
        Row("Ack, sequential", seq, "ack", 1, True, "rescheduled"),
        Row(
            f"Ack, {counts.ack_concurrency} concurrent senders",
            conc,
            "ack",
            counts.ack_concurrency,
            True,
            "rescheduled",
        ),
        Row(
            f"Ack, Trigger.dev holds every retrieve {SLOW_RETRIEVE:g} s",
            slow,
            "ack",
            counts.ack_slow_concurrency,
            True,
            "rescheduled",
        ),
        Row("Send → summary at response_url (fast Trigger.dev)", e2e, "e2e", 1, False, "rescheduled"),
        Row("Mistyped run id → “not found” answer (404, retried once)", missing, "e2e", 1, False, "told not found"),
        Row(
            f"Send → summary, under {counts.ack_concurrency} concurrent senders (same run as row 2)",
            conc,
            "e2e",
            counts.ack_concurrency,
            False,
            "rescheduled",
        ),
        Row(
            f"Send → summary, retrieve held {SLOW_RETRIEVE:g} s (same run as row 3)",
            slow,
            "e2e",
            counts.ack_slow_concurrency,
            False,
            "rescheduled",
        ),
    ]
    header = ["Measurement", "N", "Concurrency", "p50 ms", "p95 ms", "p99 ms", "max ms", "Margin to 3 s", "Correct"]
    latency = markdown_table(header, [row_cells(r) for r in rows])

    colds = [o.cold for o in outcomes.values() if o.cold is not None]
    cold_acks = [c.ack for c in colds if c.ack is not None]
    cold_e2e = [c.end_to_end for c in colds if c.end_to_end is not None]
    memory_rows = [
        [
            o.name,
            f"{o.rss_start.get('VmRSS', 0) / 1024:.1f}" if o.rss_start else "—",
            f"{o.rss_end.get('VmRSS', 0) / 1024:.1f}" if o.rss_end else "—",
            f"{o.rss_end.get('VmHWM', 0) / 1024:.1f}" if o.rss_end else "—",
            f"{o.rss_start.get('RssAnon', 0) / 1024:.1f} → {o.rss_end.get('RssAnon', 0) / 1024:.1f}"
            if o.rss_end
            else "—",
            str(len(o.samples) + (WARMUP_REQUESTS if o.cold else 0)),
            f"{o.wall:.1f}",
            f"{o.bot_cpu:.1f}",
            f"{o.bench_cpu:.1f}",
            "—" if o.listen_overflows is None else str(o.listen_overflows),
        ]
        for o in outcomes.values()
    ]
    memory = markdown_table(
        [
            "Bot process (scenario)",
            "VmRSS after start MiB",
            "VmRSS after run MiB",
            "VmHWM (peak) MiB",
            "RssAnon start → end MiB",
            "Commands",
            "Wall s",
            "Bot CPU s",
            "Bench CPU s",
            "Listen overflows",
        ],
        memory_rows,
    )

    files = [o.rss_end["RssFile"] / 1024 for o in outcomes.values() if "RssFile" in o.rss_end]
    file_range = f"{min(files):.1f}–{max(files):.1f}" if files else "—"

    notes = []
    if conc.samples and conc.send_seconds > 0:
        notes.append(
            f"- {counts.ack_concurrency} concurrent senders: {len(conc.samples)} acks in {conc.send_seconds:.1f} s "
            f"({len(conc.samples) / conc.send_seconds:.0f} commands/s); the last summary arrived "
            f"{conc.drain_seconds:.1f} s after the last ack."
        )
    if seq.samples and seq.send_seconds > 0:
        notes.append(
            f"- Sequential: {len(seq.samples)} acks in {seq.send_seconds:.1f} s "
            f"({len(seq.samples) / seq.send_seconds:.0f} commands/s), the summaries still being worked on behind them."
        )
    early = [s for s in e2e.samples if s.ack is not None and s.end_to_end is not None and s.end_to_end < s.ack]
    if e2e.samples:
        notes.append(
            f"- Send → summary, sequential: in {len(early)} of {len(e2e.samples)} commands the summary reached the "
            "response_url before Slack's request had its 200 (Bolt, with process_before_response=False, notices "
            "`ack()` by polling every 10 ms, which is also the floor of every ack above)."
        )
    if cold_acks:
        notes.append(
            f"- First command to a freshly started bot (not in the rows above; {len(cold_acks)} bot processes): ack "
            f"{ms(min(cold_acks))}–{ms(max(cold_acks))} ms, summary after "
            f"{ms(min(cold_e2e)) if cold_e2e else '—'}–{ms(max(cold_e2e)) if cold_e2e else '—'} ms."
        )
    notes += [f"- **{o.name}: {o.failure}**" for o in outcomes.values() if o.failure]
    if budget.hit:
        notes.append("- **The time cap was reached: some scenarios sent fewer commands than planned.**")

    quick = " (--quick: every N divided by 10, a smoke run, not representative)" if "--quick" in argv else ""
    return "\n".join(
        [
            f"# reschedule-bot benchmark{quick}",
            "",
            f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- Machine: {machine()}",
            f"- Code: {code_version()}",
            f"- Command (from the repository root): `{command_line(argv)}`",
            f"- Total wall time: {total:.0f} s",
            "",
            "The real bot (`python -m bot serve`, one process per scenario, TRIGGER_DEADLINE=10, "
            "CONFIRM_ENVIRONMENTS empty so that Prod moves need no confirmation button) against the fake "
            "Slack and Trigger.dev of tests/fakes, everything on 127.0.0.1. Every command is "
            "`/reschedule <run> 2h` for its own delayed run (or, last row but two, for a run id Trigger.dev does not "
            "know). *Ack* is the time until Slack's POST to /slack/events has its 200 (keep-alive connection, one per "
            "sender thread); *send → summary* is until the bot's POST reaches the response_url. Margin is 3 s minus "
            "the worst ack. *Correct* counts summaries posted in the channel for a run that really moved by 2 h (or "
            "the exact not-found answer). The senders and the fakes share this Python process and its 2 cores with "
            "the bot, so these are upper bounds.",
            "",
            "Memory is read from /proc/<pid>/status. VmRSS = RssAnon (the bot's own memory) + RssFile (the "
            f"interpreter and shared libraries, shared with other processes; {file_range} MiB across these bots, a "
            "figure that has varied between ~0 and ~19 MiB from run to run on the same VM), so RssAnon is the one to "
            "compare.",
            "",
            "*Wall s* runs from the bot being ready to the end of its scenario (warm-up included); *Bot CPU s* is the "
            "bot's user+system CPU over it (one event loop: at most 1 s per s), *Bench CPU s* this process's (senders "
            "and fakes).",
            "",
            f"The fakes listen with a backlog of {backlog} (socketserver's default is 5, which under concurrent load "
            "makes the bot's connections to the fakes wait out 1 s SYN retransmits). *Listen overflows* is the "
            "kernel's system-wide TcpExt ListenOverflows counter over each scenario; it should be 0.",
            "",
            latency,
            "",
            memory,
            "",
            *notes,
            "",
        ]
    )


# main --------------------------------------------------------------------------------------------------------


def run(counts: Counts, budget: Budget, workdir: Path) -> dict[str, Outcome]:
    plan: list[tuple[str, str, Callable[[], FakeTrigger], Callable[[Fixture, Outcome], None]]] = [
        ("seq", "ack, sequential", FakeTrigger, ack_load(counts.ack_sequential, 1, budget)),
        (
            "conc",
            f"ack, {counts.ack_concurrency} concurrent",
            FakeTrigger,
            ack_load(counts.ack_concurrent, counts.ack_concurrency, budget),
        ),
        (
            "slow",
            f"ack, slow Trigger.dev ({SLOW_RETRIEVE:g} s retrieve)",
            lambda: SlowTrigger(SLOW_RETRIEVE),
            ack_load(counts.ack_slow, min(counts.ack_slow_concurrency, counts.ack_slow), budget),
        ),
        ("e2e", "send → summary, sequential", FakeTrigger, end_to_end(counts.end_to_end, budget)),
        ("missing", "mistyped run id", FakeTrigger, not_found(counts.not_found, budget)),
    ]
    return {key: scenario(name, make_trigger(), workdir / key, budget, body) for key, name, make_trigger, body in plan}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: every request count divided by 10")
    parser.add_argument(
        "--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, help="total time cap (default %(default)g)"
    )
    parser.add_argument(
        "--fake-backlog",
        type=int,
        default=FAKE_BACKLOG,
        help="listen backlog of the fake servers (default %(default)d; 5 reproduces socketserver's default)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"where to write the Markdown (default {RESULTS_PATH.relative_to(REPO_ROOT)}; --quick writes nothing "
        "unless this is given, so a smoke run does not replace the real results)",
    )
    args = parser.parse_args(args_list)
    counts = Counts().divided(10) if args.quick else Counts()
    output: Path | None = args.output if args.output is not None or args.quick else RESULTS_PATH

    use_fake_backlog(args.fake_backlog)
    budget = Budget(args.max_seconds)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="reschedule-bench-") as tmp:
        outcomes = run(counts, budget, Path(tmp))
    text = report(outcomes, counts, args_list, budget, time.monotonic() - started, args.fake_backlog)
    print(text)
    if output is not None:
        output.write_text(text)
        print(f"[bench] written to {output}", file=sys.stderr)
    return 1 if any(o.failure for o in outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
