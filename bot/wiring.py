"""Builds the running bot from Settings: the one place objects are constructed and connected."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import httpx
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import messages, metrics, shutdown
from bot.access_check import AccessCheck
from bot.approvals import Approvals
from bot.domain.audit import Outcome
from bot.domain.digest import parse_schedule, zone
from bot.follow import Follow
from bot.inflight import InFlight, Job, cancel_unfinished
from bot.intents import IntentJournal, Recovery
from bot.late import LateDMs
from bot.message_fixes import MessageFixes
from bot.render.mrkdwn import code, truncate
from bot.rescheduler import EnvironmentClient, Rescheduler
from bot.settings import Settings, metrics_shared_by_processes
from bot.slack import audit_channel, workspace
from bot.slack.app import build_app, web_client
from bot.slack.approvals import SlackRequestPoster
from bot.slack.bot_identity import BotIdentity, check_token
from bot.slack.deps import SurfaceDeps
from bot.slack.groups import SlackGroups
from bot.slack.home import HomePages
from bot.slack.set_run import SetRunner
from bot.storage import db, transactions
from bot.storage.approvals import ApprovalStore
from bot.storage.audit import AuditLog
from bot.storage.bulk_sets import BulkSets
from bot.storage.follow_ups import FollowUps
from bot.storage.home_views import HomeViews
from bot.storage.intents import MoveIntents
from bot.storage.message_updates import MessageUpdates
from bot.storage.outbox import Outbox, waits
from bot.storage.replays import ReplayGuard
from bot.storage.set_work import SetWorks
from bot.trigger.client import TriggerClient, new_http_client

if TYPE_CHECKING:  # loaded by build() only when configured: the digest (DIGEST_CHANNEL), protected environments
    from bot.approval_expiry import ApprovalExpiry
    from bot.digest import Digest

log = logging.getLogger(__name__)

# When the database cannot be migrated at start, the migration is tried again this many seconds apart (then every
# last one): soon enough that audit records retried meanwhile (bot/storage/audit.py) find their table.
MIGRATE_RETRY_WAITS = (1.0, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class Bot:
    """Everything a running process holds; `start` prepares the database, `aclose` releases it all."""

    app: AsyncApp
    http: httpx.AsyncClient
    deps: SurfaceDeps
    engine: AsyncEngine
    audit: AuditLog
    signing_secret: bytes = field(default=b"", repr=False)
    shutdown_grace: float = 30.0
    digest: Digest | None = None  # DIGEST_CHANNEL set: the loop posting the digest (bot/digest.py)
    metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR: /metrics sums every process writing there
    metrics_dir_unseen: bool = False  # set in the settings but not in the process environment, where it is read
    metrics_token: bytes = field(default=b"", repr=False)  # METRICS_TOKEN: /metrics needs it as a bearer token
    follow: Follow | None = None  # the loop updating summary cards that follow their run (bot/follow.py)
    late: LateDMs | None = None  # the loop sending private messages Slack could not take (bot/late.py)
    recovery: Recovery | None = None  # the loop reading back moves a stopped process left in flight (bot/intents.py)
    intents: MoveIntents | None = None  # the moves written down before their request (bot/storage/intents.py)
    fixes: MessageFixes | None = None  # the loop updating channel messages Slack could not update (message_fixes.py)
    _sets_task: asyncio.Task[None] | None = None  # the loop carrying on confirmed sets (bot/slack/set_run.py)
    _late_task: asyncio.Task[None] | None = None
    # Cancelled at shutdown, in this order: the schema's retry, the digest's loop (a digest being posted is in
    # flight: the drain finishes it), the follow-ups' loop (a card being updated is left to its lease).
    _loops: list[asyncio.Task[None]] = field(default_factory=list)
    home: HomePages | None = None  # the App Home's refreshes (bot/slack/home.py), stopped before the clients close
    approval_expiry: ApprovalExpiry | None = None  # protected environments: the loop expiring undecided requests

    async def start(self) -> None:
        """Open the Slack connection pool and create or upgrade the schema. A database that is down does not
        stop the bot: moves still work, the audit falls back to structured log lines until it is back, and the
        schema is created or upgraded as soon as it answers (a new database gets its tables without a restart)."""
        # One aiohttp session for every Web API call (without it slack_sdk opens a connection per call).
        self.app.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        try:
            version = await db.migrate(self.engine)
            log.info("database schema at version %s", version)
        except Exception as exc:
            log.error("database unavailable at start (%s); audit records go to the log until it answers", exc)
            self._loops.append(asyncio.get_running_loop().create_task(self._migrate_when_back(), name="migrate"))
        if self.metrics_dir_unseen:
            log.warning(
                "PROMETHEUS_MULTIPROC_DIR is not in the process environment (only in .env?): prometheus-client reads "
                "it there, so /metrics shows this process alone"
            )
        if self.digest is not None:
            self._loops.append(asyncio.get_running_loop().create_task(self.digest.run(), name="digest"))
        if self.follow is not None:
            self._loops.append(asyncio.get_running_loop().create_task(self.follow.run(), name="follow"))
        if self.approval_expiry is not None:
            self._loops.append(asyncio.get_running_loop().create_task(self.approval_expiry.run(), name="approvals"))
        if self.late is not None:
            self._late_task = asyncio.get_running_loop().create_task(self.late.run(), name="late-dms")
        if self.recovery is not None:
            self._loops.append(asyncio.get_running_loop().create_task(self.recovery.run(), name="recovery"))
        if self.fixes is not None:
            self._loops.append(asyncio.get_running_loop().create_task(self.fixes.run(), name="message-fixes"))
        self._sets_task = asyncio.get_running_loop().create_task(self.deps.sets.run(), name="sets")

    async def _migrate_when_back(self) -> None:
        """Try the migration again, MIGRATE_RETRY_WAITS apart (then every last one), until the database takes it."""
        for attempt in itertools.count():
            await asyncio.sleep(MIGRATE_RETRY_WAITS[min(attempt, len(MIGRATE_RETRY_WAITS) - 1)])
            try:
                version = await db.migrate(self.engine)
            except Exception as exc:
                log.warning("database still unavailable for the schema: %s", type(exc).__name__)
                continue
            log.info("database schema at version %s (the database is back)", version)
            self.audit.database_back()
            return

    async def aclose(self) -> None:
        """Finish what was acknowledged, account for what could not be finished, write the audit trail, close.

        Bounded by SHUTDOWN_GRACE (see bot.shutdown): TRIGGER_DEADLINE is checked at start to fit in the drain.
        """
        self.deps.sets.stop()  # no run of a set is started from here; those in flight finish in the drain
        for loop_task in self._loops:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop_task
        # What the last ticks of these loops claimed and did not finish is the next process's at once.
        for claimer in (self.fixes, self.recovery, self.follow):
            if claimer is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(claimer.give_back(), shutdown.FLUSH_SECONDS)
        late_stopped = asyncio.get_running_loop().create_task(self._stop_late())  # beside the drain, not before it
        inflight = self.deps.inflight
        if not await inflight.drain(shutdown.drain_seconds(self.shutdown_grace)):
            unfinished = inflight.unfinished()
            for job in unfinished:
                log.warning("unfinished at shutdown: %s", job.what)
                self._record_unfinished(job)
            await inflight.tell_unfinished(_interrupted, shutdown.TELL_SECONDS)
            await cancel_unfinished(unfinished, shutdown.MARGIN_SECONDS)
        await late_stopped
        if self._sets_task is not None:  # its set in flight was handed back in the drain
            self._sets_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sets_task
        if self.home is not None:  # the moves recorded from here on do not start refreshes the closing would cut off
            self.home.closing()
        # The audit trail, the rows of cards posted during the drain, the last replay claims, the messages kept for
        # later, the last opens of the Home and the rows of settled moves, together, within the one flush budget.
        follow_ups, replays, outbox = self.deps.follow_ups, self.deps.replays, self.deps.outbox
        home_views = self.deps.home_views
        await asyncio.gather(
            self.audit.flush(shutdown.FLUSH_SECONDS),
            follow_ups.flush(shutdown.FLUSH_SECONDS),
            outbox.flush(shutdown.FLUSH_SECONDS),
            replays.aclose(shutdown.FLUSH_SECONDS),
            home_views.aclose(shutdown.FLUSH_SECONDS),
            *([self.intents.flush(shutdown.FLUSH_SECONDS)] if self.intents is not None else []),
        )
        if self.home is not None:  # after the flush; before the clients close
            await self.home.aclose()
        await self.http.aclose()
        await transactions.close_shared(self.engine)
        await self.engine.dispose()
        metrics.process_ended(self.metrics_dir)
        session = self.app.client.session
        if session is not None:
            await session.close()

    async def _stop_late(self) -> None:
        """The loop sending kept messages stops after the message it is sending, if that is quick; one cut off in
        the middle of its send is given back, for the next process to send."""
        if self.late is None or self._late_task is None:
            return
        self.late.stop()
        _, pending = await asyncio.wait({self._late_task}, timeout=shutdown.MARGIN_SECONDS)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._late_task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.late.release_cut_off(), shutdown.FLUSH_SECONDS)

    def _record_unfinished(self, job: Job) -> None:
        """Each move the job had in flight, and the job itself if nothing of it was recorded, is recorded unknown."""
        if job.actor is None:
            return
        rescheduler = self.deps.rescheduler
        envs = {target.env.name: target.env for target in rescheduler.targets}
        for run_id, env_name in list(job.moving.items()):
            error = "the bot shut down before Trigger.dev answered"
            rescheduler.record(job.actor, Outcome.UNKNOWN, env=envs.get(env_name), run_id=run_id, error=error)
        if not job.recorded and not job.moving:
            rescheduler.record(job.actor, Outcome.UNKNOWN, error="the bot shut down before finishing")


def _simulator() -> httpx.AsyncBaseTransport:
    """A new simulated Trigger.dev; bot/demo.py and bot/simulator/ are loaded in demo mode only."""
    from bot.demo import DemoTrigger

    return DemoTrigger()


def _is_simulator(transport: httpx.AsyncBaseTransport | None) -> bool:
    """Whether `transport` is the demo's simulator: only a transport the caller gives can be (`serve` gives none)."""
    if transport is None:
        return False
    from bot.demo import DemoTrigger

    return isinstance(transport, DemoTrigger)


def _work_lease(settings: Settings) -> timedelta:
    """A lease on work in flight: WORK_LEASE_SECONDS, and never shorter than a move's request and its read-back."""
    return timedelta(seconds=max(settings.work_lease_seconds, settings.trigger_deadline + shutdown.CONFIRM_SECONDS + 2))


def _interrupted(what: str) -> str:
    """The shutdown notice, with what the person typed shown safely (escaped, in a code span, bounded)."""
    return messages.shutdown_interrupted(code(truncate(what, 100))[1:-1])


async def check_slack(settings: Settings) -> AuthorizeResult | None:
    """auth.test with the configured token, before serving: a bad token stops the process with a clear message
    (SlackRejected), and no request waits for auth.test before its acknowledgement."""
    assert settings.slack_bot_token is not None
    client = web_client(settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url))
    return await check_token(BotIdentity(client))


def build(
    settings: Settings,
    *,
    socket_mode: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    slack_identity: AuthorizeResult | None = None,
) -> Bot:
    """Construct the bot; `transport` lets tests put Trigger.dev behind an httpx.MockTransport.

    `slack_identity` is check_slack's result; without it auth.test is called on the first request. In demo mode
    (settings loaded with `demo=True`, or `transport` a DemoTrigger) Trigger.dev is the simulator in bot/demo.py
    (a new one unless `transport` is given) and every summary says so.
    """
    assert settings.slack_bot_token is not None
    if settings.demo and transport is None:
        transport = _simulator()
    demo = settings.demo or _is_simulator(transport)
    if demo:
        log.warning(messages.DEMO_STARTED)
    http = new_http_client(str(settings.trigger_api_url), transport)
    client = web_client(settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url))
    engine = db.create_engine(settings.database_url.get_secret_value())
    titles = {item.env.name: item.env.title for item in settings.environments()}
    listeners = [audit_channel.poster(client, settings.audit_channel, titles)] if settings.audit_channel else []
    audit = AuditLog(engine, listeners=listeners)
    targets = [
        EnvironmentClient(env=item.env, client=TriggerClient(http=http, key=item.key))
        for item in settings.environments()
    ]
    groups = SlackGroups(client, settings.usergroup_cache_seconds)
    access_check = AccessCheck(settings.policy(), groups)
    approval_policy = settings.approval_policy()
    approval_store = ApprovalStore(engine)
    # Protected environments (APPROVAL__<ENV>__APPROVERS): moves there wait for another person's Approve.
    approvals = Approvals(approval_policy, approval_store, groups) if approval_policy.rules else None
    rescheduler = Rescheduler(
        targets=targets,
        deadline_seconds=settings.trigger_deadline,
        access_check=access_check,
        audit=audit,
        approvals=approvals,
    )
    intents = MoveIntents(engine, lease=_work_lease(settings))  # moves written down before their request
    rescheduler.journal = IntentJournal(intents)
    follow_ups = FollowUps(engine)  # cards that follow their run, in the database: a restart loses none
    outbox = Outbox(engine)  # private messages Slack could not take, sent later: a restart loses none
    fixes = MessageFixes(
        client=client,
        store=MessageUpdates(engine),
        poll_seconds=settings.outbox_retry_seconds / 2,
        waits=waits(settings.outbox_retry_seconds),
    )
    inflight = InFlight()  # what this process has acknowledged and not finished, waited for at shutdown
    bulk_sets = BulkSets(engine)  # in the database: any process may take a set's Confirm, once
    dashboard_base = str(settings.trigger_dashboard_url)
    # Confirmed sets in the database: a deploy or a crash hands them to the next process, which finishes them.
    sets = SetRunner(
        client=client,
        store=SetWorks(engine, lease=_work_lease(settings)),
        rescheduler=rescheduler,
        inflight=inflight,
        outbox=outbox,
        bulk_sets=bulk_sets,
        dashboard_base=dashboard_base,
        dm_confirmations=settings.dm_confirmations,
        poll_seconds=settings.work_poll_seconds,
        fixes=fixes,
    )
    deps = SurfaceDeps(
        rescheduler=rescheduler,
        dashboard_base=dashboard_base,
        max_delay=settings.max_delay,
        confirm_environments=settings.confirm_environments,
        dm_confirmations=settings.dm_confirmations,
        bulk_limit=settings.bulk_limit,
        audit=audit,
        replays=ReplayGuard(engine),
        bulk_sets=bulk_sets,
        inflight=inflight,
        follow_ups=follow_ups,
        follow_grace=timedelta(seconds=settings.follow_grace_seconds),
        demo=demo,
        home_views=HomeViews(engine),  # who opened their Home lately, for whichever process records their move
        outbox=outbox,
        sets=sets,
    )
    approval_expiry = None
    if approvals is not None:
        from bot.approval_expiry import ApprovalExpiry

        approvals.poster = SlackRequestPoster(client, approval_store, deps)
        approval_expiry = ApprovalExpiry(deps, client, approval_store, poll_seconds=settings.follow_poll_seconds)
    signing = None if socket_mode or settings.slack_signing_secret is None else settings.slack_signing_secret
    identity = BotIdentity(client, slack_identity)
    app, home_pages = build_app(client, deps, identity)
    workspace.register(app, settings.slack_team_id, settings.slack_app_id, settings.allow_slack_connect)
    digest = None
    if settings.digest_channel:
        from bot.digest import Digest
        from bot.storage.digest_posts import DigestClaims

        digest = Digest(
            deps=deps,
            client=client,
            claims=DigestClaims(engine),
            channel=settings.digest_channel,
            times=parse_schedule(settings.digest_schedule),
            tz=zone(settings.digest_timezone),
            window=settings.digest_window,
            skip_empty=settings.digest_skip_empty,
        )
    follow = Follow(
        deps=deps,
        client=client,
        store=follow_ups,
        poll_seconds=settings.follow_poll_seconds,
    )
    late = LateDMs(
        client=client,
        store=outbox,
        poll_seconds=settings.outbox_retry_seconds / 2,
        waits=waits(settings.outbox_retry_seconds),
    )
    recovery = Recovery(
        rescheduler=rescheduler, store=intents, client=client, outbox=outbox, poll_seconds=settings.work_poll_seconds
    )

    shared = metrics_shared_by_processes()  # prometheus-client writes its files only then
    return Bot(
        app=app,
        home=home_pages,
        http=http,
        deps=deps,
        engine=engine,
        audit=audit,
        signing_secret=signing.get_secret_value().encode() if signing else b"",
        shutdown_grace=settings.shutdown_grace,
        digest=digest,
        follow=follow,
        late=late,
        recovery=recovery,
        intents=intents,
        fixes=fixes,
        approval_expiry=approval_expiry,
        metrics_dir=settings.prometheus_multiproc_dir if shared else None,
        metrics_dir_unseen=bool(settings.prometheus_multiproc_dir) and not shared,
        metrics_token=settings.metrics_token.get_secret_value().encode() if settings.metrics_token else b"",
    )
