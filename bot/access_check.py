"""The access check every surface passes through (via `Rescheduler`), from the signed request's user and channel.

One rule decides both what a person may do and what is looked up for them: an environment the rule keeps them from
(`AccessCheck.split`) is not asked at all, on any surface, and every surface answers with the same refusal (who may
move runs there, and from where; bot/render/access.py), never with the details of a run there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.access_rules import AccessRefused, Policy, Rule
from bot.domain.environments import Environment

log = logging.getLogger(__name__)

__all__ = ["AccessCheck", "AccessRefused", "GroupLookup", "GroupLookupFailed", "Split"]


class GroupLookup(Protocol):
    """Slack user groups: members and display handles (cached by the implementation)."""

    async def members(self, group_id: str) -> frozenset[str]: ...

    async def handle(self, group_id: str) -> str | None: ...


class GroupLookupFailed(Exception):
    """Slack could not tell us who is in a user group."""


@dataclass(frozen=True, slots=True)
class Split:
    """The environments a person may act in from where they are (`allowed`, in the order given), and a refusal for
    each of the others (`refused`)."""

    allowed: tuple[Environment, ...]
    refused: tuple[AccessRefused, ...]


@dataclass(slots=True)
class AccessCheck:
    """Decides with the policy; resolves user-group membership only when the rule needs it."""

    policy: Policy
    groups: GroupLookup | None = None

    async def check(self, user_id: str, channel_id: str | None, env: Environment) -> None:
        rule = self.policy.rule_for(*env.names)
        if rule.open_to_all:
            return
        member_of, lookup_failed = await self._member_of(rule, user_id)
        if rule.allows(user_id, channel_id, member_of):
            return
        raise AccessRefused(env, rule, await self._handles(rule), lookup_failed)

    async def split(
        self, user_id: str, channel_id: str | None, envs: Sequence[Environment], *, anywhere: bool = False
    ) -> Split:
        """`envs` split by the rule: the ones `user_id` may act in from `channel_id` and the refusals for the rest.
        `anywhere`: the person is not in a channel (the App Home, a message still being written), so only the "who"
        half of the rule applies."""
        allowed: list[Environment] = []
        refused: list[AccessRefused] = []
        for env in envs:
            if anywhere:
                if await self.reach(user_id, env) is not None:
                    allowed.append(env)
                else:
                    refused.append(await self.refusal(env))
                continue
            try:
                await self.check(user_id, channel_id, env)
            except AccessRefused as exc:
                refused.append(exc)
            else:
                allowed.append(env)
        return Split(tuple(allowed), tuple(refused))

    async def refusal(self, env: Environment) -> AccessRefused:
        """The refusal for `env`, naming who may move runs there (for a person `reach` found no way in)."""
        rule = self.policy.rule_for(*env.names)
        return AccessRefused(env, rule, await self._handles(rule))

    async def reach(self, user_id: str, env: Environment) -> frozenset[str] | None:
        """Where `user_id` may move runs in `env`: None nowhere, an empty set from anywhere (the App Home too),
        else only from those channel ids. For showing a person what is open to them; acting still calls `check`."""
        rule = self.policy.rule_for(*env.names)
        member_of, _ = await self._member_of(rule, user_id)
        if not rule.admits(user_id, member_of):
            return None
        return rule.channels

    async def _member_of(self, rule: Rule, user_id: str) -> tuple[frozenset[str], bool]:
        """The rule's groups `user_id` is in (Slack is asked only when the rule needs it), and whether a lookup
        failed."""
        member_of: set[str] = set()
        lookup_failed = False
        if rule.needs_groups(user_id) and self.groups is not None:
            for group in sorted(rule.groups):
                try:
                    if user_id in await self.groups.members(group):
                        member_of.add(group)
                except GroupLookupFailed:
                    lookup_failed = True
        return frozenset(member_of), lookup_failed

    async def _handles(self, rule: Rule) -> dict[str, str]:
        handles: dict[str, str] = {}
        if self.groups is None:
            return handles
        for group in rule.groups:
            try:
                handle = await self.groups.handle(group)
            except GroupLookupFailed:
                handle = None
            if handle:
                handles[group] = handle
        return handles
