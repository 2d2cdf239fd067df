"""The reschedule modal's views: loading, the form, a run that can't be moved, and the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot import messages
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render import ids
from bot.render.mrkdwn import code, date_token, escape, link, section, truncate
from bot.render.summary import status_text


class FoundRun(Protocol):
    """A run and the environment it was found in (the action path's result, as far as drawing needs it)."""

    @property
    def run(self) -> Run: ...

    @property
    def env(self) -> Environment: ...


View = dict[str, Any]
Block = dict[str, Any]
MAX_CHECKBOXES = 10
MAX_BLOCKS = 100
MAX_CONTEXT = 10  # elements in one context block


def _view(title: str, blocks: list[Block], metadata: str = "", submit: bool = False) -> View:
    view: View = {
        "type": "modal",
        "callback_id": ids.MODAL_CALLBACK_ID,
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": messages.MODAL_CANCEL if submit else messages.MODAL_CLOSE},
        "blocks": blocks,
        "private_metadata": metadata,
    }
    if submit:
        view["submit"] = {"type": "plain_text", "text": messages.MODAL_SUBMIT}
    return view


def notice(*texts: str, title: str = messages.MODAL_TITLE) -> View:
    """A view that only says something (failures, runs that can't be moved, the result): a section each."""
    return _view(title, [section(text) for text in texts[:MAX_BLOCKS] if text])


def question(title: str, text: str, ok: str, metadata: str) -> View:
    """Pushed over the form when what was typed asks first (`now`: the card's Run now question; `next friday`: the
    date it resolved to): the same words as the button's confirmation, plain text."""
    return {
        "type": "modal",
        "callback_id": ids.MODAL_QUESTION_CALLBACK_ID,
        "title": {"type": "plain_text", "text": truncate(title, 24)},
        "submit": {"type": "plain_text", "text": truncate(ok, 24)},
        "close": {"type": "plain_text", "text": messages.MODAL_BACK},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": truncate(text, 3000)}}],
        "private_metadata": metadata,
    }


def form(
    found: Sequence[FoundRun],
    not_movable: Sequence[FoundRun],
    metadata: str,
    run_url: Any,
    problems: Sequence[str] = (),
    choices: Sequence[Environment] = (),
    hint: str = messages.HINT_WHEN_TEXT,
    reason: bool = False,
) -> View:
    """The form for one or more DELAYED runs; runs that can't be moved are listed, not offered.

    `reason`: a run is in a protected environment, so the form asks why (for the approver), optionally.

    `problems` are mrkdwn explanations for runs that could not be looked up (not found, Trigger.dev failing):
    they are shown under the form, so no run named in the message silently disappears. `choices` are the
    environments that all have a run with this id: the person picks one (the first is preselected).
    """
    blocks: list[Block] = []
    if len(found) == 1:
        run, env = found[0].run, found[0].env
        when = date_token(run.delayed_until) if run.delayed_until else messages.NOT_SCHEDULED
        blocks.append(section(messages.modal_current(escape(run.task_identifier), escape(env.title), run.id, when)))
    else:
        blocks.append(_runs_input(found))
    if len(choices) > 1:
        blocks.append(_env_input(choices))
    blocks.extend(when_inputs(hint))
    if reason:
        blocks.append(reason_input())
    if not_movable:
        lines = "\n".join(
            f"• {code(item.run.id, 40)} {escape(item.run.task_identifier)}: {status_text(item.run)} "
            f"({link(run_url(item.run.id), messages.OPEN_IN_TRIGGER)})"
            for item in not_movable
        )
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": truncate(messages.modal_not_movable(lines), 2000)}],
            }
        )
    if problems:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": truncate(text, 2000)} for text in problems[:MAX_CONTEXT]],
            }
        )
    title = messages.MODAL_TITLE if len(found) == 1 else messages.MODAL_TITLE_MANY
    return _view(title, blocks, metadata, submit=True)


def reason_input() -> Block:
    """Why the move is asked, shown to the approver of a protected environment (optional)."""
    return {
        "type": "input",
        "block_id": ids.BLOCK_REASON,
        "optional": True,
        "label": {"type": "plain_text", "text": messages.LABEL_REASON_INPUT},
        "hint": {"type": "plain_text", "text": messages.HINT_REASON},
        "element": {"type": "plain_text_input", "action_id": ids.ACTION_REASON, "max_length": 500},
    }


def when_inputs(hint: str = messages.HINT_WHEN_TEXT) -> list[Block]:
    """A typed time or a picked date and time: both optional, exactly one to be filled (checked on submit).
    `hint`: examples computed for the reader when the form is drawn."""
    return [
        {
            "type": "input",
            "block_id": ids.BLOCK_WHEN_TEXT,
            "optional": True,
            "label": {"type": "plain_text", "text": messages.LABEL_WHEN_TEXT},
            "hint": {"type": "plain_text", "text": truncate(hint, 2000)},
            "element": {"type": "plain_text_input", "action_id": ids.ACTION_WHEN_TEXT, "max_length": 100},
        },
        {
            "type": "input",
            "block_id": ids.BLOCK_WHEN_AT,
            "optional": True,
            "label": {"type": "plain_text", "text": messages.LABEL_WHEN_AT},
            "hint": {"type": "plain_text", "text": messages.HINT_WHEN_AT},
            "element": {"type": "datetimepicker", "action_id": ids.ACTION_WHEN_AT},
        },
    ]


def _env_input(choices: Sequence[Environment]) -> Block:
    options = [
        {"text": {"type": "plain_text", "text": truncate(env.title, 75)}, "value": env.name} for env in choices[:100]
    ]
    return {
        "type": "input",
        "block_id": ids.BLOCK_ENV,
        "label": {"type": "plain_text", "text": messages.LABEL_ENV},
        "hint": {"type": "plain_text", "text": messages.HINT_ENV},
        "element": {
            "type": "static_select",
            "action_id": ids.ACTION_ENV,
            "options": options,
            "initial_option": options[0],
        },
    }


def _runs_input(found: Sequence[FoundRun]) -> Block:
    options = [
        {
            "text": {"type": "plain_text", "text": truncate(f"{item.run.task_identifier} · {item.env.title}", 75)},
            "description": {"type": "plain_text", "text": item.run.id},
            "value": item.run.id,
        }
        for item in found[:MAX_CHECKBOXES]
    ]
    return {
        "type": "input",
        "block_id": ids.BLOCK_RUNS,
        "label": {"type": "plain_text", "text": messages.LABEL_RUNS},
        "element": {
            "type": "checkboxes",
            "action_id": ids.ACTION_RUNS,
            "options": options,
            "initial_options": options,
        },
    }
