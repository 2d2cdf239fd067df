"""The summary of DELAYED runs coming due that the Workflow Builder step "Delayed runs coming due" outputs: one
mrkdwn string a following "Send a message" step posts as it is. Soonest first, each run the list's line
(bot/render/run_list.py: task, environment, tags, a date token, how long until it runs) with a link to the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot import messages, workflow_messages
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.mrkdwn import escape, link
from bot.render.run_list import MAX_RUNS_SHOWN, run_line


def all_of(titles: Sequence[str]) -> str:
    """`*Prod*`, `*Prod* and *Staging*`, `*Prod*, *Staging* and *Dev*` (titles escaped here)."""
    quoted = [f"*{escape(title)}*" for title in titles]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def due_summary(
    entries: Sequence[tuple[Run, Environment]],
    now: datetime,
    *,
    where: str,
    filters: str,
    run_url: Callable[[str], str],
    notes: Sequence[str] = (),
) -> str:
    """The runs in `entries` (sorted soonest first) as mrkdwn; `where` and `filters` are already-escaped mrkdwn
    (`all_of`, `messages.list_filters`), `notes` sentences about what could not be listed."""
    shown = list(entries[:MAX_RUNS_SHOWN])
    if entries:
        lines = [messages.list_head(len(shown), len(entries), where, filters)]
    else:
        lines = [messages.list_empty(where, filters)]
    lines.extend(notes)
    for run, env in shown:
        url = run_url(run.id)
        opened = f" · {link(url, messages.OPEN_IN_TRIGGER)}" if url else ""
        lines.append(f"• {run_line(run, env, now)}{opened}")
    if len(entries) > len(shown):
        lines.append(workflow_messages.workflow_due_more(len(entries) - len(shown)))
    return "\n".join(lines)
