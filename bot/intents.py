"""Moves in flight that outlive their process: each single move is written down (bot/storage/intents.py) before its
request goes to Trigger.dev and forgotten once its outcome is recorded. A process that died mid-move (SIGKILL, a
crash) leaves its row behind; when the row's lease runs out, any process's `Recovery` loop claims it, reads the run
back from Trigger.dev, records the truth in the audit trail (moved / not applied / unknown) and tells the person by
DM (kept in the outbox when Slack cannot take it). A move cut off by a shutdown is given back at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, polling
from bot.domain.audit import Outcome
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.mrkdwn import date_token, escape
from bot.rescheduler import Actor, Rescheduler, landed, utc_now
from bot.slack.replies import tell_privately
from bot.storage.intents import Held, Intent, MoveIntents
from bot.storage.outbox import Outbox
from bot.trigger.client import Deadline
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

BATCH = 10
GIVE_UP = timedelta(hours=1)  # a move that cannot be read back this long after it was sent is told as unknown
RETRY = timedelta(seconds=30)


def actor_fields(actor: Actor) -> dict[str, Any]:
    """The actor's fields as they are (its values are plain: no deep copy as `dataclasses.asdict` makes)."""
    return {item.name: getattr(actor, item.name) for item in fields(actor)}


def actor_from(fields: dict[str, Any]) -> Actor:
    known = {name: fields[name] for name in Actor.__dataclass_fields__ if name in fields}
    known.setdefault("user_id", "")
    known.setdefault("team_id", "")
    known.setdefault("channel_id", None)
    known.setdefault("surface", "command")
    return Actor(**known)


@dataclass(slots=True)
class IntentJournal:
    """The rescheduler's MoveJournal for single moves."""

    store: MoveIntents

    async def sending(self, actor: Actor, run: Run, env: Environment, when: datetime | None) -> object:
        intent = Intent(run.id, env.name, run.task_identifier, run.delayed_until, when, actor_fields(actor))
        try:
            return await self.store.open(intent)
        except Exception as exc:
            log.warning("move of %s not written down before sending (%s)", run.id, type(exc).__name__)
            return None

    async def settled(self, entry: object, *, cut_off: bool) -> None:
        if not isinstance(entry, Held):
            return
        try:
            if cut_off:
                await self.store.release(entry)
            else:  # recorded (the audit trail, the log): the row only needs to go, with the next transaction
                self.store.forget_soon(entry)
        except Exception as exc:
            log.warning("move of %s: its written-down row stays (%s)", entry.intent.run_id, type(exc).__name__)


def verdict_of(intent: Intent, current: Run, now: datetime) -> str:
    """ "moved", "not applied" or "unknown", from the run read back."""
    before = current.model_copy(update={"delayed_until": intent.previous})
    seen = landed(before, current, intent.new, now)
    return "moved" if seen else "not applied" if seen is False else "unknown"


@dataclass(slots=True)
class Recovery:
    """The loop reading back moves whose process let go of them."""

    rescheduler: Rescheduler
    store: MoveIntents
    client: AsyncWebClient
    outbox: Outbox | None
    poll_seconds: float
    clock: Callable[[], datetime] = utc_now
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _claimed: list[Held] = field(default_factory=list, init=False)  # claimed by this tick, not settled yet

    async def run(self) -> None:
        await polling.every(self.poll_seconds, self._stopping, self.tick, job="moves in flight", ids="recover-")

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> int:
        items = await self.store.claim(self.clock(), BATCH)
        self._claimed = items
        for item in items:
            await self.settle(item)
        self._claimed = []
        return len(items)

    async def give_back(self) -> None:
        """At shutdown, once the loop is stopped: the moves it had claimed and not yet read back are due again at once
        for the next process, rather than when their lease runs out. One cut off while being read back is read back
        again (and told again, if its DM had gone)."""
        claimed, self._claimed = self._claimed, []
        await polling.give_back(claimed, self.store.release, lambda item: f"move of {item.intent.run_id}")

    async def settle(self, item: Held) -> None:
        intent = item.intent
        actor = actor_from(intent.actor)
        target = self.rescheduler.target_named(intent.environment)
        env = target.env if target else None
        current: Run | None = None
        if target is not None:
            try:
                current = await target.client.retrieve_run(
                    intent.run_id, Deadline.after(self.rescheduler.readback_seconds)
                )
            except TriggerError as exc:
                if self.clock() - item.started_at < GIVE_UP:
                    log.info("move of %s: read back failed (%s); trying again later", intent.run_id, type(exc).__name__)
                    await self.store.release(item, RETRY)
                    return
        now = self.clock()
        verdict = verdict_of(intent, current, now) if current is not None else "unknown"
        status = current.status_label if current is not None else "no answer"
        error = "the process moving it stopped before Trigger.dev answered; read back: "
        outcome, new, note = {
            "moved": (Outcome.RESCHEDULED, intent.new, None),
            "not applied": (Outcome.FAILED, intent.new, error + "not applied"),
        }.get(verdict, (Outcome.UNKNOWN, intent.new, error + status))
        if verdict == "moved" and current is not None and current.delayed_until:
            new = current.delayed_until
        self.rescheduler.record(
            actor,
            outcome,
            env=env,
            run_id=intent.run_id,
            task=intent.task,
            previous=intent.previous,
            new=new,
            error=note,
        )
        log.info("move of %s left by a stopped process, read back: %s", intent.run_id, verdict)
        shown = current.delayed_until if current is not None and current.delayed_until else now
        previous = date_token(intent.previous) if intent.previous else "-"
        text = messages.move_read_back(intent.run_id, verdict, date_token(shown), previous, escape(status))
        await tell_privately(None, self.client, actor.user_id, None, text, outbox=self.outbox, team_id=actor.team_id)
        await self.store.close(item)
