"""Unit tests for the button action-id and value parser, `bot.render.ids.parse_action`.

Every button the bot renders must read back as itself; anything it did not render (another version, an
unknown button, a value edited or cut short) must become `ForeignPayload`, never another exception.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.environments import Environment
from bot.render.approvals import request_message
from bot.render.bulk import bulk_prompt, bulk_undo_actions
from bot.render.controls import DM_BUTTONS, PRIVATE_BUTTONS, SUMMARY_BUTTONS, Controls, actions_block, confirm_prompt
from bot.render.ids import (
    ACTION_PATTERN,
    APPROVAL_BUTTONS,
    BULK_BUTTONS,
    VERSION,
    Button,
    ButtonValue,
    ForeignPayload,
    parse_action,
    parse_bulk_action,
)
from bot.render.run_list import push_all_block

RUN = "run_cm9k2x7ab000108l5ghf2d1qz"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SHOWN = NOW + timedelta(hours=3)
PREVIOUS = NOW + timedelta(hours=1)
TARGET = NOW + timedelta(days=1)
PROD = Environment(name="prod", title="Prod", kind="prod")
URL = f"https://cloud.trigger.dev/runs/{RUN}"
GOOD_VALUE = ButtonValue.of(RUN, "prod", shown=SHOWN, previous=PREVIOUS).encode()


def rendered(buttons: tuple[Button, ...], confirm: bool = True) -> list[dict[str, Any]]:
    """The elements of an actions block for a delayed run that was moved (so Undo is offered)."""
    controls = Controls(now=NOW, confirm=confirm, buttons=buttons)
    return list(actions_block(RUN, "send-digest", "prod", SHOWN, PREVIOUS, URL, controls)["elements"])


def prompt() -> list[dict[str, Any]]:
    return list(confirm_prompt(RUN, "send-digest", PROD, TARGET)[1]["elements"])


def bulk_elements() -> list[dict[str, Any]]:
    prompt_elements = bulk_prompt("k3y_of-the-set", 3, ["Prod"], TARGET, 0)[1]["elements"]
    undo_elements = bulk_undo_actions("k3y_of-the-set")["elements"]
    return [*prompt_elements, *push_all_block("k3y_of-the-set")["elements"], *undo_elements]


def approval_elements() -> list[dict[str, Any]]:
    """Approve / Reject of a request in a protected environment."""
    message = request_message(
        key="k3y_of-the-request",
        user_id="U111",
        env_title="Prod",
        runs=[],
        when=TARGET,
        reason="",
        expires=NOW,
        approvers="<@U222>",
    )
    return [element for block in message.blocks if block["type"] == "actions" for element in block["elements"]]


def every_rendered_element() -> list[dict[str, Any]]:
    return [
        *rendered(SUMMARY_BUTTONS),
        *rendered(PRIVATE_BUTTONS),
        *rendered(DM_BUTTONS, confirm=False),
        *prompt(),
        *bulk_elements(),
        *approval_elements(),
    ]


def foreign(action: dict[str, Any]) -> ForeignPayload:
    with pytest.raises(ForeignPayload) as caught:
        parse_action(action)
    return caught.value


# --- what the bot renders reads back -------------------------------------------------------------------


def test_every_button_the_bot_renders_reads_back_as_itself() -> None:
    parsed = [parse_action(element)[0] for element in every_rendered_element()]
    assert [button.action_id for button in parsed] == [element["action_id"] for element in every_rendered_element()]
    assert set(parsed) == set(Button), "a Button is never rendered, or never read back"


@pytest.mark.parametrize("element", rendered(SUMMARY_BUTTONS), ids=lambda element: element["action_id"])
def test_a_summary_button_carries_the_run_and_the_times_its_message_showed(element: dict[str, Any]) -> None:
    button, value = parse_action(element)
    if button is Button.OPEN:
        assert value is None
        assert element["url"] == URL
        return
    assert value is not None
    assert (value.run_id, value.e, value.shown, value.previous, value.target) == (RUN, "prod", SHOWN, PREVIOUS, None)


def test_the_confirm_prompt_carries_the_chosen_target_and_cancel_carries_nothing() -> None:
    confirm, cancel = (parse_action(element) for element in prompt())
    assert confirm[0] is Button.CONFIRM
    assert confirm[1] is not None
    assert (confirm[1].run_id, confirm[1].e, confirm[1].target, confirm[1].shown) == (RUN, "prod", TARGET, None)
    assert cancel == (Button.CANCEL, None)


@pytest.mark.parametrize("button", [b for b in Button if b not in BULK_BUTTONS | APPROVAL_BUTTONS])
def test_every_button_with_a_value_reads_back_that_value(button: Button) -> None:
    value = ButtonValue.of(RUN, "staging", shown=SHOWN, previous=PREVIOUS, target=TARGET)
    assert parse_action({"action_id": button.action_id, "value": value.encode()}) == (button, value)


def test_the_bulk_buttons_carry_the_key_of_their_set_and_nothing_else() -> None:
    for element in bulk_elements():
        assert parse_action(element)[1] is None
        assert parse_bulk_action(element).k == "k3y_of-the-set"
    run_value = ButtonValue.of(RUN, "prod", target=TARGET).encode()
    assert "malformed" in str(foreign({"action_id": Button.BULK_CONFIRM.action_id, "value": run_value}))


@pytest.mark.parametrize("button", [Button.OPEN, Button.CANCEL])
def test_open_and_cancel_need_no_value(button: Button) -> None:
    assert parse_action({"action_id": button.action_id}) == (button, None)


def test_times_travel_as_whole_milliseconds() -> None:
    shown = datetime(2026, 6, 1, 15, 0, 0, 123456, tzinfo=UTC)
    encoded = ButtonValue.of(RUN, "prod", shown=shown).encode()
    assert json.loads(encoded) == {"v": 1, "r": RUN, "e": "prod", "a": int(shown.timestamp() * 1000)}
    _, value = parse_action({"action_id": Button.PUSH_1H.action_id, "value": encoded})
    assert value is not None
    assert value.shown == shown.replace(microsecond=123000)


def test_a_value_without_times_has_no_times() -> None:
    _, value = parse_action({"action_id": Button.TOMORROW_9.action_id, "value": json.dumps({"r": RUN})})
    assert value is not None
    assert (value.v, value.e, value.shown, value.previous, value.target) == (1, "", None, None, None)


# --- ids this version did not produce -------------------------------------------------------------------


@pytest.mark.parametrize("action_id", ["rb0:push_1h", "rb2:push_1h", "rb10:push_1h"])
def test_an_id_from_another_version_reaches_the_handler_but_is_foreign(action_id: str) -> None:
    assert ACTION_PATTERN.match(action_id) is not None
    error = foreign({"action_id": action_id, "value": GOOD_VALUE})
    assert "is not from this version" in str(error)


@pytest.mark.parametrize(
    "action", [{"action_id": "push_1h"}, {"action_id": ""}, {"action_id": ":push_1h"}, {"action_id": "RB1:push_1h"}, {}]
)
def test_an_id_without_this_versions_prefix_is_foreign(action: dict[str, Any]) -> None:
    assert "is not from this version" in str(foreign({**action, "value": GOOD_VALUE}))


@pytest.mark.parametrize(
    "action_id", [f"{VERSION}:explode", f"{VERSION}:", f"{VERSION}:PUSH_1H", f"{VERSION}:push_1h:x", f"{VERSION}: open"]
)
def test_an_unknown_button_name_is_foreign(action_id: str) -> None:
    assert "unknown button" in str(foreign({"action_id": action_id, "value": GOOD_VALUE}))


def test_a_long_foreign_id_is_not_echoed_whole() -> None:
    long_id = "x" * 5000
    assert len(str(foreign({"action_id": long_id}))) < 120
    assert len(str(foreign({"action_id": f"{VERSION}:{long_id}"}))) < 120


# --- values this version did not produce ----------------------------------------------------------------


@pytest.mark.parametrize("button", [b for b in Button if b not in (Button.OPEN, Button.CANCEL)])
def test_a_button_that_acts_on_a_run_without_a_value_is_foreign(button: Button) -> None:
    assert "carries no value" in str(foreign({"action_id": button.action_id}))


def _edited(**changes: Any) -> str:
    value = json.loads(GOOD_VALUE)
    value.update(changes)
    return json.dumps({key: item for key, item in value.items() if item is not ...})


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        GOOD_VALUE[:-1],  # cut short
        "null",
        "[]",
        "{}",
        _edited(r=...),  # no run
        _edited(r="run_x"),
        _edited(r=RUN + "a" * 10),  # too long for a run id
        _edited(r=f" {RUN}"),
        _edited(r=f"{RUN}\n"),
        _edited(e="x" * 41),
        _edited(v=2),  # a newer value format
        _edited(v=0),
        _edited(a="tomorrow"),
        _edited(p=1.5),
        _edited(t=[1]),
        _edited(admin=True),  # a field this version never writes
        _edited(a=10**20),  # far beyond any date
        _edited(a=-1),
        _edited(a=True),
        _edited(p="5"),  # numbers only as numbers
        {"r": RUN},  # not a JSON string at all
    ],
)
def test_a_malformed_or_edited_value_is_foreign(raw: object) -> None:
    error = foreign({"action_id": Button.PUSH_1H.action_id, "value": raw})
    assert str(error) == "button push_1h carries a malformed value"


@pytest.mark.parametrize("button", [Button.OPEN, Button.CANCEL])
def test_open_and_cancel_with_a_malformed_value_are_foreign_too(button: Button) -> None:
    assert "malformed value" in str(foreign({"action_id": button.action_id, "value": "not json"}))


def test_foreign_payload_is_a_value_error_so_callers_can_answer_it_privately() -> None:
    assert issubclass(ForeignPayload, ValueError)
