"""`--demo`: Trigger.dev simulated in-process (bot/simulator), seeded with runs to try.

Two environments, prod and staging, each with a key shaped like a real one (so the bot names the environments from
the prefixes) and clearly fake. The runs are seeded at construction with the same ids on every start, their times
relative to the clock: a delayed run starts (EXECUTING) when its time comes, and a run started that way completes a
little later; the seeded executing run keeps executing, the seeded completed run stays completed.

Nothing here does I/O; `clock` is injectable (an aware datetime), so tests fix the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.simulator import SimulatedRun, SimulatorTransport, TriggerSimulator
from bot.simulator.api import RUN_DURATION, Clock, utc_now
from bot.simulator.runs import COMPLETED_STATUSES

__all__ = [
    "DEMO_API_URL",
    "DEMO_DASHBOARD_URL",
    "DEMO_KEYS",
    "DEMO_PROD_KEY",
    "DEMO_RUNS",
    "DEMO_STAGING_KEY",
    "FIRST_TRY",
    "RUN_CLEANUP_COMPLETED",
    "RUN_DIGEST",
    "RUN_DURATION",
    "RUN_IMPORT_EXECUTING",
    "RUN_INVOICES",
    "RUN_REMINDER",
    "RUN_SYNC",
    "DemoRun",
    "DemoTrigger",
    "demo_environ",
]

DEMO_API_URL = "https://api.demo.trigger.invalid"
DEMO_DASHBOARD_URL = "https://cloud.demo.trigger.invalid"
DEMO_PROD_KEY = "tr_prod_demo_not_a_real_key_0000"
DEMO_STAGING_KEY = "tr_stg_demo_not_a_real_key_0000"
DEMO_KEYS: Mapping[str, str] = {"prod": DEMO_PROD_KEY, "staging": DEMO_STAGING_KEY}

# The seeded runs' ids: the same on every start, so the README's example lines work as written.
RUN_DIGEST = "run_demoprod0weeklydigest01"  # prod, DELAYED 2 h ahead
RUN_INVOICES = "run_demoprod0monthlyinvoice2"  # prod, DELAYED 1 day ahead
RUN_REMINDER = "run_demostg0trialreminder03"  # staging, DELAYED 45 min ahead
RUN_SYNC = "run_demostg0crmsyncnightly04"  # staging, DELAYED 3 days ahead
RUN_IMPORT_EXECUTING = "run_demoprod0importorders05"  # prod, EXECUTING
RUN_CLEANUP_COMPLETED = "run_demostg0cleanupsessions6"  # staging, COMPLETED
# The first thing the shell suggests: a run 45 min ahead moved to 3 h from now (a change anyone sees), in staging
# (which moves at once; prod asks first).
FIRST_TRY = f"/reschedule {RUN_REMINDER} 3h"


@dataclass(frozen=True, slots=True)
class DemoRun:
    """A seeded run: where it lives, what it is, and its time relative to the simulator's start."""

    id: str
    env: str  # "prod" or "staging", a key of DEMO_KEYS
    task: str
    status: str  # a v4 status name
    offset: timedelta  # DELAYED: delayed until start + offset; otherwise started at start + offset (negative)
    tags: tuple[str, ...] = ()
    version: str | None = None
    idempotency_key: str | None = None


DEMO_RUNS: tuple[DemoRun, ...] = (
    DemoRun(RUN_DIGEST, "prod", "send-weekly-digest", "DELAYED", timedelta(hours=2), ("digest", "email")),
    DemoRun(
        RUN_INVOICES,
        "prod",
        "generate-invoices",
        "DELAYED",
        timedelta(days=1),
        ("billing",),
        version="20260601.3",
        idempotency_key="invoices-monthly",
    ),
    DemoRun(RUN_REMINDER, "staging", "send-trial-reminder", "DELAYED", timedelta(minutes=45), ("email", "trial")),
    DemoRun(RUN_SYNC, "staging", "sync-crm", "DELAYED", timedelta(days=3), ("crm",)),
    DemoRun(
        RUN_IMPORT_EXECUTING, "prod", "import-orders", "EXECUTING", timedelta(minutes=-4), ("orders",), "20260601.3"
    ),
    DemoRun(
        RUN_CLEANUP_COMPLETED, "staging", "cleanup-sessions", "COMPLETED", timedelta(hours=-1), version="20260530.1"
    ),
)


def demo_environ() -> dict[str, str]:
    """The Trigger.dev settings of demo mode: both demo keys, the simulated API and dashboard."""
    return {
        "TRIGGER_SECRET_KEY": DEMO_PROD_KEY,
        "TRIGGER_SECRET_KEYS": DEMO_STAGING_KEY,
        "TRIGGER_API_URL": DEMO_API_URL,
        "TRIGGER_DASHBOARD_URL": DEMO_DASHBOARD_URL,
    }


class DemoTrigger(SimulatorTransport):
    """The simulated Trigger.dev API, seeded: `httpx.AsyncClient(base_url=DEMO_API_URL, transport=DemoTrigger())`.

    Args:
        clock: the time now, an aware datetime (default: the wall clock); seeded times are relative to it.
    """

    def __init__(self, clock: Clock = utc_now) -> None:
        super().__init__(TriggerSimulator(clock))
        for env, key in DEMO_KEYS.items():
            self.simulator.add_key(key, env)
        start = self.simulator.now()
        for seed in DEMO_RUNS:
            delayed = seed.status == "DELAYED"
            created = start - timedelta(hours=3) if delayed else start + seed.offset - timedelta(minutes=1)
            run = SimulatedRun(
                id=seed.id,
                env=seed.env,
                task=seed.task,
                status=seed.status,
                created_at=created,
                updated_at=created,
                delayed_until=start + seed.offset if delayed else None,
                tags=seed.tags,
                version=seed.version,
                idempotency_key=seed.idempotency_key,
            )
            if not delayed:
                run.started_at = start + seed.offset
                run.updated_at = run.started_at
            if seed.status in COMPLETED_STATUSES:
                run.finished_at = start + seed.offset + timedelta(minutes=2)
                run.updated_at = run.finished_at
            self.simulator.add_run(run)

    def status_of(self, run_id: str) -> str:
        """The v4 status of a seeded (or any stored) run, as it is now."""
        return self.simulator.get_run(run_id).status
