"""Protected environments on Slack: the request message, and what Approve / Reject do.

A click is checked again at the moment it is made: the clicker must be an approver of every protected environment of
the request, not the person who asked, and (for Approve) pass the access rule of the environment. The decision is
taken once across processes (bot/storage/approvals.py); the move or set is then carried out through the action path
as the person who asked, with the approver named (`Actor.approved_by`): in the summary, the audit trail and the DM
with Undo sent to the person who asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.access_check import AccessRefused
from bot.approvals import Approvals
from bot.domain.approvals import ApprovalRule, State, Verdict
from bot.domain.audit import Outcome
from bot.domain.environments import Environment
from bot.render.approvals import RunShown, approvers_text, request_message
from bot.render.ids import BulkValue, Button
from bot.render.mrkdwn import date_token, escape
from bot.render.summary import Attribution, Summary, run_summary
from bot.rescheduler import Actor, MoveResult, NotDelayed
from bot.slack import bulk, dm
from bot.slack.deps import SurfaceDeps
from bot.slack.failures import failure_text
from bot.slack.replies import slack_error
from bot.slack.respond import Respond
from bot.storage.approvals import ApprovalRequest, ApprovalStore
from bot.storage.bulk_sets import BulkSet
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

Private = Callable[[str], Awaitable[object]]


def draw(request: ApprovalRequest, deps: SurfaceDeps, rule: ApprovalRule | None, outcome: str | None = None) -> Summary:
    """The request message as it stands (with buttons while pending and `outcome` is None)."""
    target = deps.rescheduler.target_named(request.environment)
    title = target.env.title if target is not None else request.environment
    runs = [RunShown(run.run_id, run.task, deps.run_url(run.run_id), run.before) for run in request.runs]
    who = approvers_text(sorted(rule.users), sorted(rule.groups)) if rule is not None else ""
    return request_message(
        key=request.key,
        user_id=request.user_id,
        env_title=title,
        runs=runs,
        when=request.when,
        reason=request.reason,
        expires=request.expires_at,
        approvers=who,
        outcome=outcome,
    )


class SlackRequestPoster:
    """Posts a request in APPROVAL__<ENV>__CHANNEL, else where the move was asked, and records where it is."""

    def __init__(self, client: AsyncWebClient, store: ApprovalStore, deps: SurfaceDeps) -> None:
        self.client, self.store, self.deps = client, store, deps

    async def post(
        self, request: ApprovalRequest, rule: ApprovalRule, env: Environment
    ) -> tuple[str | None, str | None]:
        channel = rule.channel or request.channel_id
        if not channel or channel.startswith("D"):  # a DM with the bot: no approver would see it
            log.warning("approval request %s has nowhere to be posted (set APPROVAL__<ENV>__CHANNEL)", request.key)
            return None, None
        message = draw(request, self.deps, rule)
        try:
            posted = await self.client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
        except Exception as exc:
            log.warning("approval request %s not posted in %s: %s", request.key, channel, slack_error(exc))
            return None, None
        where, ts = posted.get("channel") or channel, posted.get("ts")
        try:
            await self.store.shown_at(request.id, where, ts)
        except Exception as exc:
            log.warning("approval request %s: where it is was not recorded (%s)", request.key, type(exc).__name__)
        return where, ts


async def show_outcome(client: AsyncWebClient, request: ApprovalRequest, message: Summary) -> None:
    """The request message updated with how it ended, its buttons gone."""
    if not request.message_channel or not request.message_ts:
        return
    try:
        await client.chat_update(
            channel=request.message_channel, ts=request.message_ts, text=message.text, blocks=message.blocks
        )
    except Exception as exc:
        log.warning("approval request %s not updated: %s", request.key, slack_error(exc))


def rules_of(
    approvals: Approvals, deps: SurfaceDeps, request: ApprovalRequest
) -> list[tuple[Environment, ApprovalRule]]:
    """Every protected environment the request's runs are in, with its rule (as configured now)."""
    found: list[tuple[Environment, ApprovalRule]] = []
    for name in dict.fromkeys(run.env_name for run in request.runs):
        target = deps.rescheduler.target_named(name)
        rule = approvals.rule_for(target.env) if target is not None else None
        if target is not None and rule is not None:
            found.append((target.env, rule))
    return found


def record_end(deps: SurfaceDeps, who: Actor, request: ApprovalRequest, outcome: Outcome) -> None:
    """A request that ended without a move, in the audit trail (and so in /reschedule history)."""
    target = deps.rescheduler.target_named(request.environment)
    first = request.runs[0]
    deps.rescheduler.record(
        replace(who, approved_by=None),
        outcome,
        env=target.env if target is not None else None,
        run_id=first.run_id if not request.is_set else None,
        task=first.task or None,
        previous=first.before,
        new=request.when,
    )


def asker_of(request: ApprovalRequest, approver: str) -> Actor:
    """The person who asked, acting with `approver`'s approval (what the audit trail and the summaries show)."""
    return Actor(
        user_id=request.user_id,
        team_id=request.team_id,
        channel_id=request.channel_id,
        surface=request.surface,
        input=request.input,
        user_team_id=request.user_team_id or request.team_id,
        enterprise_id=request.enterprise_id,
        approved_by=approver,
        reason=request.reason,
    )


async def on_click(
    button: Button, value: BulkValue, clicker: Actor, deps: SurfaceDeps, client: AsyncWebClient, private: Private
) -> None:
    """Approve or Reject, decided once; refused privately (changing nothing) to anyone who may not decide."""
    approvals = deps.rescheduler.approvals
    store = approvals.store if approvals is not None else None
    request = await store.get(value.k) if store is not None else None
    if approvals is None or store is None or request is None:
        await private(messages.APPROVAL_UNKNOWN_REQUEST)
        return
    if request.state is not State.PENDING:
        await private(_already(request))
        return
    rules = rules_of(approvals, deps, request)
    if not rules:
        await private(messages.APPROVAL_NO_LONGER_PROTECTED)
        return
    for env, rule in rules:
        verdict = await approvals.verdict(rule, request.user_id, clicker.user_id)
        if verdict is not Verdict.MAY:
            text = (
                messages.APPROVAL_OWN_REQUEST
                if verdict is Verdict.OWN_REQUEST
                else messages.approval_not_approver(escape(env.title), approvers_text(rule.users, rule.groups))
            )
            await private(text)
            why = "decided on their own request" if verdict is Verdict.OWN_REQUEST else "not an approver"
            deps.rescheduler.record(clicker, Outcome.REFUSED, env=env, error=f"approval: {why}")
            return
        if button is Button.APPROVE:
            try:
                await deps.rescheduler.check_access(clicker, env)
            except AccessRefused as exc:
                await private(failure_text(exc, "", env.title))
                deps.rescheduler.record(clicker, Outcome.REFUSED, env=env, error="approval: access rule")
                return
    now = deps.rescheduler.now()
    if now >= request.expires_at:
        expired = await store.decide(request.key, State.EXPIRED, None, now)
        if expired is not None:
            await expire(client, deps, expired, rules[0][1])
        await private(_already(expired or request))
        return
    state = State.APPROVED if button is Button.APPROVE else State.REJECTED
    decided = await store.decide(request.key, state, clicker.user_id, now)
    if decided is None:  # another click (here or in another process) or the expiry took it first
        await private(_already(await store.get(request.key) or request))
        return
    log.info("approval request %s %s by %s", decided.key, state.value, clicker.user_id)
    rule = rules[0][1]
    if state is State.REJECTED:
        record_end(deps, clicker, decided, Outcome.APPROVAL_REJECTED)
        outcome = messages.approval_state_rejected(clicker.user_id, date_token(now))
        await show_outcome(client, decided, draw(decided, deps, rule, outcome))
        what = messages.approval_what(len(decided.runs), decided.runs[0].run_id)
        title = escape(rules[0][0].title)
        await dm.send_text(
            client,
            decided.user_id,
            messages.approval_rejected_dm(clicker.user_id, what, title),
            outbox=deps.outbox,
            team_id=decided.team_id,
        )
        return
    if decided.is_set:
        await _approve_set(decided, clicker.user_id, deps, client, rule, now)
        return
    await _approve_one(decided, clicker.user_id, deps, client, rule, private)


async def _approve_one(
    request: ApprovalRequest,
    approver: str,
    deps: SurfaceDeps,
    client: AsyncWebClient,
    rule: ApprovalRule,
    private: Private,
) -> None:
    rescheduler = deps.rescheduler
    asker = asker_of(request, approver)
    asked = request.runs[0]
    what = messages.approval_what(1, asked.run_id)
    try:
        moved = await rescheduler.reschedule(asker, asked.run_id, request.when, rescheduler.deadline(), asked.env_name)
    except NotDelayed as exc:
        status = escape(exc.run.status_label)
        await show_outcome(client, request, draw(request, deps, rule, messages.approval_state_not_delayed(status)))
        await _tell(client, deps, request, messages.approval_not_delayed_dm(what, status))
        return
    except (TriggerError, AccessRefused) as exc:
        problem = failure_text(exc, asked.run_id, "", deps.run_url(asked.run_id))
        await show_outcome(
            client, request, draw(request, deps, rule, messages.approval_state_failed(approver, problem))
        )
        await _tell(client, deps, request, messages.approval_failed_dm(approver, what, problem))
        await private(problem)
        return
    await _moved(request, moved, asker, deps, client)


async def _moved(
    request: ApprovalRequest, moved: MoveResult, asker: Actor, deps: SurfaceDeps, client: AsyncWebClient
) -> None:
    """The request message becomes the move's summary ("… rescheduled …, approved by …"); the person who asked gets
    the DM with Undo."""
    now = deps.rescheduler.now()
    action = Attribution(asker.user_id, moved.previous, moved.new, now, approved_by=asker.approved_by)
    summary = run_summary(moved.run, moved.env, deps.run_url(moved.run.id), action, deps.controls(moved.env))
    await show_outcome(client, request, summary)
    if request.message_channel and request.message_ts:
        await deps.follow(request.message_channel, request.message_ts, moved, action)
    where = await dm.where_posted(client, request.message_channel, request.message_ts)
    try:
        await dm.confirm(client, deps, moved, asker, where)
    except Exception as exc:
        log.warning("approval %s: the DM to %s failed (%s)", request.key, asker.user_id, slack_error(exc))


async def _approve_set(
    request: ApprovalRequest,
    approver: str,
    deps: SurfaceDeps,
    client: AsyncWebClient,
    rule: ApprovalRule,
    now: datetime,
) -> None:
    """The set moved as its Confirm would move it (one summary, one DM with the set's Undo), as the person who
    asked with the approver named; the request message says who approved it."""
    asker = asker_of(request, approver)
    await show_outcome(
        client, request, draw(request, deps, rule, messages.approval_state_approved(approver, date_token(now)))
    )
    fixed = BulkSet(
        key=request.key,
        user_id=request.user_id,
        team_id=request.team_id,
        runs=tuple((run.run_id, run.env_name) for run in request.runs),
        when=request.when,
        created=time.time(),
        thread_ts=request.thread_ts,
    )

    async def tell_asker(text: str) -> None:
        await _tell(client, deps, request, text)

    click = bulk.SetClick({}, asker, deps, _NoResponseUrl(), client, tell_asker)
    await bulk.carry_out(fixed, click)


async def expire(
    client: AsyncWebClient, deps: SurfaceDeps, request: ApprovalRequest, rule: ApprovalRule | None
) -> None:
    """An expired request: its message says so, and the person who asked is told."""
    record_end(deps, asker_of(request, ""), request, Outcome.APPROVAL_EXPIRED)
    now = deps.rescheduler.now()
    await show_outcome(client, request, draw(request, deps, rule, messages.approval_state_expired(date_token(now))))
    target = deps.rescheduler.target_named(request.environment)
    title = escape(target.env.title if target is not None else request.environment)
    what = messages.approval_what(len(request.runs), request.runs[0].run_id)
    await _tell(client, deps, request, messages.approval_expired_dm(what, title))


async def no_longer_delayed(
    client: AsyncWebClient, deps: SurfaceDeps, request: ApprovalRequest, rule: ApprovalRule | None, status: str
) -> None:
    """A request whose run stopped being delayed: reported (message and person who asked), nothing moved."""
    record_end(deps, asker_of(request, ""), request, Outcome.APPROVAL_EXPIRED)
    await show_outcome(client, request, draw(request, deps, rule, messages.approval_state_not_delayed(escape(status))))
    what = messages.approval_what(len(request.runs), request.runs[0].run_id)
    await _tell(client, deps, request, messages.approval_not_delayed_dm(what, escape(status)))


async def _tell(client: AsyncWebClient, deps: SurfaceDeps, request: ApprovalRequest, text: str) -> None:
    await dm.send_text(client, request.user_id, text, outbox=deps.outbox, team_id=request.team_id)


def _already(request: ApprovalRequest) -> str:
    when = date_token(request.decided_at) if request.decided_at else date_token(request.expires_at)
    return messages.approval_already(request.state.value, request.decided_by, when)


class _NoResponseUrl(Respond):
    """An approved set has no response_url of the person who asked: what would go there is left out (the set's
    summary is posted by the bot, its result DMed)."""

    def __init__(self) -> None:
        super().__init__(response_url="", session=None)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return None
