"""Every button the bot renders is routed: a click on one without a handler would end in an unexpected error."""

from __future__ import annotations

from bot.render.ids import Button
from bot.slack.buttons import HANDLERS


def test_every_button_has_a_handler() -> None:
    assert sorted(set(Button) - set(HANDLERS)) == []
    assert all(callable(handler) for handler in HANDLERS.values())
