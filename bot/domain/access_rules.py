"""Who may move runs in which environment: a pure policy, decided from the signed request's user and channel.

A rule lists allowed users, user groups and channels; an empty list allows everyone. A person passes when
(users and groups are both empty, or they are one of the users, or a member of one of the groups) and (channels
is empty, or they act from one of the channels). Each environment may have its own rule; the others use the
default rule, which by default allows everyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.domain.environments import Environment

DEFAULT = "default"


def split_ids(text: str | Iterable[str]) -> frozenset[str]:
    """`"U1, U2"` or `["U1", "U2"]` → the set of non-empty ids."""
    parts = text.split(",") if isinstance(text, str) else text
    return frozenset(part.strip() for part in parts if part.strip())


@dataclass(frozen=True, slots=True)
class Rule:
    """Allowed users, user groups (subteam ids) and channels; empty means everyone."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()

    @property
    def open_to_all(self) -> bool:
        return not (self.users or self.groups or self.channels)

    def needs_groups(self, user_id: str) -> bool:
        """Whether deciding for `user_id` needs their user-group memberships (a Slack call)."""
        return bool(self.groups) and user_id not in self.users

    def admits(self, user_id: str, member_of: frozenset[str] = frozenset()) -> bool:
        """The "who" half of the rule: the person is one of the users or groups (or the rule names none)."""
        return not (self.users or self.groups) or user_id in self.users or bool(self.groups & member_of)

    def allows(self, user_id: str, channel_id: str | None, member_of: frozenset[str] = frozenset()) -> bool:
        where = not self.channels or (channel_id is not None and channel_id in self.channels)
        return self.admits(user_id, member_of) and where


@dataclass(frozen=True, slots=True)
class Policy:
    """The rule for each environment name, and the default for the rest."""

    rules: Mapping[str, Rule] = field(default_factory=dict)
    default: Rule = Rule()

    def rule_for(self, *names: str) -> Rule:
        """The rule for the first of `names` that has one (an environment's name, then its kind), else default."""
        for name in names:
            rule = self.rules.get(name.lower())
            if rule is not None:
                return rule
        return self.default


class AccessRefused(Exception):
    """The person may not move runs in this environment from here; `rule` says who may, and where (`handles`: the
    display handle of each of its user groups that Slack named)."""

    def __init__(self, env: Environment, rule: Rule, handles: dict[str, str], lookup_failed: bool = False) -> None:
        super().__init__(f"refused in {env.name}")
        self.env = env
        self.rule = rule
        self.handles = handles
        self.lookup_failed = lookup_failed
