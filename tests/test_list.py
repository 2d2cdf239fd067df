"""`/reschedule list` in units: the parser's forms, the client's paging, the rescheduler's merge, the rendering."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot import messages
from bot.access_check import AccessCheck
from bot.domain.access_rules import Policy, Rule
from bot.domain.delays import DelayError
from bot.domain.environments import environment_for_key
from bot.domain.runs import Run
from bot.domain.typed_time import parse_duration
from bot.render.controls import Controls
from bot.render.ids import Button, parse_action
from bot.render.run_list import LIST_BUTTONS, MAX_RUNS_SHOWN, run_list
from bot.rescheduler import DelayedList, ListFilters
from bot.slack.command import List, _list_notes
from bot.trigger.client import LIST_PAGES, Deadline, TriggerClient
from bot.trigger.errors import AuthRejected
from tests.test_actions import ACTOR, NOW, desk_with, no_sleep
from tests.test_command_parse import read, reply

PROD = environment_for_key("tr_prod_a")
STAGING = environment_for_key("tr_stg_b")
DEV = environment_for_key("tr_dev_c")


def run_id(n: int, prefix: str = "a") -> str:
    return f"run_{prefix}{n:024d}"


def item(n: int, due: datetime, *, task: str = "send-reminder", prefix: str = "a", **more: Any) -> dict[str, Any]:
    return {
        "id": run_id(n, prefix),
        "taskIdentifier": task,
        "status": "DELAYED",
        "createdAt": "2026-11-01T00:00:00.000Z",
        "delayedUntil": due.isoformat().replace("+00:00", "Z"),
        "tags": [],
        "env": {"id": "env_x", "name": "prod"},
        "depth": 0,
        "taskKind": "STANDARD",
        **more,
    }


def params(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


# --- parsing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("list", ListFilters()),
        ("LIST", ListFilters()),
        ("list send-reminder", ListFilters(task="send-reminder")),
        ("list --tag customer_42", ListFilters(tag="customer_42")),
        ("list --tag=customer_42 --within 6h", ListFilters(tag="customer_42", within=timedelta(hours=6))),
        ("list sync --env staging --within=2d", ListFilters(task="sync", env="staging", within=timedelta(days=2))),
        ("--env prod list", ListFilters(env="prod")),
    ],
)
def test_list_forms(text: str, expected: ListFilters) -> None:
    assert read(text) == List(expected)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("list --tag", messages.TAG_FLAG_NEEDS_VALUE),
        ("list --within", messages.WITHIN_FLAG_NEEDS_VALUE),
        ("list --within soon", messages.within_unreadable("soon")),
        ("list --within -2h", messages.within_unreadable("-2h")),
        ("list --status DELAYED", messages.unknown_flag("--status")),
        ("list a b", messages.list_extra_words("a b")),
        ("list --tag --within 2h", messages.TAG_FLAG_NEEDS_VALUE),
    ],
)
def test_bad_list_flags_are_answered_in_one_line_with_an_example(text: str, problem: str) -> None:
    answer = reply(text)
    assert answer.invalid and answer.text == problem
    assert "\n" not in answer.text and messages.USAGE not in answer.text and "e.g. `" in answer.text


def test_list_with_an_unknown_environment_is_refused() -> None:
    assert "no environment called `qa`" in reply("list --env qa").text


def test_usage_mentions_list() -> None:
    assert "/reschedule list" in messages.USAGE


def test_parse_duration() -> None:
    assert parse_duration("1d 12h") == timedelta(days=1, hours=12)
    assert parse_duration("in 2 hours") == timedelta(hours=2)
    for bad in ("", "0h", "soon", "-1h"):
        with pytest.raises(DelayError):
            parse_duration(bad)


# --- the client ---------------------------------------------------------------------------------------------------


def client(handler: Any) -> TriggerClient:
    http = httpx.AsyncClient(base_url="https://trigger.test", transport=httpx.MockTransport(handler))
    return TriggerClient(http=http, key=SecretStr("tr_prod_a"), sleep=no_sleep)


async def test_client_follows_pagination_next_and_sends_the_filters_and_the_created_window() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        after = params(request).get("page[after]")
        if after is None:
            return httpx.Response(200, json={"data": [item(1, NOW)], "pagination": {"next": run_id(1)}})
        assert after == [run_id(1)]
        return httpx.Response(200, json={"data": [item(2, NOW)], "pagination": {"previous": run_id(1)}})

    page = await client(handler).list_delayed(
        Deadline.after(30), created_from=NOW - timedelta(days=365), task="send-reminder", tag="vip"
    )
    assert [run.id for run in page.runs] == [run_id(1), run_id(2)] and page.complete
    first = params(seen[0])
    assert seen[0].url.path == "/api/v1/runs" and seen[0].method == "GET"
    assert first["filter[status]"] == ["DELAYED"]
    assert first["filter[taskIdentifier]"] == ["send-reminder"] and first["filter[tag]"] == ["vip"]
    assert first["filter[createdAt][from]"] == ["2025-11-29T09:00:00.000+00:00"]
    assert first["page[size]"] == ["100"]


async def test_client_reads_a_bounded_number_of_pages() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"data": [item(calls, NOW)], "pagination": {"next": run_id(calls)}})

    page = await client(handler).list_delayed(Deadline.after(30), created_from=NOW)
    assert calls == LIST_PAGES and len(page.runs) == LIST_PAGES and not page.complete


async def test_client_retries_a_list_like_any_read_and_skips_an_unreadable_item() -> None:
    answers = [
        httpx.Response(503, json={"error": "busy"}),
        httpx.Response(200, json={"data": [{"id": "not a run"}, item(1, NOW)], "pagination": {}}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    page = await client(handler).list_delayed(Deadline.after(30), created_from=NOW)
    assert [run.id for run in page.runs] == [run_id(1)] and answers == []


async def test_client_raises_the_usual_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "Invalid API key"})

    with pytest.raises(AuthRejected):
        await client(handler).list_delayed(Deadline.after(30), created_from=NOW)


# --- the rescheduler ------------------------------------------------------------------------------------------------


def listing(*items: dict[str, Any]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": list(items), "pagination": {}})

    return handler


async def test_runs_of_every_environment_are_merged_soonest_first() -> None:
    prod = listing(item(1, NOW + timedelta(hours=5)), item(2, NOW + timedelta(hours=1)))
    staging = listing(item(3, NOW + timedelta(hours=3), prefix="b"))
    rescheduler, audit = desk_with({"tr_prod_a": prod, "tr_stg_b": staging})
    listed = await rescheduler.list_delayed(ACTOR, ListFilters(), rescheduler.deadline(), timedelta(days=365))
    assert [(entry.run.id, entry.env.name) for entry in listed.runs] == [
        (run_id(2), "prod"),
        (run_id(3, "b"), "staging"),
        (run_id(1), "prod"),
    ]
    assert listed.searched == (PROD, STAGING) and listed.failed == () and audit.records == []


async def test_within_keeps_only_runs_due_soon_and_a_run_that_started_is_dropped() -> None:
    started = item(4, NOW + timedelta(minutes=5), status="EXECUTING")
    prod = listing(item(1, NOW + timedelta(hours=5)), item(2, NOW + timedelta(hours=1)), started)
    rescheduler, _ = desk_with({"tr_prod_a": prod})
    filters = ListFilters(within=timedelta(hours=2))
    listed = await rescheduler.list_delayed(ACTOR, filters, rescheduler.deadline(), timedelta(days=365))
    assert [entry.run.id for entry in listed.runs] == [run_id(2)]


async def test_an_environment_that_fails_is_named_and_the_others_are_listed() -> None:
    def rejected(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "Invalid API key"})

    rescheduler, _ = desk_with({"tr_prod_a": listing(item(1, NOW + timedelta(hours=1))), "tr_stg_b": rejected})
    listed = await rescheduler.list_delayed(ACTOR, ListFilters(), rescheduler.deadline(), timedelta(days=365))
    assert [entry.run.id for entry in listed.runs] == [run_id(1)]
    [(env, error)] = listed.failed
    assert env == STAGING and isinstance(error, AuthRejected) and error.environment == "Staging"


async def test_an_environment_the_person_may_not_act_in_is_not_asked_and_no_refusal_is_recorded() -> None:
    asked: list[str] = []

    def prod(request: httpx.Request) -> httpx.Response:
        asked.append("prod")
        return httpx.Response(200, json={"data": [item(1, NOW)], "pagination": {}})

    access_check = AccessCheck(Policy(rules={"prod": Rule(users=frozenset({"U999"}))}))
    rescheduler, audit = desk_with({"tr_prod_a": prod, "tr_stg_b": listing(item(2, NOW, prefix="b"))}, access_check)
    listed = await rescheduler.list_delayed(ACTOR, ListFilters(), rescheduler.deadline(), timedelta(days=365))
    assert [entry.env.name for entry in listed.runs] == ["staging"]
    assert listed.hidden == (PROD,) and listed.searched == (STAGING,)
    assert asked == [] and audit.records == []


async def test_env_filter_asks_one_environment_and_the_window_is_the_lookback() -> None:
    seen: list[httpx.Request] = []

    def staging(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "pagination": {}})

    def prod(request: httpx.Request) -> httpx.Response:
        raise AssertionError("prod was asked")

    rescheduler, _ = desk_with({"tr_prod_a": prod, "tr_stg_b": staging})
    filters = ListFilters(env="staging")
    listed = await rescheduler.list_delayed(ACTOR, filters, rescheduler.deadline(), timedelta(days=30))
    assert listed.runs == () and listed.searched == (STAGING,)
    assert params(seen[0])["filter[createdAt][from]"] == [(NOW - timedelta(days=30)).isoformat(timespec="milliseconds")]


# --- rendering ------------------------------------------------------------------------------------------------------

CONTROLS = Controls(now=NOW, confirm=False, buttons=LIST_BUTTONS)


def a_run(n: int, due: datetime, **more: Any) -> Run:
    return Run.from_api(item(n, due, **more))


def test_each_run_has_its_line_and_a_reschedule_button_that_the_click_path_reads() -> None:
    run = a_run(1, NOW + timedelta(hours=2), task="<!channel> *bold*", tags=["a&b", "`x`"])
    rendered = run_list([(run, PROD)], NOW, where="*Prod*", controls=CONTROLS)
    head, line, actions = rendered.blocks
    assert "1 delayed run" in head["text"]["text"]
    text = line["text"]["text"]
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "`a&amp;b`" in text and "in 2h" in text and "<!date^" in text and "Prod" in text
    [button] = actions["elements"]
    assert button["text"]["text"] == messages.BUTTON_LABELS[Button.RESCHEDULE]
    clicked, value = parse_action(button)
    assert clicked is Button.RESCHEDULE and value is not None
    assert value.run_id == run.id and value.e == "prod" and value.shown == run.delayed_until
    assert "Push" not in json.dumps(rendered.blocks)


def test_an_empty_list_says_so() -> None:
    rendered = run_list([], NOW, where="*Prod*", filters=" for task `x`", controls=CONTROLS)
    assert rendered.blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": messages.list_empty("*Prod*", " for task `x`")}}
    ]
    assert rendered.text == "No delayed runs"


def test_a_long_list_stays_within_block_kit_limits_and_counts_the_rest() -> None:
    entries = [(a_run(n, NOW + timedelta(minutes=n), tags=["t" * 300] * 20), PROD) for n in range(80)]
    notes = ["note one", "note two", "note three", "note four"]
    demo = Controls(now=NOW, confirm=False, buttons=LIST_BUTTONS, demo=True)
    rendered = run_list(entries, NOW, where="*Prod*", notes=notes, controls=demo)
    assert len(rendered.blocks) <= 50
    assert sum(block["type"] == "actions" for block in rendered.blocks) == MAX_RUNS_SHOWN
    assert len({block["block_id"] for block in rendered.blocks if block["type"] == "actions"}) == MAX_RUNS_SHOWN
    footer = json.dumps(rendered.blocks[-2])
    assert messages.list_more(80 - MAX_RUNS_SHOWN) in footer
    for block in rendered.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert f"{MAX_RUNS_SHOWN} of 80 delayed runs" in rendered.blocks[0]["text"]["text"]


def test_a_run_already_due_says_due_now() -> None:
    rendered = run_list([(a_run(1, NOW - timedelta(minutes=1)), PROD)], NOW, where="*Prod*")
    assert messages.LIST_DUE_NOW in rendered.blocks[1]["text"]["text"]
    assert all(block["type"] != "actions" for block in rendered.blocks)  # no controls, no buttons


async def test_an_environment_cut_off_by_the_page_bound_is_marked_incomplete() -> None:
    served = 0

    def endless(request: httpx.Request) -> httpx.Response:
        nonlocal served
        served += 1
        return httpx.Response(200, json={"data": [item(served, NOW)], "pagination": {"next": run_id(served)}})

    rescheduler, _ = desk_with({"tr_prod_a": endless})
    listed = await rescheduler.list_delayed(ACTOR, ListFilters(), rescheduler.deadline(), timedelta(days=365))
    assert len(listed.runs) == LIST_PAGES and listed.incomplete == (PROD,)
    assert _list_notes(listed) == [messages.LIST_INCOMPLETE]


def test_failed_environments_are_grouped_by_reason() -> None:
    key = AuthRejected("no", status=401)
    listed = DelayedList(
        runs=(),
        searched=(PROD, STAGING, DEV),
        failed=((STAGING, key), (DEV, AuthRejected("no", status=401))),
    )
    assert _list_notes(listed) == [messages.list_failed("*Staging* and *Dev*", messages.LIST_FAILED_KEY)]
