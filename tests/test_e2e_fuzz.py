"""Signed but mangled requests of every kind against the running bot, through either door (HTTP, and Socket Mode
envelopes): never a 5xx, never a traceback, every envelope acknowledged.

Each request starts from a payload the bot really handles (its own action ids, modal callback, shortcut and
command) and has fields deleted or replaced by values of the wrong type, at any depth. The seed is fixed, so a
failure names a request that can be replayed.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.render import ids
from bot.render.ids import Button
from tests.e2e_harness import (
    PROD_ENV,
    SIGNING_SECRET,
    SlackSender,
    bot_env,
    example_payload,
    fresh_trigger_id,
    settle,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger
from tests.inprocess import InProcessBot
from tests.socket_harness import SocketSender, socket_bot

pytestmark = pytest.mark.e2e

REQUESTS = 200
ODD_VALUES: list[Any] = [None, 0, -1, 10**20, 1.5, True, "", "x" * 300, "run_", [], [None], {}, {"id": 5}, "\u0000"]


def starting_points(run_id: str, response_url: str) -> list[dict[str, Any]]:
    """Payloads the bot handles, with its own ids and values."""
    value = json.dumps({"v": 1, "r": run_id, "a": int(time.time() * 1000) + 3_600_000})
    clicks = []
    for button in Button:
        click = example_payload("block_actions")
        click["response_url"] = response_url
        click["actions"] = [{"action_id": button.action_id, "value": value, "type": "button", "block_id": "b"}]
        clicks.append(click)
    submission = example_payload("view_submission")
    submission["view"]["callback_id"] = ids.MODAL_CALLBACK_ID
    submission["view"]["private_metadata"] = json.dumps(
        {"v": 1, "origin": {"kind": "message", "channel": "C111", "ts": "1.2"}, "runs": {run_id: "prod"}}
    )
    submission["view"]["state"] = {
        "values": {ids.BLOCK_WHEN_TEXT: {ids.ACTION_WHEN_TEXT: {"type": "plain_text_input", "value": "2h"}}}
    }
    shortcut = example_payload("message_action")
    shortcut["callback_id"] = ids.SHORTCUT_CALLBACK_ID
    shortcut["response_url"] = response_url
    shortcut["message"]["text"] = f"Run {run_id} failed"
    return [*clicks, submission, shortcut]


def mangle(rng: random.Random, data: Any, depth: int = 0) -> Any:
    """Delete or replace one field somewhere in `data` (in place where it can), and return the result."""
    if isinstance(data, dict) and data:
        key = rng.choice(sorted(data))
        roll = rng.random()
        if roll < 0.3:
            del data[key]
        elif roll < 0.6 or depth > 4:
            data[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        else:
            data[key] = mangle(rng, data[key], depth + 1)
        return data
    if isinstance(data, list) and data:
        index = rng.randrange(len(data))
        data[index] = mangle(rng, data[index], depth + 1) if rng.random() < 0.5 else rng.choice(ODD_VALUES)
        return data
    return copy.deepcopy(rng.choice(ODD_VALUES))


def command_fields(rng: random.Random, run_id: str, response_url: str) -> dict[str, str]:
    fields = {
        "command": "/reschedule",
        "text": rng.choice([f"{run_id} 2h", "history", f"history {run_id}", f"{run_id}", "--env", "x" * 500]),
        "team_id": "T111",
        "channel_id": "C111",
        "user_id": "U111",
        "response_url": response_url,
        "trigger_id": fresh_trigger_id(),
    }
    for _ in range(rng.randint(1, 2)):
        key = rng.choice(sorted(fields))
        fields[key] = rng.choice(["", "\u0000", "é" * 3, "-1", "U" * 200])
    return fields


@pytest.fixture(params=["http", "socket"])
def door(
    request: pytest.FixtureRequest, fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> Iterator[tuple[SlackSender, Callable[[], str]]]:
    """A sender through one door of the running bot, and the bot's log; afterwards every envelope was acknowledged."""
    if request.param == "http":
        with InProcessBot(bot_env(fake_slack, fake_trigger, tmp_path), log_path=tmp_path / "bot.log") as bot:
            yield SlackSender(bot.events_url, SIGNING_SECRET), bot.log_text
        return
    with socket_bot(fake_slack, fake_trigger, tmp_path) as (process, socket):
        yield SocketSender(socket), process.log_text
        assert socket.unacked() == [], socket.describe()


def test_mangled_signed_requests_never_get_a_5xx_or_a_traceback(
    door: tuple[SlackSender, Callable[[], str]], fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    slack, log_text = door
    rng = random.Random(20261130)
    run = fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    seeds = starting_points(run["id"], url)
    statuses: list[int] = []
    for number in range(REQUESTS):
        if number % 5 == 0:
            fields = command_fields(rng, run["id"], url)
            response = slack.post(urlencode(fields).encode(), "application/x-www-form-urlencoded")
            sent: Any = fields
        else:
            sent = rng.choice(seeds)
            for _ in range(rng.randint(1, 3)):
                sent = mangle(rng, copy.deepcopy(sent))
            response = (
                slack.interaction(sent)
                if isinstance(sent, dict)
                else slack.post(json.dumps(sent).encode(), "application/json")
            )
        assert response.status_code < 500, f"request {number}: {json.dumps(sent, default=str)[:600]}"
        statuses.append(response.status_code)
    settle(None, fake_slack, fake_trigger)  # work after the acknowledgements finishes (the fakes fall quiet)
    log = log_text()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
    # The run was never moved except by a request that still named it with a readable time.
    assert set(statuses) <= {200, 400, 404}
