"""The request message of a protected environment: who asks, which runs, from when to when, why, and Approve /
Reject; once decided or expired, the same message with a line saying so and no buttons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import messages
from bot.render.ids import BulkValue, Button
from bot.render.mrkdwn import code, context, date_token, escape, link, section, truncate
from bot.render.summary import Block, Summary

MAX_RUNS_SHOWN = 10
APPROVAL_BLOCK_ID = "approval"


@dataclass(frozen=True, slots=True)
class RunShown:
    run_id: str
    task: str
    url: str
    before: datetime | None


def approvers_text(users: Iterable[str], groups: Iterable[str]) -> str:
    """`<@U1>`, `<!subteam^S1>` (a group is mentioned as the group), joined with "or"."""
    names = [f"<@{user}>" for user in sorted(users)] + [f"<!subteam^{group}>" for group in sorted(groups)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def request_message(
    *,
    key: str,
    user_id: str,
    env_title: str,
    runs: Sequence[RunShown],
    when: datetime | None,
    reason: str,
    expires: datetime,
    approvers: str,
    outcome: str | None = None,
) -> Summary:
    """The request; `outcome` (a decided or expired request) replaces the buttons with that line."""
    head = messages.approval_request_head(user_id, len(runs), escape(env_title))
    to = date_token(when) if when is not None else messages.APPROVAL_RUN_NOW
    blocks: list[Block] = [section(head)]
    if len(runs) == 1:
        run = runs[0]
        fields = [
            _field(
                messages.LABEL_RUN,
                f"{link(run.url, escape(truncate(run.task or run.run_id, 100)))} {code(run.run_id, 40)}",
            ),
            _field(messages.LABEL_ENVIRONMENT, escape(env_title)),
            _field(messages.LABEL_FROM, date_token(run.before) if run.before else messages.NOT_SCHEDULED),
            _field(messages.LABEL_TO, to),
        ]
        blocks.append({"type": "section", "fields": fields})
    else:
        blocks.append(
            {
                "type": "section",
                "fields": [_field(messages.LABEL_ENVIRONMENT, escape(env_title)), _field(messages.LABEL_TO, to)],
            }
        )
        lines = [_run_line(run) for run in runs[:MAX_RUNS_SHOWN]]
        if len(runs) > MAX_RUNS_SHOWN:
            lines.append(messages.approval_more_runs(len(runs) - MAX_RUNS_SHOWN))
        blocks.append(section(f"*{messages.LABEL_RUNS}*\n" + "\n".join(lines)))
    if reason:
        blocks.append(section(f"*{messages.LABEL_REASON}*\n{escape(truncate(reason, 500))}"))
    if outcome is None:
        blocks.append(context(messages.approval_expires(date_token(expires), approvers)))
        value = BulkValue(k=key).encode()
        blocks.append(
            {
                "type": "actions",
                "block_id": APPROVAL_BLOCK_ID,
                "elements": [
                    _button(Button.APPROVE, messages.BUTTON_APPROVE, value, "primary"),
                    _button(Button.REJECT, messages.BUTTON_REJECT, value, "danger"),
                ],
            }
        )
    else:
        blocks.append(section(outcome))
    text = messages.approval_request_fallback(user_id, len(runs), env_title)
    return Summary(text=truncate(text, 3000), blocks=blocks)


def _run_line(run: RunShown) -> str:
    """• task `run_…`, from its start time when known, linked to the dashboard."""
    task = escape(truncate(run.task, 80)) if run.task else ""
    line = f"• {link(run.url, task)} {code(run.run_id, 40)}" if task else f"• {link(run.url, code(run.run_id, 40))}"
    return line + (f" {messages.approval_run_from(date_token(run.before))}" if run.before else "")


def _field(label: str, value: str) -> Block:
    return {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", 2000)}


def _button(button: Button, label: str, value: str, style: str) -> Block:
    return {
        "type": "button",
        "action_id": button.action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
        "style": style,
    }
