"""`--demo`: the simulated Trigger.dev (bot/demo.py) through the real client, the settings, and the bot served on it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot import demo, messages, settings
from bot.domain.environments import environment_for_key
from bot.domain.run_refs import RUN_ID_RE, dashboard_url
from bot.domain.runs import RunStatus
from bot.domain.typed_time import parse_duration
from bot.trigger.client import API_VERSION, Deadline, RetryPolicy, TriggerClient, new_http_client
from bot.trigger.errors import AuthRejected, InvalidDelay, RateLimited, RunNotDelayed, RunNotFound
from tests.e2e_harness import BOT_TOKEN, SIGNING_SECRET, BotProcess, SlackSender, http_get, load_settings
from tests.fakes.slack import FakeSlack
from tests.inprocess import InProcessBot

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
DELAYED = {demo.RUN_DIGEST, demo.RUN_INVOICES, demo.RUN_REMINDER, demo.RUN_SYNC}


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> demo.DemoTrigger:
    return demo.DemoTrigger(clock=clock)


@pytest.fixture
async def http(sim: demo.DemoTrigger) -> AsyncIterator[httpx.AsyncClient]:
    async with new_http_client(demo.DEMO_API_URL, sim) as client:
        yield client


async def _no_sleep(_: float) -> None:
    return None


Client = Callable[..., TriggerClient]


@pytest.fixture
def client(http: httpx.AsyncClient) -> Client:
    def make(key: str = demo.DEMO_PROD_KEY) -> TriggerClient:
        return TriggerClient(http=http, key=SecretStr(key), policy=RetryPolicy(max_attempts=2), sleep=_no_sleep)

    return make


def deadline() -> Deadline:
    return Deadline.after(30)


def seeded_env(run_id: str) -> str:
    return next(seed.env for seed in demo.DEMO_RUNS if seed.id == run_id)


def test_seeded_ids_are_valid_stable_and_cover_both_environments() -> None:
    ids = [seed.id for seed in demo.DEMO_RUNS]
    assert len(set(ids)) == len(ids) >= 6
    assert all(RUN_ID_RE.fullmatch(run_id) for run_id in ids)
    assert [seed.id for seed in demo.DEMO_RUNS] == [seed.id for seed in demo.DEMO_RUNS]  # a constant, not generated
    assert {seed.env for seed in demo.DEMO_RUNS if seed.status == "DELAYED"} == {"prod", "staging"}
    assert {seed.status for seed in demo.DEMO_RUNS} == {"DELAYED", "EXECUTING", "COMPLETED"}
    assert environment_for_key(demo.DEMO_PROD_KEY).name == "prod"
    assert environment_for_key(demo.DEMO_STAGING_KEY).name == "staging"
    assert set(demo.DEMO_KEYS) == {"prod", "staging"}
    assert dashboard_url(demo.DEMO_DASHBOARD_URL, demo.RUN_DIGEST).endswith(f"/runs/{demo.RUN_DIGEST}")


async def test_seeded_runs_are_readable_with_their_statuses(client: Client) -> None:
    for seed in demo.DEMO_RUNS:
        run = await client(demo.DEMO_KEYS[seed.env]).retrieve_run(seed.id, deadline())
        assert (run.id, run.status.value, run.task_identifier) == (seed.id, seed.status, seed.task)
        if seed.status == "DELAYED":
            assert run.delayed_until == START + seed.offset
    executing = await client().retrieve_run(demo.RUN_IMPORT_EXECUTING, deadline())
    assert executing.started_at is not None and executing.delayed_until is None


async def test_statuses_are_v4_with_the_version_header_and_legacy_without(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {demo.DEMO_PROD_KEY}"}
    body = (await http.get(f"/api/v3/runs/{demo.RUN_DIGEST}", headers=auth)).json()
    assert body["status"] == "DELAYED" and body["isQueued"] and body["delayedUntil"].endswith("Z")
    new = await http.get(
        f"/api/v3/runs/{demo.RUN_IMPORT_EXECUTING}", headers=auth | {"x-trigger-api-version": API_VERSION}
    )
    assert new.json()["status"] == "EXECUTING" and new.json()["isExecuting"]


@pytest.mark.parametrize("run_id", sorted(DELAYED))
async def test_a_delayed_run_moves_by_a_duration(client: Client, run_id: str) -> None:
    moved = await client(demo.DEMO_KEYS[seeded_env(run_id)]).reschedule_run(run_id, "1h30m", deadline())
    assert moved.status is RunStatus.DELAYED and moved.delayed_until == START + timedelta(hours=1, minutes=30)
    again = await client(demo.DEMO_KEYS[seeded_env(run_id)]).retrieve_run(run_id, deadline())
    assert again.delayed_until == START + timedelta(hours=1, minutes=30)


async def test_a_delayed_run_moves_to_an_iso_time(client: Client) -> None:
    moved = await client().reschedule_run(demo.RUN_DIGEST, "2026-06-02T09:30:00.000Z", deadline())
    assert moved.delayed_until == datetime(2026, 6, 2, 9, 30, tzinfo=UTC)
    offset = await client().reschedule_run(demo.RUN_DIGEST, "2026-06-03T10:00:00+02:00", deadline())
    assert offset.delayed_until == datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("run_id", "key"),
    [(demo.RUN_IMPORT_EXECUTING, demo.DEMO_PROD_KEY), (demo.RUN_CLEANUP_COMPLETED, demo.DEMO_STAGING_KEY)],
)
async def test_only_delayed_runs_can_be_moved(client: Client, http: httpx.AsyncClient, run_id: str, key: str) -> None:
    with pytest.raises(RunNotDelayed) as caught:
        await client(key).reschedule_run(run_id, "1h", deadline())
    assert caught.value.status == 400
    raw = await http.post(
        f"/api/v1/runs/{run_id}/reschedule", json={"delay": "1h"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert (raw.status_code, raw.json()) == (400, {"error": "Cannot reschedule a run that is not delayed"})


@pytest.mark.parametrize("delay", ["1 hour", "1H", "1.5h", "10", "", "2020-01-01T00:00:00Z", "1h 30m"])
async def test_the_delay_grammar_refuses_what_the_server_refuses(client: Client, delay: str) -> None:
    with pytest.raises(InvalidDelay) as caught:
        await client().reschedule_run(demo.RUN_DIGEST, delay, deadline())
    assert (caught.value.status, caught.value.server_message) == (400, f"Invalid delay: {delay}")


@pytest.mark.parametrize("delay", ["30m1h", "1hr30m", "2w", "1d2h3m4s", "1h1h"])
async def test_the_delay_grammar_accepts_what_the_server_accepts(client: Client, delay: str) -> None:
    expected = {"30m1h": 5400, "1hr30m": 5400, "2w": 14 * 86400, "1d2h3m4s": 86400 + 7200 + 184, "1h1h": 3600}
    moved = await client().reschedule_run(demo.RUN_DIGEST, delay, deadline())
    assert moved.delayed_until == START + timedelta(seconds=expected[delay])


async def test_a_delay_checked_before_the_run(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {demo.DEMO_PROD_KEY}"}
    missing = "run_" + "x" * 25
    bad = await http.post(f"/api/v1/runs/{missing}/reschedule", json={"delay": "soon"}, headers=auth)
    assert (bad.status_code, bad.json()) == (400, {"error": "Invalid delay: soon"})
    body = await http.post(f"/api/v1/runs/{demo.RUN_DIGEST}/reschedule", json={"when": "1h"}, headers=auth)
    assert (body.status_code, body.json()) == (400, {"error": "Invalid request body"})
    not_json = await http.post(f"/api/v1/runs/{demo.RUN_DIGEST}/reschedule", content=b"{", headers=auth)
    assert (not_json.status_code, not_json.text) == (500, "Unexpected Server Error")


async def test_0s_starts_the_run(client: Client, sim: demo.DemoTrigger, clock: Clock) -> None:
    moved = await client().reschedule_run(demo.RUN_DIGEST, "0s", deadline())
    assert moved.delayed_until == START
    clock.now += timedelta(milliseconds=1)
    started = await client().retrieve_run(demo.RUN_DIGEST, deadline())
    assert started.status is RunStatus.EXECUTING and started.started_at == START
    with pytest.raises(RunNotDelayed):
        await client().reschedule_run(demo.RUN_DIGEST, "1h", deadline())
    clock.now += demo.RUN_DURATION
    assert sim.status_of(demo.RUN_DIGEST) == "COMPLETED"


async def test_a_delayed_run_starts_when_its_time_comes(client: Client, clock: Clock) -> None:
    clock.now = START + timedelta(minutes=45, seconds=1)
    reminder = await client(demo.DEMO_STAGING_KEY).retrieve_run(demo.RUN_REMINDER, deadline())
    digest = await client().retrieve_run(demo.RUN_DIGEST, deadline())
    assert (reminder.status, digest.status) == (RunStatus.EXECUTING, RunStatus.DELAYED)
    executing = await client().retrieve_run(demo.RUN_IMPORT_EXECUTING, deadline())
    assert executing.status is RunStatus.EXECUTING  # the seeded executing run keeps executing


async def test_an_unknown_key_is_401(client: Client, http: httpx.AsyncClient) -> None:
    stranger = "tr_prod_somebodyelseskey000000"
    with pytest.raises(AuthRejected) as read:
        await client(stranger).retrieve_run(demo.RUN_DIGEST, deadline())
    assert (read.value.status, read.value.server_message) == (401, "Invalid API key")
    with pytest.raises(AuthRejected) as move:
        await client(stranger).reschedule_run(demo.RUN_DIGEST, "1h", deadline())
    assert (move.value.status, move.value.server_message) == (401, "Invalid or missing API Key")
    anonymous = await http.get(f"/api/v3/runs/{demo.RUN_DIGEST}")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith("application/problem+json")
    assert anonymous.json()["error"] == "No authorization header provided"


async def test_a_key_sees_only_its_own_environment(client: Client, http: httpx.AsyncClient) -> None:
    with pytest.raises(RunNotFound):
        await client(demo.DEMO_STAGING_KEY).retrieve_run(demo.RUN_DIGEST, deadline())
    with pytest.raises(RunNotFound) as move:
        await client(demo.DEMO_STAGING_KEY).reschedule_run(demo.RUN_DIGEST, "1h", deadline())
    assert move.value.server_message == "Run not found"
    read = await http.get(
        f"/api/v3/runs/{demo.RUN_DIGEST}", headers={"Authorization": f"Bearer {demo.DEMO_STAGING_KEY}"}
    )
    assert (read.status_code, read.json(), read.headers["x-should-retry"]) == (404, {"error": "Not found"}, "true")
    assert (await client().retrieve_run(demo.RUN_DIGEST, deadline())).status is RunStatus.DELAYED


async def test_rate_limit_headers_on_every_answer_and_429_when_spent(http: httpx.AsyncClient, clock: Clock) -> None:
    auth = {"Authorization": f"Bearer {demo.DEMO_PROD_KEY}"}
    first = await http.get(f"/api/v3/runs/{demo.RUN_DIGEST}", headers=auth)
    refused = await http.get("/api/v3/runs/run_" + "y" * 25, headers=auth)
    for response in (first, refused):
        assert response.headers["x-ratelimit-limit"] == "750"
        assert int(response.headers["x-ratelimit-reset"]) == int((START + timedelta(seconds=10)).timestamp() * 1000)
    assert (first.headers["x-ratelimit-remaining"], refused.headers["x-ratelimit-remaining"]) == ("749", "748")
    for _ in range(748):
        await http.get(f"/api/v3/runs/{demo.RUN_DIGEST}", headers=auth)
    limited = await http.get(f"/api/v3/runs/{demo.RUN_DIGEST}", headers=auth)
    assert limited.status_code == 429 and limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json()["error"].startswith("Rate limit exceeded 0/750 requests remaining")
    staging = await http.get(
        f"/api/v3/runs/{demo.RUN_REMINDER}", headers={"Authorization": f"Bearer {demo.DEMO_STAGING_KEY}"}
    )
    assert staging.status_code == 200  # one bucket per environment
    clock.now += timedelta(seconds=10)
    refilled = await http.get(f"/api/v3/runs/{demo.RUN_DIGEST}", headers=auth)
    assert refilled.status_code == 200 and refilled.headers["x-ratelimit-remaining"] == "249"


async def test_rate_limited_through_the_client(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {demo.DEMO_PROD_KEY}"}
    for _ in range(750):
        await http.get(f"/api/v3/runs/{demo.RUN_DIGEST}", headers=auth)
    client = TriggerClient(http=http, key=SecretStr(demo.DEMO_PROD_KEY), policy=RetryPolicy(max_attempts=1))
    with pytest.raises(RateLimited) as caught:
        await client.retrieve_run(demo.RUN_DIGEST, deadline())
    assert caught.value.reset_at == (START + timedelta(seconds=10)).timestamp()


async def test_listing_runs_by_status(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {demo.DEMO_STAGING_KEY}"}
    listed = await http.get("/api/v1/runs", params={"filter[status]": "DELAYED"}, headers=auth)
    assert {run["id"] for run in listed.json()["data"]} == {demo.RUN_REMINDER, demo.RUN_SYNC}
    everything = await http.get("/api/v1/runs", headers=auth)
    assert {run["id"] for run in everything.json()["data"]} == {s.id for s in demo.DEMO_RUNS if s.env == "staging"}


async def test_listing_pages_newest_first_within_seven_days_and_refuses_a_bad_query(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    auth = {"Authorization": f"Bearer {demo.DEMO_STAGING_KEY}"}
    pages: list[str] = []
    query: dict[str, str] = {"page[size]": "1"}
    while True:
        page = (await http.get("/api/v1/runs", params=query, headers=auth)).json()
        pages += [run["id"] for run in page["data"]]
        if "next" not in page["pagination"]:
            break
        query = {"page[size]": "1", "page[after]": page["pagination"]["next"]}
    assert pages == [demo.RUN_CLEANUP_COMPLETED, demo.RUN_REMINDER, demo.RUN_SYNC]  # by creation, newest first
    bad = await http.get("/api/v1/runs", params={"filter[status]": "SOON"}, headers=auth)
    assert (bad.status_code, bad.json()) == (400, {"error": "Query Error", "details": ["Invalid status values: SOON"]})
    clock.now += timedelta(days=8)  # every seeded run was created more than 7 days ago
    assert (await http.get("/api/v1/runs", headers=auth)).json()["data"] == []
    older = await http.get("/api/v1/runs", params={"filter[createdAt][period]": "30d"}, headers=auth)
    assert len(older.json()["data"]) == 3


def test_two_simulators_start_with_the_same_runs(clock: Clock) -> None:
    assert demo.DemoTrigger(clock=clock).status_of(demo.RUN_SYNC) == demo.DemoTrigger().status_of(demo.RUN_SYNC)


# settings --------------------------------------------------------------------------------------------------------


def test_shell_demo_needs_no_settings() -> None:
    config = load_settings("shell", {}, demo=True)
    assert config.demo
    assert [item.env.name for item in config.environments()] == ["prod", "staging"]
    assert str(config.trigger_api_url).rstrip("/") == demo.DEMO_API_URL
    assert str(config.trigger_dashboard_url).rstrip("/") == demo.DEMO_DASHBOARD_URL


def test_shell_without_demo_needs_only_a_trigger_key() -> None:
    with pytest.raises(settings.ConfigError) as caught:
        load_settings("shell", {})
    assert "TRIGGER_SECRET_KEY" in str(caught.value) and "SLACK_" not in str(caught.value)
    assert not load_settings("shell", {"TRIGGER_SECRET_KEY": "tr_prod_realrealrealreal0001"}).demo


def test_serve_demo_needs_only_slack() -> None:
    config = load_settings("serve", {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s"}, demo=True)
    assert config.demo and len(config.environments()) == 2
    with pytest.raises(settings.ConfigError) as caught:
        load_settings("serve", {}, demo=True)
    assert "SLACK_BOT_TOKEN" in str(caught.value) and "TRIGGER_SECRET_KEY" not in str(caught.value)


@pytest.mark.parametrize("variable", ["TRIGGER_SECRET_KEY", "TRIGGER_SECRET_KEYS"])
def test_demo_with_a_real_key_refuses_to_start_without_showing_it(variable: str) -> None:
    secret = "tr_prod_verysecretrealkey0042"
    with pytest.raises(settings.ConfigError) as caught:
        load_settings("shell", {variable: secret}, demo=True)
    text = str(caught.value)
    assert variable in text and "--demo" in text and secret not in text and "verysecret" not in text


# the bot on the simulator ---------------------------------------------------------------------------------------


def context_lines(message: dict[str, Any]) -> list[str]:
    return [
        element["text"]
        for block in message.get("blocks", [])
        if block["type"] == "context"
        for element in block["elements"]
    ]


@pytest.mark.e2e
def test_the_bot_served_on_the_simulator_moves_a_seeded_run_and_says_it_is_a_demo(tmp_path: Path) -> None:
    with FakeSlack(BOT_TOKEN) as fake_slack:
        fake_slack.add_user("U111")
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.api_url,
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3",
        }
        with InProcessBot(env, log_path=tmp_path / "bot.log", demo=True) as bot:
            slack = SlackSender(bot.events_url, SIGNING_SECRET)
            url = fake_slack.new_response_url()
            assert slack.command(f"{demo.RUN_REMINDER} 2h", response_url=url).status_code == 200
            posted: list[dict[str, Any]] = fake_slack.wait_for(lambda: fake_slack.channel_messages("C111"))
            [summary] = posted  # posted by the bot in the command's channel
            assert fake_slack.responses(url) == []
            assert messages.DEMO_SUMMARY_NOTE in context_lines(summary)
            assert f"{demo.DEMO_DASHBOARD_URL}/runs/{demo.RUN_REMINDER}" in json.dumps(summary["blocks"])
            assert messages.DEMO_FALLBACK_NOTE in summary["text"]
            # The private status of a run that is executing: the simulator's refusal, and the demo line.
            url = fake_slack.new_response_url()
            slack.command(demo.RUN_IMPORT_EXECUTING, response_url=url)
            [status] = fake_slack.wait_for(lambda: fake_slack.responses(url))
            assert "Executing" in json.dumps(status) and messages.DEMO_SUMMARY_NOTE in context_lines(status)
        assert messages.DEMO_STARTED in bot.log_text()


@pytest.mark.e2e
def test_serve_demo_process_starts_with_only_slack_settings(tmp_path: Path) -> None:
    with FakeSlack(BOT_TOKEN) as fake_slack:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.api_url,
        }
        with BotProcess(env, log_path=tmp_path / "bot.log", demo=True) as process:
            assert http_get(process.url + "/healthz").json() == {"ok": True}
        assert messages.DEMO_STARTED in process.log_text()


def test_a_summary_says_demo_only_in_demo_mode() -> None:
    from bot.domain.environments import Environment
    from bot.domain.runs import Run
    from bot.render.controls import Controls
    from bot.render.summary import run_summary

    run = Run.from_api({"id": demo.RUN_DIGEST, "status": "DELAYED", "taskIdentifier": "send-weekly-digest"})
    env = Environment("prod", "Prod", "prod")
    url = dashboard_url(demo.DEMO_DASHBOARD_URL, run.id)
    assert messages.DEMO_SUMMARY_NOTE not in json.dumps(run_summary(run, env, url).blocks, ensure_ascii=False)
    for summary in (
        run_summary(run, env, url, demo=True),
        run_summary(run, env, url, controls=Controls(now=START, confirm=False, demo=True)),
    ):
        assert messages.DEMO_SUMMARY_NOTE in json.dumps(summary.blocks, ensure_ascii=False)
        assert messages.DEMO_FALLBACK_NOTE in summary.text


@pytest.mark.parametrize("mode", ["serve", "socket"])
def test_serve_and_socket_take_demo(mode: str) -> None:
    from bot.__main__ import _parser

    assert _parser().parse_args([mode, "--demo"]).demo
    assert not _parser().parse_args([mode]).demo


def test_the_first_suggestion_moves_a_delayed_run_to_a_time_anyone_can_see_without_a_confirmation() -> None:
    """The shell's first suggestion must visibly change something: not `2h` for a run already 2 h out."""
    command, run_id, typed = demo.FIRST_TRY.split()
    assert command == messages.COMMAND
    [seed] = [seed for seed in demo.DEMO_RUNS if seed.id == run_id]
    assert seed.status == "DELAYED" and seed.env not in settings.Settings.model_fields["confirm_environments"].default
    asked = parse_duration(typed)
    assert abs(asked - seed.offset) >= timedelta(hours=1)
