"""The run summary: a pure function from a run (and what was just done to it) to Block Kit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot import messages
from bot.domain.actions import Did
from bot.domain.environments import Environment
from bot.domain.runs import Run, RunStatus
from bot.render.controls import Controls, actions_block
from bot.render.ids import Button
from bot.render.mrkdwn import (
    FALLBACK_TEXT_MAX,
    FIELD_TEXT_MAX,
    code,
    context,
    date_token,
    escape,
    fallback_time,
    link,
    same_minute,
    section,
    truncate,
)

Block = dict[str, Any]

STATUS_EMOJI: dict[RunStatus, str] = {
    RunStatus.DELAYED: ":hourglass_flowing_sand:",
    RunStatus.PENDING_VERSION: ":package:",
    RunStatus.WAITING_FOR_DEPLOY: ":package:",
    RunStatus.QUEUED: ":inbox_tray:",
    RunStatus.DEQUEUED: ":inbox_tray:",
    RunStatus.EXECUTING: ":runner:",
    RunStatus.REATTEMPTING: ":repeat:",
    RunStatus.WAITING: ":double_vertical_bar:",
    RunStatus.FROZEN: ":double_vertical_bar:",
    RunStatus.COMPLETED: ":white_check_mark:",
    RunStatus.CANCELED: ":no_entry_sign:",
    RunStatus.FAILED: ":x:",
    RunStatus.CRASHED: ":boom:",
    RunStatus.SYSTEM_FAILURE: ":rotating_light:",
    RunStatus.INTERRUPTED: ":x:",
    RunStatus.EXPIRED: ":alarm_clock:",
    RunStatus.TIMED_OUT: ":stopwatch:",
}
MAX_TAGS_SHOWN = 10
SUMMARY_HEADS = {
    Did.MOVED: messages.SUMMARY_RESCHEDULED,
    Did.UNDONE: messages.SUMMARY_UNDONE,
    Did.STARTED: messages.SUMMARY_STARTED,
}
# The two times a card shows after an action: the one it has now, and the one before.
TIME_LABELS = {
    Did.MOVED: (messages.LABEL_NEW_TIME, messages.LABEL_PREVIOUS_TIME),
    Did.UNDONE: (messages.LABEL_BACK_TO, messages.LABEL_UNDONE_TIME),
    Did.STARTED: (messages.LABEL_STARTED, messages.LABEL_WAS_TO_START),
}


@dataclass(frozen=True, slots=True)
class Attribution:
    """What was just done: who moved the run, from when, to when, and whether it was a move, an Undo or Run now
    (`did`)."""

    user_id: str
    previous: datetime | None
    new: datetime
    at: datetime | None = None
    did: Did = Did.MOVED
    approved_by: str | None = None  # a move in a protected environment: the approver, named beside the mover


@dataclass(frozen=True, slots=True)
class Summary:
    """A rendered message: Block Kit blocks plus the plain-text fallback Slack requires."""

    text: str
    blocks: list[Block]


def status_text(run: Run) -> str:
    emoji = STATUS_EMOJI.get(run.status, ":grey_question:")
    label = run.status_label.replace("_", " ").title()
    return f"{emoji} {escape(label)}"


def task_text(run: Run) -> str:
    """The run's task as mrkdwn: escaped, cut to 150 characters, or a stand-in when Trigger.dev gave none."""
    return escape(truncate(run.task_identifier or messages.UNKNOWN_TASK, 150))


def run_summary(
    run: Run,
    env: Environment,
    run_url: str,
    action: Attribution | None = None,
    controls: Controls | None = None,
    head: str | None = None,
    demo: bool = False,
) -> Summary:
    """The summary of `run`, headed by `action` when the run was just rescheduled.

    Buttons are added when `controls` is given and the run is still DELAYED; `head` replaces the first line.
    In demo mode (`demo`, or `controls.demo`) a context line says that Trigger.dev is simulated.
    """
    task = task_text(run)
    if action is not None:
        head = head or SUMMARY_HEADS[action.did].format(user=action.user_id, task=task, env=escape(env.title))
        if action.approved_by:
            head += messages.approved_by(action.approved_by)
        if action.at is not None:
            head += " · " + date_token(action.at)
        text = messages.summary_fallback_done(action.did, task, run.id, fallback_time(action.new), action.user_id)
    else:
        head = head or messages.SUMMARY_CURRENT.format(task=task, env=escape(env.title))
        text = messages.summary_fallback(task, run.id, escape(run.status_label))
    blocks: list[Block] = [section(head), {"type": "section", "fields": _fields(run, env, action)}]
    footer = f"{code(run.id, 64)} · {link(run_url, messages.OPEN_IN_TRIGGER)}"
    blocks.append(context(footer))
    if demo or (controls is not None and controls.demo):
        blocks.append(context(messages.DEMO_SUMMARY_NOTE))
        text = f"{text} ({messages.DEMO_FALLBACK_NOTE})"
    controls = still_applies(controls, action)
    if controls is not None and run.is_delayed:
        shown = action.new if action is not None else run.delayed_until
        previous = action.previous if action is not None else None
        blocks.append(actions_block(run.id, run.task_identifier, env.name, shown, previous, run_url, controls))
    return Summary(text=truncate(text, FALLBACK_TEXT_MAX), blocks=blocks)


def still_applies(controls: Controls | None, action: Attribution | None) -> Controls | None:
    """The buttons that still apply after `action`: none after Run now (the run is starting), no Undo after an
    Undo (a second one would make the move again); None when no button is left."""
    if controls is None or action is None or action.did is Did.MOVED:
        return controls
    if action.did is Did.STARTED:
        return None
    return replace(controls, buttons=tuple(button for button in controls.buttons if button is not Button.UNDO))


def _field(label: str, value: str) -> Block:
    return {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", FIELD_TEXT_MAX)}


def _time(when: datetime | None, seconds: bool = False) -> str:
    return date_token(when, seconds=seconds) if when is not None else messages.NOT_SCHEDULED


def _fields(run: Run, env: Environment, action: Attribution | None) -> list[Block]:
    fields: list[Block] = []
    if action is not None:
        new_label, previous_label = TIME_LABELS[action.did]
        seconds = same_minute(action.new, action.previous)
        fields.append(_field(new_label, _time(action.new, seconds)))
        fields.append(_field(previous_label, _time(action.previous, seconds)))
    elif run.is_delayed:
        fields.append(_field(messages.LABEL_SCHEDULED, _time(run.delayed_until)))
    if action is not None and action.did is Did.STARTED and run.is_delayed:  # asked to start; not picked up yet
        fields.append(_field(messages.LABEL_STATUS, f"{STATUS_EMOJI[RunStatus.QUEUED]} {messages.STATUS_STARTING}"))
    else:
        fields.append(_field(messages.LABEL_STATUS, status_text(run)))
    fields.append(_field(messages.LABEL_ENVIRONMENT, escape(env.title)))
    if run.version:
        fields.append(_field(messages.LABEL_VERSION, code(run.version, 100)))
    if run.tags:
        shown = ", ".join(code(tag, 128) for tag in run.tags[:MAX_TAGS_SHOWN])
        more = len(run.tags) - MAX_TAGS_SHOWN
        fields.append(_field(messages.LABEL_TAGS, shown + (f" +{more}" if more > 0 else "")))
    if run.idempotency_key:
        fields.append(_field(messages.LABEL_IDEMPOTENCY, code(run.idempotency_key, 200)))
    if run.is_test:
        fields.append(_field(messages.LABEL_TEST, messages.YES))
    return fields[:10]
