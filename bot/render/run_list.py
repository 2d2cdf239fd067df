"""The private list of DELAYED runs (`/reschedule list`): a pure function from runs to Block Kit.

One section per run (task, environment, tags, the time as a date token, how long until it runs) followed by its
**Reschedule…** button, the same button the run summary offers, so a click opens the same modal. At most
MAX_RUNS_SHOWN runs, which keeps the message within Block Kit's 50 blocks; the rest are counted in a footer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import ValidationError

from bot import messages
from bot.domain.delays import format_duration
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls, actions_block
from bot.render.ids import LIST_BLOCK_PREFIX, BulkValue, Button
from bot.render.mrkdwn import FALLBACK_TEXT_MAX, code, context, date_token, escape, section, truncate
from bot.render.summary import Block, Summary, task_text

MAX_BLOCKS = 50
# Per run: a section and its actions block; around them a head, notes, a footer and the demo note.
MAX_RUNS_SHOWN = 20
MAX_TAGS_SHOWN = 5
MAX_NOTES = 3
LIST_BUTTONS = (Button.RESCHEDULE,)


def run_list(
    entries: Sequence[tuple[Run, Environment]],
    now: datetime,
    *,
    where: str,
    filters: str = "",
    notes: Sequence[str] = (),
    controls: Controls | None = None,
    run_url: Callable[[str], str] = lambda run_id: "",
    push_all: str | None = None,
) -> Summary:
    """The list message for `entries` (already sorted, soonest first).

    `where` names the environments searched and `filters` what was asked (both already-escaped mrkdwn);
    `notes` are sentences shown under the head (environments that could not be listed, a bound reached).
    A Reschedule… button is rendered under each run when `controls` is given; `push_all`, the key of the set of
    the runs shown, adds **Push all back…** under the head (for two runs or more).
    """
    total = len(entries)
    shown = list(entries[:MAX_RUNS_SHOWN])
    blocks: list[Block] = []
    if not entries:
        blocks.append(section(messages.list_empty(where, filters)))
    else:
        blocks.append(section(messages.list_head(len(shown), total, where, filters)))
    if push_all is not None and controls is not None and len(shown) > 1:
        blocks.append(push_all_block(push_all))
    for note in notes[:MAX_NOTES]:
        blocks.append(context(note))
    for index, (run, env) in enumerate(shown):
        blocks.append(section(run_line(run, env, now)))
        if controls is not None:
            actions = run_actions(run, env, controls, run_url(run.id))
            if actions is not None:
                actions["block_id"] = (
                    f"{LIST_BLOCK_PREFIX}{index}:{run.id}"  # unique even when two environments share an id
                )
                blocks.append(actions)
    if total > len(shown):
        blocks.append(context(messages.list_more(total - len(shown))))
    if controls is not None and controls.demo:
        blocks.append(context(messages.DEMO_SUMMARY_NOTE))
    text = messages.list_fallback(total)
    if controls is not None and controls.demo:
        text = f"{text} ({messages.DEMO_FALLBACK_NOTE})"
    return Summary(text=truncate(text, FALLBACK_TEXT_MAX), blocks=blocks[:MAX_BLOCKS])


def push_all_block(key: str) -> Block:
    """**Push all back…**: a time for exactly the runs shown (the set the key names, fixed when listed)."""
    button = {
        "type": "button",
        "action_id": Button.BULK_PUSH_ALL.action_id,
        "text": {"type": "plain_text", "text": messages.BULK_PUSH_ALL},
        "value": BulkValue(k=key).encode(),
    }
    return {"type": "actions", "block_id": "list_push_all", "elements": [button]}


def run_line(run: Run, env: Environment, now: datetime) -> str:
    task = task_text(run)
    head = f"*{task}* · {escape(env.title)}"
    if run.tags:
        tags = ", ".join(code(tag, 64) for tag in run.tags[:MAX_TAGS_SHOWN])
        more = len(run.tags) - MAX_TAGS_SHOWN
        head += f" · {tags}" + (f" +{more}" if more > 0 else "")
    until = run.delayed_until
    if until is None:
        when = messages.NOT_SCHEDULED
    elif until <= now:
        when = f"{date_token(until)} · {messages.LIST_DUE_NOW}"
    else:
        when = f"{date_token(until)} · {messages.list_due_in(format_duration(until - now))}"
    return f"{head}\n{when} · {code(run.id, 64)}"


def run_actions(run: Run, env: Environment, controls: Controls, run_url: str) -> Block | None:
    """The run's Reschedule… button; none for an id a button value cannot carry (never seen from the server)."""
    try:
        return actions_block(run.id, run.task_identifier, env.name, run.delayed_until, None, run_url, controls)
    except ValidationError:
        return None
