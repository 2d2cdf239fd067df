"""Signed-but-malformed Slack requests of every kind, drawn from a seeded random.Random (tests/test_e2e_fuzz_many.py).

Each request starts from a shape the bot really handles (slash command, block_actions on each of its buttons,
view_submission of its modals, the message shortcut, Events API callbacks, and types it has no listener for), then
has values tampered (button values, modal metadata and state, action and callback ids) and fields deleted or given
the wrong type at any depth; some bodies are raw bytes (not UTF-8, the wrong content type, huge). The run ids used
are `named` (they exist in the fake Trigger.dev); every body is returned so a test can tell which ids it named. The
acting user is mostly U111, sometimes someone else, so an access rule allowing only U111 is fuzzed too.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import string
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from bot.render import ids
from bot.render.ids import Button
from tests.e2e_harness import DASHBOARD_URL, fresh_trigger_id
from tests.e2e_harness import example_payload as read_example

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
NEAR_LIMIT = 900_000  # bytes: a body just under the front door's bound (bot/server.py MAX_BODY_BYTES is 1 MiB)
ODD_VALUES: list[Any] = [
    None, 0, -1, 2**63, 10**30, 1.5, -0.0, 1e308, True, False, "", " ", "x" * 3000, "run_", "\u0000", "\ud800",
    "💥" * 50, "<!channel> <@U111> &amp; <https://evil.test|click>", "\n" * 40, "%s%n{0}", "null", "[]", "{}",
    [], [None], [[[[]]]], {}, {"id": 5}, {"type": None}, {"text": {"text": {"text": 1}}},
]  # fmt: skip
ODD_ACTION_IDS: list[Any] = [
    "rb2:push_1h", "rb1:", "rb1:nope", "", "push_1h", "rb1:push_1h:extra", "RB1:PUSH_1H", "rb1:push_1h ", None, 5,
    "rb99:undo", "rb1:" + "x" * 300, ids.MODAL_CALLBACK_ID, ids.SHORTCUT_CALLBACK_ID,
]  # fmt: skip
ODD_CALLBACK_IDS: list[Any] = [
    ids.MODAL_CALLBACK_ID, ids.BULK_MODAL_CALLBACK_ID, ids.SHORTCUT_CALLBACK_ID, "rb2:modal", "", None, 7, "x" * 500,
]  # fmt: skip
WHEN_TEXTS: list[Any] = [
    "2h", "1d", "0s", "-1h", "soon", "9" * 40 + "h", "2020-01-01T00:00Z", "9999-12-31T23:59:59Z", "1h 1h", "", None,
    7, ["2h"], "2h\u0000", "in 2 hours", "400d", "٣h", "１h",
]  # fmt: skip
EVENT_TYPES = ["link_shared", "app_mention", "message", "app_home_opened", "app_uninstalled", "tokens_revoked", "x", ""]
OTHER_TYPES = ["block_suggestion", "view_closed", "shortcut", "interactive_message", "dialog_submission", "x", ""]


@dataclass(frozen=True)
class FuzzRequest:
    kind: str
    body: bytes
    content_type: str


@functools.cache
def _example(name: str) -> str:
    return json.dumps(read_example(name))


def example_payload(name: str) -> dict[str, Any]:
    """A fresh copy of tests/data/slack/payloads/<name>.json's payload (read once)."""
    loaded: dict[str, Any] = json.loads(_example(name))
    return loaded


class Corpus:
    """Draws requests; `named` are run ids that exist in the fake, `response_urls` are the fake Slack's."""

    def __init__(self, rng: random.Random, named: list[str], response_urls: list[str]) -> None:
        self.rng = rng
        self.named = named
        self.response_urls = response_urls

    def person(self) -> str:
        """Mostly U111 (the one person an access rule may allow), sometimes someone else."""
        return self.rng.choice(["U111", "U111", "U111", "U222", "W0OTHER"])

    # --- the pieces ---------------------------------------------------------------------------------------------

    def run_ref(self) -> Any:
        rng = self.rng
        run_id = rng.choice(self.named)
        return rng.choice(
            [
                run_id,
                run_id,
                f"{DASHBOARD_URL}/runs/{run_id}",
                f"<{DASHBOARD_URL}/projects/v3/proj_x/runs/{run_id}|link>",
                "run_" + "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(18, 32))),
                run_id.upper(),
                run_id + "_",
                rng.choice(ODD_VALUES),
            ]
        )

    def ms(self) -> Any:
        now = int(time.time() * 1000)
        return self.rng.choice(
            [now + 3_600_000, now - 3_600_000, now + 400 * 86_400_000, 0, -5, 4_102_444_800_001, 1.5, "1", None, True]
        )

    def button_value(self) -> Any:
        rng = self.rng
        value: dict[str, Any] = {"v": 1, "r": self.run_ref(), "e": rng.choice(["", "prod", "staging", "x" * 41])}
        for key in rng.sample(["a", "p", "t"], rng.randint(0, 3)):
            value[key] = self.ms()
        roll = rng.random()
        if roll < 0.1:
            value["v"] = rng.choice([2, "1", None, 0])
        elif roll < 0.2:
            value["extra"] = rng.choice(ODD_VALUES)
        elif roll < 0.25:
            value = {"v": 1, "k": rng.choice(["abcdefgh", "x" * 41, "../../etc", "", None, "a" * 8 + "!"])}
        encoded = json.dumps(value)
        return rng.choice([encoded, encoded, encoded, encoded[:-1], encoded * 2, "[" + encoded + "]", *ODD_VALUES[:6]])

    def metadata(self) -> Any:
        rng = self.rng
        key = str(self.run_ref()) if rng.random() < 0.3 else rng.choice(self.named)
        runs = {key: rng.choice(["prod", "staging", ""])}
        if rng.random() < 0.2:
            runs.update({rng.choice(self.named): "prod" for _ in range(3)})
        origin = {
            "kind": rng.choice(["message", "ephemeral", "shortcut", "other", None]),
            "channel": rng.choice(["C111", "", None, "U111", 5]),
            "ts": rng.choice(["1.2", "", None, "x" * 100]),
            "response_url": rng.choice([*self.response_urls, None, "not a url", "http://127.0.0.1:9/closed"]),
        }
        data: dict[str, Any] = {"v": rng.choice([1, 1, 1, 2]), "origin": origin, "runs": runs}
        if rng.random() < 0.2:
            data["choices"] = rng.choice([["prod"], [], "prod", [None]])
        if rng.random() < 0.1:
            data["runs"] = rng.choice(ODD_VALUES)
        encoded = json.dumps(data, default=str)
        return rng.choice([encoded, encoded, encoded, encoded[:40], "", rng.choice(ODD_VALUES)])

    # --- the payloads ---------------------------------------------------------------------------------------------

    def command(self) -> FuzzRequest:
        rng = self.rng
        words = [self.run_ref() for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        text = " ".join(str(word) for word in words) + " " + str(rng.choice(WHEN_TEXTS))
        text = rng.choice([text, text, "help", "list", f"list --within {rng.choice(WHEN_TEXTS)}", "history",
                           f"history {words[0]}", f"{words[0]} --env {rng.choice(['prod', 'x', ''])}",
                           "x" * rng.choice([500, 5000]), "\u0000\ud800"])  # fmt: skip
        fields: dict[str, Any] = example_payload("slash_command")
        fields.update(text=text, response_url=rng.choice(self.response_urls), trigger_id=fresh_trigger_id())
        fields["user_id"] = self.person()
        for _ in range(rng.randint(0, 3)):
            fields[rng.choice(sorted(fields))] = rng.choice(["", "\u0000", "é", "-1", "U" * 200, "/other", "T999"])
        body = urlencode({k: str(v) for k, v in fields.items()}, errors="surrogatepass")  # a lone surrogate: not UTF-8
        return FuzzRequest("command", body.encode(), FORM)

    def block_actions(self) -> dict[str, Any]:
        rng = self.rng
        click = example_payload("block_actions")
        click["response_url"] = rng.choice(self.response_urls)
        click["trigger_id"] = fresh_trigger_id()
        action_id = rng.choice(list(Button)).action_id if rng.random() < 0.85 else rng.choice(ODD_ACTION_IDS)
        action = {"action_id": action_id, "value": self.button_value(), "type": "button", "block_id": "b"}
        click["actions"] = [action] if rng.random() < 0.9 else [action, copy.deepcopy(action)]
        if rng.random() < 0.2:
            click["message"] = {"text": str(self.run_ref()), "blocks": rng.choice(ODD_VALUES), "ts": "1.2"}
        return click

    def view_submission(self) -> dict[str, Any]:
        rng = self.rng
        submission = example_payload("view_submission")
        submission["trigger_id"] = fresh_trigger_id()
        view = submission["view"]
        view["callback_id"] = rng.choice(ODD_CALLBACK_IDS) if rng.random() < 0.3 else ids.MODAL_CALLBACK_ID
        view["private_metadata"] = self.metadata()
        when: dict[str, Any] = {"type": "plain_text_input", "value": rng.choice(WHEN_TEXTS)}
        at = {
            "type": "datetimepicker",
            "selected_date_time": self.ms() if rng.random() < 0.5 else rng.choice(ODD_VALUES),
        }
        options = [{"value": rng.choice([*self.named, None, 5])} for _ in range(rng.randint(0, 3))]
        values: dict[str, Any] = {
            ids.BLOCK_WHEN_TEXT: {ids.ACTION_WHEN_TEXT: when},
            ids.BLOCK_WHEN_AT: {ids.ACTION_WHEN_AT: at},
            ids.BLOCK_RUNS: {ids.ACTION_RUNS: {"selected_options": rng.choice([options, None, "all"])}},
            ids.BLOCK_ENV: {ids.ACTION_ENV: {"selected_option": rng.choice([{"value": "prod"}, {"value": 5}, "prod"])}},
        }
        for block in rng.sample(sorted(values), rng.randint(0, 3)):
            del values[block]
        view["state"] = rng.choice([{"values": values}, {"values": values}, {"values": None}, None, []])
        return submission

    def message_action(self) -> dict[str, Any]:
        rng = self.rng
        shortcut = example_payload("message_action")
        shortcut["callback_id"] = ids.SHORTCUT_CALLBACK_ID if rng.random() < 0.8 else rng.choice(ODD_CALLBACK_IDS)
        shortcut["response_url"] = rng.choice(self.response_urls)
        shortcut["trigger_id"] = fresh_trigger_id()
        refs = " ".join(str(self.run_ref()) for _ in range(rng.randint(0, 25)))
        shortcut["message"]["text"] = f"Run failed: {refs}"
        if rng.random() < 0.3:
            shortcut["message"]["blocks"] = [{"type": "section", "text": {"type": "mrkdwn", "text": refs}}] * 3
        return shortcut

    def event(self) -> FuzzRequest:
        rng = self.rng
        if rng.random() < 0.15:
            verification = example_payload("url_verification")
            verification["challenge"] = rng.choice(["abc", *ODD_VALUES[:10]])
            data: Any = verification
        else:
            data = example_payload("event_link_shared")
            data["event"]["type"] = rng.choice(EVENT_TYPES)
            data["event"]["links"] = [
                {"domain": "cloud.trigger.test", "url": rng.choice([f"{DASHBOARD_URL}/runs/{rng.choice(self.named)}",
                                                                    str(self.run_ref()), None, 5])}
                for _ in range(rng.randint(0, 4))
            ]  # fmt: skip
            data["event_id"] = f"Ev{rng.randrange(10**12)}"
            if rng.random() < 0.2:
                data["type"] = rng.choice(["app_rate_limited", "event_callback", "x", None])
        return FuzzRequest("event", json.dumps(mangle(self.rng, data, rounds=rng.randint(0, 2))).encode(), JSON)

    def raw(self) -> FuzzRequest:
        rng = self.rng
        roll = rng.randrange(8)
        if roll == 0:
            return FuzzRequest("raw", rng.randbytes(rng.randint(0, 400)), rng.choice([FORM, JSON, "text/plain", ""]))
        if roll == 1:
            return FuzzRequest("raw", b"payload=" + rng.randbytes(60), FORM)
        if roll == 2:
            return FuzzRequest("raw", b"payload=" + quote(json.dumps(self.block_actions())).encode(), JSON)
        if roll == 3:
            return FuzzRequest("raw", json.dumps(self.view_submission()).encode(), FORM)
        if roll == 4:
            return FuzzRequest("raw", b"payload=" + b"%7B" * rng.randint(1, 5000), FORM)
        if roll == 5:  # a huge value just under the bound ("v" needs no quoting, so it is put in after quoting)
            click = self.block_actions()
            click["actions"][0]["value"] = "HUGE"
            body = b"payload=" + quote(json.dumps(click)).encode()
            return FuzzRequest("huge", body.replace(b"HUGE", b"v" * NEAR_LIMIT, 1), FORM)
        if roll == 6:  # over the bound
            return FuzzRequest("too-large", b"payload=" + b"x" * (1 << 20), FORM)
        return FuzzRequest("raw", b"command=%2Freschedule&text=" + rng.randbytes(30), FORM)

    def interaction(self) -> FuzzRequest:
        rng = self.rng
        kind, make = rng.choice(
            [
                ("block_actions", self.block_actions),
                ("block_actions", self.block_actions),
                ("view_submission", self.view_submission),
                ("message_action", self.message_action),
            ]
        )
        payload = make()
        payload["user"]["id"] = self.person()
        if rng.random() < 0.1:
            payload["type"] = rng.choice(OTHER_TYPES)
            kind = "other"
        payload = mangle(rng, payload, rounds=rng.choice([0, 0, 1, 1, 2, 3]))
        return FuzzRequest(kind, b"payload=" + quote(json.dumps(payload)).encode(), FORM)

    def request(self) -> FuzzRequest:
        roll = self.rng.random()
        if roll < 0.2:
            return self.command()
        if roll < 0.8:
            return self.interaction()
        if roll < 0.92:
            return self.event()
        return self.raw()


def mangle(rng: random.Random, data: Any, rounds: int) -> Any:
    """Delete or replace `rounds` fields somewhere in `data` (changed in place where it can be), at any depth."""
    for _ in range(rounds):
        data = _mangle_once(rng, data, 0)
    return data


def _mangle_once(rng: random.Random, data: Any, depth: int) -> Any:
    if isinstance(data, dict) and data:
        key = rng.choice(sorted(data, key=str))
        roll = rng.random()
        if roll < 0.3:
            del data[key]
        elif roll < 0.6 or depth > 5:
            data[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        else:
            data[key] = _mangle_once(rng, data[key], depth + 1)
        return data
    if isinstance(data, list) and data:
        index = rng.randrange(len(data))
        data[index] = _mangle_once(rng, data[index], depth + 1) if rng.random() < 0.5 else rng.choice(ODD_VALUES)
        return data
    return copy.deepcopy(rng.choice(ODD_VALUES))
