"""The App Home's pure parts and its per-person coalescing, without Slack or Trigger.dev servers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import messages
from bot.domain.audit import AuditRecord, Outcome, latest_per_run
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls
from bot.render.home import MAX_BLOCKS, MAX_RUNS_SHOWN, HomePage, MovedRun, Reach, RowProblem, home_view
from bot.rescheduler import Rescheduler
from bot.slack.deps import SurfaceDeps
from bot.slack.home import HOME_BUTTONS, HomePages
from tests.stand_ins import services

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PROD = Environment("prod", "Prod", "prod")


def record(run_id: str | None, minutes_ago: int, env: str = "prod") -> AuditRecord:
    return AuditRecord(
        at=NOW - timedelta(minutes=minutes_ago),
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        surface="command",
        outcome=Outcome.RESCHEDULED,
        environment=env,
        run_id=run_id,
    )


def test_latest_per_run_keeps_the_newest_record_of_each_run_and_stops_at_the_limit() -> None:
    records = [record("run_a", 1), record("run_b", 2), record("run_a", 3), record(None, 4), record("run_a", 5, "dev")]
    assert [(r.run_id, r.environment) for r in latest_per_run(records, 10)] == [
        ("run_a", "prod"),
        ("run_b", "prod"),
        ("run_a", "dev"),
    ]
    assert [r.run_id for r in latest_per_run(records, 1)] == ["run_a"]


def delayed_run(n: int) -> Run:
    until = (NOW + timedelta(hours=n + 1)).isoformat()
    return Run.from_api({"id": f"run_{n:025d}", "status": "DELAYED", "taskIdentifier": "<b>&x", "delayedUntil": until})


def test_the_fullest_home_stays_within_slacks_100_blocks_with_nothing_cut() -> None:
    controls = Controls(now=NOW, confirm=True, buttons=HOME_BUTTONS, demo=True)
    runs = [
        MovedRun(f"run_{n:025d}", "Prod", "prod", "t", NOW, current=delayed_run(n), controls=controls)
        for n in range(MAX_RUNS_SHOWN + 5)
    ]
    many_envs = [
        Reach(Environment(f"e{n}", f"Env {n}"), frozenset({"C0OPS", "not a channel"}), True) for n in range(40)
    ]
    view = home_view(HomePage(runs, many_envs, demo=True), lambda run_id: f"https://cloud.test/runs/{run_id}")
    blocks = view["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert blocks[-2]["text"]["text"] == messages.HOME_HOW_TO  # the how-to and the demo note are not cut
    assert blocks[-1]["elements"][0]["text"] == messages.DEMO_SUMMARY_NOTE
    assert len([b for b in blocks if b["type"] == "actions"]) == MAX_RUNS_SHOWN
    text = str(blocks)
    mrkdwn = str([b["text"]["text"] for b in blocks if b["type"] == "section"])
    assert "&lt;b&gt;&amp;x" in mrkdwn and "<b>" not in mrkdwn  # a task name is escaped (plain_text needs not)
    assert "<#C0OPS>" in text and "`not a channel`" in text  # only channel-shaped ids become mentions
    moves = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] != "rb1:other"]
    assert all("confirm" in e for e in moves if "value" in e)  # prod asks first, as on a summary


def test_a_delayed_run_the_person_may_not_move_from_here_says_where_instead_of_offering_buttons() -> None:
    elsewhere = MovedRun("run_a", "Prod", "prod", "t", NOW, current=delayed_run(1), act_from=frozenset({"C0OPS"}))
    lost = MovedRun("run_b", "Prod", "prod", "t", NOW, current=delayed_run(2))
    unreadable = MovedRun("run_c", "Prod", "prod", "t", NOW, problem=RowProblem.UNREADABLE)
    view = home_view(HomePage([elsewhere, lost, unreadable], []), lambda run_id: "https://cloud.test/")
    text = str(view["blocks"])
    assert messages.home_act_elsewhere("Prod", "<#C0OPS>") in text
    assert messages.home_act_elsewhere("Prod", "") in text
    assert messages.HOME_UNREADABLE in text and messages.HOME_NO_ENVIRONMENT in text
    assert [b for b in view["blocks"] if b["type"] == "actions"] == []


class SlowClient:
    """views.publish waits until released, and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = asyncio.Event()

    async def views_publish(self, *, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(user_id)
        await self.release.wait()
        return {"ok": True}


def test_refreshes_asked_for_while_a_home_is_being_published_fold_into_one_more() -> None:
    async def scenario() -> list[str]:
        client = SlowClient()
        deps = SurfaceDeps(
            rescheduler=Rescheduler(targets=[], deadline_seconds=1),
            dashboard_base="https://cloud.test",
            max_delay=timedelta(days=1),
            **services(),
        )
        pages = HomePages(client, deps)  # type: ignore[arg-type]
        pages.refresh("T1", "U1")
        while not client.calls:
            await asyncio.sleep(0)
        for _ in range(5):
            pages.refresh("T1", "U1")
        pages.refresh("T1", "U2")
        client.release.set()
        while deps.inflight.busy or len(client.calls) < 3:
            await asyncio.sleep(0.01)
        return client.calls

    assert sorted(asyncio.run(scenario())) == ["U1", "U1", "U2"]


def test_at_shutdown_refreshes_under_way_stop_and_none_starts_after() -> None:
    async def scenario() -> tuple[list[str], int]:
        client = SlowClient()
        deps = SurfaceDeps(
            rescheduler=Rescheduler(targets=[], deadline_seconds=1),
            dashboard_base="https://cloud.test",
            max_delay=timedelta(days=1),
            **services(),
        )
        pages = HomePages(client, deps)  # type: ignore[arg-type]
        pages.refresh("T1", "U1")
        while not client.calls:
            await asyncio.sleep(0)
        await pages.aclose()  # returns although views.publish was never released
        pages.refresh("T1", "U2")  # e.g. the audit listener, flushing after the drain
        assert pages._running == {}  # nothing started
        return client.calls, deps.inflight.busy

    calls, busy = asyncio.run(scenario())
    assert calls == ["U1"] and not busy
