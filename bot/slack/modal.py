"""The reschedule modal: opened at once with the trigger_id, filled in after the runs are read, submitted.

Slack's trigger_id expires 3 s after Slack sent it, so the modal opens first with a loading view and is
updated once Trigger.dev has answered. Bad input is shown inline on the field and never closes the modal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.access_check import AccessRefused
from bot.domain.audit import Outcome
from bot.domain.environments import Environment
from bot.domain.typed_time import UTC_READER, ReaderZone, zone_named
from bot.render import ids
from bot.render import modal_views as views
from bot.render.mrkdwn import date_token, escape, link
from bot.render.summary import run_summary
from bot.render.times import spoken
from bot.rescheduler import Actor, FoundRun, MoveResult, OutOfReach
from bot.slack import bulk, dm, unfurl
from bot.slack.actor import actor_of
from bot.slack.channel_post import post_for_channel
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import failure_text, unexpected_text
from bot.slack.home import HOME_SURFACE
from bot.slack.replies import quietly, show_summary, slack_error
from bot.slack.respond import Respond
from bot.slack.when_input import read_when, state_values, value_of, when_hint
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

# ephemeral: a private summary, replaced by the public one; list: a row of the private list, which stays for the
# next move; home: a row of the App Home (no message).
OriginKind = Literal["message", "ephemeral", "list", "shortcut", "home"]


class Origin(BaseModel):
    """Where the flow started, carried in the modal's private_metadata (≤ 3000 characters)."""

    model_config = ConfigDict(extra="forbid")

    kind: OriginKind
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None
    preview_url: str | None = None  # opened from a link preview of this URL in the message at `ts`: drawn again


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    origin: Origin
    runs: dict[str, str]  # run id → environment name
    choices: list[str] = []  # environments offered for the one run, when several have it
    tz: str | None = Field(default=None, max_length=64)  # the person's Slack timezone, read when the form opened
    task: str | None = Field(default=None, max_length=200)  # the one run's task, for the form's question

    def encode(self) -> str:
        return self.model_dump_json(exclude_none=True)


class Question(BaseModel):
    """What the form's question carries: the form's own metadata and the instant asked for (None: Run now)."""

    model_config = ConfigDict(extra="forbid")

    form: Metadata
    at: int | None = Field(default=None, ge=0, le=4_102_444_800_000)  # epoch milliseconds


@dataclass(frozen=True, slots=True)
class RunRef:
    run_id: str
    env_name: str | None = None


async def open_for(
    client: AsyncWebClient,
    deps: SurfaceDeps,
    trigger_id: str,
    refs: Sequence[RunRef],
    origin: Origin,
    actor: Actor,
) -> bool:
    """Open the modal for `refs`; False when Slack refused to open it (expired trigger_id).

    Runs `actor` may not move are explained instead of offered (and checked again on submit).
    """
    try:
        opened = await client.views_open(trigger_id=trigger_id, view=views.notice(messages.MODAL_LOADING))
    except Exception as exc:
        log.warning("views.open failed: %s", slack_error(exc))
        return False
    view_id = opened["view"]["id"]
    try:
        reader = await deps.timezones.of(client, actor.user_id, actor.team_id)
        view = await _form_for(deps, refs, origin, actor, reader)
    except Exception as exc:
        view = views.notice(unexpected_text(exc, "modal"))
    if not await update_view(client, view_id, view):
        await quietly("views.update", client.views_update(view_id=view_id, view=views.notice(messages.MODAL_LOST)))
    return True


async def update_view(client: AsyncWebClient, view_id: str, view: dict[str, Any]) -> bool:
    """views.update, reporting rather than raising a failure."""
    try:
        await client.views_update(view_id=view_id, view=view)
    except Exception as exc:
        log.warning("views.update failed: %s", slack_error(exc))
        return False
    return True


async def _form_for(
    deps: SurfaceDeps, refs: Sequence[RunRef], origin: Origin, actor: Actor, reader: ReaderZone
) -> dict[str, Any]:
    rescheduler = deps.rescheduler
    deadline = rescheduler.deadline()
    if len(refs) == 1 and refs[0].env_name is None and len(rescheduler.targets) > 1:
        return await _form_for_one_anywhere(deps, refs[0].run_id, origin, actor, reader)
    results = await asyncio.gather(
        *(rescheduler.find(ref.run_id, deadline, ref.env_name, actor) for ref in refs), return_exceptions=True
    )
    return await _form(deps, refs, list(results), origin, actor, reader)


async def _form_for_one_anywhere(
    deps: SurfaceDeps, run_id: str, origin: Origin, actor: Actor, reader: ReaderZone
) -> dict[str, Any]:
    """One run, environment unknown: ask every environment; when several have it, offer the choice."""
    try:
        everywhere = await deps.rescheduler.find_all(run_id, deps.rescheduler.deadline(), actor)
    except TriggerError as exc:
        return await _form(deps, [RunRef(run_id)], [exc], origin, actor, reader)
    delayed = [item for item in everywhere if item.run.is_delayed]
    allowed: list[FoundRun] = []
    for item in delayed:
        try:
            await deps.rescheduler.check_access(actor, item.env)
            allowed.append(item)
        except AccessRefused:
            continue
    # Offer only environments this person may act in; with none, _form explains the refusal (and records it).
    view = await _form(deps, [RunRef(run_id)], [(allowed or delayed or everywhere)[0]], origin, actor, reader)
    if len(allowed) > 1 and view.get("submit"):
        metadata = Metadata.model_validate_json(view["private_metadata"])
        metadata.choices = [item.env.name for item in allowed]
        choices = [item.env for item in allowed]
        hint = when_hint(deps.rescheduler.now(), reader, run_now=False)
        view = views.form(
            [allowed[0]],
            [],
            metadata.encode(),
            deps.run_url,
            choices=choices,
            hint=hint,
            reason=_protected(deps, choices),
        )
    return view


async def _form(
    deps: SurfaceDeps,
    refs: Sequence[RunRef],
    results: list[Any],
    origin: Origin,
    actor: Actor,
    reader: ReaderZone = UTC_READER,
) -> dict[str, Any]:
    rescheduler = deps.rescheduler
    found: list[FoundRun] = []
    problems: list[str] = []
    for ref, result in zip(refs, results, strict=True):
        if isinstance(result, FoundRun):
            found.append(result)
        elif isinstance(result, TriggerError):
            if isinstance(result, OutOfReach):  # a refusal, recorded as one
                rescheduler.record_failure(actor, result, run_id=ref.run_id, when=None)
            problems.append(failure_text(result, ref.run_id, ""))
        else:
            raise result
    delayed: list[FoundRun] = []
    for item in (item for item in found if item.run.is_delayed):
        try:
            await rescheduler.authorize(actor, item.env, item.run.id)
            delayed.append(item)
        except AccessRefused as exc:
            problems.append(failure_text(exc, item.run.id, ""))
    not_movable = [item for item in found if not item.run.is_delayed]
    if not delayed:
        lines = [
            messages.not_delayed_with_link(
                item.run.id,
                escape(item.run.status_label),
                escape(item.run.task_identifier),
                link(deps.run_url(item.run.id), messages.OPEN_IN_TRIGGER),
            )
            for item in not_movable
        ]
        return views.notice(*lines, *problems)
    runs = {item.run.id: item.env.name for item in delayed}
    task = delayed[0].run.task_identifier[:200] if len(delayed) == 1 else None
    metadata = Metadata(origin=origin, runs=runs, tz=reader.name, task=task).encode()
    hint = when_hint(rescheduler.now(), reader, run_now=False)
    reason = _protected(deps, [item.env for item in delayed])
    return views.form(delayed, not_movable, metadata, deps.run_url, problems, hint=hint, reason=reason)


def _protected(deps: SurfaceDeps, envs: Sequence[Environment]) -> bool:
    """Whether any of `envs` is protected (the form then asks for a reason, for the approver)."""
    approvals = deps.rescheduler.approvals
    return approvals is not None and any(approvals.rule_for(env) is not None for env in envs)


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated submission: inline errors by block id, or what to do."""

    errors: dict[str, str]
    metadata: Metadata | None
    target: datetime | None
    chosen: list[str]
    typed: str
    run_now: bool = False  # `now`, for the form's one run: asked first, as the card's Run now
    asks_first: bool = False  # a day to be seen before anything moves (`next friday 9am`)


def read_submission(view: dict[str, Any], deps: SurfaceDeps, now: datetime) -> Submission:
    """Validate a submission against `now`; metadata is None when the view is not one of ours."""
    try:
        metadata = Metadata.model_validate_json(view.get("private_metadata") or "")
    except ValidationError:
        return Submission({}, None, None, [], "")
    state = state_values(view)
    when = read_when(state, now, deps.max_delay, zone_named(metadata.tz), run_now=len(metadata.runs) == 1)
    chosen = list(metadata.runs)
    errors: dict[str, str] = {}
    picked_option = value_of(state, ids.BLOCK_ENV, ids.ACTION_ENV).get("selected_option")
    picked_env = picked_option.get("value") if isinstance(picked_option, dict) else None
    if metadata.choices and picked_env in metadata.choices and len(metadata.runs) == 1:
        metadata.runs = {run_id: str(picked_env) for run_id in metadata.runs}
    if len(metadata.runs) > 1:
        options = value_of(state, ids.BLOCK_RUNS, ids.ACTION_RUNS).get("selected_options")
        listed = options if isinstance(options, list) else []
        values = [option.get("value") for option in listed if isinstance(option, dict)]
        chosen = [value for value in values if isinstance(value, str) and value in metadata.runs]
        if not chosen:
            errors[ids.BLOCK_RUNS] = messages.MODAL_NO_RUNS
    errors.update(when.errors)
    target, typed = when.target, when.typed
    return Submission(errors, metadata, target, chosen, typed, when.run_now, when.asks_first)


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach the modal's submission listener."""

    @app.view(ids.MODAL_CALLBACK_ID)
    @deps.inflight.listener
    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        submission = read_submission(view, deps, deps.rescheduler.now())
        metadata, errors = submission.metadata, submission.errors
        origin_channel = metadata.origin.channel if metadata else None
        actor = actor_of(context, body, "modal", submission.typed, channel_id=origin_channel)
        reason = value_of(state_values(view), ids.BLOCK_REASON, ids.ACTION_REASON).get("value")
        if isinstance(reason, str):
            actor = replace(actor, reason=" ".join(reason.split())[:500])
        if metadata is not None and metadata.origin.kind == "home":  # acting from the Home: from no channel
            actor = replace(actor, surface=HOME_SURFACE, channel_id=None)
        if metadata is None:
            await ack(response_action="update", view=views.notice(messages.FOREIGN_PAYLOAD))
            deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error="modal metadata not ours")
            return
        if errors:
            await ack(response_action="errors", errors=errors)
            runs: list[str | None] = list(submission.chosen) or [None]
            for run_id in runs:
                deps.rescheduler.record(actor, Outcome.INVALID_INPUT, run_id=run_id, error="; ".join(errors.values()))
            return
        if len(submission.chosen) > 1 and submission.target is not None:
            # Several runs are a set: one confirmation, paced moves, one summary, one DM, one Undo.
            await ack(response_action="clear")
            if await deps.first_delivery(body, "view_submission"):
                await _confirm_set(client, deps, actor, metadata, submission.target, submission.chosen)
            return
        if len(submission.chosen) == 1 and (submission.run_now or submission.asks_first):
            await ack(response_action="push", view=_question(deps, metadata, submission.target))
            return
        await ack(response_action="update", view=views.notice(messages.MODAL_WORKING))
        if await deps.first_delivery(body, "view_submission"):
            await _move_and_show(client, deps, actor, metadata, submission.target, submission.chosen, view["id"])

    @app.view(ids.MODAL_QUESTION_CALLBACK_ID)
    @deps.inflight.listener
    async def on_question(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await _on_question(deps, ack, body, context, view, client)


async def _on_question(
    deps: SurfaceDeps,
    ack: AsyncAck,
    body: dict[str, Any],
    context: AsyncBoltContext,
    view: dict[str, Any],
    client: AsyncWebClient,
) -> None:
    """Yes to the form's question: the move (or Run now) it asked about, shown in its place."""
    try:
        asked = Question.model_validate_json(view.get("private_metadata") or "")
    except ValidationError:
        await ack(response_action="update", view=views.notice(messages.FOREIGN_PAYLOAD))
        return
    metadata = asked.form
    target = datetime.fromtimestamp(asked.at / 1000, tz=UTC) if asked.at is not None else None
    typed = "now" if target is None else target.isoformat()
    actor = actor_of(context, body, "modal", typed, channel_id=metadata.origin.channel)
    if metadata.origin.kind == "home":
        actor = replace(actor, surface=HOME_SURFACE, channel_id=None)
    if target is not None and target <= deps.rescheduler.now():
        await ack(response_action="update", view=views.notice(messages.instant_past(date_token(target))))
        return
    await ack(response_action="update", view=views.notice(messages.MODAL_WORKING))
    if await deps.first_delivery(body, "view_submission"):
        root = view.get("root_view_id")
        if isinstance(root, str) and root != view.get("id"):  # the form beneath is spent: Back shows no form
            await update_view(client, root, views.notice(messages.MODAL_WORKING))
        await _move_and_show(client, deps, actor, metadata, target, list(metadata.runs)[:1], view["id"])


def _question(deps: SurfaceDeps, metadata: Metadata, target: datetime | None) -> dict[str, Any]:
    """The form's question, in the words of the card's buttons: Run now's, or the move to the day it named."""
    run_id = next(iter(metadata.runs))
    task = metadata.task or ""
    at = None if target is None else int(target.timestamp() * 1000)
    encoded = Question(form=metadata, at=at).model_dump_json(exclude_none=True)
    if target is None:
        text = messages.confirm_run_now(run_id, task)
        return views.question(messages.CONFIRM_RUN_NOW_TITLE, text, messages.CONFIRM_RUN_NOW_OK, encoded)
    said = spoken(target, deps.rescheduler.now(), zone_named(metadata.tz))
    text = messages.modal_ask_move(run_id, task, said)
    return views.question(messages.MODAL_ASK_TITLE, text, messages.CONFIRM_OK, encoded)


async def _move_and_show(
    client: AsyncWebClient,
    deps: SurfaceDeps,
    actor: Actor,
    metadata: Metadata,
    target: datetime | None,
    chosen: list[str],
    view_id: str,
) -> None:
    """Move the runs chosen (None: start them now) and show the outcome in the modal `view_id`."""
    tell = deps.teller(None, client, actor)
    what = f"reschedule {', '.join(chosen)} ({actor.input})"[:200]
    async with deps.inflight.work(what, actor, tell):
        try:
            lines = await _submit(client, deps, actor, metadata, target, chosen)
        except Exception as exc:
            lines = [unexpected_text(exc, "modal")]
        if not await update_view(client, view_id, views.notice(*lines)) and lines:
            # The modal could not show the outcome: the person still learns it, by another route.
            await tell("\n\n".join(lines))


async def _confirm_set(
    client: AsyncWebClient, deps: SurfaceDeps, actor: Actor, metadata: Metadata, target: datetime, chosen: list[str]
) -> None:
    """The runs ticked, as a set: asked once, privately, where the flow started; its summary goes in the thread of
    the message the shortcut was used on."""
    origin = metadata.origin
    thread = (origin.thread_ts or origin.ts) if origin.kind == "shortcut" else None
    respond = Respond(response_url=origin.response_url, session=client.session) if origin.response_url else None

    tell = deps.teller(respond, client, actor)

    runs = [(run_id, metadata.runs[run_id]) for run_id in chosen]
    chosen_time = bulk.Chosen(target, reader=zone_named(metadata.tz))
    await bulk.ask_to_confirm(runs, chosen_time, actor, deps, tell, thread_ts=thread)


async def _submit(
    client: AsyncWebClient,
    deps: SurfaceDeps,
    actor: Actor,
    metadata: Metadata,
    target: datetime | None,
    chosen: list[str],
) -> list[str]:
    rescheduler = deps.rescheduler
    deadline = rescheduler.deadline()
    lines: list[str] = []
    moved_count = 0
    for run_id in chosen:
        try:
            moved = await rescheduler.reschedule(actor, run_id, target, deadline, metadata.runs.get(run_id))
        except (TriggerError, AccessRefused) as exc:
            lines.append(failure_text(exc, run_id, "", deps.run_url(run_id)))
            continue
        moved_count += 1
        note = await quietly("announcing a move", announce(client, deps, moved, actor, metadata.origin))
        if note:
            lines.append(note)
    if moved_count:
        if target is not None:
            lines.insert(0, messages.modal_moved_to(spoken(target, rescheduler.now(), zone_named(metadata.tz))))
        lines.insert(0, messages.modal_done(moved_count))
    return lines


def private_origin(origin: Origin) -> bool:
    """The flow started from a private message (a summary or the list): the summary is posted for the channel."""
    return origin.kind in ("ephemeral", "list")


async def announce(client: AsyncWebClient, deps: SurfaceDeps, moved: MoveResult, actor: Actor, origin: Origin) -> str:
    """Post or update the summary where the flow started, then DM the actor. Returns a note on failure."""
    action = deps.attribution(moved, actor)
    summary = run_summary(moved.run, moved.env, deps.run_url(moved.run.id), action, deps.controls(moved.env))
    note = ""
    where_ts = origin.ts
    if origin.kind == "home":  # no message to update: the DM says it was the Home, which is published again
        await quietly("DM confirmation", dm.confirm(client, deps, moved, actor, messages.WHERE_HOME, note))
        return note
    if origin.kind == "shortcut" and origin.channel:
        thread = origin.thread_ts or origin.ts
        try:
            posted = await client.chat_postMessage(
                channel=origin.channel, thread_ts=thread, text=summary.text, blocks=summary.blocks
            )
            where_ts = posted.get("ts") or where_ts
            await deps.follow(origin.channel, posted.get("ts"), moved, action)
        except Exception as exc:
            error = slack_error(exc)
            log.warning("could not post in thread %s/%s: %s", origin.channel, thread, error)
            note = messages.thread_post_failed(origin.channel, escape(error))
        if origin.preview_url and origin.ts:
            preview = unfurl.PreviewClick(origin.channel, origin.ts, origin.preview_url)
            await unfurl.redraw(client, deps, preview, moved.run, moved.env)
    elif origin.response_url:
        respond = Respond(response_url=origin.response_url, session=client.session)
        private = private_origin(origin)
        if private:  # the move's summary is for the channel; a private summary goes, a list stays for the next move
            shown = await post_for_channel(
                client,
                respond,
                origin.channel,
                summary.text,
                summary.blocks,
                replace_private=origin.kind == "ephemeral",
            )
            problem, where_ts = shown.problem, shown.ts
            await deps.follow(shown.channel, shown.ts, moved, action)  # only the bot's own message can follow
            note = messages.summary_uncertain(shown.channel) if shown.uncertain else note
        else:
            problem = await show_summary(respond, summary.text, summary.blocks)
        if not private and problem is not None and origin.channel and origin.ts:
            # A response_url lasts 30 minutes; the message itself can still be updated by its ts.
            updated = await quietly(
                "chat.update",
                client.chat_update(channel=origin.channel, ts=origin.ts, text=summary.text, blocks=summary.blocks),
            )
            problem = None if updated is not None else problem
        if problem is not None:
            note = messages.summary_post_failed(escape(problem))
        elif not private:  # the message the flow started from now shows the move: it follows the run
            await deps.follow(origin.channel, origin.ts, moved, action)
    # A link to the summary posted, or to the message updated; none when the summary did not get there (the note).
    where = await dm.where_posted(client, origin.channel, None if note else where_ts)
    await quietly("DM confirmation", dm.confirm(client, deps, moved, actor, where, note))
    return note
