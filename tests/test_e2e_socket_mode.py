"""`reschedule-bot socket` end to end: the real process (`python -m bot socket`) against fake Slack (Web API and
Socket Mode, tests/fakes/socket_mode.py) and fake Trigger.dev, over whole sessions: a command, a button, the
shortcut and its modal, reconnections (Slack's `disconnect`, and a socket dropped without notice) and a stop.

Requests travel as Socket Mode envelopes (tests/socket_harness.SocketSender), so the helpers of the HTTP tests drive
these sessions unchanged. After every test each envelope sent must have been acknowledged (the `socket_bot`
fixture checks); ack latencies are kept as the test's `socket_ack_latency_ms` user property (in a JUnit report),
never asserted on.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.render import ids
from tests.e2e_harness import BOT_TOKEN, PROD_ENV, PROD_KEY, bot_env, example_payload, fresh_trigger_id
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import Envelope, FakeSocketMode
from tests.fakes.trigger import FakeTrigger
from tests.socket_harness import APP_TOKEN, SocketBotProcess, SocketSender
from tests.summaries import CHANNEL, only_summary, wait_summary
from tests.test_e2e_buttons import click, summary_via_command, wait_one
from tests.test_e2e_shortcut_modal import dms, open_form, submission, thread_posts, wait_result
from tests.test_runs import current_alert

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
# Short, so that a socket dropped without notice is noticed (and replaced) within a second or two.
PING_INTERVAL = "1"


@pytest.fixture
def socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    """Socket Mode for fake_slack: apps.connections.open (with APP_TOKEN) hands out this fake's URL."""
    fake_slack.app_token = APP_TOKEN
    with FakeSocketMode(fake_slack) as fake:
        yield fake


@pytest.fixture
def socket_bot(
    fake_slack: FakeSlack,
    fake_trigger: FakeTrigger,
    socket_mode: FakeSocketMode,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[SocketBotProcess]:
    """`python -m bot socket` connected to socket_mode. Afterwards: every envelope was acknowledged, and the log
    holds no traceback and no secret."""
    env = bot_env(
        fake_slack,
        fake_trigger,
        tmp_path,
        SLACK_SIGNING_SECRET=None,  # Socket Mode needs none: requests arrive over the connection the app token opened
        SLACK_APP_TOKEN=APP_TOKEN,
        SOCKET_PING_INTERVAL=PING_INTERVAL,
    )
    with SocketBotProcess(env, socket_mode, tmp_path / "bot.log") as process:
        yield process
    latencies = [round(ack.latency * 1000, 1) for ack in socket_mode.acks if ack.latency is not None]
    request.node.user_properties.append(("socket_ack_latency_ms", latencies))
    assert socket_mode.unacked() == [], socket_mode.describe()
    log = process.log_text()
    assert "Traceback" not in log
    for secret in (APP_TOKEN, BOT_TOKEN, PROD_KEY):
        assert secret not in log


@pytest.fixture
def sender(socket_bot: SocketBotProcess, socket_mode: FakeSocketMode) -> SocketSender:
    return SocketSender(socket_mode)


def moved_by(fake_trigger: FakeTrigger, run: dict[str, Any], delta: timedelta, before: datetime) -> bool:
    new: datetime = fake_trigger.get_run(run["id"])["delayedUntil"]
    return before + delta <= new <= datetime.now(UTC) + delta


def replays_ignored(process: SocketBotProcess) -> int:
    return process.log_text().count("ignored a replayed")


# --------------------------------------------------------------------------------------------- a session


def test_a_session_command_button_shortcut_and_modal_over_one_connection(
    sender: SocketSender, socket_mode: FakeSocketMode, fake_slack: FakeSlack, fake_trigger: FakeTrigger
) -> None:
    # /reschedule <run> 2h: the bot posts the summary in the channel (its own message, with a ts) and the mover
    # gets a DM that links to it.
    run = fake_trigger.add_run(PROD_ENV)
    before = datetime.now(UTC)
    message = summary_via_command(sender, fake_slack, f"{run['id']} 2h")
    assert message["ts"] and message["bot_id"] == "B0BOT"
    assert "<@U111> rescheduled *send-reminder* in *Prod*" in json.dumps(message["blocks"])
    assert moved_by(fake_trigger, run, timedelta(hours=2), before)
    [dm] = fake_slack.wait_for(lambda: dms(fake_slack))
    assert run["id"] in json.dumps(dm)
    permalink = f"https://example.slack.com/archives/{CHANNEL}/p{message['ts'].replace('.', '')}"
    assert json.dumps(messages.where_posted(CHANNEL, permalink))[1:-1] in json.dumps(dm["blocks"])

    # A button on that summary: one hour after the time it shows, the message updated in place.
    shown = fake_trigger.get_run(run["id"])["delayedUntil"]
    status, url = click(sender, fake_slack, message, "rb1:push_1h")
    assert status == 200
    [update] = wait_one(fake_slack, url)
    assert update["replace_original"] is True
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == shown + timedelta(hours=1)

    # The message shortcut opens the modal with the envelope's trigger_id; bad input comes back in the ack.
    alerted = fake_trigger.add_run(PROD_ENV)
    form = open_form(sender, fake_slack, current_alert(alerted["id"]))
    [opened] = fake_slack.api_calls("views.open")
    shortcut = next(e for e in socket_mode.envelopes if e.payload.get("type") == "message_action")
    assert opened["trigger_id"] == shortcut.payload["trigger_id"]
    refused = sender.interaction(submission(form, text="soon"))
    errors = refused.json()
    assert errors["response_action"] == "errors" and list(errors["errors"]) == [ids.BLOCK_WHEN_TEXT]
    assert fake_trigger.calls("POST", rf"/api/v1/runs/{alerted['id']}/reschedule") == []

    # A good submission is acked with the "working" view, then moves the run and posts in the alert's thread.
    before = datetime.now(UTC)
    accepted = sender.interaction(submission(form, text="3h"))
    assert accepted.json()["response_action"] == "update"
    wait_result(fake_slack)
    assert moved_by(fake_trigger, alerted, timedelta(hours=3), before)
    summary, post = thread_posts(fake_slack)  # the command's summary, then the post in the alert's thread
    assert summary["ts"] == message["ts"] and "thread_ts" not in summary
    assert post["thread_ts"] == current_alert(alerted["id"])["ts"]

    # An Events API envelope the bot has no listener for is acknowledged (with no payload) and does nothing.
    calls = len(fake_slack.requests)
    event = sender.event(example_payload("event_link_shared"))
    assert event.status_code == 200 and event.content == b""
    assert len(fake_slack.requests) == calls

    # Everything travelled over the one connection, and each envelope was acknowledged once.
    assert [c.index for c in socket_mode.connections] == [1]
    assert socket_mode.connections[0].issued
    assert sorted(a.envelope_id for a in socket_mode.acks) == sorted(e.envelope_id for e in socket_mode.envelopes)
    assert {a.connection for a in socket_mode.acks} == {1}
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 3


# --------------------------------------------------------------------------------------------- reconnections


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
def test_a_disconnect_moves_to_a_new_connection_without_losing_or_repeating_a_request(
    reason: str,
    socket_bot: SocketBotProcess,
    sender: SocketSender,
    socket_mode: FakeSocketMode,
    fake_slack: FakeSlack,
    fake_trigger: FakeTrigger,
) -> None:
    first, second, third = (fake_trigger.add_run(PROD_ENV) for _ in range(3))
    trigger_answers = fake_trigger.hold("POST", RESCHEDULE)
    try:
        # A move acknowledged and still waiting for Trigger.dev when Slack asks for a new connection …
        in_flight = fake_slack.new_response_url()
        sender.command(f"{first['id']} 2h", response_url=in_flight)
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))
        # … a request sent on the old connection just before the `disconnect`, and more right after it: Slack
        # keeps using the old connection until it is closed.
        crossing = fake_slack.new_response_url()
        across = socket_mode.send("slash_commands", _command_fields(f"{second['id']} 2h", crossing))
        old = socket_mode.disconnect(reason)
        after = [fake_trigger.add_run(PROD_ENV) for _ in range(3)]
        after_urls = [fake_slack.new_response_url() for _ in after]
        late = [
            socket_mode.send("slash_commands", _command_fields(f"{run['id']} 2h", url), on=old)
            for run, url in zip(after, after_urls, strict=True)
        ]

        new = socket_mode.wait_connections(2)
        assert new.issued  # a fresh URL from apps.connections.open, asked with the App-Level Token
        socket_mode.wait_for(lambda: old.closed)
        assert old.closed_by == "client"  # the bot closed the old connection itself, once it was quiet
    finally:
        trigger_answers.set()

    # Every move's summary is posted in the channel by the bot: one each, for the in-flight, the crossing and the
    # late requests alike.
    wait_summary(fake_slack, count=5)
    assert [_summaries_of(fake_slack, run) for run in (first, second, *after)] == [1] * 5
    for envelope in (across, *late):
        assert envelope.connection == old.index
        assert len(socket_mode.acks_for(envelope.envelope_id)) == 1

    # The new connection serves the next request.
    later = fake_slack.new_response_url()
    sender.command(f"{third['id']} 2h", response_url=later)
    wait_summary(fake_slack, count=6)
    assert socket_mode.acks[-1].connection == new.index

    # Each request acted on exactly once: one Trigger.dev call and one summary each, no replay needed (and nothing
    # said through a response_url: the bot could post every summary itself).
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 6
    assert len(fake_slack.channel_messages(CHANNEL)) == 6
    assert [_summaries_of(fake_slack, run) for run in (first, second, *after, third)] == [1] * 6
    assert [fake_slack.responses(url) for url in (in_flight, crossing, *after_urls, later)] == [[]] * 6
    assert len(socket_mode.connections) == 2
    assert replays_ignored(socket_bot) == 0


def test_requests_slack_still_sends_on_the_old_connection_are_all_acknowledged(
    sender: SocketSender, socket_mode: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    """After `refresh_requested` Slack keeps delivering on the old connection until it is closed: a stream of
    events on it, before and after the new connection opens, is acknowledged in full (slack_sdk alone closes the
    old connection first and drops what arrives while it closes)."""
    old = socket_mode.disconnect("refresh_requested")
    sent: list[Envelope] = []
    after_new = 0
    give_up = time.monotonic() + 10
    while after_new < 5 and time.monotonic() < give_up:
        event = example_payload("event_link_shared") | {"event_id": f"Ev{len(sent):04d}"}
        try:
            sent.append(socket_mode.send("events_api", event, accepts_response_payload=False, on=old))
        except ConnectionError:
            break  # the old connection closed: Slack would now deliver on the new one
        after_new += len(socket_mode.connections) > 1
        time.sleep(0.005)  # a steady stream, not a flood that would starve the bot's reconnection
    assert after_new == 5, socket_mode.describe()  # the old connection was still open after the new one opened
    for envelope in sent:
        socket_mode.wait_ack(envelope.envelope_id)
    socket_mode.wait_for(lambda: old.closed)
    assert old.closed_by == "client" and socket_mode.connections[1].issued
    # The new connection serves what comes next.
    assert sender.event(example_payload("event_link_shared")).status_code == 200
    assert socket_mode.acks[-1].connection == 2


def test_a_socket_dropped_without_notice_is_replaced_and_a_redelivery_is_not_acted_on_twice(
    socket_bot: SocketBotProcess,
    sender: SocketSender,
    socket_mode: FakeSocketMode,
    fake_slack: FakeSlack,
    fake_trigger: FakeTrigger,
) -> None:
    run, later_run = fake_trigger.add_run(PROD_ENV), fake_trigger.add_run(PROD_ENV)
    url = fake_slack.new_response_url()
    sender.command(f"{run['id']} 2h", response_url=url)
    message = only_summary(fake_slack, url)
    [envelope] = socket_mode.envelopes

    dropped = socket_mode.drop()  # no close frame, no `disconnect`: the bot notices on its own
    # A request made while the bot has no connection waits for the next one (as Slack holds it) and is served.
    later = fake_slack.new_response_url()
    sender.command(f"{later_run['id']} 1h", response_url=later)
    later_summary = wait_summary(fake_slack, count=2)
    assert later_run["id"] in json.dumps(later_summary) and later_summary["ts"] != message["ts"]
    assert fake_slack.responses(later) == []
    new = socket_mode.wait_connections(2)
    assert new.issued and dropped.closed_by == "server"
    assert socket_mode.acks[-1].connection == new.index

    # Slack redelivers the first envelope (same envelope_id, same trigger_id), as it does when an ack was lost.
    socket_mode.redeliver(envelope)
    again = socket_mode.wait_ack(envelope.envelope_id, count=2)
    assert again.connection == new.index
    socket_mode.wait_for(lambda: replays_ignored(socket_bot) == 1)
    assert len(fake_trigger.calls("POST", rf"/api/v1/runs/{run['id']}/reschedule")) == 1
    assert _summaries_of(fake_slack, run) == 1 and len(fake_slack.channel_messages(CHANNEL)) == 2
    assert fake_slack.responses(url) == []

    # A redelivered click is not acted on twice either.
    shown = fake_trigger.get_run(run["id"])["delayedUntil"]
    status, click_url = click(sender, fake_slack, message, "rb1:push_1h")
    assert status == 200
    wait_one(fake_slack, click_url)
    clicked = socket_mode.envelopes[-1]
    socket_mode.redeliver(clicked)
    socket_mode.wait_ack(clicked.envelope_id, count=2)
    socket_mode.wait_for(lambda: replays_ignored(socket_bot) == 2)
    assert fake_trigger.get_run(run["id"])["delayedUntil"] == shown + timedelta(hours=1)
    assert len(fake_slack.responses(click_url)) == 1


# --------------------------------------------------------------------------------------------- the front door

MALFORMED_COMMANDS: dict[str, Any] = {
    "no user_id": lambda fields: fields.pop("user_id"),
    'user_id ""': lambda fields: fields.update(user_id=""),
    "no team_id": lambda fields: fields.pop("team_id"),
    "no response_url": lambda fields: fields.pop("response_url"),
}
MALFORMED_CLICKS: dict[str, Any] = {
    "no user": lambda click: click.pop("user"),
    'user id ""': lambda click: click["user"].update(id=""),
    "actions []": lambda click: click.update(actions=[]),
    'team "T111"': lambda click: click.update(team="T111"),
    'container "x"': lambda click: click.update(container="x"),
    "no trigger_id": lambda click: click.pop("trigger_id"),
}


class Mangling(SocketSender):
    """Sends each interaction with `change` applied to its payload first."""

    def __init__(self, socket: FakeSocketMode, change: Any) -> None:
        super().__init__(socket)
        self.change = change

    def interaction(self, payload: dict[str, Any], **options: Any) -> Any:
        payload = json.loads(json.dumps(payload))
        self.change(payload)
        return super().interaction(payload, **options)


def test_malformed_envelopes_are_acknowledged_refused_with_one_line_and_move_nothing(
    socket_bot: SocketBotProcess,
    sender: SocketSender,
    socket_mode: FakeSocketMode,
    fake_slack: FakeSlack,
    fake_trigger: FakeTrigger,
) -> None:
    """The same front door as HTTP: nothing acts without a user and a workspace, and shapes Bolt would raise on
    (or a payload that is null, a list, 200,000 levels deep, over the size bound) never reach it."""
    run = fake_trigger.add_run(PROD_ENV)
    message = summary_via_command(sender, fake_slack, f"{run['id']} 2h")
    moved_once = fake_trigger.get_run(run["id"])["delayedUntil"]
    refused = []
    for change in MALFORMED_COMMANDS.values():
        fields = _command_fields(f"{run['id']} 2h", fake_slack.new_response_url())
        change(fields)
        refused.append(socket_mode.send("slash_commands", fields))
    for change in MALFORMED_CLICKS.values():
        click(Mangling(socket_mode, change), fake_slack, message, ids.Button.PUSH_1H.action_id)
        refused.append(socket_mode.envelopes[-1])
    good_command = _command_fields(f"{run['id']} 2h", fake_slack.new_response_url())
    refused.append(socket_mode.send("interactive", good_command))  # a command's payload in the wrong envelope
    refused.append(socket_mode.send("unknown_kind", good_command))
    deep = "[" * 200_000 + "]" * 200_000
    oversized = json.dumps({"type": "event_callback", "team_id": "T111", "pad": "x" * (1 << 20)})
    for number, payload in enumerate(["null", "[]", '"text"', deep, oversized, '{"type": "block_actions"']):
        envelope_id = f"raw-{number}"
        frame = f'{{"envelope_id": "{envelope_id}", "type": "interactive", "payload": {payload}}}'
        sent = socket_mode.send_text(frame, envelope_id)
        assert sent is not None
        refused.append(sent)
    socket_mode.send_text("not json at all", None)  # no envelope id to acknowledge: only logged

    for envelope in refused:
        assert socket_mode.wait_ack(envelope.envelope_id).payload is None, envelope
    # The same click, well formed, still moves the run: the refusals above were the front door's, not a stuck bot.
    status, url = click(sender, fake_slack, message, ids.Button.PUSH_1H.action_id)
    assert status == 200
    wait_one(fake_slack, url)
    assert len(fake_trigger.calls("POST", RESCHEDULE)) == 2
    assert fake_trigger.get_run(run["id"])["delayedUntil"] != moved_once
    log = socket_bot.log_text()
    assert log.count("ignored a malformed Socket Mode request") == len(refused) + 1, log[-3000:]
    assert "rescheduled run=" in log and "by= " not in log and "by=-" not in log


# --------------------------------------------------------------------------------------------- stopping


def test_sigterm_closes_the_socket_finishes_acknowledged_work_and_exits_0(
    socket_bot: SocketBotProcess,
    sender: SocketSender,
    socket_mode: FakeSocketMode,
    fake_slack: FakeSlack,
    fake_trigger: FakeTrigger,
) -> None:
    run = fake_trigger.add_run(PROD_ENV)
    trigger_answers = fake_trigger.hold("POST", RESCHEDULE)
    try:
        url = fake_slack.new_response_url()
        sender.command(f"{run['id']} 2h", response_url=url)
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", RESCHEDULE))

        socket_bot.process.send_signal(signal.SIGTERM)
        # The socket closes first (a close frame, 1000), while the acknowledged move is still waiting.
        [connection] = socket_mode.connections
        socket_mode.wait_for(lambda: connection.closed)
        assert connection.closed_by == "client" and connection.close_code == 1000
        assert fake_slack.channel_messages(CHANNEL) == [] and fake_slack.responses(url) == []
    finally:
        trigger_answers.set()

    assert socket_bot.process.wait(timeout=30) == 0
    summary = only_summary(fake_slack, url)  # posted by the bot before it exited
    assert run["id"] in json.dumps(summary["blocks"])
    assert fake_trigger.get_run(run["id"])["delayedUntil"] != run["delayedUntil"]
    assert len(socket_mode.connections) == 1  # it did not reconnect while stopping
    assert "stopped" in socket_bot.log_text()


def _summaries_of(fake_slack: FakeSlack, run: dict[str, Any]) -> int:
    """How many of the bot's messages in the channel are about `run`."""
    return sum(run["id"] in json.dumps(message) for message in fake_slack.channel_messages(CHANNEL))


def _command_fields(text: str, response_url: str) -> dict[str, Any]:
    """A /reschedule command's payload as Socket Mode carries it (the HTTP form's fields, as strings)."""
    payload = example_payload("slash_command")
    payload.update(text=text, response_url=response_url, trigger_id=fresh_trigger_id())
    return payload
