"""A card that follows its run, redrawn: the run as it is now, under what was done to it."""

from __future__ import annotations

from bot import messages
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls
from bot.render.dm import dm_confirmation
from bot.render.mrkdwn import escape
from bot.render.summary import Attribution, Summary, run_summary, task_text


def followed_summary(
    run: Run,
    env: Environment,
    run_url: str,
    action: Attribution,
    controls: Controls,
    *,
    moved: bool,
    where: str = "",
    dm: bool = False,
) -> Summary:
    """The summary of `run` as it is now, for a card that showed `action` (who moved it from when to when).

    `moved`: the run has another start time than the one `action` set (moved elsewhere since): the card says so
    and shows the run's own time, without the Undo of a move that is no longer the last. `dm`: the card is the DM
    confirmation, redrawn as the same one or two lines (`where` says where the move happened). Buttons stay only
    while the run is DELAYED (run_summary draws them for DELAYED runs alone).
    """
    if dm:
        return dm_confirmation(run, env, run_url, action, where, controls=controls, moved_since=moved)
    if moved:
        moved_head = messages.follow_moved(action.user_id, task_text(run), escape(env.title))
        return run_summary(run, env, run_url, None, controls, head=moved_head)
    return run_summary(run, env, run_url, action, controls)
