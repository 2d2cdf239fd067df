"""The DM confirmation after a move: one or two lines and **Undo**, a pure function from the move to Block Kit.

What moved (the task, linked to the run in Trigger.dev, and its environment), from when to when, and where its
summary is (a link); a note on a second line when something must be said (the summary did not reach the channel).
The summary itself, with every detail of the run, is in the channel.
"""

from __future__ import annotations

from dataclasses import replace

from bot import messages
from bot.domain.actions import Did
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import DM_BUTTONS, Controls, actions_block
from bot.render.mrkdwn import FALLBACK_TEXT_MAX, date_token, escape, fallback_time, link, section, truncate
from bot.render.summary import Attribution, Block, Summary, status_text, task_text


def dm_confirmation(
    run: Run,
    env: Environment,
    run_url: str,
    action: Attribution,
    where: str,
    *,
    note: str = "",
    controls: Controls | None = None,
    moved_since: bool = False,
) -> Summary:
    """The DM for `action` on `run`; `controls` given: **Undo**, while the run is delayed at the time the move gave
    it and its previous time is ahead. `moved_since`: the run has another time now (moved elsewhere since): the
    DM says so, without Undo."""
    task = link(run_url, truncate(run.task_identifier or messages.UNKNOWN_TASK, 150))  # the run in Trigger.dev
    title = escape(env.title)
    if moved_since:
        now_at = date_token(run.delayed_until) if run.delayed_until is not None else messages.NOT_SCHEDULED
        line = messages.follow_moved_dm(task, title, where, now_at)
    else:
        previous = date_token(action.previous) if action.previous is not None else None
        line = messages.dm_line(action.did, task, title, previous, date_token(action.new), where)
    if action.approved_by:
        line += messages.approved_by(action.approved_by)
    if not run.is_delayed:
        line += messages.dm_now(status_text(run))
    blocks: list[Block] = [section(f"{line}\n{note}" if note else line)]
    if controls is not None and action.did is Did.MOVED and run.is_delayed and not moved_since:
        undo = replace(controls, buttons=DM_BUTTONS)
        element = actions_block(run.id, run.task_identifier, env.name, action.new, action.previous, run_url, undo)
        if element["elements"]:
            blocks.append(element)
    text = messages.dm_fallback(action.did, task_text(run), title, fallback_time(action.new))
    return Summary(text=truncate(text, FALLBACK_TEXT_MAX), blocks=blocks)
