"""Unit tests for the /reschedule parser, `bot.slack.command.parse`: what each typed text becomes.

`parse` needs no network: the SurfaceDeps here hold a Rescheduler whose environments have no working Trigger.dev client
(touching one fails the test), built the way `bot.wiring` builds them from configured keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NoReturn, cast

import pytest

from bot import messages
from bot.domain.environments import environment_for_key
from bot.domain.typed_time import zone_named
from bot.rescheduler import EnvironmentClient, Rescheduler
from bot.slack.command import History, Intent, Move, Reply, RunNow, Show, names_a_time, parse, zone_free
from bot.slack.deps import SurfaceDeps
from bot.trigger.client import TriggerClient
from tests.stand_ins import services

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RUN = "run_cm9k2x7ab000108l5ghf2d1qz"
OTHER_RUN = "run_p4omhh45hgxxnq1re6ovy"
KEYS = ("tr_prod_aaaaaaaaaaaaaaaaaaaa", "tr_stg_bbbbbbbbbbbbbbbbbbbb", "tr_dev_cccccccccccccccccccc")


class NoTrigger:
    """Stands in for a TriggerClient: parsing must never call Trigger.dev."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"parse() touched the Trigger.dev client ({name})")


def deps(*keys: str, max_delay: timedelta = timedelta(days=365), named: dict[str, str] | None = None) -> SurfaceDeps:
    """SurfaceDeps over the environments of `keys` (prod, staging, dev by default), as bot.wiring builds them."""
    chosen = keys or KEYS
    targets = [EnvironmentClient(environment_for_key(key), cast(TriggerClient, NoTrigger())) for key in chosen]
    targets += [
        EnvironmentClient(environment_for_key(key, name), cast(TriggerClient, NoTrigger()))
        for name, key in (named or {}).items()
    ]
    rescheduler = Rescheduler(targets=targets, deadline_seconds=30, now=lambda: NOW)
    return SurfaceDeps(
        rescheduler=rescheduler, dashboard_base="https://cloud.trigger.dev", max_delay=max_delay, **services()
    )


SERVICES = deps()


def read(text: str, svc: SurfaceDeps = SERVICES) -> Intent:
    return parse(text, NOW, svc)


def reply(text: str, svc: SurfaceDeps = SERVICES) -> Reply:
    intent = read(text, svc)
    assert isinstance(intent, Reply), f"{text!r} gave {intent!r}, expected a Reply"
    return intent


# --- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "Help", "-h", "--help", "?", "usage", "help me please"])
def test_help_words_and_an_empty_command_answer_with_usage_and_are_not_audited_as_invalid(text: str) -> None:
    answer = reply(text)
    assert answer.text == messages.USAGE
    assert answer.invalid is False


def test_a_run_id_after_help_still_gets_the_usage_not_a_move() -> None:
    assert reply(f"help {RUN} 2h").text == messages.USAGE


def test_an_env_flag_alone_with_a_known_name_answers_with_usage() -> None:
    assert reply("--env prod") == Reply(messages.USAGE)


# --- --env ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"{RUN} 2h --env staging",
        f"{RUN} 2h --env=staging",
        f"--env staging {RUN} 2h",
        f"--env=staging {RUN} 2h",
        f"{RUN} --env staging 2h",
        f"{RUN} 2h --ENV=Staging",
        f"{RUN} 2h --Env STAGING",
    ],
)
def test_env_flag_in_either_form_and_any_position_names_the_environment_in_lower_case(text: str) -> None:
    assert read(text) == Move(RUN, NOW + timedelta(hours=2), "staging")


def test_env_flag_applies_to_show_as_well_as_move() -> None:
    assert read(f"{RUN} --env dev") == Show(RUN, "dev")


def test_without_env_flag_the_environment_is_left_open() -> None:
    assert read(f"{RUN} 2h") == Move(RUN, NOW + timedelta(hours=2), None)
    assert read(RUN) == Show(RUN, None)


@pytest.mark.parametrize("text", ["--env", f"{RUN} 2h --env", f"{RUN} 2h --env=", f"--env= {RUN} 2h", "--ENV="])
def test_env_flag_without_a_name_is_refused_in_one_line_with_an_example(text: str) -> None:
    answer = reply(text)
    assert answer.invalid is True
    assert answer.text == messages.ENV_FLAG_NEEDS_NAME and "\n" not in answer.text and "e.g. `--env" in answer.text


def test_unknown_environment_is_refused_naming_the_configured_ones() -> None:
    answer = reply(f"{RUN} 2h --env qa")
    assert answer.invalid is True
    assert answer.text == messages.unknown_environment("qa", "*prod*, *staging* or *dev*")


def test_unknown_environment_is_refused_before_help_or_history_is_answered() -> None:
    assert reply("--env qa help").invalid is True
    assert "`qa`" in reply("history --env qa").text


def test_a_named_environment_is_known_by_its_name_not_by_its_kind() -> None:
    svc = deps("tr_stg_bbbbbbbbbbbbbbbbbbbb", named={"billing-prod": "tr_prod_dddddddddddddddddddd"})
    assert read(f"{RUN} 2h --env billing_prod", svc) == Move(RUN, NOW + timedelta(hours=2), "billing_prod")
    refused = reply(f"{RUN} 2h --env prod", svc)
    assert refused.text == messages.unknown_environment("prod", "*staging* or *billing_prod*")


def test_an_unknown_environment_name_is_echoed_escaped_and_bounded() -> None:
    answer = reply(f"{RUN} --env <!channel>&{'x' * 300}")
    assert "<!channel>" not in answer.text
    assert "&lt;!channel&gt;&amp;" in answer.text
    assert "x" * 101 not in answer.text


# --- history --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["history", "HISTORY", "  History  "])
def test_history_alone_is_the_persons_own_history(text: str) -> None:
    assert read(text) == History(None)


@pytest.mark.parametrize(
    "ref",
    [RUN, f"https://cloud.trigger.dev/runs/{RUN}", f"<https://cloud.trigger.dev/projects/v3/proj_x/runs/{RUN}|x>"],
)
def test_history_with_a_run_reference_is_that_runs_history(ref: str) -> None:
    assert read(f"history {ref}") == History(RUN)


def test_history_with_a_known_env_flag_is_still_history() -> None:
    assert read(f"history {RUN} --env prod") == History(RUN)


@pytest.mark.parametrize(
    ("text", "echoed"),
    [("history nope", "nope"), (f"history {RUN} extra", f"{RUN} extra"), (f"history {RUN} {OTHER_RUN}", None)],
)
def test_history_with_anything_but_one_run_is_not_a_run(text: str, echoed: str | None) -> None:
    answer = reply(text)
    assert answer.invalid is True
    assert ":warning:" in answer.text and messages.USAGE not in answer.text and "\n" not in answer.text
    assert f"try `/reschedule history {messages.EXAMPLE_RUN}`" in answer.text  # an example that works here
    if echoed is not None:
        assert answer.text == messages.not_a_run(echoed, messages.HISTORY_EXAMPLE)


# --- the run reference ------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["run_x", "nope", "RUN_CM9K2X7AB000108L5GHF2D1QZ", "https://example.com/runs/"])
def test_a_first_word_that_is_not_a_run_is_refused_echoing_it(word: str) -> None:
    answer = reply(f"{word} 2h")
    assert answer.invalid is True
    assert answer.text == messages.not_a_run(word)
    assert "\n" not in answer.text and f"try `/reschedule {messages.EXAMPLE_RUN} 2h`" in answer.text


@pytest.mark.parametrize(
    ("typed", "ordered", "runs"),
    [
        (f"2h {RUN}", f"/reschedule {RUN} 2h", 1),
        (f"tomorrow 9am {RUN} {OTHER_RUN}", f"/reschedule {RUN} {OTHER_RUN} tomorrow 9am", 2),
        (f"2h {RUN} --env prod", f"/reschedule {RUN} 2h --env prod", 1),
        (f"<@U1> {RUN}", f"/reschedule {RUN} &lt;@U1&gt;", 1),  # echoed escaped, as all typed text
    ],
)
def test_the_time_typed_before_the_runs_is_not_taken_for_a_run_and_the_order_to_type_is_given(
    typed: str, ordered: str, runs: int
) -> None:
    answer = reply(typed)
    assert answer.invalid is True
    assert answer.text == messages.runs_go_first(f"`{ordered}`", runs)


def test_no_run_anywhere_is_simply_not_a_run() -> None:
    assert reply("2h later").text == messages.not_a_run("2h")


def test_a_pasted_dashboard_link_is_read_as_its_run() -> None:
    link = f"<https://cloud.trigger.dev/orgs/acme/projects/web/env/prod/runs/{RUN}?span=1|Investigate>"
    assert read(f"{link} 30m") == Move(RUN, NOW + timedelta(minutes=30), None)


# --- show vs move ------------------------------------------------------------------------------------


def test_a_run_alone_shows_it() -> None:
    assert read(f"  {RUN}  ") == Show(RUN, None)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2h", NOW + timedelta(hours=2)),
        ("1h 30m", NOW + timedelta(hours=1, minutes=30)),
        ("in 2h", NOW + timedelta(hours=2)),
        ("+1d12h", NOW + timedelta(days=1, hours=12)),
        ("90 minutes", NOW + timedelta(minutes=90)),
        ("2026-12-01T09:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01 10:00+01:00", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_run_and_a_time_moves_it_to_an_instant_fixed_at_now(when: str, expected: datetime) -> None:
    intent = read(f"{RUN} {when}")
    assert intent == Move(RUN, expected, None)
    assert isinstance(intent, Move) and intent.when.utcoffset() == timedelta(0)


def test_the_same_text_read_at_another_moment_lands_elsewhere() -> None:
    later = parse(f"{RUN} 2h", NOW + timedelta(minutes=5), SERVICES)
    assert later == Move(RUN, NOW + timedelta(hours=2, minutes=5), None)


# --- bad delays ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "says"),
    [
        ("0m", "is not in the future"),
        ("-2h", "is not in the future"),
        ("soon", "I can't read"),
        ("1,5h", "I can't read"),
        ("2020-01-01T00:00Z", "has already passed"),
        ("2026-06-01 12:00+01:00", "has already passed"),
        ("2026-12-01", "names a day but not a time"),  # a date without a time
        ("400d", "too far ahead"),
        ("history", "I can't read"),
    ],
)
def test_an_unusable_time_is_refused_saying_why_and_echoing_it(when: str, says: str) -> None:
    answer = reply(f"{RUN} {when}")
    assert answer.invalid is True
    assert says in answer.text
    if says != "too far ahead":  # one sentence on every surface: it names the limit, not what was typed
        assert f"`{when}`" in answer.text


def test_a_misspelt_time_is_answered_with_what_it_probably_meant_and_when_that_is() -> None:
    answer = reply(f"{RUN} tomorow 9am")
    assert answer.invalid is True
    assert "I can't read `tomorow 9am` as a time: did you mean `tomorrow 9am` (tomorrow" in answer.text
    assert "Examples:" in answer.text


def test_too_far_names_the_configured_limit() -> None:
    answer = reply(f"{RUN} 3d", deps(max_delay=timedelta(days=2)))
    assert "too far ahead" in answer.text
    assert "2d from now" in answer.text


def test_the_limit_itself_is_allowed() -> None:
    assert read(f"{RUN} 2d", deps(max_delay=timedelta(days=2))) == Move(RUN, NOW + timedelta(days=2), None)


def test_an_unusable_time_is_echoed_escaped_and_bounded() -> None:
    answer = reply(f"{RUN} <@U123> & {'9' * 300}")
    assert "<@U123>" not in answer.text
    assert "&lt;@U123&gt; &amp;" in answer.text
    assert "9" * 101 not in answer.text


def test_every_refusal_is_marked_invalid_and_every_help_is_not() -> None:
    texts: dict[str, bool] = {"help": False, "": False, "nope": True, f"{RUN} soon": True, "--env": True}
    assert {text: reply(text).invalid for text in texts} == texts


@pytest.mark.parametrize(
    ("text", "needed"),
    [
        (f"{RUN} tomorrow 9am", True),
        (f"--env staging {RUN} 17:30", True),
        (f"{RUN} --env=prod 2h", True),
        (f"{RUN} {OTHER_RUN} fri 9am", True),
        (RUN, False),
        ("list send", False),
        ("history", False),
        ("help", False),
    ],
)
def test_the_persons_timezone_is_looked_up_only_when_a_time_may_be_read(text: str, needed: bool) -> None:
    assert names_a_time(text) is needed


@pytest.mark.parametrize(
    ("text", "needed"),
    [
        (f"{RUN} tomorrow 9am", True),
        (f"{RUN} 17:30", True),
        (f"{RUN} 2026-06-03 09:00", True),
        (f"{RUN} {OTHER_RUN} fri 9am", True),
        (f"{RUN} yesterday", True),  # refused: the examples are on their clock
        (f"{RUN} 2h", False),
        (f"{RUN} 1h 30m", False),
        (f"{RUN} {OTHER_RUN} 2h", False),
        (f"{RUN} now", False),
        (f"{RUN} 2026-06-03T09:00:00Z", False),
        (RUN, False),
        ("list send", False),
    ],
)
def test_the_acknowledgement_waits_for_the_persons_timezone_only_when_the_instant_depends_on_it(
    text: str, needed: bool
) -> None:
    assert (zone_free(text, NOW, SERVICES) is None) is needed


def test_a_time_of_day_is_read_on_the_persons_clock_and_the_note_says_which_day() -> None:
    kolkata = zone_named("Asia/Kolkata")
    intent = parse(f"{RUN} tomorrow 9am", NOW, SERVICES, kolkata)  # NOW is 17:30 in Kolkata, Mon 1 Jun
    assert intent == Move(RUN, datetime(2026, 6, 2, 3, 30, tzinfo=UTC), None)
    assert isinstance(intent, Move)
    assert intent.note == "`tomorrow 9am` is tomorrow, Tue 2 Jun at 09:00, your time."
    assert intent.ask is False
    asked = parse(f"{RUN} next monday 9am", NOW, SERVICES, kolkata)
    assert isinstance(asked, Move) and asked.ask is True and asked.spoken == "Mon 8 Jun at 09:00, your time"


def test_now_is_run_now_for_one_run_and_refused_for_several() -> None:
    assert read(f"{RUN} now") == RunNow(RUN, None)
    refused = reply(f"{RUN} {OTHER_RUN} now")
    assert refused.text == messages.RUN_NOW_ONE_AT_A_TIME and refused.invalid
