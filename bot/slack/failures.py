"""How a failure is told to the person who caused it: one mapping from exception to message."""

from __future__ import annotations

import logging
import secrets

import aiohttp

from bot import messages
from bot.access_check import AccessRefused
from bot.approvals import ApprovalNeeded
from bot.render import access
from bot.render.approvals import approvers_text
from bot.render.mrkdwn import date_token, escape, link
from bot.rescheduler import MoveUnconfirmed, NotApplied, NotDelayed, NotFoundAnywhere, OutOfReach
from bot.trigger.errors import (
    AuthRejected,
    InvalidDelay,
    OutcomeUnknown,
    RateLimited,
    RunNotFound,
    TriggerError,
    TriggerRequestError,
    TriggerUnavailable,
)

log = logging.getLogger(__name__)


def environments_text(names: list[str]) -> str:
    """`*Prod*`, `*Prod* or *Staging*`, `*Prod*, *Staging* or *Dev*`."""
    quoted = [f"*{escape(name)}*" for name in names]
    if len(quoted) <= 1:
        return "".join(quoted) or messages.ANY_ENVIRONMENT
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def failure_text(exc: TriggerError | AccessRefused, run_id: str, env_title: str, run_url: str | None = None) -> str:
    """The specific, private explanation of a refusal or a Trigger.dev failure.

    `run_url`, the run's dashboard link when the caller has it, is offered when the outcome could not be confirmed.
    """
    if isinstance(exc, AccessRefused):
        return refusal_text(exc)
    env_title = exc.environment or env_title
    if isinstance(exc, NotDelayed):
        return messages.not_delayed(exc.run.id, escape(exc.run.status_label), escape(exc.run.task_identifier))
    if isinstance(exc, OutOfReach):
        return access.out_of_reach(exc.refused, run_id=exc.run_id, searched=exc.searched)
    if isinstance(exc, NotFoundAnywhere):
        return messages.run_not_found(run_id, environments_text([env.title for env in exc.searched]))
    if isinstance(exc, RunNotFound):
        return messages.run_not_found(run_id, environments_text([env_title]))
    if isinstance(exc, AuthRejected):
        return messages.key_rejected(escape(env_title))
    if isinstance(exc, RateLimited):
        return messages.RATE_LIMITED
    if isinstance(exc, NotApplied):
        return messages.not_applied(exc.run.id, escape(exc.run.task_identifier), date_token(exc.previous))
    if isinstance(exc, MoveUnconfirmed):
        return unconfirmed_text(exc, run_url)
    if isinstance(exc, OutcomeUnknown):
        return messages.outcome_unknown(_check(run_id, run_url))
    if isinstance(exc, TriggerUnavailable):
        return messages.UNAVAILABLE
    if isinstance(exc, InvalidDelay):
        return messages.delay_refused_by_server(escape(exc.server_message or messages.INVALID_DELAY))
    if isinstance(exc, TriggerRequestError):
        return messages.request_refused(escape(exc.server_message or f"HTTP {exc.status}"))
    return unexpected_text(exc, "trigger")


def approval_text(exc: ApprovalNeeded) -> str:
    """What the person whose move waits (or was refused) is told privately."""
    rule, env_title = exc.approval, escape(exc.env.title)
    who = approvers_text(sorted(rule.users), sorted(rule.groups))
    if exc.unavailable:
        return messages.approval_unavailable(env_title, who)
    request = exc.request
    if request is None:
        return messages.approval_needed(env_title, who)
    if request.message_ts is None or request.message_channel is None:
        return messages.approval_not_posted(env_title, who)
    return messages.approval_asked(env_title, who, messages.approval_asked_where(request.message_channel))


def unconfirmed_text(exc: MoveUnconfirmed, run_url: str | None) -> str:
    """A move that may or may not have been applied: what was asked, what reading back showed, where to check."""
    asked = messages.UNCONFIRMED_RUN_NOW if exc.when is None else messages.unconfirmed_move_to(date_token(exc.when))
    current = exc.current
    if current is None:
        seen = messages.unconfirmed_seen(None, None)
    else:
        until = date_token(current.delayed_until) if current.is_delayed and current.delayed_until else None
        seen = messages.unconfirmed_seen(escape(current.status_label), until)
    check = _check(exc.run.id, run_url)
    return messages.move_unconfirmed(exc.run.id, escape(exc.run.task_identifier), asked, seen, check)


def _check(run_id: str, run_url: str | None) -> str:
    """Where to look at the run: its dashboard link when known, else the command that shows it."""
    return link(run_url, messages.OPEN_IN_TRIGGER) if run_url else messages.check_run_command(run_id)


def refusal_text(exc: AccessRefused) -> str:
    """Names the rule: who may move runs in this environment, and from where (or, in a protected environment,
    that approval was asked for and from whom)."""
    if isinstance(exc, ApprovalNeeded):
        return approval_text(exc)
    return access.refused_text(exc)


def moved_but(exc: BaseException, surface: str) -> str:
    """After a successful move, something unexpected went wrong telling people about it."""
    reference = secrets.token_hex(4)
    log.error("unexpected error after a move ref=%s surface=%s", reference, surface, exc_info=exc)
    return messages.moved_but(reference)


def unexpected_text(exc: BaseException, surface: str) -> str:
    """Log the unexpected with a short reference, and return the message quoting it."""
    reference = secrets.token_hex(4)
    log.error("unexpected error ref=%s surface=%s", reference, surface, exc_info=exc)
    return messages.unexpected(reference)


def slack_unreachable(exc: BaseException) -> str | None:
    """What kept the bot from Slack when `exc` (or what caused it) is a connection that failed or timed out with
    no answer from Slack, else None. An answer from Slack (an error code) is not this."""
    seen: BaseException | None = exc
    for _ in range(10):  # a cause chain is short; bounded all the same
        if seen is None:
            return None
        if isinstance(seen, aiohttp.ClientConnectionError | TimeoutError):
            return type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None
