"""The database: URL handling, the schema, and migrations run on start and by `reschedule-bot migrate`."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    inspect,
    text,
)
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.dialects import postgresql, sqlite

log = logging.getLogger(__name__)

metadata = MetaData()

BUSY_TIMEOUT = 5  # seconds a connection to a SQLite file waits for another's write lock

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("team_id", String(32), nullable=False, default=""),
    Column("user_id", String(32), nullable=False, default=""),
    Column("channel_id", String(32)),
    Column("surface", String(16), nullable=False),
    Column("environment", String(64)),
    Column("run_id", String(64)),
    Column("task", String(255)),
    Column("previous_time", DateTime(timezone=True)),
    Column("new_time", DateTime(timezone=True)),
    Column("input", Text, nullable=False, default=""),
    Column("outcome", String(32), nullable=False),
    Column("error", Text),
    Column("user_team_id", String(32)),  # the user's own workspace, when it is not the one acted for
    Column("enterprise_id", String(32)),
    Column("request_id", String(64)),  # the request id on the log lines of the same attempt (bot/request_id.py)
    Column("approved_by", String(32)),  # a move in a protected environment: who approved it (bot/approvals.py)
    Index("ix_audit_events_user_at", "user_id", "at"),
    Index("ix_audit_events_run_at", "run_id", "at"),
)

# Requests already acted on, by Slack's trigger_id, so a replayed copy is recognised by every process.
seen_requests = Table(
    "seen_requests",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_seen_requests_seen_at", "seen_at"),
)


# Sets of runs awaiting their Confirm (bot/storage/bulk_sets.py): any process may confirm a set, once.
bulk_sets = Table(
    "bulk_sets",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("runs", Text, nullable=False),  # JSON: [[run id, environment name], …]
    Column("when_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("thread_ts", String(32)),  # the set's summary goes in this thread (a shortcut on a message)
    Index("ix_bulk_sets_created_at", "created_at"),
)


# Digest slots already posted (bot/digest.py): the process whose insert returns the slot posts it, the others don't.
digest_posts = Table(
    "digest_posts",
    metadata,
    Column("slot", DateTime(timezone=True), primary_key=True),
    Column("posted_by", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


# Summary cards that follow their run (bot/follow.py, bot/storage/follow_ups.py): one row per posted card of a
# DELAYED run, looked at again at `check_at`; a process claims a row by writing its lease token and lease time.
follow_ups = Table(
    "follow_ups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("shown_until", DateTime(timezone=True), nullable=False),  # the start time the card shows
    Column("shown_status", String(32), nullable=False),  # the status the card shows
    Column("card", Text, nullable=False),  # JSON: what re-rendering the card needs (bot/storage/follow_ups.py)
    Column("check_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ux_follow_ups_message", "channel", "ts", unique=True),
    Index("ix_follow_ups_check_at", "check_at"),
    Index("ix_follow_ups_run", "run_id"),
)


# Who has opened their App Home, and when last (bot/storage/home_views.py): whichever process records a person's move
# publishes their Home again if they opened it lately, whichever process showed it to them.
home_views = Table(
    "home_views",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("last_opened_at", DateTime(timezone=True), nullable=False),
    Index("ix_home_views_last_opened_at", "last_opened_at"),
)


# Private messages Slack could not take when they were sent (bot/late.py, bot/storage/outbox.py): one row per message,
# sent as a DM at `next_attempt_at`; a process claims a row by writing its lease token and lease time.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("blocks", Text),  # JSON: the message's blocks, as the caller gave them
    Column("error", String(64), nullable=False),  # why the first attempt failed (Slack's error, or its kind)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ix_outbox_next_attempt_at", "next_attempt_at"),
)


# The tables of durable work: what a process has promised to carry out, kept so that another process can finish it
# after a deploy or a crash (created by the Alembic revision 0011).
# - `move_intents` (bot/storage/intents.py): a move written down before its request goes to Trigger.dev, deleted
#   once its outcome is recorded; one left behind by a process that died is read back by the next one.
# - `set_works` and `set_work_runs` (bot/storage/set_work.py): a confirmed set and a row per run with its state.
# - `message_updates` (bot/storage/message_updates.py): "message X should show this", for a channel message Slack
#   could not update when it was asked to.
move_intents = Table(
    "move_intents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("task", String(255)),
    Column("previous_time", DateTime(timezone=True)),  # the run's start time before the move
    Column("new_time", DateTime(timezone=True)),  # the time asked for (none: start now)
    Column("actor", Text, nullable=False),  # JSON: who asked, from where (bot/storage/intents.py)
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ix_move_intents_lease_until", "lease_until"),
)

set_works = Table(
    "set_works",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", Text, nullable=False),  # JSON: who confirmed it, from where
    Column("when_at", DateTime(timezone=True)),  # the time every run goes to (none: an Undo or a push, each its own)
    Column("shift_ms", BigInteger),  # a push: how far each run goes back from its own time
    Column("thread_ts", String(32)),
    Column("summary_channel", String(32)),  # the set's one message in the channel, once posted
    Column("summary_ts", String(32)),
    Column("total", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # running, done
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ix_set_works_due_at", "due_at"),
)

set_work_runs = Table(
    "set_work_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("set_id", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("back_time", DateTime(timezone=True)),  # an Undo: the time this run goes back to
    Column("given_time", DateTime(timezone=True)),  # an Undo: the time the move gave it (still there, or skipped)
    Column("target_time", DateTime(timezone=True)),  # a push: this run's own new time
    Column("state", String(16), nullable=False),  # pending, sending, done
    Column("outcome", String(32)),
    Column("env_title", String(64)),
    Column("detail", Text),
    Column("previous_time", DateTime(timezone=True)),
    Column("new_time", DateTime(timezone=True)),
    Index("ix_set_work_runs_set", "set_id", "position", unique=True),
)

message_updates = Table(
    "message_updates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("blocks", Text),  # JSON
    Column("error", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ux_message_updates_message", "channel", "ts", unique=True),
    Index("ix_message_updates_next_attempt_at", "next_attempt_at"),
)

# Requests for approval of a move in a protected environment (bot/approvals.py, bot/storage/approvals.py): decided
# once, by a conditional UPDATE from `pending`; the expiry loop claims due pending rows by writing its lease.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(40), nullable=False),  # what the Approve / Reject buttons carry
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),  # who asked
    Column("user_team_id", String(32)),
    Column("enterprise_id", String(32)),
    Column("channel_id", String(32)),  # where the move was asked (None: the App Home, a workflow)
    Column("surface", String(16), nullable=False),
    Column("input", Text, nullable=False),
    Column("thread_ts", String(32)),  # a set from a message shortcut: its summary goes in this thread
    Column("environment", String(64), nullable=False),
    Column("runs", Text, nullable=False),  # JSON: [[run id, environment, start time before (ISO) or null, task], …]
    Column("when_at", DateTime(timezone=True)),  # the time asked for (None: start now)
    Column("reason", Text),
    Column("state", String(16), nullable=False),  # pending, approved, rejected, expired
    Column("decided_by", String(32)),
    Column("decided_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("message_channel", String(32)),  # the request message
    Column("message_ts", String(32)),
    Column("check_at", DateTime(timezone=True), nullable=False),  # when the expiry loop looks at it next
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ux_approval_requests_key", "key", unique=True),
    Index("ix_approval_requests_state_check_at", "state", "check_at"),
)


def async_url(url: str) -> str:
    """`sqlite:///…` and `postgresql://…` (or `postgres://…`) with the async driver this bot uses."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(parsed.drivername)
    if driver is None and parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")
    return parsed.set(drivername=driver or parsed.drivername).render_as_string(hide_password=False)


def from_unix(seconds: float) -> datetime:
    """A Unix time as an aware UTC datetime, as stored."""
    return datetime.fromtimestamp(seconds, UTC)


def utc(value: datetime) -> datetime:
    """Aware UTC (SQLite hands back naive datetimes; everything stored is UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_of(dialect: str) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    """The INSERT of the database named by `dialect` (`conn.dialect.name`: "postgresql", "sqlite"), with its ON
    CONFLICT clauses. Each dialect is imported when first used: a process on SQLite never loads PostgreSQL's
    (about 2 MiB)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


@functools.cache
def upsert(dialect: str, table: Table, keys: tuple[str, ...], replaced: tuple[str, ...]) -> Insert:
    """INSERT into `table` that, for a row whose `keys` are taken, sets its `replaced` columns to those offered; the
    rows go as parameters. Built once per kind of database and table: building it (its `excluded` copies every
    column of the table) costs more than running it."""
    statement = insert_of(dialect)(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in replaced}
    )


def create_engine(url: str) -> AsyncEngine:
    """One engine (and connection pool) per process."""
    converted = async_url(url)
    if converted.startswith("sqlite"):
        # No rollback when a connection goes back to the pool: every use ends its own transaction (`begin()` commits
        # or rolls back, and a connection closed mid-transaction rolls it back), so the pool's would be one more
        # round trip to aiosqlite's thread per transaction, for nothing. A file's pool is small: SQLite has one
        # writer at a time and the writes share transactions (bot/storage/transactions.py), while each connection
        # is a thread of aiosqlite's with memory of its own (5 + 10 of them measured 4 MiB more after a burst).
        # An in-memory database (tests) has SQLAlchemy's one-connection pool, which takes no sizes.
        sizes = {} if make_url(converted).database in (None, "", ":memory:") else {"pool_size": 2, "max_overflow": 2}
        engine = create_async_engine(
            converted, connect_args={"timeout": BUSY_TIMEOUT}, pool_reset_on_return=None, **sizes
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        converted,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 5},
    )


def sqlite_writer(engine: AsyncEngine, wait: float = BUSY_TIMEOUT) -> Engine | None:
    """For an engine on a SQLite file: a synchronous engine on the same file, for the shared writer to run each
    transaction whole in one call (bot/storage/transactions.py); None for any other database. `wait`: the seconds
    its connection waits for another connection's write lock before SQLite answers that the file is locked (0: it
    answers at once).

    Through the asyncio engine, every call into the driver (a cursor, each statement, its rows, closing the cursor,
    the commit) is a trip to aiosqlite's thread and back to the event loop: a transaction of five inserts measured
    about 1.9 ms of CPU that way, and 0.33 ms as one call. Same file and pragmas; the writer runs one transaction at
    a time, so one pooled connection is used. An in-memory database (tests) is a database per connection, so it
    keeps to the asyncio engine's."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    writer = create_sync_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": wait, "check_same_thread": False},
        pool_reset_on_return=None,
    )
    event.listen(writer, "connect", _sqlite_pragmas)
    return writer


def locked(exc: BaseException) -> bool:
    """Whether `exc` is SQLite saying that another connection holds the file's write lock (SQLITE_BUSY, in any of
    its extended forms), as it does at once to a connection that does not wait."""
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return isinstance(exc, OperationalError) and isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    """WAL lets several processes read while one writes; NORMAL sync is durable across process crashes (what
    matters for an audit trail and the replay guard) without an fsync per write."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# The schema is Alembic's (bot/storage/migrations/): revisions numbered 0001, 0002, … in versions/. A database made
# before the revisions has a `schema_version` table instead, at version N; it is stamped at revision N (same schema)
# and the table dropped, then upgraded like any other.
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
LATEST = "0012"  # the newest revision in migrations/versions/ (tests/test_migrations.py holds the two equal)
OLD_VERSION_TABLE = "schema_version"
VERSION_TABLE = "alembic_version"  # Alembic's default, where it keeps the revision in place
SQLITE_MIGRATE_ATTEMPTS = 8
_LOCK_ID = 0x5245_5343  # pg_advisory_xact_lock key: one migrator at a time across processes


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here (no alembic.ini): the scripts shipped in the package, and the
    connection the revisions run on."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def revisions() -> list[str]:
    """Every revision the package ships, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


async def migrate(engine: AsyncEngine) -> str:
    """Create or upgrade the schema; returns the revision now in place. Safe to run from several processes at once:
    on PostgreSQL an advisory lock held for the transaction serialises migrators; on SQLite BEGIN IMMEDIATE takes the
    file's write lock first (a process that finds the file locked past its busy timeout tries again), so the later
    migrator finds the schema current. A database already at LATEST is left without loading Alembic at all (about
    11 MiB a serving process does not need once the release step has migrated)."""
    for attempt in range(1, SQLITE_MIGRATE_ATTEMPTS + 1):
        try:
            # Read first, within the retries too: on SQLite even connecting waits on another migrator's write lock.
            async with engine.connect() as conn:
                if await conn.run_sync(_revision) == LATEST:
                    return LATEST
            return await _migrate_once(engine)
        except OperationalError as exc:
            if engine.dialect.name != "sqlite" or "locked" not in str(exc) or attempt == SQLITE_MIGRATE_ATTEMPTS:
                raise
            await asyncio.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


async def _migrate_once(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        else:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        revision = await conn.run_sync(_upgrade)
        await conn.commit()
    return revision


def _upgrade(sync: Connection) -> str:
    from alembic import command

    config = alembic_config(sync)
    old = _old_version(sync)
    if old is not None:
        if old:
            log.info("database schema at version %d from before revisions: stamped at revision %04d", old, old)
            command.stamp(config, f"{old:04d}")
        sync.execute(text(f"DROP TABLE {OLD_VERSION_TABLE}"))
    command.upgrade(config, "head")
    return _revision(sync) or ""


def _old_version(sync: Connection) -> int | None:
    """The version in a `schema_version` table, from before the revisions (0 when it holds no row); None when there
    is no such table, or the database has revisions already."""
    tables = inspect(sync).get_table_names()
    if OLD_VERSION_TABLE not in tables or VERSION_TABLE in tables:
        return None
    return int(sync.execute(text(f"SELECT version FROM {OLD_VERSION_TABLE}")).scalar() or 0)


def _revision(sync: Connection) -> str | None:
    """The revision in Alembic's version table (one row: the revisions never branch); None when there is none."""
    if not inspect(sync).has_table(VERSION_TABLE):
        return None
    return sync.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


async def schema_revision(conn: AsyncConnection) -> str | None:
    """The revision the database is at (reads only): for a database from before the revisions, the revision its
    `schema_version` matches; None when it has no schema yet."""

    def read(sync: Connection) -> str | None:
        old = _old_version(sync)
        if old is not None:
            return f"{old:04d}" if old else None
        return _revision(sync)

    return await conn.run_sync(read)
