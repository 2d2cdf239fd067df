"""Every sentence the bot says to a person in Slack, in one place (what the operator reads at start-up and from
`reschedule-bot check` is in bot/operator_messages.py; what a workflow author reads, in bot/workflow_messages.py).

Functions take already-escaped mrkdwn fragments where they interpolate text that is not ours; callers use
`bot.render.mrkdwn.escape` (or `code`) for anything from Trigger.dev or from a user.
"""

from __future__ import annotations

from bot.domain.actions import Did
from bot.domain.audit import Outcome
from bot.domain.delays import DelayProblem

# --- The slash command ---------------------------------------------------------------------------------------------

COMMAND = "/reschedule"
EXAMPLE_RUN = "run_cm9k2x7ab000108l5ghf2d1qz"
# Examples valid whenever they are read (relative phrases); replies that know the reader's zone add a computed date.
DELAY_EXAMPLES = "`30m`, `2h`, `1h 30m`, `tomorrow 9am`, `mon 14:00`, `17:30` or `next friday 9am`"


USAGE = (
    f"*{COMMAND}* moves a delayed Trigger.dev run to a new time.\n"
    f"• `{COMMAND} &lt;run&gt; &lt;when&gt;`: reschedule, e.g. `{COMMAND} {EXAMPLE_RUN} 2h`\n"
    f"• `{COMMAND} &lt;run&gt; &lt;run&gt; … &lt;when&gt;`: move several runs at once, after one confirmation\n"
    f"• `{COMMAND} &lt;run&gt;`: show the run as it is now, privately\n"
    f"• `{COMMAND} list [task] [--tag &lt;tag&gt;] [--within &lt;duration&gt;]`: the delayed runs, soonest first, "
    "privately\n"
    f"• `{COMMAND} history` (your recent actions) or `{COMMAND} history &lt;run&gt;` (everything done to a run)\n"
    f"• add `--env &lt;name&gt;` to look in one environment only\n"
    f"• `{COMMAND} help`: this message\n"
    "*&lt;run&gt;* is a run id (`run_…`) or a link to the run in the Trigger.dev dashboard.\n"
    f"*&lt;when&gt;* is how long from now or a time in your Slack timezone: {DELAY_EXAMPLES}; a date such as "
    "`9 Dec 09:00` or an ISO time; `now` starts the run (after the same question as *Run now*).\n"
    "Only runs that are still *Delayed* can be moved."
)


def not_a_run(text_escaped: str, example: str = f"{COMMAND} {EXAMPLE_RUN} 2h") -> str:
    """One line: what was typed is no run, and a command that would work (`example`, for history another)."""
    return (
        f":warning: `{text_escaped}` is not a Trigger.dev run id or run link: try `{example}` "
        "(or paste the run's link from the dashboard)."
    )


def runs_go_first(command: str, runs: int) -> str:
    """`/reschedule 2h run_…`: the runs come first; `command` (a code span) is the command in that order."""
    first = "The run comes" if runs == 1 else "The runs come"
    return f":warning: {first} first, then the time: try {command}."


HISTORY_EXAMPLE = f"{COMMAND} history {EXAMPLE_RUN}"


def unknown_environment(name_escaped: str, names: str) -> str:
    return f":warning: There is no environment called `{name_escaped}` here. Configured environments: {names}."


ENV_FLAG_NEEDS_NAME = ":warning: `--env` needs an environment name, e.g. `--env staging`."
REASON_FLAG_NEEDS_TEXT = (
    ":warning: `--reason` needs the reason after it, for whoever approves the move, e.g. "
    f"`{COMMAND} {EXAMPLE_RUN} 2h --reason deploy freeze until 10:00`."
)
LIST_WORD = "list"
HISTORY_WORD = "history"
TAG_FLAG_NEEDS_VALUE = ":warning: `--tag` needs a tag, e.g. `--tag customer_42`."
WITHIN_FLAG_NEEDS_VALUE = ":warning: `--within` needs a duration, e.g. `--within 6h`."


def within_unreadable(shown: str) -> str:
    return (
        f":warning: `--within {shown}` is not a duration I can read: use one like `6h`, `2d` or `1w`, "
        "e.g. `--within 6h`."
    )


LIST_EXAMPLE = f"{COMMAND} list send --tag customer_42 --within 6h"


def unknown_flag(shown: str) -> str:
    return (
        f":warning: I don't know the option `{shown}`; `list` takes a task, `--tag`, `--env` and `--within`, "
        f"e.g. `{LIST_EXAMPLE}`."
    )


def list_extra_words(shown: str) -> str:
    return (
        f":warning: `list` takes one task name at most, not `{shown}`; filter more with `--tag` or `--within`, "
        f"e.g. `{LIST_EXAMPLE}`."
    )


# --- The list of delayed runs (/reschedule list) -----------------------------------------------------------------

LIST_TITLE = "Delayed runs, soonest first"
LIST_NO_ENVIRONMENT = (
    ":lock: There is no environment you may move runs in from here, so there is nothing to list. "
    f"Try `{COMMAND} list` from the channel your team uses for this."
)


def list_head(shown: int, total: int, where: str, filters: str) -> str:
    runs = "run" if total == 1 else "runs"
    counted = f"{total} delayed {runs}" if shown == total else f"{shown} of {total} delayed runs"
    return f"*{counted}* in {where}{filters}, soonest first"


def list_empty(where: str, filters: str) -> str:
    return f":zzz: No delayed runs in {where}{filters}."


def list_filters(task: str | None, tag: str | None, within: str | None) -> str:
    """` for task `x` tagged `y` due within 6h`; each part already escaped (code spans)."""
    parts = []
    if task:
        parts.append(f"for tasks starting with {task}")
    if tag:
        parts.append(f"tagged {tag}")
    if within:
        parts.append(f"due within {within}")
    return (" " + " ".join(parts)) if parts else ""


def list_tasks_matched(typed: str, tasks: list[str], more: int) -> str:
    """What a task given to `list` matched (it matches by the start of the name): `typed` a code span, `tasks`
    escaped names."""
    names = ", ".join(tasks) + (f" and {more} more" if more else "")
    return f"Tasks starting with {typed}: {names}"


def list_tagged_instead(typed: str, count: int, command: str) -> str:
    """Under an empty list: a task given to it that is a tag; `typed` and `command` are code spans."""
    runs = "1 delayed run is" if count == 1 else f"{count} delayed runs are"
    return f"{runs.capitalize()} tagged {typed}: {command}"


def list_tags_carried(tags: list[str], more: int, meant: str) -> str:
    """Under an empty list for a tag: the tags the delayed runs carry (code spans), and `meant`, the list of the one
    most like it when one is (a code span, or "")."""
    names = ", ".join(tags) + (f" and {more} more" if more else "")
    return f"Tags on the delayed runs: {names}." + (f" Did you mean {meant}?" if meant else "")


def list_named_inside(typed: str, tasks: list[str], more: int, command: str) -> str:
    """Under an empty list: a task given to it that is inside tasks' names (not at their start); `typed` and
    `command` are code spans, `tasks` escaped names."""
    names = ", ".join(tasks) + (f" and {more} more" if more else "")
    return f"{typed} is inside the name of {names}: {command}"


def list_more(count: int) -> str:
    return f"{count} more not shown: narrow with a task, `--tag`, `--env` or `--within`."


# A task and --within are applied to what was read; only --tag and --env narrow what Trigger.dev is asked for.
LIST_INCOMPLETE = (
    "There are more delayed runs than one list reads, so some may be missing here: narrow with `--tag` or `--env`."
)


def list_failed(names: str, reason: str) -> str:
    return f":warning: Could not list {names}: {reason}. The others are listed."


LIST_FAILED_KEY = "Trigger.dev rejected this bot's secret key there"
LIST_FAILED_RATE = "Trigger.dev's rate limit was reached; try again in a minute"
LIST_FAILED_UNAVAILABLE = "Trigger.dev did not answer in time"
LIST_FAILED_REFUSED = "Trigger.dev refused the request"


def list_due_in(duration: str) -> str:
    return f"in {duration}"


LIST_DUE_NOW = "due now"


def list_fallback(count: int) -> str:
    return f"{count} delayed run{'' if count == 1 else 's'}" if count else "No delayed runs"


# --- Many runs in one move ----------------------------------------------------------------------------------------


def bulk_too_many(count: int, limit: int) -> str:
    return f":warning: That is {count} runs; one move takes at most {limit}. Split them into several commands."


def bulk_too_many_in_message(count: int, limit: int) -> str:
    return (
        f":warning: That message mentions {count} runs; one move takes at most {limit}. Name them in several "
        f"commands instead, e.g. `{COMMAND} run_a… run_b… 2h`."
    )


BULK_NEEDS_TIME = (
    f":warning: Several runs need a time to move them to, e.g. `{COMMAND} run_a… run_b… 2h`. "
    f"To see one run as it is, give just that run."
)
BULK_TITLE = "Move these runs?"
BULK_PUSH_ALL = "Push all back…"
BULK_MODAL_TITLE = "Move all these runs"
BULK_MODAL_SUBMIT = "Next"


def bulk_modal_head(count: int, from_message: bool = False) -> str:
    where = "named in the message" if from_message else "listed"
    return f"Move the *{count} runs* {where} to one new time. You will be asked to confirm before anything moves."


BULK_CONFIRM_OK = "Move them"


def bulk_prompt(count: int, where: str, when_token: str, missing: int, unread: int = 0) -> str:
    """`missing`: runs in none of the environments looked in; `unread`: runs Trigger.dev could not be asked about."""
    text = f":raised_hand: Move *{count} runs* in {where} to {when_token}?"
    if missing:
        text += f" ({missing} of them could not be found.)"
    if unread:
        text += f" ({unread} of them could not be looked up just now; they will be looked for again as they are moved.)"
    return text + " Only the runs named here are moved; each is checked again as it is moved."


def bulk_push_prompt(count: int, where: str, shift: str, left_out: int) -> str:
    text = f":raised_hand: Push *{count} runs* in {where} back by *{shift}* each, from its own start time?"
    if left_out:
        text += f" ({left_out} could not be read as delayed now, or would go too far: they are left out.)"
    return text + " Only the runs named here are moved; each is checked again as it is moved."


def times_below(zone_known: bool) -> str:
    return "Times are your time:" if zone_known else "Times are UTC (I couldn't read your Slack timezone):"


def bulk_push_line(run_id: str, task_escaped: str, from_text: str, to_text: str) -> str:
    return f"• `{run_id}` ({task_escaped}): {from_text} → {to_text}"


BULK_EARLIER_HEAD = "These runs would move *earlier* than they are now:"
BULK_NONE_EARLIER = "None of them moves earlier than it is now."


def bulk_earlier_line(run_id: str, task_escaped: str, now_at: str) -> str:
    return f"• `{run_id}` ({task_escaped}), now at {now_at}"


def bulk_more_lines(count: int) -> str:
    return f"…and {count} more."


BULK_RUN_NOW = ":warning: `now` starts one run at a time; for several runs, give a time such as `2h` or `tomorrow 9am`."


def bulk_push_head(user_id: str, done: int, total: int, shift: str, final: bool) -> str:
    if final:
        return f":twisted_rightwards_arrows: <@{user_id}> pushed runs back by {shift} each: {done} of {total} done."
    return f":hourglass_flowing_sand: <@{user_id}> is pushing {total} runs back by {shift} each: {done} done so far…"


def bulk_push_fallback(moved: int, total: int, shift: str, skipped: int) -> str:
    return f"{moved} of {total} runs pushed back by {shift}; {skipped} skipped"


def bulk_moved(run_id: str, url: str, env_title_escaped: str, direction: str, from_token: str, to_token: str) -> str:
    where = f" in {env_title_escaped}" if env_title_escaped else ""
    return f"• <{url}|{run_id}>{where}: {direction}, {from_token} → {to_token}"


BULK_LATER = "later"
BULK_EARLIER = "*earlier*"
BULK_SAME = "same time"
BULK_MOVED = "moved"


BULK_NOTHING_TO_PUSH = (
    ":information_source: None of these runs can be pushed back now: none is still delayed, or the push would take "
    "them past the furthest time allowed. Nothing was changed."
)
BULK_NOWHERE = "no environment found so far"
BULK_EXPIRED = (
    ":hourglass: This confirmation has expired or was already used: nothing was changed. Run the command again."
)
BULK_NOT_YOURS = ":no_entry: Only the person who asked for this move can confirm it."
BULK_UNCHECKED = (
    ":warning: I can't check this confirmation right now: the bot's database is not answering. Nothing was changed;"
    " click the same button again in a minute."
)


def bulk_head(user_id: str, done: int, total: int, when_token: str, final: bool) -> str:
    if final:
        return f":twisted_rightwards_arrows: <@{user_id}> moved runs to {when_token}: {done} of {total} done."
    return f":hourglass_flowing_sand: <@{user_id}> is moving {total} runs to {when_token}: {done} done so far…"


def bulk_counts(moved: int, skipped: int) -> str:
    return f"*{moved} moved*, *{skipped} skipped*"


def bulk_skipped(run_id: str, url: str, reason: str, env_title_escaped: str, detail_escaped: str) -> str:
    where = f" in {env_title_escaped}" if env_title_escaped else ""
    more = f" ({detail_escaped})" if detail_escaped else ""
    return f"• <{url}|{run_id}>{where}: {reason}{more}"


def bulk_refused_detail(users: int, groups: int, channels: int, lookup_failed: bool) -> str:
    """Why a run of a set was refused, without naming (and so notifying) anyone: what the access rule allows."""
    if lookup_failed:
        return "its access rule names user groups that could not be read just now; try again in a moment"
    who = [part for part in (_count(users, "person", "people"), _count(groups, "user group", "user groups")) if part]
    allowed = " and ".join(who) if who else "everyone"
    where = f", from {_count(channels, 'channel', 'channels')} only" if channels else ""
    return f"its access rule allows {allowed}{where}; /reschedule on that run alone says who"


def _count(count: int, one: str, many: str) -> str:
    return "" if not count else f"{count} {one if count == 1 else many}"


def bulk_more(count: int) -> str:
    return f"…and {count} more (see `{COMMAND} history`)."


def bulk_fallback(moved: int, total: int, when_text: str, skipped: int) -> str:
    return f"{moved} of {total} runs moved to {when_text}; {skipped} skipped"


def bulk_summary_failed(problem_escaped: str) -> str:
    return f":warning: Slack would not take the summary of this move in the channel (`{problem_escaped}`)."


def bulk_moved_in(env_title_escaped: str) -> str:
    """The lead-in of a set's summary line listing the runs moved in one environment (a link each)."""
    return f"Moved in *{env_title_escaped}*:" if env_title_escaped else "Moved:"


def bulk_moved_more(count: int) -> str:
    return f"…and {count} more moved (see `{COMMAND} history`)."


def bulk_dm_line(moved: int, total: int, where_envs: str, when_token: str, skipped: int, where: str) -> str:
    """A set's DM in one line: how many runs moved, in which environments, to when, how many were skipped, and
    where the set's summary is (`where`: where_posted or where_channel)."""
    runs = f"{moved} run{'' if moved == 1 else 's'}" if moved == total else f"{moved} of {total} runs"
    text = f":white_check_mark: You moved *{runs}*" + (f" in {where_envs}" if moved else "") + f" to {when_token}"
    text += f" ({skipped} skipped)" if skipped else ""
    return f"{text} {where}".rstrip()


def bulk_push_dm_line(moved: int, total: int, where_envs: str, shift: str, skipped: int, where: str) -> str:
    """The DM of a push (**Push all back…** with a duration) in one line (as bulk_dm_line)."""
    runs = f"{moved} run{'' if moved == 1 else 's'}" if moved == total else f"{moved} of {total} runs"
    text = f":white_check_mark: You pushed *{runs}*" + (f" in {where_envs}" if moved else "")
    text += f" back by *{shift}* each, from its own time"
    text += f" ({skipped} skipped)" if skipped else ""
    return f"{text} {where}".rstrip()


PUSH_NEEDS_APPROVAL = (
    ":lock: Some of these runs are in a protected environment, where a move needs another person's approval, and a "
    "push by a duration takes each run to its own time, which one request for approval cannot carry. Nothing was "
    "changed: move them to one time instead (e.g. `tomorrow 9am`) to ask for approval."
)


BULK_FAILED_RATE = "rate-limited by Trigger.dev"
BULK_FAILED_KEY = "the key was rejected"
BULK_FAILED_UNKNOWN = "no answer: it may have moved, check it"
BULK_FAILED_UNAVAILABLE = "Trigger.dev unavailable"
BULK_FAILED_NOT_APPLIED = "no answer, and still at its previous time when read back: it may yet move, check it"
BULK_UNDO = "Undo"
BULK_PASSED = "its previous time has passed"
BULK_SKIP_NOT_DELAYED = "not delayed"
BULK_SKIP_NOT_FOUND = "not found"
BULK_SKIP_REFUSED = "refused"
BULK_SKIP_FAILED = "failed"
BULK_SKIP_MOVED_SINCE = "not put back"
BULK_FAILED_READ_BACK = "the bot was restarted while moving it, and reading it back could not tell: check it"


def moved_since(user_id: str, left_token: str) -> str:
    """Why an Undo left a run where it is: someone moved it after the move being undone (`user_id` "": not known)."""
    by = f" by <@{user_id}>" if user_id else ""
    return f"moved since{by}; left at {left_token}"


def undo_moved_since(run_id: str, user_id: str, left_token: str) -> str:
    """A single move's Undo refused because the run was moved after it."""
    return f":information_source: `{run_id}` was not put back: it was {moved_since(user_id, left_token)}."


WORK_SHORTCUT = "the Reschedule run shortcut"  # named in the shutdown notice, like what a person typed
WORK_SET_FROM_MESSAGE = "a set of runs named in a message"
WORK_SET_CARRIED_ON = "a confirmed set carried on after a restart"
WORK_PUSH_ALL = "Push all back… on a list"
BULK_UNDO_EXPIRED = ":hourglass: This Undo has expired or was already used: nothing was changed."
BULK_UNDO_NOT_YOURS = ":no_entry: Only the person who moved these runs can undo the move."
BULK_UNDO_UNCHECKED = (
    ":warning: I can't check this Undo right now: the bot's database is not answering. Nothing was changed;"
    " click Undo again in a minute."
)


def bulk_undo_head(user_id: str, done: int, total: int, final: bool) -> str:
    if final:
        return (
            f":leftwards_arrow_with_hook: <@{user_id}> undid a move of runs, each back to its own previous time:"
            f" {done} of {total} done."
        )
    return (
        f":hourglass_flowing_sand: <@{user_id}> is moving {total} runs back to their previous times:"
        f" {done} done so far…"
    )


def bulk_undo_fallback(moved: int, total: int, skipped: int) -> str:
    return f"{moved} of {total} runs moved back to their previous times; {skipped} skipped"


def bulk_undo_dm_line(moved: int, total: int, skipped: int, where: str) -> str:
    """The DM of a set's Undo in one line (as bulk_dm_line)."""
    runs = f"{moved} run{'' if moved == 1 else 's'}" if moved == total else f"{moved} of {total} runs"
    text = f":leftwards_arrow_with_hook: You undid your move of several runs: *{runs}* back to their previous times"
    text += f" ({skipped} skipped)" if skipped else ""
    return f"{text} {where}".rstrip()


# --- Times people ask for (every surface) --------------------------------------------------------------------------


def instant_past(shown: str) -> str:
    """The one sentence for an instant that is not in the future (typed, picked or from a button)."""
    return f"{shown} has already passed: pick a time in the future."


def instant_too_far(max_delay_text: str) -> str:
    """The one sentence for an instant beyond MAX_DELAY (typed, picked or from a button)."""
    return f"That is too far ahead: the furthest a run can be moved is {max_delay_text} from now."


def delay_problem(
    kind: DelayProblem,
    text_escaped: str,
    max_delay_text: str,
    examples: str,
    resolved: str | None = None,
    suggestion: tuple[str, str] | None = None,
) -> str:
    """A specific explanation of why `text` is not a usable time, with examples valid now. `resolved`: the instant
    the text named, in the reader's terms; `suggestion`: (a text with a time, what it resolves to)."""
    return f":warning: {_delay_head(kind, f'`{text_escaped}`', max_delay_text, resolved, suggestion, True)}\n" + (
        f"Examples: {examples}."
    )


def _delay_head(
    kind: DelayProblem,
    shown: str,
    max_delay_text: str,
    resolved: str | None,
    suggestion: tuple[str, str] | None,
    mrkdwn: bool,
) -> str:
    if kind is DelayProblem.EMPTY:
        return "Tell me when the run should start."
    if kind is DelayProblem.NOT_POSITIVE:
        return f"{shown} is not in the future: give a time after now."
    if kind is DelayProblem.PAST:
        return instant_past(f"{shown} ({resolved})" if resolved else shown)
    if kind is DelayProblem.TOO_FAR:
        named = f"{shown} is {resolved}. " if resolved else ""
        return named + instant_too_far(max_delay_text)
    if kind is DelayProblem.TOO_LONG:
        return f"{shown} is too long to be a time: keep it under {TYPED_TIME_MAX} characters."
    if kind is DelayProblem.NO_TIME:
        if suggestion is None:
            return f"{shown} names a day but not a time of day."
        text, when = suggestion
        example = f"`{text}`" if mrkdwn else text
        return f"{shown} names a day but not a time of day: try {example} ({when})."
    if suggestion is not None:  # a misspelt word
        text, when = suggestion
        example = f"`{text}`" if mrkdwn else text
        return f"I can't read {shown} as a time: did you mean {example} ({when})?"
    return (
        f"I can't read {shown} as a time. Durations use w, d, h, m, s (`1.5h` is fine); other times are a day and "
        "a time in your timezone, or an ISO time."
        if mrkdwn
        else f"Can't read {shown} as a time."
    )


TYPED_TIME_MAX = 100


def spoken_today(clock: str) -> str:
    return f"today at {clock}"


def spoken_tomorrow(day: str, clock: str) -> str:
    return f"tomorrow, {day} at {clock}"


def spoken_day(day: str, clock: str) -> str:
    return f"{day} at {clock}"


def in_zone(text: str, known: bool) -> str:
    """A time in the reader's terms, saying whose clock it is: theirs, or UTC when their timezone is unknown."""
    return f"{text}, your time" if known else f"{text}, UTC (I couldn't read your Slack timezone)"


def resolved_note(typed_escaped: str, spoken_text: str, rolled: bool, gap: bool) -> str:
    """The private line that says which instant a typed time was read as."""
    why = " (that time has passed today)" if rolled else ""
    why += " (the clocks skip that hour that day, so it is an hour later)" if gap else ""
    return f"`{typed_escaped}` is {spoken_text}{why}."


def delay_refused_by_server(server_message_escaped: str) -> str:
    return (
        f":warning: Trigger.dev refused the new time ({server_message_escaped}). If the time was very close, "
        f"it may have passed before the request arrived: try a little later, e.g. {DELAY_EXAMPLES}."
    )


# --- What Trigger.dev said (every surface) -------------------------------------------------------------------------


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


UNAVAILABLE = (
    ":hourglass: Trigger.dev is not answering, so nothing was changed. Try again in a minute "
    "(status: https://status.trigger.dev)."
)
RATE_LIMITED = (
    ":hourglass: Trigger.dev is rate-limiting this bot right now, so nothing was changed. Try again in a minute."
)


def request_refused(server_message_escaped: str) -> str:
    return f":warning: Trigger.dev refused the request: {server_message_escaped}. Nothing was changed."


def unexpected(reference: str) -> str:
    return (
        f":boom: Something unexpected went wrong and nothing is known to have changed. "
        f"Reference `{reference}`: give it to whoever runs the bot, it is in the bot's log."
    )


SLACK_UNREACHABLE = (
    ":warning: The bot could not reach Slack just now, so it could not finish this; nothing is known to have "
    "changed. Try again in a minute, and tell whoever runs the bot if it keeps happening."
)


def not_delayed_with_link(run_id: str, status_escaped: str, task_escaped: str, link_mrkdwn: str) -> str:
    return f"{not_delayed(run_id, status_escaped, task_escaped)} {link_mrkdwn}"


def moved_but(reference: str) -> str:
    return (
        ":warning: The run *was* rescheduled, but something unexpected went wrong telling you about it. "
        f"Reference `{reference}` (in the bot's log); `{COMMAND} &lt;run&gt;` shows the run as it is now."
    )


# --- Moves whose answer was lost (read back before telling) --------------------------------------------------------


def not_applied(run_id: str, task_escaped: str, previous_token: str) -> str:
    return (
        f":hourglass: Trigger.dev did not answer in time, so I read run `{run_id}` ({task_escaped}) again: it is "
        f"still at {previous_token}, so the move has not been applied so far. If Trigger.dev is only slow it may "
        f"still apply it: look at the run before trying again (status: https://status.trigger.dev)."
    )


def move_unconfirmed(run_id: str, task_escaped: str, asked: str, seen: str, check: str) -> str:
    """`asked` from unconfirmed_move_to / UNCONFIRMED_RUN_NOW, `seen` from unconfirmed_seen, `check` a link."""
    return (
        f":warning: Trigger.dev did not answer in time, and I could not confirm whether run `{run_id}` "
        f"({task_escaped}) was {asked}: {seen}. Check the run before trying again: {check}."
    )


def unconfirmed_move_to(when_token: str) -> str:
    return f"moved to {when_token}"


UNCONFIRMED_RUN_NOW = "started"


def unconfirmed_seen(status_escaped: str | None, when_token: str | None) -> str:
    """What reading the run back showed (None: the read failed too)."""
    if status_escaped is None:
        return "reading it back failed too"
    if when_token is None:
        return f"it now shows *{status_escaped}*"
    return f"it now shows *{status_escaped}*, to start {when_token}"


def outcome_unknown(check: str) -> str:
    return (
        ":warning: Trigger.dev did not answer in time, so I could not confirm whether the change was applied. "
        f"Check the run before trying again: {check}."
    )


def check_run_command(run_id: str) -> str:
    return f"`{COMMAND} {run_id}`"


# --- The run summary -----------------------------------------------------------------------------------------------


def summary_fallback_done(did: Did, task: str, run_id: str, new_time: str, user_id: str) -> str:
    """Plain-text notification fallback (no mrkdwn rendering there) of a summary after a move, an Undo or Run now."""
    if did is Did.UNDONE:
        return f"Run {run_id} ({task}) moved back to {new_time} by <@{user_id}> (Undo)"
    if did is Did.STARTED:
        return f"Run {run_id} ({task}) started now by <@{user_id}>"
    return f"Run {run_id} ({task}) rescheduled to {new_time} by <@{user_id}>"


def summary_fallback(task: str, run_id: str, status_label: str) -> str:
    return f"Run {run_id} ({task}) is {status_label}"


SUMMARY_RESCHEDULED = ":arrows_counterclockwise: <@{user}> rescheduled *{task}* in *{env}*"
SUMMARY_UNDONE = (
    ":leftwards_arrow_with_hook: <@{user}> undid the last move of *{task}* in *{env}*: it is back to its earlier "
    "start time"
)
SUMMARY_STARTED = ":arrow_forward: <@{user}> started *{task}* in *{env}* now, instead of waiting for its start time"
SUMMARY_CURRENT = ":mag: *{task}* in *{env}*"
LABEL_NEW_TIME = "New start time"
LABEL_PREVIOUS_TIME = "Previous start time"
LABEL_BACK_TO = "Start time (restored)"
LABEL_UNDONE_TIME = "Was moved to (undone)"
LABEL_STARTED = "Started"
LABEL_WAS_TO_START = "Was to start"
STATUS_STARTING = "Starting"
LABEL_SCHEDULED = "Scheduled to start"
LABEL_STATUS = "Status"
LABEL_ENVIRONMENT = "Environment"
LABEL_VERSION = "Version"
LABEL_TAGS = "Tags"
LABEL_IDEMPOTENCY = "Idempotency key"
LABEL_TEST = "Test run"
OPEN_IN_TRIGGER = "Open in Trigger.dev"
NOT_SCHEDULED = "not set"
UNKNOWN_TASK = "unknown task"
ANY_ENVIRONMENT = "any environment"
INVALID_DELAY = "invalid delay"


def members_of_group(group_id: str) -> str:
    return f"members of user group {group_id}"


YES = "yes"


# --- Buttons and confirmations -------------------------------------------------------------------------------------

# By the button's name (bot/render/ids.py's Button, a str): the renderers read these, so nothing here imports them.
BUTTON_LABELS: dict[str, str] = {
    "push_1h": "Push back 1h",
    "push_1d": "Push back 1 day",
    "tomorrow_9": "Tomorrow 09:00 (your time)",
    "other": "Other…",
    "reschedule": "Reschedule…",
    "run_now": "Run now",
    "undo": "Undo",
}
CONFIRM_TITLE = "Reschedule this run?"
CONFIRM_OK = "Reschedule"
CONFIRM_DENY = "Cancel"
CONFIRM_RUN_NOW_TITLE = "Start this run now?"
CONFIRM_RUN_NOW_OK = "Run now"


def confirm_push(run_id: str, task: str, button: str) -> str:
    """Plain text, in no one's timezone: a card in a channel is read by people in many. `button`: the push's name
    (push_1h or push_1d)."""
    step = "1 hour" if button == "push_1h" else "1 day"
    return f"Move {run_id} ({task}) {step} later than the time shown on the card?"


def confirm_undo(run_id: str, task: str) -> str:
    return f"Move {run_id} ({task}) back to its previous time, shown on the card?"


def confirm_tomorrow(run_id: str, task: str) -> str:
    return f"Move {run_id} ({task}) to tomorrow at 09:00 in your Slack timezone?"


def run_now_prompt(run_id: str, task_escaped: str, env_title_escaped: str) -> str:
    return (
        f":raised_hand: `now` starts `{run_id}` ({task_escaped}) in *{env_title_escaped}* at once, instead of "
        "waiting for its start time. Use *Run now* below to do it."
    )


RUN_NOW_ONE_AT_A_TIME = (
    ":warning: `now` starts one run at a time: name one run, or give several runs a time such as `2h` or "
    "`tomorrow 9am`."
)


def confirm_run_now(run_id: str, task: str) -> str:
    return f"{run_id} ({task}) will be queued immediately instead of waiting for its start time."


def confirm_prompt(run_id: str, task_escaped: str, env_title_escaped: str, when_token: str) -> str:
    """The environment asks first (CONFIRM_ENVIRONMENTS)."""
    return (
        f":raised_hand: *{env_title_escaped}* runs are moved only after a confirmation. Move `{run_id}` "
        f"({task_escaped}) to {when_token}?"
    )


def confirm_day(run_id: str, task_escaped: str, when_token: str) -> str:
    """A day the person should see before anything moves (`next friday 9am`), where moves need no confirmation."""
    return f":raised_hand: Check the day first: move `{run_id}` ({task_escaped}) to {when_token}?"


def confirm_earlier(run_id: str, task_escaped: str, typed_escaped: str, when_token: str, start_token: str) -> str:
    """`+30m` counts from now, and now + 30m is before the run's start: people often mean 30m later than it."""
    return (
        f":raised_hand: `{typed_escaped}` counts from now, so it moves `{run_id}` ({task_escaped}) *earlier*: from "
        f"{start_token} to {when_token}. Move it earlier? (To push it back instead, use *Push back* on its summary.)"
    )


CANCELLED = "Cancelled: nothing was changed."


FOREIGN_PAYLOAD = (
    ":warning: That button comes from a different version of this bot (or was altered), so I did nothing. "
    f"Run `{COMMAND} &lt;run&gt;` to get a fresh summary with working buttons."
)


def button_instant_problem(sentence: str) -> str:
    return (
        f":warning: {sentence} Nothing was changed. Use *Other…* or `{COMMAND} &lt;run&gt; &lt;when&gt;` to pick "
        "another time."
    )


UNDO_TOO_LATE = ":warning: The previous start time has already passed, so it can't be restored. Nothing was changed."


NOW_SHOWN_BY = {
    "": "",  # what was clicked could not be redrawn: nothing is claimed about it
    "message": "The message now shows its current status.",
    "preview": "The preview now shows its current status.",
    "home": "Your App Home shows its current status once it is published again, in a moment.",
}


def not_delayed_after_click(run_id: str, status_label: str, shown_by: str = "message") -> str:
    """`shown_by`: what was clicked, and now shows the run as it is (a message, a link preview, the App Home)."""
    return (
        f":information_source: Nothing was changed: run `{run_id}` is now *{status_label}*, and only delayed runs "
        f"can be rescheduled. {NOW_SHOWN_BY[shown_by]}"
    ).rstrip()


TOMORROW_IN_UTC = "(I couldn't read your Slack timezone, so 09:00 means UTC.)"


# --- DMs and notes after a move ------------------------------------------------------------------------------------


def dm_line(did: Did, task_link: str, env_title_escaped: str, previous: str | None, new: str, where: str) -> str:
    """The DM confirmation, in one line: what moved (`task_link`: the task, linked to the run), from when to when
    (date tokens; `previous` None: it had no time), and where the move's summary is (`where`: where_posted,
    where_channel or WHERE_HOME)."""
    what = f"{task_link} in *{env_title_escaped}*"
    if did is Did.UNDONE:
        text = f":leftwards_arrow_with_hook: You undid the move of {what}:" + (
            f" from {previous} back to {new}" if previous else f" back to {new}"
        )
    elif did is Did.STARTED:
        text = f":arrow_forward: You started {what} now"
        text += f" (it was to start {previous})" if previous else ""
    else:
        text = f":white_check_mark: You moved {what}" + (f" from {previous}" if previous else "") + f" to {new}"
    return f"{text} {where}".rstrip()


def dm_now(status_escaped: str) -> str:
    """Added to a DM confirmation once its run has left Delayed: how it is now."""
    return f" · now *{status_escaped}*"


def dm_fallback(did: Did, task: str, env_title: str, new_time: str) -> str:
    """Plain-text notification of the DM confirmation (no mrkdwn rendering there)."""
    if did is Did.UNDONE:
        return f"You undid the move of {task} in {env_title}: back to {new_time}"
    if did is Did.STARTED:
        return f"You started {task} in {env_title} now"
    return f"You moved {task} in {env_title} to {new_time}"


def where_channel(channel_id: str | None) -> str:
    if not channel_id:
        return ""
    if channel_id.startswith("D"):
        return "in a direct message"
    return f"in <#{channel_id}>"


def thread_post_failed(channel_id: str, error: str) -> str:
    return (
        f":warning: The run was rescheduled, but I could not post the summary in the message's thread in "
        f"<#{channel_id}> (Slack said `{error}`): invite me to that channel to get summaries there."
    )


def summary_not_posted(problem_escaped: str) -> str:
    """The move's summary for the channel reached no one (the bot could not post it, nor the response_url)."""
    return (
        f":warning: The run was rescheduled, but Slack would not take its summary for the channel "
        f"(`{problem_escaped}`), so the channel has not seen it."
    )


def summary_uncertain(channel_id: str | None) -> str:
    """The summary was sent to the channel and Slack did not answer: it may be there or not."""
    where = f"<#{channel_id}>" if channel_id else "the channel"
    return (
        f":grey_question: The run was rescheduled. Slack did not answer when I posted its summary in {where}, so it "
        "may or may not be there; this DM has it either way."
    )


def summary_post_failed(problem_escaped: str) -> str:
    return (
        f":warning: The run was rescheduled, but Slack would not take the summary where you started "
        f"(`{problem_escaped}`), so that message may show the old time."
    )


# --- The modal (titles at most 24 characters) ----------------------------------------------------------------------

MODAL_TITLE = "Reschedule run"
MODAL_TITLE_MANY = "Reschedule runs"
MODAL_SUBMIT = "Reschedule"
MODAL_CANCEL = "Cancel"
MODAL_BACK = "Back"
MODAL_ASK_TITLE = "Reschedule this run?"


def modal_ask_move(run_id: str, task: str, when_spoken: str) -> str:
    """Plain text: the form's question before a move to a day named as `next friday`."""
    return f"Move {run_id} ({task}) to {when_spoken}?"


def modal_moved_to(when_spoken: str) -> str:
    return f"New time: {when_spoken}."


MODAL_CLOSE = "Close"
MODAL_LOADING = ":hourglass_flowing_sand: Looking up the run in Trigger.dev…"
MODAL_WORKING = ":hourglass_flowing_sand: Rescheduling…"
LABEL_WHEN_TEXT = "When"
HINT_WHEN_TEXT = "e.g. 2h, 1h 30m, tomorrow 9am, mon 14:00 or 17:30, in your Slack timezone."


def hint_when_text(examples: str, zone_known: bool) -> str:
    """The typed time's hint: examples valid now, and whose clock a time of day is on."""
    whose = "your Slack timezone" if zone_known else "UTC (I couldn't read your Slack timezone)"
    return f"e.g. {examples}. Times of day are in {whose}."


MODAL_RUN_NOW = "now starts one run at a time: for several runs, give a time such as 2h or tomorrow 9am."
LABEL_WHEN_AT = "Or pick a date and time"
HINT_WHEN_AT = "Shown in your Slack timezone."
LABEL_RUNS = "Runs to move"
LABEL_ENV = "Environment"
HINT_ENV = "A run with this id exists in several environments: pick the one to move."
MODAL_NEITHER = "Type how long from now, or pick a date and time below."
MODAL_BOTH = "Use one or the other: clear the duration or the date and time."
MODAL_NO_RUNS = "Pick at least one run to move."
MODAL_AT_PAST = instant_past("That date and time")
MODAL_AT_UNREADABLE = "Pick a date and a time with the picker."


def delay_problem_plain(
    kind: DelayProblem,
    text: str,
    max_delay_text: str,
    examples: str,
    resolved: str | None = None,
    suggestion: tuple[str, str] | None = None,
) -> str:
    """Inline modal errors are plain text: no emoji codes, no code spans."""
    if kind is DelayProblem.EMPTY:
        return MODAL_NEITHER
    head = _delay_head(kind, text, max_delay_text, resolved, suggestion, False)
    return f"{head} Try {examples}."


def modal_current(task_escaped: str, env_escaped: str, run_id: str, when_token: str) -> str:
    return f"*{task_escaped}* in *{env_escaped}* · `{run_id}`\nScheduled to start {when_token}"


def modal_not_movable(lines: str) -> str:
    return f"Not delayed, so they can't be moved:\n{lines}"


def modal_done(count: int) -> str:
    return ":white_check_mark: Rescheduled." if count == 1 else f":white_check_mark: Rescheduled {count} runs."


MODAL_LOST = ":warning: Something went wrong showing the form. Close it and try again."


# --- The message shortcut ------------------------------------------------------------------------------------------

NO_RUN_IN_MESSAGE = (
    ":mag: I found no Trigger.dev run in that message, so nothing was looked up. The shortcut looks for run "
    "ids (`run_…`) and run links in the message text, its blocks, attachments and button links; Trigger.dev's "
    f"own failure alerts have them. You can also type `{COMMAND} &lt;run&gt; &lt;when&gt;`."
)
TRIGGER_ID_EXPIRED = (
    ":hourglass: Slack took too long to hand me that click, so the form could not open. Please try again."
)


STILL_WORKING = (
    ":hourglass_flowing_sand: I am still working on your previous requests; this one was not started. "
    "Please wait for their answers, then try again."
)


# --- Access and workspaces -----------------------------------------------------------------------------------------


def access_rule(env_title_escaped: str, who: str, where: str) -> str:
    """`who` and `where` are already-rendered lists ("" when the rule does not restrict them)."""
    rule = f"*{env_title_escaped}* runs can be moved by {who or 'anyone'}"
    if where:
        rule += f" in {where}"
    return rule


GROUP_LOOKUP_FAILED = " (Slack did not tell me the members of a user group just now; try again in a minute.)"


def refused(env_title_escaped: str, who: str, where: str, lookup_failed: bool) -> str:
    """`who` and `where` are already-rendered lists ("" when the rule does not restrict them)."""
    text = f":lock: Nothing was changed: {access_rule(env_title_escaped, who, where)}."
    return text + GROUP_LOOKUP_FAILED if lookup_failed else text


def out_of_reach(person: str, envs: str, looked: str, rules: str, head: str = "") -> str:
    """The one answer, on every surface, for environments a person may not act in: `person` ("You", or a
    mention) cannot move runs in `envs`, so `looked` ("look for `run_…`", "list runs") was not done there; `rules`
    says who can. `head`: a sentence before it (what was found where the person may act)."""
    return f":lock: {head}{person} cannot move runs in {envs}, so I did not {looked} there: {rules}."


def out_of_reach_not_in(run: str, searched: str) -> str:
    return f"{run} is not in {searched}. "


def out_of_reach_some_not_in(count: int, searched: str) -> str:
    return f"{count} of them {'is' if count == 1 else 'are'} not in {searched}. "


OUT_OF_REACH_YOU = "You"
OUT_OF_REACH_LOOK = "look"
OUT_OF_REACH_LOOK_FOR = "look for {run}"
OUT_OF_REACH_LIST = "list runs"


FOREIGN_WORKSPACE = (
    "This bot serves another Slack workspace or app, so it did nothing with that request. "
    "Ask whoever runs it which workspace it is set up for."
)


INCOMPLETE_REQUEST = (
    "This request did not say who sent it or from which channel, so nothing was changed. "
    "Try again from a channel or a DM."
)


# --- History -------------------------------------------------------------------------------------------------------

HISTORY_YOU = "You"
# A record that names a run, by outcome ({run}: the task and the run id; {where}: " in *Env*" or "").
HISTORY_ATTEMPT = {
    Outcome.REFUSED: "was refused moving {run}{where}",
    Outcome.NOT_DELAYED: "could not move {run}{where}: it was no longer delayed",
    Outcome.NOT_FOUND: "looked for {run}{where}, which was not found",
    Outcome.INVALID_INPUT: "asked for something that could not be done with {run}{where}",
    Outcome.FAILED: "tried to move {run}{where}, but Trigger.dev did not do it",
    Outcome.UNKNOWN: "tried to move {run}{where}; whether it moved could not be confirmed",
    Outcome.APPROVAL_REQUESTED: "asked for approval to move {run}{where}",
    Outcome.APPROVAL_REJECTED: "rejected the request to move {run}{where}",
    Outcome.APPROVAL_EXPIRED: "saw their request to move {run}{where} expire",
}
# The same, for a record that names no run (a command that could not be read, a refusal before any run was named).
HISTORY_NO_RUN = {
    Outcome.REFUSED: "was refused",
    Outcome.NOT_FOUND: "looked for a run that was not found",
    Outcome.INVALID_INPUT: "asked for something that could not be read or done",
    Outcome.FAILED: "tried something that failed",
    Outcome.UNKNOWN: "tried a move that could not be confirmed",
    Outcome.APPROVAL_REQUESTED: "asked for approval to move a set of runs",
    Outcome.APPROVAL_REJECTED: "rejected a request to move a set of runs",
    Outcome.APPROVAL_EXPIRED: "saw their request to move a set of runs expire",
}
# The buttons as people know them (their labels), for saying which was clicked.
HISTORY_BUTTONS: dict[str, str] = {
    **BUTTON_LABELS,
    "confirm": CONFIRM_OK,
    "cancel": CONFIRM_DENY,
    "bulk_confirm": BULK_CONFIRM_OK,
    "bulk_cancel": CONFIRM_DENY,
    "bulk_push_all": BULK_PUSH_ALL,
    "bulk_undo": BULK_UNDO,
}


def history_done(did: Did, run: str, where: str, previous: str | None, new: str | None) -> str:
    """A move that happened: to a time, back by an Undo, or started by Run now (times are date tokens)."""
    if did is Did.UNDONE:
        text = f"undid the last move of {run}{where}"
        text += f": back to {new}" if new else ""
        return text + (f" (from {previous})" if previous else "")
    if did is Did.STARTED:
        return f"started {run}{where} at once" + (f" (it was to start {previous})" if previous else "")
    text = f"moved {run}{where}" + (f" from {previous}" if previous else "")
    return text + (f" to {new}" if new else "")


# How something was done, by the audit trail's surface.
HISTORY_SURFACES = {
    "dm": "from the DM",
    "home": "from the App Home",
    "shortcut": "with the *Reschedule run* shortcut",
    "unfurl": "from a link preview",
    "digest": "for the digest",
    "workflow": "from Workflow Builder",
}


def history_typed(surface: str, typed: str) -> str:
    """How a typed attempt was made: `/reschedule …` or the form (`typed`: a code span, or "")."""
    if surface == "modal":
        return f", in the form ({typed})" if typed else ", in the form"
    return f", with {COMMAND} {typed}" if typed else f", with {COMMAND}"


def history_clicked(surface: str, label: str | None, channel_id: str | None) -> str:
    """How a click was made: the button's label (None: not worth naming, e.g. an Undo the sentence names), and
    where (the DM, the App Home, a channel)."""
    with_label = f" with *{label}*" if label else ""
    if surface in HISTORY_SURFACES:
        return f",{with_label} {HISTORY_SURFACES[surface]}"
    in_channel = f" in <#{channel_id}>" if channel_id and channel_id[:1] in ("C", "G") else ""
    if surface == "button" and not with_label and not in_channel:
        return ", with a button"
    return f",{with_label}{in_channel}" if with_label or in_channel else ""


HISTORY_EMPTY = "Nothing recorded yet."
HISTORY_MINE = "*Your recent reschedule attempts*"


def history_run(run_id: str) -> str:
    return f"*Everything done to* `{run_id}`"


HISTORY_UNAVAILABLE = (
    ":hourglass: The audit store is not answering right now, so I can't show history. Reschedules still "
    "work and are still recorded (in the bot's log until the database is back)."
)


# --- Shutdown ------------------------------------------------------------------------------------------------------


def shutdown_interrupted(what_escaped: str) -> str:
    return (
        f":warning: The bot was restarted before it finished `{what_escaped}`, so whether it happened is not known. "
        f"Check the run with `{COMMAND} &lt;run&gt;` before trying again."
    )


def move_read_back(run_id: str, verdict: str, now_token: str, previous_token: str, status_escaped: str) -> str:
    """After a process stopped in the middle of a move: what reading the run back showed. `verdict`: "moved",
    "not applied" or "unknown"."""
    head = f"The bot was restarted while moving `{run_id}`"
    if verdict == "moved":
        return f":white_check_mark: {head}; reading it back shows it moved: it now starts {now_token}."
    if verdict == "not applied":
        return (
            f":warning: {head}; reading it back shows it did not move: it still starts {previous_token}. "
            f"Move it again if you still want it moved."
        )
    return (
        f":grey_question: {head}, and whether it moved is not known (Trigger.dev says: {status_escaped}). "
        f"Check it with `{COMMAND} {run_id}` before trying again."
    )


# --- Demo ----------------------------------------------------------------------------------------------------------

DEMO_SUMMARY_NOTE = ":test_tube: *Demo:* a simulated Trigger.dev — nothing real was moved."
DEMO_FALLBACK_NOTE = "demo: a simulated Trigger.dev"
DEMO_STARTED = "demo mode: Trigger.dev is simulated in this process (bot/demo.py); no real run can be moved"


def config_demo_with_key(variables: list[str]) -> str:
    names = " and ".join(variables)
    return (
        f"  - --demo uses a simulated Trigger.dev, but {names} {'is' if len(variables) == 1 else 'are'} also set: "
        f"unset {names} to try the demo, or run without --demo to use the real Trigger.dev."
    )


# --- The digest of runs coming due (DIGEST_CHANNEL) -----------------------------------------------------------------


def digest_head(count: int, window: str) -> str:
    runs = "run" if count == 1 else "runs"
    return f":calendar: *{count} delayed {runs}* coming due in the next {window}, by environment and task"


def digest_empty(window: str) -> str:
    return f":zzz: No delayed runs coming due in the next {window}."


def digest_group(task: str, count: int) -> str:
    return f"{task} · {count} run{'' if count == 1 else 's'}"


def digest_more(count: int) -> str:
    return f"{count} more not shown: see `{COMMAND} list --within` for all of them."


def digest_fallback(count: int, window: str) -> str:
    return f"{count} delayed run{'' if count == 1 else 's'} coming due in the next {window}"


def digest_failed(names: str) -> str:
    return f":warning: Could not list {names}; its runs are not in this digest."


# --- Summary cards that follow their run (bot/follow.py) -------------------------------------------------------------


def follow_moved(user_id: str, task_escaped: str, env_title_escaped: str) -> str:
    """The head of a card whose run was moved again after <@user> rescheduled it (elsewhere: the API, the
    dashboard, another message); the card then shows the run's new start time."""
    return (
        f":arrows_counterclockwise: *{task_escaped}* in *{env_title_escaped}* has a new start time "
        f"(moved again after <@{user_id}> rescheduled it)"
    )


def follow_moved_dm(task_link: str, env_title_escaped: str, where: str, new_token: str) -> str:
    """A DM confirmation whose run was moved again after the person rescheduled it (`task_link`: the task, linked
    to the run); `where` says where they did (as the DM's own line did), `new_token` the run's start time now."""
    return (
        f":arrows_counterclockwise: {task_link} in *{env_title_escaped}*, which you rescheduled {where}, "
        f"has a new start time: {new_token} (moved again since)"
    )


# --- The App Home (each person's page) -----------------------------------------------------------------------------

HOME_TITLE = "Your reschedules"
HOME_INTRO = (
    "The runs you moved recently, as they are now (read from Trigger.dev each time you open this tab). "
    "Delayed ones have the same buttons as a run summary."
)
HOME_NO_HISTORY = ":seedling: You haven't moved any runs yet. When you do, they show up here with their current status."
HOME_HISTORY_UNAVAILABLE = (
    ":hourglass: The audit store is not answering right now, so your recent runs can't be listed. "
    "Moves still work; open this tab again in a minute."
)
HOME_NOT_FOUND = ":mag: Trigger.dev can't find this run any more."
HOME_UNREADABLE = ":warning: Its current status could not be read just now; open this tab again to retry."
HOME_ENVS_TITLE = "*Where you can move runs*"
HOME_NO_ENVIRONMENT = (
    ":lock: No environment is open to you; ask whoever runs the bot to add you to an `ACCESS__…` rule."
)
HOME_ASKS_FIRST = "asks before moving"
HOME_ANYWHERE = "from anywhere, this tab included"
HOME_HOW_TO = (
    "*How to move a run*\n"
    f"• Type `{COMMAND} &lt;run&gt; &lt;when&gt;` in a channel, e.g. `{COMMAND} {EXAMPLE_RUN} 2h`; "
    f"`{COMMAND} list` shows the delayed runs and `{COMMAND} help` everything else.\n"
    "• On a Trigger.dev alert, or any message naming runs, open the message's ⋮ menu and choose *Reschedule run*.\n"
    "• Paste a run's Trigger.dev link in a channel: the bot previews the run with its status and buttons.\n"
    "• Buttons here work as on a run summary: the same access rules and confirmations, and a DM with the result."
)
WHERE_HOME = "from your App Home"
WHERE_DM = "from this DM"  # a DM confirmation whose own button was clicked


def home_moved(when_token: str) -> str:
    return f"You moved it {when_token}"


def home_starts(when_token: str) -> str:
    return f"starts {when_token}"


def home_finished(when_token: str) -> str:
    return f"finished {when_token}"


def home_started(when_token: str) -> str:
    return f"started {when_token}"


def home_only_from(channels: str) -> str:
    return f"only from {channels}"


def home_act_elsewhere(env_title_escaped: str, where: str) -> str:
    """`where`: rendered channel mentions, or "" when the person may no longer move runs there at all."""
    if not where:
        return f":lock: You may no longer move runs in *{env_title_escaped}*."
    return f":point_right: Runs in *{env_title_escaped}* can be moved only from {where}, not from here."


def home_env_line(env_title_escaped: str, where: str, asks_first: bool) -> str:
    return f"• *{env_title_escaped}*: {where}" + (f" ({HOME_ASKS_FIRST})" if asks_first else "")


# --- Link previews of run links (unfurls) ---------------------------------------------------------------------------

UNFURL_HEAD = ":link: *{task}* in *{env}*"


# --- Summaries the bot posts in the channel (bot/slack/channel_post.py) --------------------------------------------


def where_posted(channel_id: str | None, permalink: str) -> str:
    """Where a move's summary went, in the DM: the channel, and a link to the summary itself."""
    safe = permalink.replace(">", "%3E").replace("<", "%3C").replace("|", "%7C")
    return f"{where_channel(channel_id)} (<{safe}|see the summary>)".lstrip()


# --- Private messages sent late (bot/late.py, bot/storage/outbox.py) ------------------------------------------------


def sent_late(when_token: str) -> str:
    """The head of a private message Slack could not take when it was made, sent when Slack was back."""
    return f":hourglass: _Sent late: Slack could not be reached at {when_token}._"


# --- Protected environments (bot/approvals.py, bot/slack/approvals.py) ----------------------------------------------

BUTTON_APPROVE = "Approve"
BUTTON_REJECT = "Reject"
APPROVAL_TITLE = "Approval needed"
APPROVAL_RUN_NOW = "now (start at once)"
LABEL_RUN = "Run"
LABEL_RUNS = "Runs"
LABEL_FROM = "From"
LABEL_TO = "To"
LABEL_REASON = "Reason"
LABEL_APPROVERS = "Approvers"
LABEL_REASON_INPUT = "Reason (for the approver)"
HINT_REASON = "This environment is protected: another person approves the move before it happens."
BULK_NEEDS_APPROVAL = "needs an approver's Approve (protected environment)"
APPROVAL_NO_LONGER_PROTECTED = (
    "This environment is no longer protected, so this request decides nothing. Nothing moved: "
    "the person who asked can move the run themselves."
)
APPROVAL_UNKNOWN_REQUEST = (
    "I can't find this request any more (it may be from an older version of the bot). Nothing changed."
)
APPROVAL_OWN_REQUEST = ":no_entry: You asked for this move, so another approver has to decide on it. Nothing changed."


def approval_request_head(user_id: str, count: int, env_title: str) -> str:
    what = "a run" if count == 1 else f"{count} runs"
    return f":raised_hand: <@{user_id}> asks to move {what} in *{env_title}*, a protected environment"


def approval_request_fallback(user_id: str, count: int, env_title: str) -> str:
    what = "a run" if count == 1 else f"{count} runs"
    return f"<@{user_id}> asks for approval to move {what} in {env_title}"


def approval_expires(when_token: str, approvers: str) -> str:
    return f"Any of {approvers} may approve, except the person who asked · expires {when_token}"


def approval_run_from(when_token: str) -> str:
    return f"(now {when_token})"


def approval_more_runs(count: int) -> str:
    return f"and {count} more"


def approval_asked(env_title: str, approvers: str, where: str) -> str:
    """Told privately to the person whose move waits for approval."""
    return (
        f":raised_hand: *{env_title}* is a protected environment, so I've asked {approvers} to approve this move"
        f"{where}. Nothing has moved yet: I'll tell you when someone approves or rejects it, or when it expires."
    )


def approval_asked_where(channel_id: str) -> str:
    return f" in <#{channel_id}>"


def approval_not_posted(env_title: str, approvers: str) -> str:
    return (
        f":raised_hand: *{env_title}* is a protected environment and this move needs {approvers} to approve it, "
        "but I could not post the request where they would see it (set `APPROVAL__&lt;ENV&gt;__CHANNEL` to a channel "
        "I'm in, or ask from a channel I'm in). Nothing moved."
    )


def approval_unavailable(env_title: str, approvers: str) -> str:
    return (
        f":hourglass: *{env_title}* is a protected environment: a move there needs {approvers} to approve it, but I "
        "can't record the request right now (my database is not answering). Nothing moved; try again in a minute."
    )


def approval_needed(env_title: str, approvers: str) -> str:
    """A move that could not be asked for from where it was made (an Undo that is not one of an approved move)."""
    return (
        f":raised_hand: *{env_title}* is a protected environment: a move there needs {approvers} to approve it. "
        "Nothing moved; ask with `/reschedule &lt;run&gt; &lt;when&gt;` and an approver will be asked."
    )


def approval_workflow(env_title: str) -> str:
    """Plain text (a workflow's activity shows it as is)."""
    return (
        f"This run is in {env_title}, a protected environment: a move there needs another person's approval, which "
        "a workflow step cannot wait for. Nothing moved. Ask with /reschedule in Slack, and an approver will be asked."
    )


def approval_not_approver(env_title: str, approvers: str) -> str:
    return f":no_entry: Only {approvers} may decide on moves in *{env_title}*. Nothing changed."


def approval_already(state: str, by: str | None, when_token: str) -> str:
    who = f" by <@{by}>" if by else ""
    return f"This request was already {state}{who} ({when_token}). Nothing more was done."


def approval_state_approved(by: str, when_token: str) -> str:
    return f":white_check_mark: Approved by <@{by}> · {when_token}"


def approval_state_rejected(by: str, when_token: str) -> str:
    return f":no_entry_sign: Rejected by <@{by}> · {when_token}. Nothing moved."


def approval_state_expired(when_token: str) -> str:
    return f":hourglass: Expired {when_token}: nobody approved it in time. Nothing moved."


def approval_state_not_delayed(status: str) -> str:
    return f":information_source: The run is no longer delayed (now *{status}*): nothing to approve, nothing moved."


def approval_state_failed(by: str, problem: str) -> str:
    return f":warning: Approved by <@{by}>, but the move did not go through: {problem}"


def approval_rejected_dm(by: str, what: str, env_title: str) -> str:
    return f":no_entry_sign: <@{by}> rejected your request to move {what} in *{env_title}*. Nothing moved."


def approval_expired_dm(what: str, env_title: str) -> str:
    return (
        f":hourglass: Your request to move {what} in *{env_title}* expired before anyone approved it. Nothing moved; "
        "ask again if it is still needed."
    )


def approval_not_delayed_dm(what: str, status: str) -> str:
    return (
        f":information_source: Your request to move {what} was not carried out: the run is no longer delayed "
        f"(now *{status}*)."
    )


def approval_failed_dm(by: str, what: str, problem: str) -> str:
    return f":warning: <@{by}> approved your request to move {what}, but the move did not go through: {problem}"


def approval_what(count: int, run_id: str) -> str:
    return f"`{run_id}`" if count == 1 else f"{count} runs"


def approved_by(user_id: str) -> str:
    """Added to a summary's head: the move was approved by another person."""
    return f", approved by <@{user_id}>"


def history_approved_by(who: str) -> str:
    """In /reschedule history and the audit channel: `who` already rendered (a mention, or an id in code)."""
    return f"approved by {who}"


def approved_set_note(user_id: str) -> str:
    return f"Approved by <@{user_id}> (protected environment)."
