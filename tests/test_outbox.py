"""The outbox on real SQLite and real PostgreSQL: a kept message is claimed by exactly one claimer, sent once with a
head saying it is late, tried again after growing waits while Slack cannot take it, given up after its bound, and
dropped at once when Slack refuses it for good. Which failures may pass is decided by `may_pass`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.slack_response import SlackResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import messages
from bot.late import GIVE_UP, LateDMs
from bot.render.mrkdwn import date_token
from bot.slack.replies import keep_for_later, may_pass
from bot.storage import db
from bot.storage.outbox import Kept, Letter, Outbox, waits

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "Run moved"}}]


def api_error(error: str, status: int = 200) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=status,
    )
    return SlackApiError(error, response)


class FakeClient:
    """chat.postMessage that fails with the queued exceptions, then succeeds; every call is recorded."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[dict[str, Any]] = []

    async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.failures:
            raise self.failures.pop(0)
        return {"ok": True, "channel": "D" + kwargs["channel"], "ts": "1.1"}


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def letter(user: str = "U111", text: str = "Moved *run_1*", blocks: Any = None, at: datetime = T0) -> Letter:
    return Letter(team_id="T111", user_id=user, text=text, blocks=blocks, error="ClientConnectorError", at=at)


def loop(store: Outbox, client: FakeClient, clock: Clock) -> LateDMs:
    return LateDMs(client=cast(AsyncWebClient, client), store=store, poll_seconds=5, waits=waits(10), clock=clock)


# ------------------------------------------------------------------------------------------------------ the store


async def test_a_kept_message_is_due_at_once_with_what_it_needs(engine: AsyncEngine) -> None:
    store = Outbox(engine)
    await store.keep([letter(blocks=BLOCKS)])
    assert await store.claim(T0 - timedelta(seconds=1), 10) == []
    [item] = await store.claim(T0, 10)
    assert (item.team_id, item.user_id, item.text, item.blocks) == ("T111", "U111", "Moved *run_1*", BLOCKS)
    assert (item.error, item.created_at, item.attempts) == ("ClientConnectorError", T0, 0)
    assert await store.claim(T0, 10) == []  # held


async def test_keep_soon_writes_in_the_background_and_flush_waits_for_it(engine: AsyncEngine) -> None:
    store = Outbox(engine, clock=Clock())
    store.keep_soon("T111", "U111", "one", None, "ClientConnectorError")
    store.keep_soon("T111", "U222", "two", BLOCKS, "http_503")
    await store.flush(5)
    rows = await store.all()
    assert [(row["user_id"], row["text"], row["error"]) for row in rows] == [
        ("U111", "one", "ClientConnectorError"),
        ("U222", "two", "http_503"),
    ]
    store.keep_soon("T111", "U333", "after", None, "x")  # closed: logged, not written, not raised
    await asyncio.sleep(0)
    assert len(await store.all()) == 2


class DownEngine:
    """An engine whose database does not answer."""

    def begin(self) -> Any:
        raise OSError("connection refused")


async def test_a_database_down_loses_the_message_with_a_log_line_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Outbox(cast(AsyncEngine, DownEngine()), clock=Clock())
    with caplog.at_level(logging.WARNING):
        store.keep_soon("T111", "U111", "one", None, "ClientConnectorError")
        await store.flush(5)
    assert "outbox: the message to U111 is lost: the database failed (OSError)" in caplog.text
    assert "Traceback" not in caplog.text


async def test_many_claimers_at_once_take_each_message_exactly_once(engine: AsyncEngine, database_url: str) -> None:
    others = [db.create_engine(database_url) for _ in range(3)] if engine.dialect.name == "postgresql" else [engine] * 3
    try:
        await Outbox(engine).keep([letter(user=f"U{number}") for number in range(40)])
        stores = [Outbox(other) for other in others] * 3
        ids: list[int] = []
        for _ in range(40):
            claimed = await asyncio.gather(*(one.claim(T0, 7) for one in stores))
            assert all(len(batch) <= 7 for batch in claimed)
            if not any(claimed):
                break
            ids += [item.id for batch in claimed for item in batch]
        assert len(ids) == len(set(ids)) == 40
    finally:
        if engine.dialect.name == "postgresql":
            for other in others:
                await other.dispose()


async def test_a_lease_run_out_lets_another_claimer_take_it_and_the_old_token_changes_nothing(
    engine: AsyncEngine,
) -> None:
    store = Outbox(engine, lease=timedelta(minutes=2))
    await store.keep([letter()])
    [first] = await store.claim(T0, 10)
    [again] = await store.claim(T0 + timedelta(minutes=2, seconds=1), 10)
    assert again.id == first.id and again.token != first.token
    await store.sent(first)
    await store.rearm(first, T0 + timedelta(hours=1))
    [row] = await store.all()
    assert (row["lease_token"], row["attempts"]) == (again.token, 0)
    await store.sent(again)
    assert await store.all() == []


# ------------------------------------------------------------------------------------------------------- the loop


async def test_a_kept_message_is_sent_once_as_a_dm_saying_it_is_late(engine: AsyncEngine) -> None:
    store, client, clock = Outbox(engine), FakeClient(), Clock(T0 + timedelta(seconds=3))
    await store.keep([letter(blocks=BLOCKS)])
    late = loop(store, client, clock)
    assert await late.tick() == 1
    assert await late.tick() == 0
    [call] = client.calls
    head = messages.sent_late(date_token(T0))
    assert call["channel"] == "U111" and call["text"] == f"{head}\nMoved *run_1*"
    assert call["blocks"] == [{"type": "context", "elements": [{"type": "mrkdwn", "text": head}]}, *BLOCKS]
    assert "Sent late" in head and await store.all() == []


async def test_a_failure_that_may_pass_is_tried_again_after_growing_waits(engine: AsyncEngine) -> None:
    unreachable = ConnectionRefusedError("refused")
    failures = [unreachable, api_error("internal_error", 503), api_error("ratelimited", 429), unreachable]
    store, client, clock = Outbox(engine), FakeClient(*failures), Clock()
    await store.keep([letter()])
    late = loop(store, client, clock)
    due = T0
    for attempt, wait in enumerate([10, 30, 60, 120]):
        clock.now = due
        assert await late.tick() == 1
        [row] = await store.all()
        due = clock.now + timedelta(seconds=wait)
        assert (row["attempts"], row["next_attempt_at"].replace(tzinfo=UTC)) == (attempt + 1, due)
        clock.now = due - timedelta(seconds=1)
        assert await late.tick() == 0  # not due yet
    clock.now = due
    assert await late.tick() == 1
    assert len(client.calls) == 5 and await store.all() == []


async def test_a_message_slack_cannot_take_for_an_hour_is_given_up_with_one_log_line(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = Outbox(engine), Clock()
    client = FakeClient(*[ConnectionRefusedError("refused") for _ in range(100)])
    await store.keep([letter()])
    late = loop(store, client, clock)
    with caplog.at_level(logging.INFO):
        while await store.all():
            [row] = await store.all()
            clock.now = row["next_attempt_at"].replace(tzinfo=UTC)
            assert await late.tick() == 1
    assert clock.now - T0 >= GIVE_UP and clock.now - T0 < GIVE_UP + timedelta(minutes=5)
    assert 5 < len(client.calls) < 20  # every 5 minutes after the first waits
    gave_up = [record for record in caplog.records if "gave up" in record.getMessage()]
    assert len(gave_up) == 1 and "U111" in gave_up[0].getMessage()


@pytest.mark.parametrize("error", ["user_not_found", "account_inactive", "not_allowed_token_type", "invalid_auth"])
async def test_a_permanent_refusal_drops_the_message_with_a_log_line(
    engine: AsyncEngine, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, client = Outbox(engine), FakeClient(api_error(error))
    await store.keep([letter()])
    with caplog.at_level(logging.INFO):
        assert await loop(store, client, Clock()).tick() == 1
    assert await store.all() == [] and len(client.calls) == 1
    assert f"Slack refuses the message to U111 ({error}); dropped" in caplog.text


async def test_a_message_sent_while_the_database_failed_its_deletion_is_deleted_before_the_next_claim(
    engine: AsyncEngine,
) -> None:
    store, client = Outbox(engine), FakeClient()
    await store.keep([letter()])
    late = loop(store, client, Clock())
    real_sent = store.sent

    async def down(item: Kept) -> None:
        raise OSError("database down")

    store.sent = down  # type: ignore[method-assign]
    assert await late.tick() == 1
    assert len(await store.all()) == 1
    store.sent = real_sent  # type: ignore[method-assign]
    assert await late.tick() == 0
    assert await store.all() == [] and len(client.calls) == 1


# -------------------------------------------------------------------------------------------------- what may pass


@pytest.mark.parametrize(
    ("exc", "passes"),
    [
        (aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError), True),
        (aiohttp.ServerDisconnectedError(), False),  # after the request was sent: it may have been posted
        (TimeoutError(), False),
        (ConnectionRefusedError(), True),
        (api_error("internal_error", 500), True),
        (api_error("", 503), True),
        (api_error("ratelimited", 429), True),
        (api_error("user_not_found"), False),
        (api_error("account_inactive"), False),
        (api_error("not_allowed_token_type"), False),
        (api_error("invalid_auth"), False),
        (api_error("channel_not_found"), False),
        (ValueError("a bug"), False),
    ],
)
def test_which_failures_may_pass(exc: BaseException, passes: bool) -> None:
    assert may_pass(exc) is passes


async def stopped_mid_send(store: Outbox) -> LateDMs:
    """The loop stopped at shutdown while its first chat.postMessage hangs (Slack never answers), before
    `release_cut_off` runs."""
    sending = asyncio.Event()

    class Hanging(FakeClient):
        async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
            sending.set()
            await asyncio.Event().wait()  # Slack never answers
            raise AssertionError("unreachable")

    late = loop(store, Hanging(), Clock())
    task = asyncio.create_task(late.run())
    await sending.wait()
    late.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return late


async def test_a_send_cut_off_at_shutdown_is_given_back_for_the_next_process(engine: AsyncEngine) -> None:
    store = Outbox(engine)
    await store.keep([letter()])
    late = await stopped_mid_send(store)
    assert await store.claim(T0, 10) == []  # still held by the cut-off send
    await late.release_cut_off()
    [item] = await store.claim(T0, 10)  # due again at once, no attempt counted
    assert item.attempts == 0


async def test_messages_claimed_with_a_send_cut_off_at_shutdown_are_given_back_too(engine: AsyncEngine) -> None:
    """Not left held until their lease runs out: the next process sends all of them at once."""
    store = Outbox(engine)
    await store.keep([letter(text=f"message {n}") for n in range(3)])
    late = await stopped_mid_send(store)
    assert await store.claim(T0, 10) == []  # all three held by the loop that stopped
    await late.release_cut_off()
    claimed = await store.claim(T0, 10)
    assert [item.text for item in claimed] == ["message 0", "message 1", "message 2"]
    assert all(item.attempts == 0 for item in claimed)


class Recorder:
    def __init__(self) -> None:
        self.kept: list[tuple[Any, ...]] = []

    def keep_soon(self, *args: Any) -> None:
        self.kept.append(args)


def test_only_a_failure_that_may_pass_is_kept_for_later() -> None:
    recorder = Recorder()
    outbox = cast(Outbox, recorder)
    refused = ConnectionRefusedError("refused")
    assert keep_for_later(outbox, refused, "T111", "U111", "hello", BLOCKS) is True
    assert keep_for_later(outbox, api_error("user_not_found"), "T111", "U111", "hello") is False
    assert keep_for_later(None, refused, "T111", "U111", "hello") is False
    assert recorder.kept == [("T111", "U111", "hello", BLOCKS, "ConnectionRefusedError")]


async def test_a_batch_that_outlives_its_lease_sends_nothing_another_process_has_claimed(engine: AsyncEngine) -> None:
    """Process A claims three messages; its first send is so slow that the batch's lease runs out, and while A
    sends the second, process B claims what is free and sends it. A renews each row's lease just before sending
    it, so B cannot take the one A is sending, and A skips the one B took: each message is sent once."""
    clock = Clock()
    lease = timedelta(seconds=60)
    store_a, store_b = Outbox(engine, lease=lease, clock=clock), Outbox(engine, lease=lease, clock=clock)
    await store_a.keep([letter(text=f"message {n}") for n in range(3)])
    client_b = FakeClient()
    late_b = loop(store_b, client_b, clock)
    b_claimed: list[int] = []

    class Slow(FakeClient):
        async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
            if not self.calls:  # the first send takes longer than the lease
                clock.now += lease + timedelta(seconds=1)
            elif len(self.calls) == 1:  # B's tick comes while A sends the second
                b_claimed.append(await late_b.tick())
            return await super().chat_postMessage(**kwargs)

    client_a = Slow()
    assert await loop(store_a, client_a, clock).tick() == 3
    sent = [call["text"].rsplit("\n", 1)[-1] for call in [*client_a.calls, *client_b.calls]]
    assert b_claimed == [1] and len(client_b.calls) == 1
    assert sorted(sent) == ["message 0", "message 1", "message 2"]
    assert await store_a.all() == []


async def test_a_late_send_that_may_have_reached_slack_is_not_sent_again(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = Outbox(engine), Clock()
    client = FakeClient(TimeoutError())
    await store.keep([letter()])
    with caplog.at_level(logging.WARNING):
        assert await loop(store, client, clock).tick() == 1
    assert await store.all() == [] and len(client.calls) == 1
    assert "may have reached Slack" in caplog.text


async def test_a_message_sent_whose_deletion_failed_is_deleted_when_the_loop_stops(engine: AsyncEngine) -> None:
    """Not left held for the next process to send again after the lease."""

    class Flaky(Outbox):
        failures = 1

        async def sent(self, item: Any) -> None:
            if self.failures:
                self.failures -= 1
                raise OSError("the database went away")
            await super().sent(item)

    store, clock = Flaky(engine), Clock()
    await store.keep([letter()])
    late = loop(store, FakeClient(), clock)
    assert await late.tick() == 1
    assert len(await store.all()) == 1  # sent, still kept
    late.stop()
    await late.release_cut_off()
    assert await store.all() == []
