"""The one renderer for what a person may not do: who may move runs in an environment, and from where.

Every surface (the command, a set's prompt, the list, a link preview, the App Home) answers a person about an
environment their access rule keeps them from with `out_of_reach`: that they cannot move runs there, so it was not
looked at, and who can. Never a run's details, never a button that could only refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import messages
from bot.domain.access_rules import AccessRefused
from bot.domain.environments import Environment
from bot.render.mrkdwn import escape, section


def rule_text(refusal: AccessRefused) -> str:
    """`*Prod* runs can be moved by <@U1> or @platform in <#C1>`."""
    return messages.access_rule(escape(refusal.env.title), *_who_where(refusal))


def refused_text(refusal: AccessRefused) -> str:
    """A move refused at the moment of acting: nothing was changed, and who may."""
    return messages.refused(escape(refusal.env.title), *_who_where(refusal), refusal.lookup_failed)


def _who_where(refusal: AccessRefused) -> tuple[str, str]:
    rule = refusal.rule
    who = [f"<@{user}>" for user in sorted(rule.users)]
    who += [
        f"@{escape(refusal.handles[g])}" if g in refusal.handles else messages.members_of_group(g)
        for g in sorted(rule.groups)
    ]
    where = [f"<#{channel}>" for channel in sorted(rule.channels)]
    return either(who), either(where)


def out_of_reach(
    refused: Sequence[AccessRefused],
    *,
    run_id: str | None = None,
    searched: Sequence[Environment] = (),
    missing: int | None = None,
    listing: bool = False,
    person: str | None = None,
) -> str:
    """The answer for environments `refused` keeps the person from. `run_id`: the run asked for (not found in
    `searched`); `missing`: how many runs of a set were not found in `searched`; `listing`: a list of runs;
    `person`: who is told (a mention; None: "You")."""
    envs = either([f"*{escape(refusal.env.title)}*" for refusal in refused])
    rules = "; ".join(rule_text(refusal) for refusal in refused)
    if any(refusal.lookup_failed for refusal in refused):
        rules += messages.GROUP_LOOKUP_FAILED.rstrip()
    where = either([f"*{escape(env.title)}*" for env in searched], "or")
    head = ""
    if listing:
        looked = messages.OUT_OF_REACH_LIST
    elif run_id is not None:
        looked = messages.OUT_OF_REACH_LOOK_FOR.format(run=f"`{run_id}`")
        if searched:
            head, looked = messages.out_of_reach_not_in(f"`{run_id}`", where), messages.OUT_OF_REACH_LOOK
    else:
        looked = messages.OUT_OF_REACH_LOOK
        if missing and searched:
            head = messages.out_of_reach_some_not_in(missing, where)
    return messages.out_of_reach(person or messages.OUT_OF_REACH_YOU, envs, looked, rules, head)


def either(items: Sequence[str], word: str = "or") -> str:
    """`a`, `a or b`, `a, b or c`."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def out_of_reach_preview(text: str) -> dict[str, Any]:
    """The `unfurls` value for a link to a run that was not looked up: the answer alone, no details, no buttons."""
    return {"blocks": [section(text)]}
