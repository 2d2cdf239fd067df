"""The database misbehaving under the real bot (served in-process): locked, read-only, or gone for a while, and
back. Moves still happen (the database is never on a move's path), and every attempt is recorded exactly once,
in the database once it answers again.

SQLite: another connection holds the write lock (BEGIN EXCLUSIVE). PostgreSQL: the database is made read-only
(`ALTER DATABASE … SET default_transaction_read_only`) and the bot's connections are terminated, so its pool
reconnects into read-only sessions; then the same is undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot import messages
from bot.render.ids import Button
from bot.storage import db
from tests.e2e_harness import PROD_ENV, SIGNING_SECRET, SlackSender, bot_env
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.faults import RESCHEDULE, audit_of, only_response, said, sqlite_rows
from tests.inprocess import InProcessBot
from tests.summaries import only_summary
from tests.test_e2e_buttons import click, private_via_command

pytestmark = pytest.mark.e2e


def served(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, **overrides: str) -> InProcessBot:
    return InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path, **overrides), log_path=tmp_path / "bot.log")


def command(bot: InProcessBot, fake_slack: FakeSlack, typed: str) -> str:
    url = fake_slack.new_response_url()
    SlackSender(bot.events_url, SIGNING_SECRET).command(typed, response_url=url)
    return url


# --------------------------------------------------------------------------------------------- SQLite locked


@pytest.mark.slow
def test_sqlite_locked_by_another_connection_delays_the_audit_row_and_writes_it_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    path = tmp_path / "bot.sqlite3"
    release = fake_trigger.hold("POST", RESCHEDULE)
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        url = command(bot, fake_slack, f"{run['id']} 2h")
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))  # the replay claim is written
        locker = sqlite3.connect(path, isolation_level=None, timeout=5)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # no other writer until COMMIT
            release.set()
            summary = only_summary(fake_slack, url)  # the move does not wait for the database
            fake_slack.wait_for(lambda: "audit write attempt 1 failed" in bot.log_text() or None, timeout=15)
            assert locker.execute("SELECT count(*) FROM audit_events").fetchone() == (0,)
        finally:
            locker.execute("COMMIT")
            locker.close()
        fake_slack.wait_for(lambda: audit_of(path, run["id"]), timeout=15)
        log = bot.log_text()
    assert run["id"] in said(summary) and len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(path, run["id"]) == [("rescheduled", None)]
    assert "audit_fallback" not in log
    assert sqlite_rows(path, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]


def test_sqlite_unavailable_at_start_is_created_when_its_folder_appears_and_the_audit_row_lands_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    """DATABASE_URL names a file in a folder that is not there yet (a volume mounted late): the bot serves, moves
    go on, and once the folder appears the schema is created and the record made meanwhile is stored, once."""
    run = fake_trigger.add_run(PROD_ENV)
    volume = tmp_path / "volume"
    path = volume / "bot.sqlite3"
    with served(fake_slack, fake_trigger, tmp_path, DATABASE_URL=f"sqlite:///{path}") as bot:
        summary = only_summary(fake_slack, command(bot, fake_slack, f"{run['id']} 2h"))
        fake_slack.wait_for(lambda: "audit write attempt 1 failed" in bot.log_text() or None)
        volume.mkdir()
        # The schema is created once the folder is there, and the record made meanwhile lands: the file says both.
        fake_slack.wait_for(lambda: path.exists() and audit_of(path, run["id"]), timeout=30)
        log = bot.log_text()
    assert run["id"] in said(summary) and len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert audit_of(path, run["id"]) == [("rescheduled", None)]
    assert "database unavailable at start" in log and "Traceback" not in log
    assert sqlite_rows(path, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]


# --------------------------------------------------------------------------------------------- PostgreSQL


async def _admin(url: str, *statements: str) -> None:
    """Run `statements` as the server's superuser from the maintenance database (AUTOCOMMIT)."""
    admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    engine = create_async_engine(db.async_url(admin), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def read_only(url: str, on: bool) -> None:
    """Make the bot's database read-only (or writable again) for every new session, and end the current ones."""
    name = make_url(url).database
    setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    kill = (
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    asyncio.run(_admin(url, f'ALTER DATABASE "{name}" {setting}', kill))


async def _rows(url: str, run_id: str) -> list[tuple[str, Any]]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text("SELECT outcome, error FROM audit_events WHERE run_id = :run ORDER BY id"), {"run": run_id}
            )
            return [(row[0], row[1]) for row in result]
    finally:
        await engine.dispose()


async def _rows_once_there(url: str, run_id: str) -> list[tuple[str, Any]]:
    """`_rows`, or none while the table is not there yet or cannot be read."""
    try:
        return await _rows(url, run_id)
    except Exception:
        return []


@pytest.fixture
def writable_again(postgres: str) -> Iterator[str]:
    """The database, made writable again whatever the test did."""
    yield postgres
    read_only(postgres, False)


def test_postgresql_read_only_for_a_while_moves_go_on_and_the_audit_row_is_written_once_when_it_is_back(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, writable_again: str
) -> None:
    url = writable_again
    run = fake_trigger.add_run(PROD_ENV)
    with served(fake_slack, fake_trigger, tmp_path, DATABASE_URL=url) as bot:
        read_only(url, True)
        summary = only_summary(fake_slack, command(bot, fake_slack, f"{run['id']} 2h"))
        fake_slack.wait_for(lambda: "audit write attempt 1 failed" in bot.log_text() or None)
        assert asyncio.run(_rows(url, run["id"])) == []
        read_only(url, False)
        fake_slack.wait_for(lambda: asyncio.run(_rows(url, run["id"])), timeout=15)
        history = only_response(fake_slack, command(bot, fake_slack, "history"))
        log = bot.log_text()
    assert run["id"] in said(summary) and len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert asyncio.run(_rows(url, run["id"])) == [("rescheduled", None)]
    assert run["id"] in said(history)
    assert "replay guard: database unavailable" in log  # the claim could not be written: checked in this process
    assert "audit_fallback" not in log and "Traceback" not in log


def test_postgresql_unwritable_at_start_is_migrated_when_it_is_back_and_the_audit_row_lands_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, writable_again: str
) -> None:
    """A new, empty database that cannot be written when the bot starts: the schema is created once it can be,
    without a restart, and the attempt made meanwhile reaches the table rather than only the log."""
    url = writable_again
    run = fake_trigger.add_run(PROD_ENV)
    read_only(url, True)
    with served(fake_slack, fake_trigger, tmp_path, DATABASE_URL=url) as bot:
        summary = only_summary(fake_slack, command(bot, fake_slack, f"{run['id']} 2h"))
        fake_slack.wait_for(lambda: "audit write attempt 1 failed" in bot.log_text() or None)
        read_only(url, False)
        # Migrated once writable, and the record made meanwhile lands: the database says both.
        fake_slack.wait_for(lambda: asyncio.run(_rows_once_there(url, run["id"])), timeout=30)
        log = bot.log_text()
    assert run["id"] in said(summary)
    assert asyncio.run(_rows(url, run["id"])) == [("rescheduled", None)]
    assert "database unavailable at start" in log and "audit_fallback" not in log


def test_postgresql_read_only_with_its_connections_cut_still_answers_history(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, writable_again: str
) -> None:
    """The bot's connections are cut and new ones are read-only: the pool reconnects and history still reads."""
    url = writable_again
    run = fake_trigger.add_run(PROD_ENV)
    with served(fake_slack, fake_trigger, tmp_path, DATABASE_URL=url) as bot:
        first = only_summary(fake_slack, command(bot, fake_slack, f"{run['id']} 2h"))
        fake_slack.wait_for(lambda: asyncio.run(_rows(url, run["id"])))
        read_only(url, True)
        history = only_response(fake_slack, command(bot, fake_slack, f"history {run['id']}"))
        read_only(url, False)
    assert run["id"] in said(first)
    assert run["id"] in said(history) and history["text"] != messages.HISTORY_UNAVAILABLE
    assert asyncio.run(_rows(url, run["id"])) == [("rescheduled", None)]


@contextlib.contextmanager
def tables_held(url: str, *tables: str) -> Iterator[subprocess.Popen[str]]:
    """Another session takes `tables` in ACCESS EXCLUSIVE mode (no reads, no writes by anyone else) until the block
    ends; entered once the lock is held."""
    locker = subprocess.Popen(["psql", "-w", "-q", "-X", url], stdin=subprocess.PIPE, text=True)
    assert locker.stdin is not None
    locker.stdin.write(f"BEGIN; LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE;\n")
    locker.stdin.flush()

    async def held() -> bool:
        engine = create_async_engine(db.async_url(url))
        try:
            async with engine.connect() as conn:
                query = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = "
                query += "CAST(:t AS regclass)"
                return bool((await conn.execute(text(query), {"t": tables[0]})).scalar())
        finally:
            await engine.dispose()

    try:
        give_up = time.monotonic() + 10
        while not asyncio.run(held()):
            assert locker.poll() is None and time.monotonic() < give_up, "the lock was not taken"
            time.sleep(0.05)
        yield locker
    finally:
        locker.communicate("COMMIT;\n", timeout=20)


def test_postgresql_tables_locked_for_a_while_moves_go_on_and_the_audit_row_lands_once_when_released(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path, postgres: str
) -> None:
    """Another session holds the bot's tables (a long migration by hand, a VACUUM FULL): the claim, the audit row
    and the card's follow-up row all wait; the move and its answers do not."""
    run = fake_trigger.add_run(PROD_ENV)
    with served(fake_slack, fake_trigger, tmp_path, DATABASE_URL=postgres) as bot:
        with tables_held(postgres, "audit_events", "seen_requests", "follow_ups") as locker:
            summary = only_summary(fake_slack, command(bot, fake_slack, f"{run['id']} 2h"))
            [dm] = fake_slack.wait_for(lambda: fake_slack.messages.get("DU111"))
            assert locker.poll() is None
        fake_slack.wait_for(lambda: asyncio.run(_rows(postgres, run["id"])), timeout=15)
        log = bot.log_text()
    assert run["id"] in said(summary) and run["id"] in said(dm) and len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert asyncio.run(_rows(postgres, run["id"])) == [("rescheduled", None)]
    assert "replay guard: the database is slow" in log
    assert "audit_fallback" not in log and "Traceback" not in log


def test_postgresql_unreachable_throughout_moves_go_on_and_every_record_reaches_the_log_once(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    with served(fake_slack, fake_trigger, tmp_path, DATABASE_URL="postgresql://postgres@127.0.0.1:9/nowhere") as bot:
        summary = only_summary(fake_slack, command(bot, fake_slack, f"{run['id']} 2h"))
        history = only_response(fake_slack, command(bot, fake_slack, "history"))
    log = bot.log_text()  # read after the bot stopped: shutdown logs what the database never took
    assert run["id"] in said(summary) and len(fake_trigger.calls("POST", RESCHEDULE)) == 1
    assert history["text"] == messages.HISTORY_UNAVAILABLE
    fallback = [line for line in log.splitlines() if "audit_fallback" in line and run["id"] in line]
    assert len(fallback) == 1 and '"outcome": "rescheduled"' in fallback[0], log


# --------------------------------------------------------------------------------------------- a set's Confirm


@pytest.mark.slow
def test_a_sets_confirm_the_database_cannot_check_says_so_and_the_same_click_works_once_it_is_back(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    runs = [fake_trigger.add_run(PROD_ENV) for _ in range(2)]
    path = tmp_path / "bot.sqlite3"
    with served(fake_slack, fake_trigger, tmp_path) as bot:
        slack = SlackSender(bot.events_url, SIGNING_SECRET)
        prompt = private_via_command(slack, fake_slack, f"{runs[0]['id']} {runs[1]['id']} 2h")
        locker = sqlite3.connect(path, isolation_level=None, timeout=5)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # the set can be read, not taken: whether it is still to do is unknown
            _, url = click(slack, fake_slack, prompt, Button.BULK_CONFIRM.action_id, ephemeral=True)
            [answer] = fake_slack.wait_for(lambda: fake_slack.responses(url), timeout=30)
            assert answer["text"] == messages.BULK_UNCHECKED
            assert fake_trigger.calls("POST", RESCHEDULE) == []
        finally:
            locker.execute("COMMIT")
            locker.close()
        _, again = click(slack, fake_slack, prompt, Button.BULK_CONFIRM.action_id, ephemeral=True)
        fake_slack.wait_for(lambda: len(fake_trigger.calls("POST", RESCHEDULE)) == 2 or None, timeout=15)
        assert all(response["text"] != messages.BULK_EXPIRED for response in fake_slack.responses(again))
