"""The App Home: a pure function from what the bot knows about a person to their Home tab's view.

Top to bottom: the runs they moved recently (newest move first) with each run's current status and time, and for
the DELAYED ones the same buttons as a run summary (same action ids and values, so a click takes the ordinary
buttons path); then the environments they may act in; then how to use the command, the shortcut and link
previews. At most MAX_RUNS_SHOWN runs of at most two blocks each keeps the view far below Slack's 100 blocks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from bot import messages
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls, actions_block
from bot.render.mrkdwn import code, context, date_token, escape, link, section, truncate
from bot.render.summary import status_text

Block = dict[str, Any]

MAX_BLOCKS = 100  # Slack's limit for a Home tab
MAX_RUNS_SHOWN = 20
HEADER_TEXT_MAX = 150
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")


class RowProblem(StrEnum):
    """Why a run's current state is not shown."""

    NOT_FOUND = "not_found"  # Trigger.dev answered that it has no such run
    UNREADABLE = "unreadable"  # the lookup failed or ran out of time


@dataclass(frozen=True, slots=True)
class MovedRun:
    """A run the person moved, as the audit trail remembers it, and how it is now.

    `current` is the run as Trigger.dev returned it (None with a `problem`); `controls` are given when the
    person may move it from the Home (buttons are drawn only for a DELAYED run); `act_from` names the channels
    they must act from instead (empty, with no controls: they may no longer act in that environment).
    """

    run_id: str
    env_title: str
    env_name: str
    task: str | None
    moved_at: datetime
    current: Run | None = None
    problem: RowProblem | None = None
    controls: Controls | None = None
    act_from: frozenset[str] = frozenset()
    out_of_reach: str = ""  # the person may no longer act in its environment: this answer, and nothing looked up


@dataclass(frozen=True, slots=True)
class Reach:
    """An environment the person may move runs in: from anywhere (`channels` empty) or only from those."""

    env: Environment
    channels: frozenset[str]
    asks_first: bool


@dataclass(frozen=True, slots=True)
class HomePage:
    runs: Sequence[MovedRun]
    reach: Sequence[Reach]
    history_unavailable: bool = False
    demo: bool = False


def home_view(page: HomePage, run_url: Callable[[str], str]) -> Block:
    """The `home` view for `views.publish`."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(messages.HOME_TITLE, HEADER_TEXT_MAX)}},
        context(messages.HOME_INTRO),
    ]
    if page.history_unavailable:
        blocks.append(section(messages.HOME_HISTORY_UNAVAILABLE))
    elif not page.runs:
        blocks.append(section(messages.HOME_NO_HISTORY))
    for index, moved in enumerate(page.runs[:MAX_RUNS_SHOWN]):
        blocks.extend(_run_blocks(index, moved, run_url(moved.run_id)))
    blocks.append({"type": "divider"})
    blocks.append(section(_reach_text(page.reach)))
    blocks.append({"type": "divider"})
    blocks.append(section(messages.HOME_HOW_TO))
    if page.demo:
        blocks.append(context(messages.DEMO_SUMMARY_NOTE))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def channel_list(channels: frozenset[str]) -> str:
    """Channel mentions for ids that look like channels (from the settings), anything else in a code span."""
    return ", ".join(f"<#{c}>" if CHANNEL_ID.match(c) else code(c, 40) for c in sorted(channels))


def _run_blocks(index: int, moved: MovedRun, url: str) -> list[Block]:
    """A section for the run, and its buttons when it is DELAYED and the person may move it from here."""
    if moved.out_of_reach:  # as on every surface: the answer alone, without the run's details or buttons
        head = f"{escape(moved.env_title)} · {code(moved.run_id, 64)}"
        return [section("\n".join([head, moved.out_of_reach, messages.home_moved(date_token(moved.moved_at))]))]
    run = moved.current
    task = escape(truncate((run.task_identifier if run else None) or moved.task or messages.UNKNOWN_TASK, 150))
    head = f"*{task}* · {escape(moved.env_title)} · {code(moved.run_id, 64)} · {link(url, messages.OPEN_IN_TRIGGER)}"
    if run is None:
        state = messages.HOME_NOT_FOUND if moved.problem is RowProblem.NOT_FOUND else messages.HOME_UNREADABLE
    else:
        state = " · ".join(filter(None, [status_text(run), _time(run)]))
    lines = [head, state, messages.home_moved(date_token(moved.moved_at))]
    if run is not None and run.is_delayed and moved.controls is None:
        lines.append(messages.home_act_elsewhere(escape(moved.env_title), channel_list(moved.act_from)))
    blocks = [section("\n".join(lines))]
    if run is not None and run.is_delayed and moved.controls is not None:
        try:
            actions = actions_block(
                run.id, run.task_identifier, moved.env_name, run.delayed_until, None, url, moved.controls
            )
        except ValidationError:  # an id a button value cannot carry (never seen from the server)
            return blocks
        actions["block_id"] = f"home:{index}:{run.id}"  # unique even when two environments share an id
        blocks.append(actions)
    return blocks


def _time(run: Run) -> str:
    if run.is_delayed and run.delayed_until is not None:
        return messages.home_starts(date_token(run.delayed_until))
    if run.finished_at is not None:
        return messages.home_finished(date_token(run.finished_at))
    if run.started_at is not None:
        return messages.home_started(date_token(run.started_at))
    return ""


def _reach_text(reach: Sequence[Reach]) -> str:
    if not reach:
        return f"{messages.HOME_ENVS_TITLE}\n{messages.HOME_NO_ENVIRONMENT}"
    lines = [messages.HOME_ENVS_TITLE]
    for item in reach:
        where = messages.home_only_from(channel_list(item.channels)) if item.channels else messages.HOME_ANYWHERE
        lines.append(messages.home_env_line(escape(item.env.title), where, item.asks_first))
    return "\n".join(lines)
