"""Unit tests for the modal's submission reader, `bot.slack.modal.read_submission`.

The views are shaped as Slack submits them: `private_metadata` as the bot wrote it, and
`state.values[block_id][action_id]` holding what the person typed, picked or ticked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, cast

import pytest

from bot import messages
from bot.domain.environments import environment_for_key
from bot.render import ids
from bot.rescheduler import EnvironmentClient, Rescheduler
from bot.slack.deps import SurfaceDeps
from bot.slack.modal import Metadata, Origin, Submission, read_submission
from bot.trigger.client import TriggerClient
from tests.stand_ins import services

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
RUN = "run_cm9k2x7ab000108l5ghf2d1qz"
RUN_2 = "run_p4omhh45hgxxnq1re6ovy"
RUN_3 = "run_2aB3cD4eF5gH6iJ7kL8mN9oPqRs"
ORIGIN = Origin(kind="message", channel="C111", ts="1700000000.000100")


class NoTrigger:
    """Stands in for a TriggerClient: reading a submission must never call Trigger.dev."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"read_submission() touched the Trigger.dev client ({name})")


def deps(max_delay: timedelta = timedelta(days=365)) -> SurfaceDeps:
    keys = ("tr_prod_aaaaaaaaaaaaaaaaaaaa", "tr_stg_bbbbbbbbbbbbbbbbbbbb")
    targets = [EnvironmentClient(environment_for_key(key), cast(TriggerClient, NoTrigger())) for key in keys]
    rescheduler = Rescheduler(targets=targets, deadline_seconds=30, now=lambda: NOW)
    return SurfaceDeps(
        rescheduler=rescheduler, dashboard_base="https://cloud.trigger.dev", max_delay=max_delay, **services()
    )


SERVICES = deps()


def metadata(runs: dict[str, str] | None = None, choices: list[str] | None = None) -> str:
    return Metadata(origin=ORIGIN, runs=runs or {RUN: "prod"}, choices=choices or []).encode()


def view(
    *,
    text: str | None = None,
    picked: object = None,
    runs: list[str] | None = None,
    env: str | None = None,
    private_metadata: str | None = None,
) -> dict[str, Any]:
    """A submitted view; each argument left as None is a field the person left empty."""
    values: dict[str, Any] = {
        ids.BLOCK_WHEN_TEXT: {ids.ACTION_WHEN_TEXT: {"type": "plain_text_input", "value": text}},
        ids.BLOCK_WHEN_AT: {ids.ACTION_WHEN_AT: {"type": "datetimepicker", "selected_date_time": picked}},
    }
    if runs is not None:
        options = [{"text": {"type": "mrkdwn", "text": run_id}, "value": run_id} for run_id in runs]
        values[ids.BLOCK_RUNS] = {ids.ACTION_RUNS: {"type": "checkboxes", "selected_options": options}}
    if env is not None:
        option = {"text": {"type": "plain_text", "text": env.title()}, "value": env}
        values[ids.BLOCK_ENV] = {ids.ACTION_ENV: {"type": "static_select", "selected_option": option}}
    return {
        "id": "V123",
        "callback_id": ids.MODAL_CALLBACK_ID,
        "private_metadata": metadata() if private_metadata is None else private_metadata,
        "state": {"values": values},
    }


def read(submitted: dict[str, Any], svc: SurfaceDeps = SERVICES) -> Submission:
    return read_submission(submitted, svc, NOW)


# --- the time: typed, picked, neither or both --------------------------------------------------------


def test_neither_a_duration_nor_a_picked_time_is_an_error_on_the_duration_field() -> None:
    result = read(view())
    assert result.errors == {ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER}
    assert result.target is None
    assert result.chosen == [RUN]
    assert result.typed == ""


def test_a_duration_of_only_spaces_counts_as_empty() -> None:
    assert read(view(text="   ")).errors == {ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER}


def test_both_a_duration_and_a_picked_time_is_an_error_asking_for_one() -> None:
    result = read(view(text="2h", picked=NOW_S + 3600))
    assert result.errors == {ids.BLOCK_WHEN_TEXT: messages.MODAL_BOTH}
    assert result.target is None


def test_a_duration_of_only_spaces_beside_a_picked_time_uses_the_picked_time() -> None:
    result = read(view(text="  ", picked=NOW_S + 3600))
    assert result.errors == {}
    assert result.target == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW + timedelta(hours=2)),
        (" 1h 30m ", NOW + timedelta(hours=1, minutes=30)),
        ("2026-12-01T09:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_typed_duration_or_time_becomes_the_target_and_is_kept_as_typed(text: str, expected: datetime) -> None:
    result = read(view(text=text))
    assert result.errors == {}
    assert result.target == expected
    assert result.typed == text.strip()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("soon", "Can't read soon as a time."),
        ("0m", "0m is not in the future"),
        ("2020-01-01T00:00Z", "2020-01-01T00:00Z (Wed 1 Jan 2020 at 00:00, UTC (I couldn't read your Slack timezone))"),
        ("400d", "the furthest a run can be moved is 365d from now"),
        ("friday", "friday names a day but not a time of day: try friday 9am (Fri 5 Jun at 09:00"),
    ],
)
def test_an_unusable_typed_time_is_explained_in_plain_text_on_the_duration_field(text: str, says: str) -> None:
    result = read(view(text=text))
    error = result.errors[ids.BLOCK_WHEN_TEXT]
    assert says in error
    assert "tomorrow 9am" in error  # examples computed for now, never a date already past
    assert "`" not in error and ":warning:" not in error
    assert result.target is None
    assert result.typed == text
    assert result.chosen == [RUN]


def test_a_long_unusable_typed_time_is_echoed_only_in_part() -> None:
    text = "x" * 500
    error = read(view(text=text)).errors[ids.BLOCK_WHEN_TEXT]
    assert "x" * 60 in error
    assert "x" * 61 not in error


@pytest.mark.parametrize("picked", [NOW_S + 3600, str(NOW_S + 3600)])
def test_a_picked_time_ahead_becomes_the_target(picked: object) -> None:
    result = read(view(picked=picked))
    assert result.errors == {}
    assert result.target == NOW + timedelta(hours=1)
    assert result.typed == "picked 2026-06-01T13:00:00+00:00"


@pytest.mark.parametrize("picked", [NOW_S, NOW_S - 1, 0])
def test_a_picked_time_that_is_now_or_past_is_an_error_on_the_picker(picked: int) -> None:
    result = read(view(picked=picked))
    assert list(result.errors) == [ids.BLOCK_WHEN_AT]
    assert result.errors[ids.BLOCK_WHEN_AT].startswith("That date and time (")
    assert result.errors[ids.BLOCK_WHEN_AT].endswith("has already passed: pick a time in the future.")


def test_a_picked_time_beyond_the_limit_is_an_error_naming_the_limit() -> None:
    result = read(view(picked=NOW_S + 3 * 86400), deps(max_delay=timedelta(days=2)))
    assert result.errors == {ids.BLOCK_WHEN_AT: messages.instant_too_far("2d")}


def test_a_picked_time_exactly_at_the_limit_is_allowed() -> None:
    result = read(view(picked=NOW_S + 2 * 86400), deps(max_delay=timedelta(days=2)))
    assert result.errors == {}
    assert result.target == NOW + timedelta(days=2)


@pytest.mark.parametrize("picked", ["tomorrow", "", "-5", 1.5, "1.5", True, [NOW_S], {"t": NOW_S}])
def test_an_unreadable_picked_value_is_an_error_on_the_picker(picked: object) -> None:
    result = read(view(picked=picked))
    assert result.errors == {ids.BLOCK_WHEN_AT: messages.MODAL_AT_UNREADABLE}
    assert result.target is None


# --- metadata -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "private_metadata",
    [
        "",
        "not json",
        "{}",
        '{"origin": {"kind": "message"}}',  # no runs
        '{"origin": {"kind": "channel"}, "runs": {}}',  # an origin this bot never writes
        Metadata(origin=ORIGIN, runs={RUN: "prod"}).encode()[:-1] + ', "admin": true}',  # an extra field
        '{"callback": "someone_elses_modal"}',
    ],
)
def test_metadata_that_is_not_ours_gives_no_metadata_and_no_errors(private_metadata: str) -> None:
    result = read(view(text="2h", private_metadata=private_metadata))
    assert result == Submission({}, None, None, [], "")


def test_a_view_without_metadata_at_all_is_not_ours() -> None:
    assert read({"state": {"values": {}}}).metadata is None


def test_our_metadata_comes_back_as_written() -> None:
    result = read(view(text="2h"))
    assert result.metadata == Metadata(origin=ORIGIN, runs={RUN: "prod"})


# --- several runs: the checkboxes -----------------------------------------------------------------------


SEVERAL = {RUN: "prod", RUN_2: "staging", RUN_3: "prod"}


def test_with_several_runs_only_the_ticked_ones_are_chosen_in_tick_order() -> None:
    result = read(view(text="2h", runs=[RUN_3, RUN], private_metadata=metadata(SEVERAL)))
    assert result.errors == {}
    assert result.chosen == [RUN_3, RUN]
    assert result.target == NOW + timedelta(hours=2)


def test_with_several_runs_a_ticked_value_the_form_never_offered_is_dropped() -> None:
    foreign = "run_zzzzzzzzzzzzzzzzzzzzzzzz"
    result = read(view(text="2h", runs=[foreign, RUN_2], private_metadata=metadata(SEVERAL)))
    assert result.chosen == [RUN_2]


@pytest.mark.parametrize("ticked", [[], ["run_zzzzzzzzzzzzzzzzzzzzzzzz"], None])
def test_with_several_runs_none_ticked_is_an_error_on_the_checkboxes(ticked: list[str] | None) -> None:
    result = read(view(text="2h", runs=ticked, private_metadata=metadata(SEVERAL)))
    assert result.errors == {ids.BLOCK_RUNS: messages.MODAL_NO_RUNS}
    assert result.chosen == []


def test_with_several_runs_no_ticks_and_no_time_reports_both_fields() -> None:
    result = read(view(runs=[], private_metadata=metadata(SEVERAL)))
    assert result.errors == {ids.BLOCK_RUNS: messages.MODAL_NO_RUNS, ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER}


def test_with_one_run_the_checkboxes_are_ignored_and_the_run_is_chosen() -> None:
    result = read(view(text="2h", runs=[RUN_2]))
    assert result.errors == {}
    assert result.chosen == [RUN]


# --- the environment choice -----------------------------------------------------------------------------


def test_a_picked_environment_among_the_offered_choices_becomes_the_runs_environment() -> None:
    result = read(view(text="2h", env="staging", private_metadata=metadata({RUN: "prod"}, ["prod", "staging"])))
    assert result.errors == {}
    assert result.metadata is not None
    assert result.metadata.runs == {RUN: "staging"}
    assert result.chosen == [RUN]


def test_a_picked_environment_that_was_not_offered_is_ignored() -> None:
    result = read(view(text="2h", env="dev", private_metadata=metadata({RUN: "prod"}, ["prod", "staging"])))
    assert result.metadata is not None
    assert result.metadata.runs == {RUN: "prod"}


def test_a_picked_environment_is_ignored_when_no_choice_was_offered() -> None:
    result = read(view(text="2h", env="staging", private_metadata=metadata({RUN: "prod"})))
    assert result.metadata is not None
    assert result.metadata.runs == {RUN: "prod"}


def test_without_a_picked_environment_the_one_found_first_stays() -> None:
    result = read(view(text="2h", private_metadata=metadata({RUN: "prod"}, ["prod", "staging"])))
    assert result.metadata is not None
    assert result.metadata.runs == {RUN: "prod"}


def test_a_picked_environment_does_not_apply_to_several_runs() -> None:
    result = read(view(text="2h", runs=[RUN, RUN_2], env="staging", private_metadata=metadata(SEVERAL, ["staging"])))
    assert result.metadata is not None
    assert result.metadata.runs == SEVERAL


# --- tampered submissions never raise ----------------------------------------------------------------


@pytest.mark.parametrize("picked", [10**20, "²", "١٢٣", "9" * 40])
def test_an_absurd_picked_value_is_unreadable_not_an_exception(picked: object) -> None:
    result = read(view(picked=picked))
    assert result.errors == {ids.BLOCK_WHEN_AT: messages.MODAL_AT_UNREADABLE} and result.target is None


@pytest.mark.parametrize(
    "state",
    [None, "x", {"values": None}, {"values": []}, {"values": {ids.BLOCK_WHEN_TEXT: []}}, {"values": {"b": "x"}}],
)
def test_a_state_of_the_wrong_shape_reads_as_empty_fields(state: object) -> None:
    submitted = view(text="2h")
    submitted["state"] = state
    assert read(submitted).errors == {ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER}


@pytest.mark.parametrize("options", [5, "abc", [1, "x", None], [{"value": 7}], None])
def test_checkbox_selections_of_the_wrong_shape_choose_nothing(options: object) -> None:
    other = "run_" + "b" * 25
    submitted = view(text="2h", runs=[RUN], private_metadata=metadata({RUN: "prod", other: "prod"}))
    submitted["state"]["values"][ids.BLOCK_RUNS][ids.ACTION_RUNS]["selected_options"] = options
    result = read(submitted)
    assert result.chosen == [] and ids.BLOCK_RUNS in result.errors


def test_a_typed_value_that_is_not_text_counts_as_empty() -> None:
    submitted = view(picked=None)
    submitted["state"]["values"][ids.BLOCK_WHEN_TEXT][ids.ACTION_WHEN_TEXT]["value"] = 42
    assert read(submitted).errors == {ids.BLOCK_WHEN_TEXT: messages.MODAL_NEITHER}


def test_metadata_of_another_version_is_not_ours() -> None:
    result = read(view(text="2h", private_metadata='{"v": 2, "origin": {"kind": "shortcut"}, "runs": {}}'))
    assert result.metadata is None
