"""Access rules: the policy, the access check that resolves user groups only when needed, and the group cache."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.access_check import AccessCheck, AccessRefused, GroupLookupFailed
from bot.domain.access_rules import Policy, Rule, split_ids
from bot.domain.environments import Environment
from bot.slack.failures import refusal_text
from bot.slack.groups import SlackGroups
from tests.e2e_harness import BOT_TOKEN
from tests.fakes.slack import FakeSlack

PROD = Environment("prod", "Prod")
DEV = Environment("dev", "Dev")
ONCALL = Rule(groups=frozenset({"S0PLATFORM"}), channels=frozenset({"C0OPS"}))


def test_split_ids() -> None:
    assert split_ids(" U1, ,U2 ") == frozenset({"U1", "U2"})


@pytest.mark.parametrize(
    ("rule", "user", "channel", "groups", "allowed"),
    [
        (Rule(), "U1", "C1", frozenset(), True),
        (Rule(users=frozenset({"U1"})), "U1", "C1", frozenset(), True),
        (Rule(users=frozenset({"U1"})), "U2", "C1", frozenset(), False),
        (ONCALL, "U1", "C0OPS", frozenset({"S0PLATFORM"}), True),
        (ONCALL, "U1", "C1", frozenset({"S0PLATFORM"}), False),
        (ONCALL, "U1", "C0OPS", frozenset(), False),
        (ONCALL, "U1", None, frozenset({"S0PLATFORM"}), False),
        (Rule(users=frozenset({"U1"}), groups=frozenset({"S1"})), "U2", "C1", frozenset({"S1"}), True),
        (Rule(channels=frozenset({"C0OPS"})), "U9", "C0OPS", frozenset(), True),
    ],
)
def test_rule_allows(rule: Rule, user: str, channel: str | None, groups: frozenset[str], allowed: bool) -> None:
    assert rule.allows(user, channel, groups) is allowed


def test_policy_falls_back_to_the_default_rule() -> None:
    policy = Policy(rules={"prod": ONCALL}, default=Rule(users=frozenset({"U1"})))
    assert policy.rule_for("PROD") == ONCALL
    assert policy.rule_for("staging") == Rule(users=frozenset({"U1"}))


class Groups:
    def __init__(self, members: dict[str, frozenset[str]], fail: bool = False) -> None:
        self.members_of = members
        self.fail = fail
        self.calls = 0

    async def members(self, group_id: str) -> frozenset[str]:
        self.calls += 1
        if self.fail:
            raise GroupLookupFailed("ratelimited")
        return self.members_of.get(group_id, frozenset())

    async def handle(self, group_id: str) -> str | None:
        return "platform" if group_id == "S0PLATFORM" else None


async def test_gate_checks_groups_only_when_the_rule_needs_them() -> None:
    groups = Groups({"S0PLATFORM": frozenset({"U1"})})
    access_check = AccessCheck(Policy(rules={"prod": ONCALL}), groups)
    await access_check.check("U2", "C1", DEV)  # dev is open to all: no group lookup
    assert groups.calls == 0
    await access_check.check("U1", "C0OPS", PROD)
    assert groups.calls == 1
    with pytest.raises(AccessRefused) as caught:
        await access_check.check("U2", "C0OPS", PROD)
    assert (
        refusal_text(caught.value) == ":lock: Nothing was changed: *Prod* runs can be moved by @platform in <#C0OPS>."
    )


async def test_gate_says_when_membership_could_not_be_read() -> None:
    access_check = AccessCheck(Policy(rules={"prod": ONCALL}), Groups({}, fail=True))
    with pytest.raises(AccessRefused) as caught:
        await access_check.check("U1", "C0OPS", PROD)
    assert caught.value.lookup_failed and "try again in a minute" in refusal_text(caught.value)


async def test_slack_groups_cache_expires(fake_slack: FakeSlack) -> None:
    fake_slack.add_usergroup("S0PLATFORM", ["U1"], handle="platform")
    now = [0.0]
    groups = SlackGroups(AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url), ttl=60, clock=lambda: now[0])
    assert await groups.members("S0PLATFORM") == frozenset({"U1"})
    fake_slack.add_usergroup("S0PLATFORM", ["U1", "U2"], handle="platform")
    assert await groups.members("S0PLATFORM") == frozenset({"U1"})  # cached
    now[0] = 61
    assert await groups.members("S0PLATFORM") == frozenset({"U1", "U2"})
    assert len(fake_slack.api_calls("usergroups.users.list")) == 2
    assert await groups.handle("S0PLATFORM") == "platform"
    with pytest.raises(GroupLookupFailed):
        await groups.members("S0NOSUCH")
