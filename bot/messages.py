"""Every sentence the bot says to a person, in one place.

Functions take already-escaped mrkdwn fragments where they interpolate text that is not ours; callers use
`bot.render.mrkdwn.escape` (or `code`) for anything from Trigger.dev or from a user.
"""

from __future__ import annotations

from bot.domain.delays import DelayProblem

COMMAND = "/reschedule"
EXAMPLE_RUN = "run_cm9k2x7ab000108l5ghf2d1qz"
DELAY_EXAMPLES = "`30m`, `2h`, `1h 30m`, `1d12h`, `2w`, or a time like `2026-12-01T09:00Z`"

# ---------------------------------------------------------------- configuration (printed at start-up)


def config_missing(name: str, where: str) -> str:
    return f"  - {name} is not set. Find it in: {where}."


def config_invalid(name: str, problem: str) -> str:
    return f"  - {name} is invalid: {problem}."


def config_problems(problems: list[str]) -> str:
    lines = "\n".join(problems)
    return (
        "reschedule-bot cannot start; fix these settings (environment variables or a .env file):\n"
        f"{lines}\nSee README.md, section Settings."
    )


# ---------------------------------------------------------------- usage


def usage() -> str:
    return (
        f"*{COMMAND}* moves a delayed Trigger.dev run to a new time.\n"
        f"• `{COMMAND} <run> <when>`: reschedule, e.g. `{COMMAND} {EXAMPLE_RUN} 2h`\n"
        f"• `{COMMAND} <run>`: show the run as it is now, privately\n"
        f"• `{COMMAND} help`: this message\n"
        "*<run>* is a run id (`run_…`) or a link to the run in the Trigger.dev dashboard.\n"
        f"*<when>* is how long from now: {DELAY_EXAMPLES} (ISO time with `Z` or an offset).\n"
        "Only runs that are still *Delayed* can be moved."
    )


def with_usage(problem: str) -> str:
    return f"{problem}\n\n{usage()}"


def not_a_run(text_escaped: str) -> str:
    return (
        f":warning: `{text_escaped}` is not a Trigger.dev run id or run link. Run ids look like "
        f"`{EXAMPLE_RUN}`; you can also paste the run's dashboard URL."
    )


def too_many_words(extra_escaped: str) -> str:
    return f":warning: I don't know what to do with `{extra_escaped}`: give a run and one time, nothing else."


# ---------------------------------------------------------------- delays


def delay_problem(kind: DelayProblem, text_escaped: str, max_delay_text: str) -> str:
    """A specific explanation of why `text` is not a usable time, with examples."""
    if kind is DelayProblem.EMPTY:
        head = "Tell me when the run should start."
    elif kind is DelayProblem.NOT_POSITIVE:
        head = f"`{text_escaped}` is not in the future: give a time after now."
    elif kind is DelayProblem.PAST:
        head = f"`{text_escaped}` has already passed: give a time in the future."
    elif kind is DelayProblem.TOO_FAR:
        head = (
            f"`{text_escaped}` is too far ahead: the furthest I can move a run is {max_delay_text} from now."
        )
    else:
        head = (
            f"I can't read `{text_escaped}` as a time. Durations use w, d, h, m, s "
            "(no decimals); absolute times need a `Z` or an offset such as `+01:00`."
        )
    return f":warning: {head}\nExamples: {DELAY_EXAMPLES}."


def delay_refused_by_server(server_message_escaped: str) -> str:
    return (
        f":warning: Trigger.dev refused the new time ({server_message_escaped}). If the time was very close, "
        f"it may have passed before the request arrived: try a little later. Examples: {DELAY_EXAMPLES}."
    )


# ---------------------------------------------------------------- Trigger.dev outcomes


def run_not_found(run_id: str, environments: str) -> str:
    return (
        f":mag: Run `{run_id}` was not found in {environments}. Check the id (copy it from the dashboard), "
        "and that the run belongs to an environment this bot has a key for: a key only sees its own "
        "environment's runs."
    )


def not_delayed(run_id: str, status_label: str, task_escaped: str) -> str:
    return (
        f":no_entry_sign: Run `{run_id}` ({task_escaped}) is *{status_label}*, so nothing was changed. "
        "Only runs that are still *Delayed* (waiting for their start time) can be rescheduled; once a run "
        "is queued, running or finished, its start time is no longer ours to move."
    )


def key_rejected(environment: str) -> str:
    return (
        f":lock: Trigger.dev rejected this bot's secret key for *{environment}*, so nothing was changed. "
        "Ask whoever runs the bot to check its TRIGGER_SECRET_KEY: it must be a current environment secret "
        "key (tr_prod_…, tr_stg_…, tr_dev_…), not a public key or a personal access token."
    )


def unavailable() -> str:
    return (
        ":hourglass: Trigger.dev is not answering, so nothing was changed. Try again in a minute "
        "(status: https://status.trigger.dev)."
    )


def rate_limited() -> str:
    return (
        ":hourglass: Trigger.dev is rate-limiting this bot right now, so nothing was changed. "
        "Try again in a minute."
    )


def request_refused(server_message_escaped: str) -> str:
    return f":warning: Trigger.dev refused the request: {server_message_escaped}. Nothing was changed."


def unexpected(reference: str) -> str:
    return (
        f":boom: Something unexpected went wrong and nothing is known to have changed. "
        f"Reference `{reference}`: give it to whoever runs the bot, it is in the bot's log."
    )


# ---------------------------------------------------------------- the run summary


def summary_fallback_rescheduled(task: str, run_id: str, new_time: str, user_id: str) -> str:
    """Plain-text notification fallback (no mrkdwn rendering there)."""
    return f"Run {run_id} ({task}) rescheduled to {new_time} by <@{user_id}>"


def summary_fallback(task: str, run_id: str, status_label: str) -> str:
    return f"Run {run_id} ({task}) is {status_label}"


SUMMARY_RESCHEDULED = ":arrows_counterclockwise: <@{user}> rescheduled *{task}* in *{env}*"
SUMMARY_CURRENT = ":mag: *{task}* in *{env}*"
LABEL_NEW_TIME = "New start time"
LABEL_PREVIOUS_TIME = "Previous start time"
LABEL_SCHEDULED = "Scheduled to start"
LABEL_STATUS = "Status"
LABEL_RUN = "Run"
LABEL_ENVIRONMENT = "Environment"
LABEL_VERSION = "Version"
LABEL_TAGS = "Tags"
LABEL_IDEMPOTENCY = "Idempotency key"
LABEL_TEST = "Test run"
OPEN_IN_TRIGGER = "Open in Trigger.dev"
NOT_SCHEDULED = "not set"
YES = "yes"
