"""Protected environments on the action path: a move there becomes a request that another person approves.

`Rescheduler.move` (one run) and `BulkMover.run` (a set) ask `Approvals` before moving in a protected environment,
so every surface that moves (the command, buttons, forms, the shortcut, the list, Push all back…, previews, the App
Home, the workflow step) asks instead, without a surface having a say. What is asked is stored
(bot/storage/approvals.py) and posted by the Slack side (`RequestPoster`, bot/slack/approvals.py); the person is told
privately through `ApprovalNeeded`, which every surface already catches with the access refusals it extends.

A move made with an approval (`Actor.approved_by`) goes through; so does one that takes back an approved move (the
run still where the approval put it, going back where it was) by the person who asked or the one who approved it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from bot.access_check import AccessRefused, GroupLookup, GroupLookupFailed
from bot.domain.access_rules import Rule
from bot.domain.approvals import ApprovalPolicy, ApprovalRule, State, Verdict, expires_at, restores, verdict
from bot.domain.environments import Environment
from bot.storage.approvals import ApprovalRequest, ApprovalStore, NewRequest, RunAsked

log = logging.getLogger(__name__)
_FAILURES = (SQLAlchemyError, OSError, TimeoutError)


class ApprovalNeeded(AccessRefused):
    """A move in a protected environment that this person may not make alone. `request`: the request made for it
    (None when none could be made here: a workflow step, an Undo that is not one of an approved move, or the
    database did not answer: `unavailable`). `handles`: the approvers' user-group handles, to mention them."""

    def __init__(
        self,
        env: Environment,
        approval: ApprovalRule,
        request: ApprovalRequest | None = None,
        handles: dict[str, str] | None = None,
        unavailable: bool = False,
    ) -> None:
        super().__init__(env, Rule(), handles or {})
        self.approval = approval
        self.request = request
        self.unavailable = unavailable


class RequestPoster(Protocol):
    """Posts a new request where its approvers see it (the Slack side), and records where it is."""

    async def post(
        self, request: ApprovalRequest, rule: ApprovalRule, env: Environment
    ) -> tuple[str | None, str | None]: ...


@dataclass(slots=True)
class Approvals:
    """The protected environments, their requests, and the decision of who may approve one."""

    policy: ApprovalPolicy
    store: ApprovalStore | None = None
    groups: GroupLookup | None = None
    poster: RequestPoster | None = None  # set by the wiring once the Slack client exists

    def rule_for(self, env: Environment) -> ApprovalRule | None:
        """The approval rule of `env` (None: not protected)."""
        return self.policy.rule_for(*env.names)

    async def takes_back(self, user_id: str, run_id: str, current: datetime | None, when: datetime | None) -> bool:
        """Whether `user_id` moving `run_id` (now at `current`) to `when` takes back a move they asked for or
        approved: the run is where that approval put it and goes back where it was."""
        if self.store is None or when is None:
            return False
        try:
            approved = await self.store.approved_for(run_id)
        except _FAILURES as exc:
            log.warning("approvals: could not read approved requests (%s)", type(exc).__name__)
            return False
        for request in approved:
            if user_id not in (request.user_id, request.decided_by):
                continue
            for asked in request.runs:
                if asked.run_id == run_id and restores(when, current, asked.before, request.when):
                    return True
        return False

    async def ask(
        self,
        actor_fields: NewRequest,
        env: Environment,
        rule: ApprovalRule,
    ) -> ApprovalNeeded:
        """Store the request and post it; the exception that tells the person (raised by the caller)."""
        handles = await self.handles(rule)
        if self.store is None:
            return ApprovalNeeded(env, rule, None, handles, unavailable=True)
        try:
            request = await self.store.add(actor_fields)
        except _FAILURES as exc:
            log.warning("approvals: the request could not be stored (%s)", type(exc).__name__)
            return ApprovalNeeded(env, rule, None, handles, unavailable=True)
        log.info(
            "approval requested key=%s env=%s by=%s runs=%d", request.key, env.name, request.user_id, len(request.runs)
        )
        if self.poster is not None:
            channel, ts = await self.poster.post(request, rule, env)
            request = replace(request, message_channel=channel, message_ts=ts)
            if ts is None:  # no approver can see it: ended now, rather than left to expire unseen
                await self._end_unseen(request)
        return ApprovalNeeded(env, rule, request, handles)

    async def _end_unseen(self, request: ApprovalRequest) -> None:
        assert self.store is not None
        try:
            await self.store.decide(request.key, State.EXPIRED, None, request.created_at)
        except _FAILURES as exc:
            log.warning("approvals: the unposted request %s stays pending (%s)", request.key, type(exc).__name__)

    def new_request(
        self,
        *,
        team_id: str,
        user_id: str,
        channel_id: str | None,
        surface: str,
        typed: str,
        env: Environment,
        runs: Sequence[RunAsked],
        when: datetime | None,
        reason: str,
        now: datetime,
        user_team_id: str | None = None,
        enterprise_id: str | None = None,
        thread_ts: str | None = None,
    ) -> NewRequest:
        return NewRequest(
            team_id=team_id,
            user_id=user_id,
            channel_id=channel_id,
            surface=surface,
            input=typed,
            environment=env.name,
            runs=tuple(runs),
            when=when,
            reason=reason,
            created_at=now,
            expires_at=expires_at(now, self.policy.timeout, [run.before for run in runs]),
            user_team_id=user_team_id,
            enterprise_id=enterprise_id,
            thread_ts=thread_ts,
        )

    async def verdict(self, rule: ApprovalRule, asker: str, clicker: str) -> Verdict:
        """May `clicker` decide on `asker`'s request, now (user groups looked up now)."""
        member_of: set[str] = set()
        if rule.needs_groups(clicker) and self.groups is not None:
            for group in sorted(rule.groups):
                try:
                    if clicker in await self.groups.members(group):
                        member_of.add(group)
                except GroupLookupFailed:
                    log.warning("approvals: the members of %s could not be looked up", group)
        return verdict(rule, asker, clicker, frozenset(member_of))

    async def handles(self, rule: ApprovalRule) -> dict[str, str]:
        """The approvers' user-group handles that Slack tells (to mention a group as a group)."""
        found: dict[str, str] = {}
        if self.groups is None:
            return found
        for group in sorted(rule.groups):
            try:
                handle = await self.groups.handle(group)
            except GroupLookupFailed:
                continue
            if handle:
                found[group] = handle
        return found
