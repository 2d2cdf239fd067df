"""The one answer for environments a person may not act in (bot/render/access.py), as every surface draws it."""

from __future__ import annotations

from bot.domain.access_rules import AccessRefused, Rule
from bot.domain.environments import Environment
from bot.render import access

PROD = Environment("prod", "Prod", "prod")
STAGING = Environment("staging", "Staging", "staging")
DEV = Environment("dev", "Dev <b>", "dev")
RUN = "run_cm9k2x7ab000108l5ghf2d1qz"


def refused(env: Environment, rule: Rule, handles: dict[str, str] | None = None, failed: bool = False) -> AccessRefused:
    return AccessRefused(env, rule, handles or {}, failed)


def test_one_run_nowhere_the_person_may_act_names_who_can_and_from_where() -> None:
    rule = Rule(users=frozenset({"U9"}), groups=frozenset({"S1", "S2"}), channels=frozenset({"C1"}))
    text = access.out_of_reach([refused(PROD, rule, {"S1": "platform"})], run_id=RUN)
    assert text == (
        f":lock: You cannot move runs in *Prod*, so I did not look for `{RUN}` there: *Prod* runs can be moved by "
        "<@U9>, @platform or members of user group S2 in <#C1>."
    )


def test_a_run_not_where_the_person_may_act_and_two_environments_kept_from_them() -> None:
    text = access.out_of_reach(
        [refused(PROD, Rule(users=frozenset({"U9"}))), refused(DEV, Rule(channels=frozenset({"C2"})))],
        run_id=RUN,
        searched=[STAGING],
    )
    assert text == (
        f":lock: `{RUN}` is not in *Staging*. You cannot move runs in *Prod* or *Dev &lt;b&gt;*, so I did not look "
        "there: *Prod* runs can be moved by <@U9>; *Dev &lt;b&gt;* runs can be moved by anyone in <#C2>."
    )


def test_a_set_a_list_and_a_preview_say_the_same_with_their_own_subject() -> None:
    prod = [refused(PROD, Rule(users=frozenset({"U9"})), failed=True)]
    rule = "*Prod* runs can be moved by <@U9>"
    late = "(Slack did not tell me the members of a user group just now; try again in a minute.)"
    assert access.out_of_reach(prod, missing=3, searched=[STAGING]) == (
        ":lock: 3 of them are not in *Staging*. You cannot move runs in *Prod*, so I did not look there: "
        f"{rule} {late}."
    )
    assert access.out_of_reach(prod, listing=True).startswith(
        ":lock: You cannot move runs in *Prod*, so I did not list runs there: "
    )
    assert access.out_of_reach(prod, run_id=RUN, person="<@U1>").startswith(":lock: <@U1> cannot move runs in *Prod*")
    assert access.out_of_reach_preview("text") == {
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "text"}}]
    }
