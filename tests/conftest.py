"""Fixtures: fake Slack and Trigger.dev servers, and the real bot wired to them.

`bot` / `slack`: the bot built and served inside the test process (tests/inprocess.py), fast enough for every
end-to-end test. `bot_process` / `process_slack`: the real `python -m bot serve` process, for the few tests
about the process itself (tests/test_e2e_process.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage import db
from tests import dbs
from tests.e2e_harness import BOT_TOKEN, PROD_ENV, PROD_KEY, REPO_ROOT, SIGNING_SECRET, BotProcess, SlackSender, bot_env
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.secret_scan import no_secret_in_anything_captured, pytest_runtest_logreport  # noqa: F401 (registered here)

# Property tests (tests/test_properties_*.py): a moderate number of examples each, no per-example deadline (2 shared
# cores), and under CI the same examples every run (derandomized, no example database), so CI cannot flake on a
# newly drawn example; a failure found locally is printed with the seed and call that reproduce it.
settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

# The fast tier is `pytest -m "not e2e"`. A test is end-to-end when it starts the bot, its process or a fake server:
# every test in a test_e2e_* file, every test using a fixture that starts one (directly or through another fixture),
# and the few that start one themselves, marked by hand (tests/test_tiers.py holds them to it).
E2E_FIXTURES = frozenset({"fake_slack", "fake_trigger", "bot", "slack", "bot_process", "process_slack", "start"})


# Workers started by `-n auto` (addopts): two per core. Most of an end-to-end test is waiting (on a bot process
# starting, on a lease running out, on a fake's held answer), so one worker per core kept the cores busy about half
# the time: 1877 tests took 205 s there and 126 s with two per core, for the same CPU time.
# PYTEST_XDIST_AUTO_NUM_WORKERS still chooses, as pytest-xdist documents.
WORKERS_PER_CORE = 2


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if item.path.name.startswith("test_e2e_") or uses & E2E_FIXTURES:
            item.add_marker(pytest.mark.e2e)
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    items[:] = handed_out_order(items, workers)


def _kind(item: pytest.Item) -> tuple[int, float]:
    """(0: slow, 1: end-to-end, 2: the rest, a few milliseconds each), then the slow ones longest first (their mark's
    `seconds`)."""
    slow = item.get_closest_marker("slow")
    if slow is not None:
        return 0, -float(slow.kwargs.get("seconds", 0))
    return (1 if item.get_closest_marker("e2e") is not None else 2), 0.0


def handed_out_order(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The slow tests first, the quick ones last, so that no worker is left running a long test alone at the end.

    pytest-xdist's worksteal scheduler gives each of its `workers` a run of consecutive tests to start with (the first
    len // workers to the first, and so on), and an idle worker then takes the second half of the longest queue. So
    the tests are dealt out in turn into `workers` runs of those sizes, slow ones first: every worker starts on its
    share of the slow tests and ends on quick ones, which are what gets taken from it."""
    ordered = sorted(items, key=_kind)  # stable: otherwise as collected
    if workers < 2:
        return ordered
    sizes = []
    left = len(ordered)
    for index in range(workers):
        sizes.append(left // (workers - index))
        left -= sizes[-1]
    runs: list[list[pytest.Item]] = [[] for _ in range(workers)]
    turn = 0
    for item in ordered:
        while len(runs[turn % workers]) >= sizes[turn % workers]:
            turn += 1
        runs[turn % workers].append(item)
        turn += 1
    return [item for run in runs for item in run]


# What may change in the working tree while tests run: caches of the tools themselves, never the bot's state.
_TREE_CACHES = frozenset(
    {".pytest_cache", ".hypothesis", "__pycache__", ".mypy_cache", ".ruff_cache", ".coverage", ".venv", ".git"}
)
# Each watched folder with the prefix its entries are named by (relative to the clone, with "/"), as plain strings: the
# snapshot runs twice per test, so it avoids pathlib (which made it cost several milliseconds).
_WATCHED = (
    ("", REPO_ROOT),
    ("tests/", REPO_ROOT / "tests"),
    ("tests/data/", REPO_ROOT / "tests" / "data"),
    ("bot/", REPO_ROOT / "bot"),
)


def tree_snapshot() -> dict[str, tuple[int, int]]:
    """What is directly in the repository's top folders: each file with its size and modification time, each
    folder by name."""
    found: dict[str, tuple[int, int]] = {}
    for prefix, folder in _WATCHED:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name in _TREE_CACHES or entry.name.startswith(".coverage") or entry.name.endswith(".egg-info"):
                    continue
                if entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    found[prefix + entry.name] = (stat.st_size, stat.st_mtime_ns)
                else:  # a folder: only that it is there (Python's bytecode caches change its time)
                    found[prefix + entry.name] = (-1, 0)
    return found


def tree_changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """What appeared, disappeared or changed between two snapshots."""
    appeared = [f"created {name}" for name in sorted(after.keys() - before.keys())]
    gone = [f"removed {name}" for name in sorted(before.keys() - after.keys())]
    changed = [f"changed {name}" for name in sorted(before.keys() & after.keys()) if before[name] != after[name]]
    return appeared + gone + changed


@pytest.fixture(autouse=True)
def outside_the_working_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs from its own temporary folder, so a relative path (the default DATABASE_URL
    `sqlite:///reschedule-bot.sqlite3`, a `.env`) can never reach the clone; and it fails if anything in the
    working tree was created, removed or changed while it ran (a bot's database or log, say)."""
    before = tree_snapshot()
    monkeypatch.chdir(tmp_path)
    yield
    changes = tree_changes(before, tree_snapshot())
    assert not changes, "this test touched the working tree: " + ", ".join(changes)


@pytest.fixture
def fake_trigger() -> Iterator[FakeTrigger]:
    """Started; PROD_KEY belongs to the environment PROD_ENV ("env_prod")."""
    with FakeTrigger() as fake:
        fake.add_key(PROD_KEY, PROD_ENV)
        yield fake


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """Started; accepts BOT_TOKEN; knows user U111 (Europe/Paris)."""
    with FakeSlack(BOT_TOKEN) as fake:
        fake.add_user("U111")
        yield fake


@pytest.fixture
def bot(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> Iterator[InProcessBot]:
    """The real bot, served in this process, pointed at the fakes; its log is tmp_path / "bot.log"."""
    with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path), log_path=tmp_path / "bot.log") as served:
        yield served


@pytest.fixture
def slack(bot: InProcessBot) -> SlackSender:
    """Sends signed Slack requests to the bot's /slack/events."""
    return SlackSender(bot.events_url, SIGNING_SECRET)


@pytest.fixture
def bot_process(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> Iterator[BotProcess]:
    """The real process (`python -m bot serve`) pointed at the fakes, on a new SQLite file it creates the schema in at
    start, as a first deploy does; its log is tmp_path / "bot.log"."""
    env = bot_env(fake_slack, fake_trigger, tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/bot.sqlite3")
    with BotProcess(env, log_path=tmp_path / "bot.log") as process:
        yield process


@pytest.fixture
def process_slack(bot_process: BotProcess) -> SlackSender:
    """Sends signed Slack requests to the real process's /slack/events."""
    return SlackSender(bot_process.events_url, SIGNING_SECRET)


@pytest.fixture
def start(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> Iterator[Any]:
    """Start a bot with extra settings: start(ACCESS__PROD__USERS="U9") → (sender, process)."""
    processes: list[InProcessBot] = []

    def launch(**overrides: str | None) -> tuple[SlackSender, InProcessBot]:
        process = InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, **overrides), log_path=tmp_path / "bot.log")
        processes.append(process)
        return SlackSender(process.events_url, SIGNING_SECRET), process

    yield launch
    for process in processes:
        process.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A test run once on SQLite (a new file) and once on this worker's PostgreSQL database, emptied: no file and no
    tables at all, or, for a test that asks for `engine` too, the newest schema with every table empty."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        if migrated:
            dbs.new_sqlite(path)
        return f"sqlite:///{path}"
    url = dbs.postgres_url()
    asyncio.run(dbs.empty(url) if migrated else dbs.reset(url))
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `database_url`, migrated to the latest schema."""
    created = db.create_engine(database_url)
    await db.migrate(created)
    yield created
    await created.dispose()


@pytest.fixture
def postgres() -> str:
    """This worker's PostgreSQL database, emptied (no tables: a process started on it migrates it)."""
    url = dbs.postgres_url()
    asyncio.run(dbs.reset(url))
    return url
