"""The digest of DELAYED runs coming due, posted to DIGEST_CHANNEL: a pure function from runs to Block Kit.

Grouped by environment, then by task (groups in the order of their soonest run); each run is the list's line
with the list's **Reschedule…** button (bot/render/run_list.py). A click is checked against the clicker's own
access, as any button is. Within Block Kit's 50 blocks; runs that do not fit are counted in a footer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot import messages
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls
from bot.render.mrkdwn import FALLBACK_TEXT_MAX, context, escape, section, truncate
from bot.render.run_list import MAX_BLOCKS, run_actions, run_line
from bot.render.summary import Block, Summary

RESERVED = 3  # the footer, the demo note and one spare


def digest(
    entries: Sequence[tuple[Run, Environment]],
    now: datetime,
    *,
    window: str,
    notes: Sequence[str] = (),
    controls: Callable[[Environment], Controls] | None = None,
    run_url: Callable[[str], str] = lambda run_id: "",
    demo: bool = False,
) -> Summary:
    """The digest for `entries` (sorted soonest first); `window` is how far ahead it looks, already formatted."""
    if not entries:
        return Summary(text=messages.digest_empty(window), blocks=[section(messages.digest_empty(window))])
    groups: dict[str, dict[str, list[Run]]] = {}
    envs: dict[str, Environment] = {}
    for run, env in entries:
        envs.setdefault(env.name, env)
        groups.setdefault(env.name, {}).setdefault(run.task_identifier or messages.UNKNOWN_TASK, []).append(run)
    blocks: list[Block] = [section(messages.digest_head(len(entries), window))]
    blocks.extend(context(note) for note in notes[:3])
    shown = 0
    budget = MAX_BLOCKS - RESERVED
    for name, tasks in groups.items():
        env = envs[name]
        if len(blocks) + 3 > budget:
            break
        blocks.append(section(f"*{escape(env.title)}*"))
        for task, runs in tasks.items():
            if len(blocks) + 2 > budget:
                break
            blocks.append(context(messages.digest_group(f"*{escape(truncate(task, 150))}*", len(runs))))
            for index, run in enumerate(runs):
                actions = run_actions(run, env, controls(env), run_url(run.id)) if controls is not None else None
                if len(blocks) + 1 + (actions is not None) > budget:
                    break
                blocks.append(section(run_line(run, env, now)))
                if actions is not None:
                    actions["block_id"] = f"digest:{name}:{index}:{run.id}"[:255]
                    blocks.append(actions)
                shown += 1
    if shown < len(entries):
        blocks.append(context(messages.digest_more(len(entries) - shown)))
    if demo:
        blocks.append(context(messages.DEMO_SUMMARY_NOTE))
    text = messages.digest_fallback(len(entries), window)
    if demo:
        text = f"{text} ({messages.DEMO_FALLBACK_NOTE})"
    return Summary(text=truncate(text, FALLBACK_TEXT_MAX), blocks=blocks[:MAX_BLOCKS])
