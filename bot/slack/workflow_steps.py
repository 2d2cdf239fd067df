"""Steps for Slack's Workflow Builder ("custom steps", Bolt's `app.function`): "Reschedule a Trigger.dev run"
(`reschedule_run`) and "Delayed runs coming due" (`list_delayed_runs`), declared in manifests/*.yaml.

When a workflow reaches a step, Slack sends a `function_executed` event (the step's `inputs`, a
`function_execution_id` and a short-lived token for that execution, `bot_access_token`). Bolt acknowledges the
event before the listener runs (HTTP and Socket Mode alike). The listener then claims the execution id in the
replay store the processes share, so a retried event, or one reaching two processes, is acted on once; and every
execution that is acted on ends with exactly one `functions.completeSuccess` (outputs) or
`functions.completeError` (a sentence the workflow shows its author), never silence.

The execution's token is used for those two calls and nothing else (`Completion`); every other call (users.info,
the DM) is made with the bot's own token, as on every surface.

A move goes through the action path every surface uses (`Rescheduler`): the access rules of the step's `user`
input, who is the person the move is made for, from no channel (a rule naming channels refuses a step); the delay
rules; the audit row (surface "workflow", shown as "from Workflow Builder"); the DM with **Undo** to that person.
No summary is posted to a channel: a step has none, and the step's outputs let the workflow post one.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.complete.async_complete import AsyncComplete
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, workflow_messages
from bot.access_check import AccessRefused
from bot.approvals import ApprovalNeeded
from bot.domain.audit import Outcome
from bot.domain.delays import DelayError, format_duration
from bot.domain.run_refs import parse_run_ref
from bot.domain.typed_time import ReaderZone, parse_duration, read_time
from bot.render.due_summary import all_of, due_summary
from bot.render.mrkdwn import code
from bot.rescheduler import (
    Actor,
    DelayedList,
    FoundRun,
    ListFilters,
    MoveUnconfirmed,
    NotApplied,
    NotDelayed,
    NotFoundAnywhere,
)
from bot.slack import dm
from bot.slack.actor import actor_of
from bot.slack.deps import SurfaceDeps
from bot.slack.replies import quietly
from bot.slack.when_input import plain_problem
from bot.trigger.errors import (
    AuthRejected,
    OutcomeUnknown,
    RateLimited,
    RunNotFound,
    TriggerError,
    TriggerRequestError,
    TriggerUnavailable,
)

log = logging.getLogger(__name__)

RESCHEDULE_STEP = "reschedule_run"
LIST_STEP = "list_delayed_runs"
SURFACE = "workflow"  # the audit trail's surface (shown "from Workflow Builder")
CLAIM_PREFIX = "function:"  # execution ids share the replay table with trigger_ids and event ids
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
INPUT_MAX = 1000  # longer inputs are cut before anything reads them
ERROR_MAX = 1000  # the most of an error sentence sent to functions.completeError


class StepFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    callback_id: str


class FunctionExecuted(BaseModel):
    """The fields of a `function_executed` event the steps use, as in
    tests/data/slack/payloads/event_function_executed.json."""

    model_config = ConfigDict(extra="ignore")

    function: StepFunction
    inputs: dict[str, Any] = {}
    function_execution_id: str = Field(min_length=1, max_length=255)
    bot_access_token: str = Field(min_length=1, repr=False)

    def text(self, name: str) -> str:
        """An input as text ("" when absent or not a string), stripped and bounded."""
        value = self.inputs.get(name)
        return value.strip()[:INPUT_MAX] if isinstance(value, str) else ""


class StepFailed(Exception):
    """Ends the step with functions.completeError and this sentence."""


@dataclass(slots=True)
class Completion:
    """The step's end, through Bolt's complete()/fail() on a client holding the execution's token: the only calls
    that token is used for. The first of them ends the step; any later one is dropped (a step told it was cut off
    by a shutdown may still finish before it is cancelled)."""

    complete: AsyncComplete
    fail: AsyncFail
    done: bool = False

    @classmethod
    def for_execution(cls, bot_client: AsyncWebClient, token: str, execution_id: str) -> Completion:
        client = AsyncWebClient(
            token=token,
            base_url=bot_client.base_url,
            timeout=bot_client.timeout,
            session=bot_client.session,
            retry_handlers=list(bot_client.retry_handlers),
        )
        return cls(AsyncComplete(client, execution_id), AsyncFail(client, execution_id))

    async def success(self, outputs: dict[str, Any]) -> bool:
        if self.done:
            return False
        self.done = True
        return await quietly("functions.completeSuccess", self.complete(outputs)) is not None

    async def error(self, text: str) -> bool:
        if self.done:
            return False
        self.done = True
        return await quietly("functions.completeError", self.fail(text[:ERROR_MAX])) is not None

    async def interrupted(self, _: str, blocks: object = None) -> bool:
        """The shutdown's notice (bot/inflight.py) for a step it cut off: the step ends with an error."""
        return await self.error(workflow_messages.WORKFLOW_INTERRUPTED)


Step = Callable[[FunctionExecuted, Actor, SurfaceDeps, AsyncWebClient], Awaitable[dict[str, Any]]]


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    """Attach both steps' listeners (Bolt acknowledges the event before each runs)."""

    @app.function(RESCHEDULE_STEP)
    @deps.inflight.listener
    async def on_reschedule(body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await _execute(body, context, client, deps, _reschedule)

    @app.function(LIST_STEP)
    @deps.inflight.listener
    async def on_list(body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await _execute(body, context, client, deps, _list)


async def _execute(
    body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, deps: SurfaceDeps, step: Step
) -> None:
    """Read the event, claim its execution, run the step and complete it once."""
    try:
        event = FunctionExecuted.model_validate(body.get("event"))
    except ValidationError as exc:
        log.warning("ignored a function_executed event of an unexpected shape (%d problems)", exc.error_count())
        return
    name = event.function.callback_id[:40]
    if not await deps.replays.first_time(CLAIM_PREFIX + event.function_execution_id):
        log.info("ignored a redelivered %s step (its execution was already taken)", name)
        return
    completion = Completion.for_execution(client, event.bot_access_token, event.function_execution_id)
    user = event.text("user")
    actor = replace(actor_of(context, body, SURFACE, _typed(event)), user_id=user, channel_id=None)
    async with deps.inflight.work(f"workflow step {name}", actor if user else None, completion.interrupted):
        try:
            if not USER_ID.match(user):
                raise StepFailed(workflow_messages.WORKFLOW_NO_USER)
            outputs = await step(event, actor, deps, client)
        except StepFailed as failed:
            log.info("workflow step %s ended with an error for %s", name, user or "-")
            await completion.error(str(failed))
            return
        except (TriggerError, AccessRefused) as exc:
            await completion.error(failure_text(exc, event.text("run"), deps))
            return
        except Exception as exc:
            reference = secrets.token_hex(4)
            log.error("unexpected error ref=%s surface=%s", reference, SURFACE, exc_info=exc)
            await completion.error(workflow_messages.workflow_unexpected(reference))
            return
        await completion.success(outputs)


def _typed(event: FunctionExecuted) -> str:
    """The step's inputs as the audit trail's "what was typed" (the user is recorded as the actor)."""
    names = ("run", "when", "within", "task", "tag", "environment")
    return " ".join(f"{name}={event.text(name)}" for name in names if event.text(name))[:INPUT_MAX]


def _environment(event: FunctionExecuted, actor: Actor, deps: SurfaceDeps) -> str | None:
    """The step's environment input (lower case), None when empty; StepFailed for one that is not configured."""
    env = event.text("environment").lower() or None
    if env is not None and env not in deps.environment_names():
        deps.rescheduler.record(actor, Outcome.INVALID_INPUT, error="unknown environment")
        raise StepFailed(workflow_messages.workflow_unknown_environment(env[:60], ", ".join(deps.environment_names())))
    return env


def read_when(text: str, now: datetime, max_delay: timedelta, reader: ReaderZone) -> datetime:
    """The step's time, read exactly as /reschedule reads it, in the person's own timezone (`tomorrow 9am` is 09:00
    where they are). `now` is refused: a step moves a run to a time (Run now is for a person at a card)."""
    when = read_time(text, now=now, zone=reader.zone, max_delay=max_delay)
    if when.target is None:
        raise StepFailed(workflow_messages.WORKFLOW_NOT_NOW)
    return when.target


async def _reschedule(
    event: FunctionExecuted, actor: Actor, deps: SurfaceDeps, client: AsyncWebClient
) -> dict[str, Any]:
    """ "Reschedule a Trigger.dev run": the same checks and action path as /reschedule <run> <when>."""
    rescheduler = deps.rescheduler
    typed_run, typed_when = event.text("run"), event.text("when")
    run_id = parse_run_ref(typed_run)
    if not typed_when:
        raise StepFailed(workflow_messages.WORKFLOW_NO_TIME)
    if run_id is None:
        rescheduler.record(actor, Outcome.INVALID_INPUT, error="not a run")
        raise StepFailed(workflow_messages.workflow_not_a_run(typed_run[:100]))
    env = _environment(event, actor, deps)
    reader = await deps.timezones.of(client, actor.user_id, actor.team_id)
    try:
        when = read_when(typed_when, rescheduler.now(), deps.max_delay, reader)
    except DelayError as exc:
        rescheduler.record(actor, Outcome.INVALID_INPUT, run_id=run_id, error="unreadable time")
        problem = plain_problem(exc, typed_when[:60], rescheduler.now(), reader, format_duration(deps.max_delay))
        raise StepFailed(workflow_messages.workflow_bad_time(problem)) from None
    deadline = rescheduler.deadline()
    located = await _find(actor, run_id, when, env, deps)
    # CONFIRM_ENVIRONMENTS: the workflow's own form, submitted by the person the step acts for, is their explicit
    # act, so no second confirmation is asked (and nobody could answer one inside a running workflow).
    # A protected environment: the step ends with an error saying approval is needed (ask=False: no request is made;
    # a running workflow cannot wait for a person's click, and the step's execution would outlive its token).
    moved = await rescheduler.move(actor, located, when, deadline, ask=False)
    await quietly("DM confirmation", dm.confirm(client, deps, moved, actor, workflow_messages.WHERE_WORKFLOW))
    outputs: dict[str, Any] = {
        "run_id": moved.run.id,
        "environment": moved.env.name,
        "new_start_time": int(moved.new.timestamp()),
    }
    if moved.previous is not None:
        outputs["previous_start_time"] = int(moved.previous.timestamp())
    return outputs


async def _find(actor: Actor, run_id: str, when: datetime, env: str | None, deps: SurfaceDeps) -> FoundRun:
    rescheduler = deps.rescheduler
    try:
        return await rescheduler.find(run_id, rescheduler.deadline(), env)
    except TriggerError as exc:
        rescheduler.record_failure(actor, exc, run_id=run_id, when=when)
        raise


async def _list(event: FunctionExecuted, actor: Actor, deps: SurfaceDeps, client: AsyncWebClient) -> dict[str, Any]:
    """ "Delayed runs coming due": the runs /reschedule list --within shows `user`, as one mrkdwn summary."""
    rescheduler = deps.rescheduler
    typed_within = event.text("within")
    try:
        within = parse_duration(typed_within)
    except DelayError:
        rescheduler.record(actor, Outcome.INVALID_INPUT, error="unreadable duration")
        raise StepFailed(workflow_messages.workflow_bad_within(typed_within[:60])) from None
    env = _environment(event, actor, deps)
    task, tag = event.text("task") or None, event.text("tag") or None
    filters = ListFilters(task=task, tag=tag, env=env, within=within)
    listed = await rescheduler.list_delayed(actor, filters, rescheduler.deadline(), deps.max_delay)
    failed = {failed_env for failed_env, _ in listed.failed}
    answered = [searched for searched in listed.searched if searched not in failed]
    if not listed.searched:
        raise StepFailed(workflow_messages.WORKFLOW_NOTHING_TO_LIST)
    if not answered:
        raise listed.failed[0][1]  # nothing could be listed at all: the usual explanation
    asked = messages.list_filters(
        code(task, 100) if task else None, code(tag, 100) if tag else None, format_duration(within)
    )
    summary = due_summary(
        [(entry.run, entry.env) for entry in listed.runs],
        rescheduler.now(),
        where=all_of([searched.title for searched in answered]),
        filters=asked,
        run_url=deps.run_url,
        notes=_notes(listed),
    )
    return {"count": len(listed.runs), "summary": summary}


def _notes(listed: DelayedList) -> list[str]:
    notes = []
    if listed.failed:
        notes.append(workflow_messages.workflow_due_failed(all_of([env.title for env, _ in listed.failed])))
    if listed.incomplete:
        notes.append(workflow_messages.WORKFLOW_DUE_INCOMPLETE)
    return notes


def failure_text(exc: TriggerError | AccessRefused, run_ref: str, deps: SurfaceDeps) -> str:
    """The plain sentence a workflow shows for a refusal or a Trigger.dev failure."""
    if isinstance(exc, ApprovalNeeded):
        return messages.approval_workflow(exc.env.title)
    if isinstance(exc, AccessRefused):
        return workflow_messages.workflow_refused(exc.env.title, bool(exc.rule.channels))
    env_title = exc.environment or ""
    if isinstance(exc, NotDelayed):
        return workflow_messages.workflow_not_delayed(exc.run.id, exc.run.status_label, exc.run.task_identifier)
    run_id = parse_run_ref(run_ref) or run_ref[:100]
    if isinstance(exc, NotFoundAnywhere):
        return workflow_messages.workflow_not_found(run_id, " or ".join(env.title for env in exc.searched))
    if isinstance(exc, RunNotFound):
        return workflow_messages.workflow_not_found(run_id, env_title)
    if isinstance(exc, AuthRejected):
        return workflow_messages.workflow_key_rejected(env_title)
    if isinstance(exc, RateLimited):
        return workflow_messages.WORKFLOW_RATE_LIMITED
    if isinstance(exc, NotApplied | MoveUnconfirmed | OutcomeUnknown):
        return workflow_messages.workflow_unconfirmed(run_id, deps.run_url(run_id))
    if isinstance(exc, TriggerUnavailable):
        return workflow_messages.WORKFLOW_UNAVAILABLE
    if isinstance(exc, TriggerRequestError):
        return workflow_messages.workflow_request_refused((exc.server_message or f"HTTP {exc.status}")[:200])
    reference = secrets.token_hex(4)
    log.error("unexpected Trigger.dev error ref=%s surface=%s", reference, SURFACE, exc_info=exc)
    return workflow_messages.workflow_unexpected(reference)
