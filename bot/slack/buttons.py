"""Buttons on run summaries, DMs and confirmation prompts (block_actions).

A button's effect is computed from what the clicker saw (the times carried in its value), so a double click
or two people clicking the same button land on the same instant instead of stacking. Who is acting comes from
the signed request, never from the value.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.access_check import AccessRefused
from bot.domain.audit import Outcome
from bot.domain.delays import DelayProblem, format_duration, instant_problem, tomorrow_at
from bot.limits import Busy
from bot.render.controls import PUSH_STEPS
from bot.render.dm import dm_confirmation
from bot.render.ids import (
    ACTION_PATTERN,
    LIST_BLOCK_PREFIX,
    Button,
    ButtonValue,
    ForeignPayload,
    parse_action,
    parse_bulk_action,
)
from bot.render.mrkdwn import date_token, escape
from bot.render.summary import Attribution, Summary, run_summary
from bot.rescheduler import Actor, MovedSince, MoveResult, NotDelayed
from bot.slack import approvals, bulk, dm, unfurl
from bot.slack.actor import actor_of
from bot.slack.channel_post import post_for_channel
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import failure_text, moved_but, unexpected_text
from bot.slack.home import HOME_SURFACE
from bot.slack.modal import Origin, OriginKind, RunRef, open_for
from bot.slack.replies import quietly, respond_checked, show_summary
from bot.slack.respond import Respond, respond_for
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)


class UnusableClick(Exception):
    """A click that cannot be carried out; the message says why, privately."""


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach one listener for every versioned action id (and anything that only looks like one)."""

    @app.action(ACTION_PATTERN)
    @deps.inflight.listener
    async def on_action(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await ack()
        respond = respond_for(context)
        if not await deps.first_delivery(body, "block_actions"):
            return
        actor = _actor(context, body, f"button {body['actions'][0].get('action_id')}"[:200])

        private = deps.teller(respond, client, actor)
        try:
            person = (actor.team_id, actor.user_id)
            async with deps.rescheduler.limits.person(person), deps.inflight.work(actor.input, actor, private):
                try:
                    await _handle(body, actor, deps, respond, client, private)
                except Exception as exc:
                    await private(unexpected_text(exc, "button"))
        except Busy:
            await private(messages.STILL_WORKING)


async def _handle(
    body: dict[str, Any],
    clicker: Actor,
    deps: SurfaceDeps,
    respond: Respond,
    client: AsyncWebClient,
    private: Callable[[str], Awaitable[object]],
) -> None:
    """Check the clicked action and hand it to its button's handler (HANDLERS)."""
    try:
        button, value = parse_action(body["actions"][0])
    except ForeignPayload as exc:
        log.info("refused a foreign action: %s", exc)
        await private(messages.FOREIGN_PAYLOAD)
        deps.rescheduler.record(clicker, Outcome.INVALID_INPUT, error=str(exc))
        return
    await HANDLERS[button](Pressed(button, value, body, clicker, deps, respond, client, private))


@dataclass(frozen=True, slots=True)
class Pressed:
    """One click on a button of this version, its action id and value checked: what each handler is given."""

    button: Button
    value: ButtonValue | None  # None for Open, Cancel and a set's buttons (bot/slack/bulk.py reads a set's value)
    body: dict[str, Any]
    clicker: Actor
    deps: SurfaceDeps
    respond: Respond
    client: AsyncWebClient
    private: Callable[[str], Awaitable[object]]  # tells the clicker privately, by whatever route works


Handler = Callable[[Pressed], Awaitable[None]]
# The instant a moving button asks for (None: now), computed from what the clicker saw, and a note for them.
When = Callable[[Pressed, ButtonValue, Actor, datetime], Awaitable[tuple[datetime | None, str]]]


async def _opened(pressed: Pressed) -> None:
    """A URL button: Slack opened the link; the click only needs its acknowledgement."""


async def _on_set(pressed: Pressed) -> None:
    """Confirm, Cancel or Undo of a set of runs, or a list's Push all back… (bot/slack/bulk.py)."""
    value_of_set = parse_bulk_action(pressed.body["actions"][0])
    click = bulk.SetClick(pressed.body, pressed.clicker, pressed.deps, pressed.respond, pressed.client, pressed.private)
    await bulk.on_click(pressed.button, value_of_set, click)


async def _on_approval(pressed: Pressed) -> None:
    """Approve / Reject of a request in a protected environment (bot/slack/approvals.py)."""
    decider = replace(pressed.clicker, input=f"button {pressed.button.value}")
    value_of_request = parse_bulk_action(pressed.body["actions"][0])
    await approvals.on_click(pressed.button, value_of_request, decider, pressed.deps, pressed.client, pressed.private)


async def _cancelled(pressed: Pressed) -> None:
    """Cancel on a confirmation prompt: the prompt says so, in place."""
    await respond_checked(pressed.respond, text=messages.CANCELLED, response_type="ephemeral", replace_original=True)


async def _on_run(pressed: Pressed) -> tuple[ButtonValue, Actor] | None:
    """The run a button of one run acts on, and who acts; None (the clicker told) for a click from no channel."""
    value = pressed.value
    assert value is not None
    actor = replace(pressed.clicker, input=f"button {pressed.button.value}")
    if not actor.channel_id and actor.surface != HOME_SURFACE:
        log.warning("ignored a click without a channel (user %s)", actor.user_id)
        await pressed.private(messages.INCOMPLETE_REQUEST)
        pressed.deps.rescheduler.record(
            actor, Outcome.INVALID_INPUT, run_id=value.run_id, error="no channel in the request"
        )
        return None
    return value, actor


async def _form(pressed: Pressed) -> None:
    """Other time… and Reschedule…: the form for the run, its answer going where the button was."""
    clicked = await _on_run(pressed)
    if clicked is None:
        return
    value, actor = clicked
    body, button = pressed.body, pressed.button
    container = body.get("container") or {}
    preview = unfurl.clicked_preview(body)
    kind: OriginKind = "ephemeral" if container.get("is_ephemeral") else "message"
    if kind == "ephemeral" and str(body["actions"][0].get("block_id", "")).startswith(LIST_BLOCK_PREFIX):
        kind = "list"
    origin = Origin(
        kind="home" if actor.surface == HOME_SURFACE else kind,
        channel=actor.channel_id,
        ts=container.get("message_ts"),
        response_url=body.get("response_url"),
    )
    if button is Button.RESCHEDULE and origin.kind == "message" and origin.ts:
        # A row of the digest: the message holds many runs and stays as it is; the summary goes in its thread.
        origin = Origin(kind="shortcut", channel=actor.channel_id, ts=origin.ts)
    if preview is not None:  # the message holding a preview is someone else's: the summary goes in its thread
        origin = Origin(
            kind="shortcut",
            channel=preview.channel,
            ts=preview.ts,
            thread_ts=preview.thread_ts,
            preview_url=preview.url if len(preview.url) <= unfurl.URL_IN_FORM_MAX else None,
        )
    refs = [RunRef(value.run_id, value.e)]
    if not await open_for(pressed.client, pressed.deps, str(body.get("trigger_id", "")), refs, origin, actor):
        await pressed.private(messages.TRIGGER_ID_EXPIRED)


def _mover(when: When) -> Handler:
    """The handler of a button that moves its run to the instant `when` gives, then shows and confirms the move."""

    async def move(pressed: Pressed) -> None:
        clicked = await _on_run(pressed)
        if clicked is None:
            return
        value, actor = clicked
        try:
            instant, note = await _target(when, pressed, value, actor)
        except UnusableClick as refusal:
            await pressed.private(str(refusal))
            pressed.deps.rescheduler.record(actor, Outcome.INVALID_INPUT, run_id=value.run_id, error=str(refusal)[:300])
            return
        container = pressed.body.get("container") or {}
        message_ts = None if container.get("is_ephemeral") else container.get("message_ts")
        preview = unfurl.clicked_preview(pressed.body)
        deps, respond, client, private = pressed.deps, pressed.respond, pressed.client, pressed.private
        ephemeral = bool(container.get("is_ephemeral"))
        click = Click(pressed.button, value, actor, message_ts, deps, respond, client, private, preview, ephemeral)
        await _move(click, instant, note)

    return move


def _actor(context: AsyncBoltContext, body: dict[str, Any], clicked: str) -> Actor:
    """Who clicked, and where, from the signed request (never from the button's value); a click in the bot's DM
    is the `dm` surface, one on the App Home the `home` surface (from no channel: a rule naming channels refuses
    it, as it would anywhere outside them)."""
    actor = actor_of(context, body, "button", clicked)
    view = body.get("view")
    if isinstance(view, dict) and view.get("type") == "home":
        return replace(actor, surface=HOME_SURFACE, channel_id=None)
    if unfurl.clicked_preview(body) is not None:  # a preview in a conversation between people, not the bot's DM
        return actor
    return replace(actor, surface="dm") if (actor.channel_id or "").startswith("D") else actor


async def _target(when: When, pressed: Pressed, value: ButtonValue, actor: Actor) -> tuple[datetime | None, str]:
    """The instant this click asks for (None: now), checked against now and MAX_DELAY, plus a note for the clicker."""
    deps = pressed.deps
    now = deps.rescheduler.now()
    instant, note = await when(pressed, value, actor, now)
    if instant is None:  # Run now
        return None, note
    problem = instant_problem(instant, now=now, max_delay=deps.max_delay)
    if problem is DelayProblem.PAST:
        raise UnusableClick(messages.button_instant_problem(messages.instant_past(date_token(instant))))
    if problem is DelayProblem.TOO_FAR:
        raise UnusableClick(messages.button_instant_problem(messages.instant_too_far(format_duration(deps.max_delay))))
    return instant, note


async def _pushed(pressed: Pressed, value: ButtonValue, actor: Actor, now: datetime) -> tuple[datetime | None, str]:
    """+1h, +1d: from the start time the clicker saw, so a double click lands on the same instant."""
    if value.shown is None:
        raise UnusableClick(messages.FOREIGN_PAYLOAD)
    return value.shown + PUSH_STEPS[pressed.button], ""


async def _tomorrow(pressed: Pressed, value: ButtonValue, actor: Actor, now: datetime) -> tuple[datetime | None, str]:
    """Tomorrow 9:00 in the clicker's timezone (UTC, and said so, when Slack does not tell it)."""
    reader = await pressed.deps.timezones.of(pressed.client, actor.user_id, actor.team_id)
    return tomorrow_at(now, reader.zone), "" if reader.known else messages.TOMORROW_IN_UTC


async def _undone(pressed: Pressed, value: ButtonValue, actor: Actor, now: datetime) -> tuple[datetime | None, str]:
    """Undo: back to the time the run had before this move, while it is still ahead."""
    if value.previous is None or value.previous <= now:
        raise UnusableClick(messages.UNDO_TOO_LATE)
    return value.previous, ""


async def _confirmed(pressed: Pressed, value: ButtonValue, actor: Actor, now: datetime) -> tuple[datetime | None, str]:
    """Confirm on a prompt: the instant the prompt asked about."""
    if value.target is None:
        raise UnusableClick(messages.FOREIGN_PAYLOAD)
    return value.target, ""


async def _run_now(pressed: Pressed, value: ButtonValue, actor: Actor, now: datetime) -> tuple[datetime | None, str]:
    """Run now: no instant."""
    return None, ""


# Every button the bot renders, and what a click on it does.
HANDLERS: dict[Button, Handler] = {
    Button.PUSH_1H: _mover(_pushed),
    Button.PUSH_1D: _mover(_pushed),
    Button.TOMORROW_9: _mover(_tomorrow),
    Button.OTHER: _form,
    Button.RESCHEDULE: _form,
    Button.RUN_NOW: _mover(_run_now),
    Button.UNDO: _mover(_undone),
    Button.OPEN: _opened,
    Button.CONFIRM: _mover(_confirmed),
    Button.CANCEL: _cancelled,
    Button.BULK_CONFIRM: _on_set,
    Button.BULK_CANCEL: _on_set,
    Button.BULK_PUSH_ALL: _on_set,
    Button.BULK_UNDO: _on_set,
    Button.APPROVE: _on_approval,
    Button.REJECT: _on_approval,
}


@dataclass(frozen=True, slots=True)
class Click:
    """One button click, with what every step after validation needs."""

    button: Button
    value: ButtonValue
    actor: Actor
    message_ts: str | None  # the clicked message, when it is a public one
    deps: SurfaceDeps
    respond: Respond
    client: AsyncWebClient
    private: Callable[[str], Awaitable[object]]  # tells the clicker privately, by whatever route works
    preview: unfurl.PreviewClick | None = None  # clicked on a link preview (bot/slack/unfurl.py)
    ephemeral: bool = False  # clicked on a private message (a prompt only the clicker sees)

    @property
    def in_dm(self) -> bool:
        return self.actor.surface == "dm"

    @property
    def from_home(self) -> bool:
        """Clicked on the App Home: no message to replace; the Home is published again after the move."""
        return self.actor.surface == HOME_SURFACE


async def _move(click: Click, when: datetime | None, note: str) -> None:
    rescheduler, respond, value = click.deps.rescheduler, click.respond, click.value
    expect = value.shown if click.button is Button.UNDO else None  # an Undo only from the time this move gave it
    try:
        moved = await rescheduler.reschedule(
            click.actor, value.run_id, when, rescheduler.deadline(), value.e or None, expect=expect
        )
    except MovedSince as exc:
        left = exc.run.delayed_until
        by = await rescheduler.last_mover(value.run_id, left) if left is not None else None
        await click.private(messages.undo_moved_since(value.run_id, by or "", date_token(left) if left else "-"))
        return
    except NotDelayed as exc:
        status = escape(exc.run.status_label)
        if click.preview is not None:
            redrawn = await unfurl.redraw(click.client, click.deps, click.preview, exc.run, exc.env)
            await click.private(messages.not_delayed_after_click(exc.run.id, status, "preview" if redrawn else ""))
            return
        if click.from_home:
            await click.private(messages.not_delayed_after_click(exc.run.id, status, "home"))
            return
        if click.button is not Button.CONFIRM:
            current = run_summary(exc.run, exc.env, click.deps.run_url(exc.run.id), demo=click.deps.demo)
            problem = await respond_checked(respond, text=current.text, blocks=current.blocks, replace_original=True)
            await click.private(messages.not_delayed_after_click(exc.run.id, status, "" if problem else "message"))
            return
        text = failure_text(exc, value.run_id, "", click.deps.run_url(value.run_id))
        if await respond_checked(respond, text=text, response_type="ephemeral", replace_original=True) is not None:
            await click.private(text)
        return
    except (TriggerError, AccessRefused) as exc:
        await click.private(failure_text(exc, value.run_id, "", click.deps.run_url(value.run_id)))
        return
    try:
        await _after_move(click, moved, note)
    except Exception as exc:
        await click.private(moved_but(exc, "button"))


def _redrawn(click: Click, moved: MoveResult, action: Attribution) -> Summary:
    """What the clicked message shows after the action: the run's summary, or, for a DM confirmation clicked, the
    DM of this action (each offering only what still applies)."""
    deps = click.deps
    run_url, controls = deps.run_url(moved.run.id), deps.controls(moved.env)
    if click.in_dm:
        return dm_confirmation(moved.run, moved.env, run_url, action, messages.WHERE_DM, controls=controls)
    return run_summary(moved.run, moved.env, run_url, action, controls)


async def _after_move(click: Click, moved: MoveResult, note: str) -> None:
    """Show the move where it was clicked and confirm it by DM; nothing here may undo or hide the move."""
    deps, actor, client = click.deps, click.actor, click.client
    undo = click.button is Button.UNDO
    if click.from_home:
        where = messages.WHERE_HOME
        delivered = await quietly("DM confirmation", dm.confirm(client, deps, moved, actor, where, note, undo=undo))
        if note and not delivered:
            await click.private(note)
        return
    action = deps.attribution(moved, actor, undo=undo)
    summary = _redrawn(click, moved, action)
    # A Confirm prompt (or the Run now prompt of `/reschedule <run> now`) was private; the result is for the
    # channel (the bot's own message when it can post there).
    private = click.button is Button.CONFIRM or (click.button is Button.RUN_NOW and click.ephemeral)
    shown_at = click.message_ts
    if click.preview is not None:  # someone else's message: the summary goes in its thread, the preview redrawn
        posted = await unfurl.post_in_thread(client, click.preview, summary.text, summary.blocks)
        await unfurl.redraw(client, deps, click.preview, moved.run, moved.env)
        problem, shown_at = posted.problem, posted.ts
    elif private:
        posted = await post_for_channel(
            client, click.respond, actor.channel_id, summary.text, summary.blocks, replace_private=True
        )
        problem, shown_at = posted.problem, posted.ts
        if posted.uncertain:
            note = " ".join(filter(None, [note, messages.summary_uncertain(posted.channel)]))
    else:
        problem = await show_summary(click.respond, summary.text, summary.blocks)
    if problem is not None:
        # The summary reached no one: the person hears about it by DM instead (or privately, below).
        if click.preview is not None:
            failed = messages.thread_post_failed(click.preview.channel, escape(problem))
        elif private:
            failed = messages.summary_not_posted(escape(problem))
        else:
            failed = messages.summary_post_failed(escape(problem))
        if click.in_dm or not deps.dm_confirmations:
            await dm.send_text(client, actor.user_id, failed, outbox=deps.outbox, team_id=actor.team_id)
        note = " ".join(filter(None, [note, failed]))
    elif note:
        await click.private(note)
    if problem is None:  # the clicked message, or the one just posted, shows the move: it follows the run
        where = messages.WHERE_DM if click.in_dm else ""
        await deps.follow(actor.channel_id, shown_at, moved, action, dm=click.in_dm, where=where)
    if not click.in_dm:
        # A link to the summary just posted, or to the card clicked; no link to a message that does not show it.
        where = await dm.where_posted(client, actor.channel_id, shown_at if problem is None else None)
        dm_sent = await quietly("DM confirmation", dm.confirm(client, deps, moved, actor, where, note, undo=undo))
        if problem is not None and not dm_sent and deps.dm_confirmations:  # the note rode on the DM, which failed
            await click.private(note)
