"""Protected environments: a move there waits for a second person's approval. A pure policy, no Slack and no storage.

An environment is protected when APPROVAL__<ENV>__APPROVERS names someone (Slack user ids, user-group ids). Only an
approver other than the person who asked may approve; a request is good until APPROVAL_TIMEOUT after it was made, and
never past the start time of the run it would move (minus EXPIRY_MARGIN), after which there is nothing left to move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_TIMEOUT = timedelta(minutes=30)
EXPIRY_MARGIN = timedelta(minutes=1)  # a request expires this long before the run it would move starts
RECHECK = timedelta(minutes=2)  # a pending request's run is read again this often (its start time may change)


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Verdict(StrEnum):
    """Whether a click on Approve / Reject may be taken."""

    MAY = "may"
    OWN_REQUEST = "own_request"  # the person who asked: another approver must decide
    NOT_APPROVER = "not_approver"


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    """Who may approve moves in one environment (users and user groups), and where requests are posted (None:
    where the move was asked)."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    channel: str | None = None

    @property
    def protects(self) -> bool:
        return bool(self.users or self.groups)

    def needs_groups(self, user_id: str) -> bool:
        return bool(self.groups) and user_id not in self.users

    def approver(self, user_id: str, member_of: frozenset[str] = frozenset()) -> bool:
        return user_id in self.users or bool(self.groups & member_of)


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """The approval rule of each protected environment (by name or kind, lower case), and the timeout."""

    rules: Mapping[str, ApprovalRule] = field(default_factory=dict)
    timeout: timedelta = DEFAULT_TIMEOUT

    def rule_for(self, *names: str) -> ApprovalRule | None:
        """The rule for the first of `names` (an environment's name, then its kind) that is protected."""
        for name in names:
            rule = self.rules.get(name.lower())
            if rule is not None and rule.protects:
                return rule
        return None


def verdict(rule: ApprovalRule, asker: str, clicker: str, member_of: frozenset[str] = frozenset()) -> Verdict:
    """May `clicker` decide on a request `asker` made? Never their own, and only as an approver of the rule."""
    if not rule.approver(clicker, member_of):
        return Verdict.NOT_APPROVER
    if clicker == asker:
        return Verdict.OWN_REQUEST
    return Verdict.MAY


def expires_at(created: datetime, timeout: timedelta, starts: Iterable[datetime | None]) -> datetime:
    """When a request made at `created` expires: after `timeout`, or EXPIRY_MARGIN before the soonest of the runs'
    start times (`starts`), whichever is first."""
    soonest = min((start for start in starts if start is not None), default=None)
    limit = created + timeout
    if soonest is not None:
        limit = min(limit, soonest - EXPIRY_MARGIN)
    return limit


def too_late(now: datetime, expires: datetime, start: datetime | None) -> bool:
    """Whether a pending request is past its time at `now`, given the run's current start time."""
    return now >= expires or (start is not None and now >= start - EXPIRY_MARGIN)


def restores(
    asked: datetime | None, current: datetime | None, approved_from: datetime | None, approved_to: datetime | None
) -> bool:
    """Whether moving a run now at `current` to `asked` takes back an approved move `approved_from` → `approved_to`
    (the run is still where the approval put it, and goes back exactly where it was)."""
    if asked is None or current is None or approved_from is None or approved_to is None:
        return False
    return _same(asked, approved_from) and _same(current, approved_to)


def _same(a: datetime, b: datetime) -> bool:
    return abs(a - b) <= timedelta(seconds=1)
