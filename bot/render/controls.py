"""The buttons under a run summary: quick choices computed from the times the message shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import messages
from bot.domain.environments import Environment
from bot.render.ids import Button, ButtonValue
from bot.render.mrkdwn import BUTTON_TEXT_MAX, URL_MAX, date_token, escape, truncate

Block = dict[str, Any]

PUSH_STEPS: dict[Button, timedelta] = {Button.PUSH_1H: timedelta(hours=1), Button.PUSH_1D: timedelta(days=1)}
SUMMARY_BUTTONS = (
    Button.PUSH_1H,
    Button.PUSH_1D,
    Button.TOMORROW_9,
    Button.OTHER,
    Button.RUN_NOW,
    Button.UNDO,
    Button.OPEN,
)
DM_BUTTONS = (Button.UNDO,)  # a DM confirmation links to the summary; its one button undoes the move
PRIVATE_BUTTONS = (Button.RESCHEDULE, Button.OPEN)


@dataclass(frozen=True, slots=True)
class Controls:
    """How to render buttons: the time now (Undo is offered only while its time is ahead), whether the
    environment asks for confirmation, and which buttons to offer; `demo`: the bot runs against the simulated
    Trigger.dev (`--demo`), which every summary says."""

    now: datetime
    confirm: bool
    buttons: tuple[Button, ...] = SUMMARY_BUTTONS
    demo: bool = False


def _button(button: Button, label: str, value: ButtonValue | str, style: str | None = None) -> Block:
    """A button carrying `value` (encoded, or already encoded: a card's buttons all carry the same one)."""
    element: Block = {
        "type": "button",
        "action_id": button.action_id,
        "text": {"type": "plain_text", "text": truncate(label, BUTTON_TEXT_MAX), "emoji": True},
        "value": value if isinstance(value, str) else value.encode(),
    }
    if style:
        element["style"] = style
    return element


def _confirm(title: str, text: str, ok: str, style: str = "primary") -> Block:
    return {
        "title": {"type": "plain_text", "text": truncate(title, 100)},
        "text": {"type": "plain_text", "text": truncate(text, 300)},
        "confirm": {"type": "plain_text", "text": truncate(ok, 30)},
        "deny": {"type": "plain_text", "text": messages.CONFIRM_DENY},
        "style": style,
    }


def actions_block(
    run_id: str,
    task: str,
    env: str,
    shown: datetime | None,
    previous: datetime | None,
    run_url: str,
    controls: Controls,
) -> Block:
    """The actions block for a DELAYED run whose message shows `shown` (and `previous`, after a reschedule)."""
    value = ButtonValue.of(run_id, env, shown=shown, previous=previous).encode()  # once for every button
    elements: list[Block] = []
    for button in controls.buttons:
        element = _element(button, run_id, task, shown, previous, run_url, value, controls)
        if element is not None:
            elements.append(element)
    return {"type": "actions", "block_id": f"run_actions:{run_id}", "elements": elements}


def _element(
    button: Button,
    run_id: str,
    task: str,
    shown: datetime | None,
    previous: datetime | None,
    run_url: str,
    value: ButtonValue | str,
    controls: Controls,
) -> Block | None:
    if button in PUSH_STEPS:
        if shown is None:
            return None
        element = _button(button, messages.BUTTON_LABELS[button], value)
        if controls.confirm:
            element["confirm"] = _confirm(
                messages.CONFIRM_TITLE, messages.confirm_push(run_id, task, button), messages.CONFIRM_OK
            )
        return element
    if button is Button.TOMORROW_9:
        element = _button(button, messages.BUTTON_LABELS[button], value)
        if controls.confirm:
            element["confirm"] = _confirm(
                messages.CONFIRM_TITLE, messages.confirm_tomorrow(run_id, task), messages.CONFIRM_OK
            )
        return element
    if button in (Button.OTHER, Button.RESCHEDULE):
        return _button(button, messages.BUTTON_LABELS[button], value, style="primary")
    if button is Button.RUN_NOW:
        element = _button(button, messages.BUTTON_LABELS[button], value, style="danger")
        element["confirm"] = _confirm(
            messages.CONFIRM_RUN_NOW_TITLE,
            messages.confirm_run_now(run_id, task),
            messages.CONFIRM_RUN_NOW_OK,
            "danger",
        )
        return element
    if button is Button.UNDO:
        if previous is None or previous <= controls.now:
            return None
        element = _button(button, messages.BUTTON_LABELS[button], value)
        if controls.confirm:
            element["confirm"] = _confirm(
                messages.CONFIRM_TITLE,
                messages.confirm_undo(run_id, task),
                messages.CONFIRM_OK,
            )
        return element
    if button is Button.OPEN:
        return {
            "type": "button",
            "action_id": button.action_id,
            "text": {"type": "plain_text", "text": messages.OPEN_IN_TRIGGER},
            "url": run_url[:URL_MAX],
        }
    return None


def confirm_prompt(
    run_id: str, task: str, env: Environment, target: datetime, spoken: str = "", text: str = ""
) -> list[Block]:
    """The private Confirm / Cancel prompt a slash command gets in an environment that asks first; `spoken`: the
    time in the reader's own terms, else a date token; `text`: the question when it is asked for another reason
    (a day to check, a move earlier: messages.confirm_day, confirm_earlier)."""
    value = ButtonValue.of(run_id, env.name, target=target)
    text = text or messages.confirm_prompt(run_id, escape(task), escape(env.title), spoken or date_token(target))
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "block_id": f"confirm:{run_id}",
            "elements": [
                _button(Button.CONFIRM, messages.CONFIRM_OK, value, style="primary"),
                {
                    "type": "button",
                    "action_id": Button.CANCEL.action_id,
                    "text": {"type": "plain_text", "text": messages.CONFIRM_DENY},
                },
            ],
        },
    ]


def run_now_prompt(run_id: str, task: str, env: Environment) -> list[Block]:
    """The private prompt `now` gets on the slash command: the card's own **Run now** button (with the same
    question before it acts) and Cancel."""
    value = ButtonValue.of(run_id, env.name)
    text = messages.run_now_prompt(run_id, escape(task), escape(env.title))
    run_now = _element(Button.RUN_NOW, run_id, task, None, None, "", value, Controls(now=datetime.min, confirm=True))
    assert run_now is not None
    cancel = {
        "type": "button",
        "action_id": Button.CANCEL.action_id,
        "text": {"type": "plain_text", "text": messages.CONFIRM_DENY},
    }
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": f"run_now:{run_id}", "elements": [run_now, cancel]},
    ]
