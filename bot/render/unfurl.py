"""The preview (unfurl) of a run link: a compact card, with the summary's buttons while the run is DELAYED.

Pure: a run and its environment in, the `unfurls` entry for `chat.unfurl` out. The buttons are the summary's own
(same action ids and values, built by `bot.render.controls`), so a click on a preview takes the buttons path with
its access check and confirmations; Undo never shows (a preview moved nothing) and Open is left out (the link is
the preview's own).
"""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls, actions_block
from bot.render.ids import Button
from bot.render.mrkdwn import FIELD_TEXT_MAX, code, context, date_token, escape, section, truncate
from bot.render.summary import status_text, task_text

Block = dict[str, Any]

PREVIEW_BUTTONS = (Button.PUSH_1H, Button.PUSH_1D, Button.TOMORROW_9, Button.OTHER, Button.RUN_NOW)


def run_preview(
    run: Run, env: Environment, run_url: str, controls: Controls | None = None, demo: bool = False
) -> dict[str, Any]:
    """The `unfurls` value for one link to `run`: task and environment, status and, while DELAYED, the scheduled
    time (a date token: every reader sees their own timezone). Buttons only when `controls` is given and the run
    is DELAYED. In demo mode (`demo`, or `controls.demo`) a line says that Trigger.dev is simulated."""
    task = task_text(run)
    fields = [_field(messages.LABEL_STATUS, status_text(run))]
    if run.is_delayed:  # once it has started, when it was scheduled no longer says anything
        when = run.delayed_until
        fields.append(_field(messages.LABEL_SCHEDULED, date_token(when) if when else messages.NOT_SCHEDULED))
    blocks: list[Block] = [
        section(messages.UNFURL_HEAD.format(task=task, env=escape(env.title))),
        {"type": "section", "fields": fields},
        context(code(run.id, 64)),
    ]
    if demo or (controls is not None and controls.demo):
        blocks.append(context(messages.DEMO_SUMMARY_NOTE))
    if controls is not None and run.is_delayed:
        preview_controls = Controls(now=controls.now, confirm=controls.confirm, buttons=PREVIEW_BUTTONS)
        blocks.append(
            actions_block(run.id, run.task_identifier, env.name, run.delayed_until, None, run_url, preview_controls)
        )
    return {"blocks": blocks}


def _field(label: str, value: str) -> Block:
    return {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", FIELD_TEXT_MAX)}
