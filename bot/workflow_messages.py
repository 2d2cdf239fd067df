"""What a workflow author reads when a Workflow Builder step of the bot ends with an error (plain text:
`functions.completeError` shows no mrkdwn), and the steps' own words.

Slack readers' sentences are in bot/messages.py; the operator's in bot/operator_messages.py.
"""

from __future__ import annotations

from bot.messages import EXAMPLE_RUN

# --- Workflow Builder steps (bot/slack/workflow_steps.py) -----------------------------------------------------------
# A step's error is shown as plain text in the workflow's activity: no emoji codes, no mrkdwn, no internal ids.

WHERE_WORKFLOW = "from a Slack workflow"
WORKFLOW_NO_TIME = "The step was given no time. Give it a time such as 2h, tomorrow 9am or fri 14:00."
WORKFLOW_NOT_NOW = (
    "The step was given now: a workflow step moves a run to a time, such as 2h or tomorrow 9am. To start a run at "
    "once, use Run now on its summary."
)
WORKFLOW_INTERRUPTED = (
    "The bot was restarted before this step finished, so its outcome is not known. Check the run before running "
    "the workflow again."
)
WORKFLOW_NO_USER = (
    'The step needs a person in its user input (normally "Person who used this workflow"): it acts with '
    "their access and sends them the confirmation."
)


def workflow_not_a_run(shown: str) -> str:
    return (
        f'"{shown}" is not a Trigger.dev run id or run link. Give the step a run id such as {EXAMPLE_RUN}, or '
        "the run's dashboard link."
    )


def workflow_unknown_environment(shown: str, names: str) -> str:
    return f'There is no environment called "{shown}" here. Leave the environment empty or use one of: {names}.'


def workflow_bad_time(problem: str) -> str:
    return f"The step's time could not be used: {problem}"


def workflow_bad_within(shown: str) -> str:
    return f'"{shown}" is not a duration the step can read. Try 12h, 2d or 1w.'


def workflow_refused(env_title: str, by_channel: bool) -> str:
    if by_channel:
        return (
            f"Runs in {env_title} may only be moved from certain Slack channels, and a workflow step runs in no "
            "channel. Use /reschedule from one of those channels instead."
        )
    return (
        f"The person this step acts for may not move runs in {env_title}. Ask whoever runs the bot who may, "
        "or pick an environment they may act in."
    )


WORKFLOW_NOTHING_TO_LIST = (
    "The person this step acts for may not move runs in any environment from a workflow, so there is nothing to "
    "list. Pick someone with access in the step's user input."
)


def workflow_not_found(run_id: str, names: str) -> str:
    return f"There is no run {run_id} in {names}. Check the run id or link the workflow gives the step."


def workflow_not_delayed(run_id: str, status_label: str, task: str) -> str:
    return (
        f"Run {run_id} ({task}) is {status_label}, not delayed, so nothing was changed: only a run still waiting "
        "for its start time can be rescheduled."
    )


def workflow_key_rejected(env_title: str) -> str:
    return (
        f"Trigger.dev rejected the bot's secret key for {env_title}, so nothing was changed. Ask whoever runs the "
        "bot to check it."
    )


WORKFLOW_RATE_LIMITED = "Trigger.dev is rate-limiting the bot right now, so nothing was changed. Try again in a minute."
WORKFLOW_UNAVAILABLE = (
    "Trigger.dev is not answering, so nothing was changed. Try again in a few minutes (status: "
    "https://status.trigger.dev)."
)


def workflow_unconfirmed(run_id: str, run_url: str) -> str:
    return (
        f"Trigger.dev did not confirm the move of run {run_id}, so it may or may not have moved. Check the run "
        f"before trying again: {run_url}"
    )


def workflow_request_refused(server_message: str) -> str:
    return f"Trigger.dev refused the move: {server_message}"


def workflow_unexpected(reference: str) -> str:
    return (
        f"Something unexpected went wrong and nothing is known to have changed. Reference {reference}: give it to "
        "whoever runs the bot, it is in the bot's log."
    )


def workflow_due_more(count: int) -> str:
    return f"_{count} more not shown: narrow the step with a task, a tag or an environment._"


def workflow_due_failed(names: str) -> str:
    return f":warning: Could not list {names} (Trigger.dev did not answer); its runs are not in this list."


WORKFLOW_DUE_INCOMPLETE = "_There are more delayed runs than one list reads: narrow the step with a task or a tag._"
