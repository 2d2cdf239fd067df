"""Many runs in one move, on Slack: the private prompt that fixes the set, and what its Confirm does (one summary
message for the set, updated while a large set progresses; one DM with the result)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.approvals import ApprovalNeeded
from bot.bulk import CONCURRENCY, BulkMover
from bot.domain.audit import Outcome
from bot.domain.bulk import BulkItem, BulkOutcome
from bot.render import modal_views as views
from bot.render.bulk import bulk_prompt, bulk_summary, bulk_time_view
from bot.render.ids import (
    BULK_KEY_PATTERN,
    BULK_MODAL_CALLBACK_ID,
    BulkValue,
    Button,
)
from bot.render.mrkdwn import date_token, escape
from bot.rescheduler import Actor
from bot.slack import dm
from bot.slack.actor import actor_of
from bot.slack.channel_post import post_for_channel
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import approval_text
from bot.slack.replies import keep_for_later, respond_checked, slack_error
from bot.slack.respond import SessionRespond
from bot.slack.when_input import read_when, state_values
from bot.storage.approvals import RunAsked
from bot.storage.bulk_sets import BulkSet
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

PROGRESS_MIN_RUNS = 10  # sets this large get their summary posted at once and updated as they progress
PROGRESS_EVERY_RUNS = 10
PROGRESS_EVERY_SECONDS = 3.0


async def prompt(
    run_ids: Sequence[str],
    when: datetime,
    env_name: str | None,
    actor: Actor,
    deps: SurfaceDeps,
    tell: Callable[..., Awaitable[bool]],
    thread_ts: str | None = None,
) -> None:
    """Find every run (to name its environment), fix the set, and ask once: Confirm / Cancel. `thread_ts`: the
    set's summary goes in that thread (a set named by a message the shortcut was used on)."""
    rescheduler = deps.rescheduler
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def where(run_id: str) -> str:
        async with semaphore:
            try:
                return (await rescheduler.find(run_id, rescheduler.deadline(), env_name)).env.name
            except TriggerError:
                return ""  # looked for again when the set is moved; its outcome is said then

    found = await asyncio.gather(*(where(run_id) for run_id in run_ids))
    runs = [(run_id, name or (env_name or "")) for run_id, name in zip(run_ids, found, strict=True)]
    bulk = await deps.bulk_sets.add(actor.user_id, actor.team_id, runs, when, thread_ts=thread_ts)
    titles = [t.env.title for t in rescheduler.targets if t.env.name in set(found)]
    missing = sum(1 for name in found if not name)
    await tell(messages.BULK_TITLE, bulk_prompt(bulk.key, len(runs), titles, when, missing))


@dataclass(frozen=True, slots=True)
class SetClick:
    """A click on one of a set's buttons: the request, who clicked, and the routes to answer them."""

    body: dict[str, Any]
    actor: Actor
    deps: SurfaceDeps
    respond: AsyncRespond
    client: AsyncWebClient
    private: Callable[[str], Awaitable[object]]  # tells the clicker privately, by whatever route works


async def on_click(button: Button, value: BulkValue, click: SetClick) -> None:
    """Confirm or Cancel of a set, or a list's Push all back…; only the person who asked may do any of them."""
    actor, deps, private = click.actor, click.deps, click.private
    undo = button is Button.BULK_UNDO
    expired = messages.BULK_UNDO_EXPIRED if undo else messages.BULK_EXPIRED
    bulk = await deps.bulk_sets.get(value.k)
    if bulk is None or bulk.is_undo != undo or (not undo and (bulk.when is None) != (button is Button.BULK_PUSH_ALL)):
        await private(expired)
        return
    if bulk.user_id != actor.user_id or bulk.team_id != actor.team_id:
        await private(messages.BULK_UNDO_NOT_YOURS if undo else messages.BULK_NOT_YOURS)
        why = "undid a set another person moved" if undo else "acted on a set another person asked for"
        deps.rescheduler.record(actor, Outcome.REFUSED, error=why)
        return
    if button is Button.BULK_PUSH_ALL:
        if not await open_time_form(click.client, click.body, bulk, actor):
            await private(messages.TRIGGER_ID_EXPIRED)
        return
    if await deps.bulk_sets.take(value.k) is None:
        await private(expired)
        return
    if undo:
        await _undo(bulk, click)
        return
    if button is Button.BULK_CANCEL:
        await respond_checked(click.respond, text=messages.CANCELLED, response_type="ephemeral", replace_original=True)
        return
    await _execute(bulk, click)


class ModalMetadata(BaseModel):
    """What the Push all back… form carries: the list's set and where to answer (the click's response_url)."""

    model_config = ConfigDict(extra="forbid")

    k: str = Field(pattern=BULK_KEY_PATTERN.pattern)
    url: str | None = Field(default=None, max_length=2000)
    channel: str | None = Field(default=None, max_length=40)
    thread: str | None = Field(default=None, max_length=32)  # the message's thread, for a set from the shortcut


async def ask_time_for_message(
    run_ids: Sequence[str], body: dict[str, Any], actor: Actor, deps: SurfaceDeps, client: AsyncWebClient
) -> bool:
    """The shortcut on a message naming many runs: the set is the runs named (their environments found on
    submit), its time asked in a form, its summary in the message's thread. False: the form could not be opened."""
    message = body.get("message") or {}
    thread = message.get("thread_ts") or message.get("ts") or body.get("message_ts")
    bulk = await deps.bulk_sets.add(actor.user_id, actor.team_id, [(run_id, "") for run_id in run_ids], None)
    return await open_time_form(client, body, bulk, actor, thread if isinstance(thread, str) else None)


async def open_time_form(
    client: AsyncWebClient, body: dict[str, Any], bulk: BulkSet, actor: Actor, thread: str | None = None
) -> bool:
    """Open the form asking one time for `bulk`; False when Slack refused (an expired trigger_id)."""
    response_url = body.get("response_url")
    metadata = ModalMetadata(
        k=bulk.key,
        url=response_url if isinstance(response_url, str) else None,
        channel=actor.channel_id,
        thread=thread,
    )
    view = bulk_time_view(len(bulk.runs), metadata.model_dump_json(exclude_none=True), from_message=thread is not None)
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
    except Exception as exc:
        log.warning("views.open for a bulk move failed: %s", slack_error(exc))
        return False
    return True


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach the submission of the Push all back… form: a time, then the same confirmation as the command."""

    @app.view(BULK_MODAL_CALLBACK_ID)
    @deps.inflight.listener
    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        try:
            metadata = ModalMetadata.model_validate_json(view.get("private_metadata") or "")
        except ValidationError:
            await ack(response_action="update", view=views.notice(messages.FOREIGN_PAYLOAD))
            return
        when = read_when(state_values(view), deps.rescheduler.now(), deps.max_delay)
        actor = actor_of(context, body, "modal", when.typed[:200], channel_id=metadata.channel)
        if when.target is None:
            await ack(response_action="errors", errors=when.errors)
            return
        await ack(response_action="clear")  # before any database read: Slack waits 3 s for this answer
        if not await deps.first_delivery(body, "view_submission"):
            return
        respond = SessionRespond(response_url=metadata.url, session=client.session) if metadata.url else None

        tell = deps.teller(respond, client, actor)

        bulk = await deps.bulk_sets.get(metadata.k)
        mine = bulk is not None and (bulk.user_id, bulk.team_id) == (actor.user_id, actor.team_id)
        if bulk is None or bulk.when is not None or bulk.is_undo or not mine:
            await tell(messages.BULK_EXPIRED)
            return

        target = when.target
        if any(not env_name for _, env_name in bulk.runs):  # named in a message: found now, to name environments
            run_ids = [run_id for run_id, _ in bulk.runs]
            async with deps.inflight.work(messages.WORK_SET_FROM_MESSAGE, None, tell):
                await prompt(run_ids, target, None, actor, deps, tell, thread_ts=metadata.thread)
            return
        await ask_to_confirm(bulk.runs, target, actor, deps, tell)


async def ask_to_confirm(
    runs: Sequence[tuple[str, str]],
    when: datetime,
    actor: Actor,
    deps: SurfaceDeps,
    tell: Callable[..., Awaitable[bool]],
    thread_ts: str | None = None,
) -> None:
    """Runs whose environments are known (a list, a form): fix them as a set, and ask once: Confirm / Cancel."""
    fixed = await deps.bulk_sets.add(actor.user_id, actor.team_id, runs, when, thread_ts=thread_ts)
    envs = {name for _, name in runs}
    titles = [t.env.title for t in deps.rescheduler.targets if t.env.name in envs]
    await tell(messages.BULK_TITLE, bulk_prompt(fixed.key, len(fixed.runs), titles, when, 0))


async def carry_out(bulk: BulkSet, click: SetClick) -> None:
    """Move a set as its Confirm does: a set approved in a protected environment (bot/slack/approvals.py)."""
    await _execute(bulk, click)


async def _execute(bulk: BulkSet, click: SetClick) -> None:
    actor, deps, respond = click.actor, click.deps, click.respond
    when = bulk.when
    if when is None:  # a list's set gets its time from the form, as a new set
        await click.private(messages.BULK_EXPIRED)
        return
    try:  # a protected environment: asked for approval before anything is shown or moved
        asked = [RunAsked(run_id, env_name, None) for run_id, env_name in bulk.runs]
        await deps.rescheduler.approval(actor, asked, when, thread_ts=bulk.thread_ts)
    except ApprovalNeeded as exc:
        text = approval_text(exc)
        if await respond_checked(respond, text=text, response_type="ephemeral", replace_original=True) is not None:
            await click.private(text)
        return
    total = len(bulk.runs)
    head = messages.bulk_head(actor.user_id, 0, total, date_token(when), final=False)
    await respond_checked(respond, text=head, response_type="ephemeral", replace_original=True)
    message = _Summary(bulk, when, actor, deps, click.client)
    if total >= PROGRESS_MIN_RUNS:
        await message.post_early()
    items = await BulkMover.for_rescheduler(deps.rescheduler).run(actor, bulk, message.progress)
    message.undo_key = await _undo_set(items, bulk, actor, deps)
    problem = await message.final(items, respond)
    if problem is None:
        await respond_checked(respond, delete_original=True)
    await _finish(message, items, problem, messages.bulk_dm_head, click)


async def _undo_set(items: list[BulkItem], bulk: BulkSet, actor: Actor, deps: SurfaceDeps) -> str | None:
    """Keep the runs moved, each with its own previous time, for the set's one Undo; its key (None: nothing to
    undo)."""
    names = {t.env.title: t.env.name for t in deps.rescheduler.targets}
    found = dict(bulk.runs)
    runs: list[tuple[str, str]] = []
    back: list[datetime] = []
    for item in items:
        if item.outcome is BulkOutcome.MOVED and item.previous is not None:
            runs.append((item.run_id, names.get(item.env_title) or found.get(item.run_id, "")))
            back.append(item.previous)
    if not runs:
        return None
    return (await deps.bulk_sets.add(actor.user_id, actor.team_id, runs, None, back)).key


async def _undo(bulk: BulkSet, click: SetClick) -> None:
    """The set's Undo: each run back to its own previous time where that is still ahead, through the same paced
    path (one audit row per run); the clicked summary is updated in place, and one DM says the result."""
    actor, deps = click.actor, click.deps
    container = click.body.get("container") or {}
    message = _Summary(bulk, None, actor, deps, click.client)
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if isinstance(channel, str) and isinstance(ts, str):
        message.channel, message.ts = channel, ts
        await message.show(list[BulkItem]())
    items = await BulkMover.for_rescheduler(deps.rescheduler).run(actor, bulk, message.progress)
    problem = await message.final(items, click.respond, replace=True)
    await _finish(message, items, problem, messages.bulk_undo_dm_head, click)


async def _finish(
    message: _Summary,
    items: list[BulkItem],
    problem: str | None,
    dm_head: Callable[[str], str],
    click: SetClick,
) -> None:
    """One DM with the result (or, without it, a private word when the summary could not be shown)."""
    actor, deps, client = click.actor, click.deps, click.client
    text, _ = message.render(items, final=True)
    if deps.dm_confirmations:
        note = messages.bulk_summary_failed(escape(problem)) if problem else ""
        where = await dm.where_posted(client, message.channel or actor.channel_id, message.ts)
        head = f"{dm_head(where)}\n{note}".strip()
        dm_text, dm_blocks = message.render(items, final=True, extra=head)
        try:
            await client.chat_postMessage(channel=actor.user_id, text=dm_text, blocks=dm_blocks)
            return
        except Exception as exc:
            kept = keep_for_later(deps.outbox, exc, actor.team_id, actor.user_id, dm_text, dm_blocks)
            later = "; kept to be sent later" if kept else ""
            log.warning("could not DM the bulk result to %s: %s%s", actor.user_id, slack_error(exc), later)
            if kept and not problem:
                return  # the result is sent as a DM when Slack takes it
    if problem:
        await click.private(f"{messages.bulk_summary_failed(escape(problem))}\n{text}")


class _Summary:
    """The set's one message in the channel: posted at once for a large set and updated as it progresses, else
    posted at the end; by the bot, or through the response_url when the bot cannot post in the channel."""

    def __init__(
        self, bulk: BulkSet, when: datetime | None, actor: Actor, deps: SurfaceDeps, client: AsyncWebClient
    ) -> None:
        self.bulk, self.when, self.actor, self.deps, self.client = bulk, when, actor, deps, client
        self.total = len(bulk.runs)
        self.channel = actor.channel_id  # an Undo updates the message it was clicked on, wherever that is
        self.ts: str | None = None
        self.undo_key: str | None = None  # the set's Undo, shown once the set is done
        self.lock = asyncio.Lock()
        self.shown = 0
        self.shown_at = time.monotonic()

    def render(self, items: list[BulkItem], final: bool, extra: str = "") -> tuple[str, list[dict[str, Any]]]:
        approved = messages.approved_set_note(self.actor.approved_by) if self.actor.approved_by else ""
        summary = bulk_summary(
            self.actor.user_id,
            self.when,
            self.total,
            items,
            self.deps.run_url,
            final=final,
            head=" ".join(filter(None, [extra, approved])),
            undo_key=self.undo_key if final else None,
        )
        return summary.text, summary.blocks

    async def post_early(self) -> None:
        if not self.actor.channel_id:
            return
        text, blocks = self.render([], final=False)
        try:
            response = await self.client.chat_postMessage(
                channel=self.actor.channel_id, thread_ts=self.bulk.thread_ts, text=text, blocks=blocks
            )
        except Exception as exc:
            log.info("bulk summary not posted early (%s): shown at the end instead", slack_error(exc))
            return
        ts = response.get("ts")
        self.ts = ts if isinstance(ts, str) else None

    async def progress(self, items: list[BulkItem]) -> None:
        if self.ts is None or not self.channel or len(items) >= self.total or self.lock.locked():
            return
        due = time.monotonic() - self.shown_at >= PROGRESS_EVERY_SECONDS
        if len(items) - self.shown < PROGRESS_EVERY_RUNS and not due:
            return
        async with self.lock:
            await self.show(items)

    async def show(self, items: list[BulkItem]) -> None:
        """The set in progress, in its message."""
        if self.ts is None or not self.channel:
            return
        self.shown, self.shown_at = len(items), time.monotonic()
        text, blocks = self.render(items, final=False)
        try:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
        except Exception as exc:
            log.info("bulk progress not shown: %s", slack_error(exc))

    async def final(self, items: list[BulkItem], respond: AsyncRespond, *, replace: bool = False) -> str | None:
        """The final state; None when it was shown, else what went wrong. `replace`: through the click's
        response_url, in place of the message clicked (an Undo), rather than as a new message."""
        async with self.lock:
            text, blocks = self.render(items, final=True)
            if self.ts is not None and self.channel:
                try:
                    await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
                    return None
                except Exception as exc:
                    log.info("bulk summary not updated (%s): posting it instead", slack_error(exc))
            if replace:
                return await respond_checked(
                    respond, text=text, blocks=blocks, response_type="in_channel", replace_original=True
                )
            # Posted by the bot (in the thread of the message that named the set, if any), else the response_url.
            posted = await post_for_channel(
                self.client, respond, self.channel, text, blocks, thread_ts=self.bulk.thread_ts
            )
            if posted.ts is not None:
                self.channel, self.ts = posted.channel, posted.ts
            return posted.problem
