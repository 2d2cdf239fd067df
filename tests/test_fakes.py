"""The fakes behave as Trigger.dev's REST API and Slack's Web API are documented to behave."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.simulator.delays import parse_duration_ms
from tests.e2e_harness import (
    BOT_TOKEN,
    PROD_ENV,
    PROD_KEY,
    SIGNING_SECRET,
    STAGING_KEY,
    http_client,
    http_get,
    http_post,
    sign,
)
from tests.fakes._server import wait_quiet
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import API_VERSION, FakeTrigger

V4 = {"x-trigger-api-version": API_VERSION}


@pytest.fixture
def api(fake_trigger: FakeTrigger) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {PROD_KEY}", **V4}
    with http_client(base_url=fake_trigger.url, headers=headers, timeout=10) as client:
        yield client


def reschedule(api: httpx.Client, run_id: str, body: Any) -> httpx.Response:
    return api.post(f"/api/v1/runs/{run_id}/reschedule", content=json.dumps(body))


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Trigger.dev --------------------------------------------------------------------------------------------


def test_no_authorization_header_is_a_problem_json_401(fake_trigger: FakeTrigger) -> None:
    response = http_post(f"{fake_trigger.url}/api/v1/runs/run_x/reschedule", json={"delay": "1h"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.text.startswith('{\n  "title": "Unauthorized"')
    assert response.json() == {
        "title": "Unauthorized",
        "status": 401,
        "type": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/401",
        "detail": "No authorization header provided",
        "error": "No authorization header provided",
    }


def test_bad_key_messages_differ_between_routes(fake_trigger: FakeTrigger) -> None:
    headers = {"Authorization": "Bearer tr_prod_unknownunknownunknown00"}
    run = fake_trigger.add_run(PROD_ENV)
    retrieve = http_get(f"{fake_trigger.url}/api/v3/runs/{run['id']}", headers=headers)
    resched = http_post(f"{fake_trigger.url}/api/v1/runs/{run['id']}/reschedule", headers=headers, json={"delay": "1h"})
    assert (retrieve.status_code, retrieve.json()) == (401, {"error": "Invalid API key"})
    assert (resched.status_code, resched.json()) == (401, {"error": "Invalid or missing API Key"})
    assert resched.headers["x-ratelimit-limit"] == "750"


def test_retrieve_renders_the_full_run(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    until = datetime(2031, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    run = fake_trigger.add_run(
        PROD_ENV, "run_cm1x2y3z4a5b6c7d8e9f0g1h2", delayed_until=until, tags=["b", "a"], payload={"userId": "123"}
    )
    response = api.get(f"/api/v3/runs/{run['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["delayedUntil"] == "2031-01-02T03:04:05.678Z"
    assert body["tags"] == ["a", "b"]
    assert body["payload"] == {"userId": "123"}
    assert (body["status"], body["isQueued"], body["isCompleted"]) == ("DELAYED", True, False)
    assert (body["attempts"], body["attemptCount"], body["relatedRuns"]) == ([], 0, {"children": []})
    assert "version" not in body and "ttl" not in body and "idempotencyKey" not in body
    assert body["createdAt"].endswith("Z") and len(body["createdAt"]) == len("2031-01-02T03:04:05.678Z")


def test_retrieve_404_says_retry_and_is_environment_scoped(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    fake_trigger.add_key(STAGING_KEY, "env_stg")
    staging_run = fake_trigger.add_run("env_stg")
    for run_id in (staging_run["id"], "run_doesnotexist0000000000000"):
        response = api.get(f"/api/v3/runs/{run_id}")
        assert (response.status_code, response.json()) == (404, {"error": "Not found"})
        assert response.headers["x-should-retry"] == "true"
    other = http_get(
        f"{fake_trigger.url}/api/v3/runs/{staging_run['id']}", headers={"Authorization": f"Bearer {STAGING_KEY}"}
    )
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("stored", "legacy", "v4"),
    [
        ("DEQUEUED", "EXECUTING", "DEQUEUED"),
        ("WAITING", "FROZEN", "WAITING"),
        ("PENDING_VERSION", "PENDING_VERSION", "PENDING_VERSION"),
        ("EXPIRED", "EXPIRED", "EXPIRED"),
    ],
)
def test_status_names_depend_on_the_api_version_header(
    fake_trigger: FakeTrigger, api: httpx.Client, stored: str, legacy: str, v4: str
) -> None:
    run = fake_trigger.add_run(PROD_ENV, status=stored)
    path = f"/api/v3/runs/{run['id']}"
    assert api.get(path).json()["status"] == v4
    assert api.get(path, headers={"x-trigger-api-version": "2024-04"}).json()["status"] == legacy


def test_reschedule_validates_the_delay_before_looking_up_the_run(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    missing = reschedule(api, "run_doesnotexist0000000000000", {"delay": "1 hour"})
    assert (missing.status_code, missing.json()) == (400, {"error": "Invalid delay: 1 hour"})
    executing = fake_trigger.add_run(PROD_ENV, status="EXECUTING")
    bad = reschedule(api, executing["id"], {"delay": "soon"})
    assert bad.json() == {"error": "Invalid delay: soon"}
    good = reschedule(api, executing["id"], {"delay": "1h"})
    assert (good.status_code, good.json()) == (400, {"error": "Cannot reschedule a run that is not delayed"})
    gone = reschedule(api, "run_doesnotexist0000000000000", {"delay": "1h"})
    assert (gone.status_code, gone.json()) == (404, {"error": "Run not found"})


def test_reschedule_body_errors(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    path = f"/api/v1/runs/{run_id}/reschedule"
    empty = api.post(path)
    assert (empty.status_code, empty.text) == (500, "Unexpected Server Error")
    assert empty.headers["content-type"].startswith("text/plain")
    assert api.post(path, content=b"{not json").status_code == 500
    for body in ({}, {"delay": {"hours": 1}}, [1], None):
        response = reschedule(api, run_id, body)
        assert (response.status_code, response.json()) == (400, {"error": "Invalid request body"}), body
    assert reschedule(api, run_id, {"delay": ""}).json() == {"error": "Invalid delay: "}
    past = reschedule(api, run_id, {"delay": "2020-01-01T00:00:00Z"})
    assert (past.status_code, past.json()) == (400, {"error": "Invalid delay: 2020-01-01T00:00:00Z"})
    huge = reschedule(api, run_id, {"delay": "100000000000w"})
    assert (huge.status_code, huge.json()) == (500, {"error": "Something went wrong, please try again."})


def test_reschedule_success_updates_the_run(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    before = datetime.now(UTC)
    response = reschedule(api, run_id, {"delay": "1h30m"})
    after = datetime.now(UTC)
    assert response.status_code == 200
    until = parse_iso(response.json()["delayedUntil"])
    window = timedelta(hours=1, minutes=30)
    assert before + window - timedelta(milliseconds=1) <= until <= after + window
    assert fake_trigger.get_run(run_id)["delayedUntil"] == until
    assert response.json()["status"] == "DELAYED"

    future = "2031-07-01T12:00:00Z"
    assert reschedule(api, run_id, {"delay": future}).json()["delayedUntil"] == "2031-07-01T12:00:00.000Z"
    # numbers and null are coerced to dates and never checked against now
    assert reschedule(api, run_id, {"delay": 1_000}).json()["delayedUntil"] == "1970-01-01T00:00:01.000Z"
    assert reschedule(api, run_id, {"delay": None}).json()["delayedUntil"] == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1h", 3_600_000),
        ("1hr30m", 5_400_000),
        ("30m1h", 5_400_000),
        ("1d2h3m4s", 93_784_000),
        ("2w", 1_209_600_000),
        ("0s", 0),
        ("1h1h", 3_600_000),
        ("1H", None),
        ("1.5h", None),
        ("1h 30m", None),
        ("10", None),
        ("1y", None),
        ("1ms", None),
        ("5mins", None),
        ("1" * 100 + "s", None),
    ],
)
def test_duration_grammar(text: str, ms: int | None) -> None:
    assert parse_duration_ms(text) == ms


def test_rate_limit_answers_429_problem_json(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    fake_trigger.rate_limit(times=1, reset_in=3.2)
    now_ms = datetime.now(UTC).timestamp() * 1000
    limited = api.get(f"/api/v3/runs/{run_id}")
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in limited.headers
    assert limited.headers["x-ratelimit-remaining"] == "0"
    reset = int(limited.headers["x-ratelimit-reset"])
    assert now_ms + 2_000 < reset < now_ms + 60_000  # epoch milliseconds, about 3.2 s ahead
    body = limited.json()
    assert limited.text.startswith('{\n  "title": "Rate Limit Exceeded"')
    assert list(body) == [
        "title",
        "status",
        "type",
        "detail",
        "reset",
        "limit",
        "remaining",
        "secondsUntilReset",
        "error",
    ]
    assert (body["status"], body["reset"], body["remaining"], body["secondsUntilReset"]) == (429, reset, -1, 3.2)
    assert body["detail"] == body["error"] == "Rate limit exceeded 0/750 requests remaining. Retry in 3.2 seconds."
    ok = api.get(f"/api/v3/runs/{run_id}")
    assert ok.status_code == 200
    assert int(ok.headers["x-ratelimit-remaining"]) >= 0


def test_every_answer_reports_its_environments_bucket(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    fake_trigger.add_key(STAGING_KEY, "env_stg")
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    remaining = [api.get(f"/api/v3/runs/{run_id}").headers["x-ratelimit-remaining"] for _ in range(2)]
    staging = http_get(f"{fake_trigger.url}/api/v1/runs", headers={"Authorization": f"Bearer {STAGING_KEY}"})
    assert (remaining, staging.headers["x-ratelimit-remaining"]) == (["749", "748"], "749")


def test_fault_injection_and_recording(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    fake_trigger.fail_next("POST", r"/reschedule$", 503, {"error": "Run materialisation timed out"})
    failed = reschedule(api, run_id, {"delay": "1h"})
    assert (failed.status_code, failed.json()) == (503, {"error": "Run materialisation timed out"})
    fake_trigger.drop_next("POST", r"/reschedule$")
    with pytest.raises(httpx.TransportError):
        reschedule(api, run_id, {"delay": "1h"})
    assert reschedule(api, run_id, {"delay": "1h"}).status_code == 200
    calls = fake_trigger.calls("POST", rf"^/api/v1/runs/{run_id}/reschedule$")
    assert [call.json for call in calls] == [{"delay": "1h"}] * 3
    assert calls[0].headers["authorization"] == f"Bearer {PROD_KEY}"


def test_hold_blocks_only_matching_requests(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    release = fake_trigger.hold("POST", r"/reschedule$")
    results: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: results.append(reschedule(api, run_id, {"delay": "2h"})))
    worker.start()
    fake_trigger.wait_for(lambda: fake_trigger.calls("POST", r"/reschedule$"))
    assert api.get(f"/api/v3/runs/{run_id}").status_code == 200  # not blocked by the held request
    assert results == []
    release.set()
    worker.join()
    assert results[0].status_code == 200


def test_drop_after_applies_the_move_then_answers_nothing(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    fake_trigger.drop_after("POST", r"/reschedule$")
    with pytest.raises(httpx.TransportError):
        reschedule(api, run_id, {"delay": "2030-01-01T00:00:00Z"})
    assert fake_trigger.get_run(run_id)["delayedUntil"] == datetime(2030, 1, 1, tzinfo=UTC)


def test_a_revoked_key_is_refused_and_an_outage_refuses_connections_until_it_ends(
    fake_trigger: FakeTrigger, api: httpx.Client
) -> None:
    run_id = fake_trigger.add_run(PROD_ENV)["id"]
    url = fake_trigger.url
    fake_trigger.refuse_connections()
    with pytest.raises(httpx.ConnectError):
        api.get(f"/api/v3/runs/{run_id}")
    fake_trigger.accept_connections()
    assert fake_trigger.url == url and api.get(f"/api/v3/runs/{run_id}").status_code == 200
    fake_trigger.revoke_key(PROD_KEY)
    assert api.get(f"/api/v3/runs/{run_id}").status_code == 401


def test_wait_for_reports_what_was_received(fake_trigger: FakeTrigger, api: httpx.Client) -> None:
    api.get("/api/v3/runs/run_nothinghere00000000000000")
    with pytest.raises(AssertionError, match="GET /api/v3/runs/run_nothinghere"):
        fake_trigger.wait_for(lambda: fake_trigger.calls("POST", "reschedule"), timeout=0.1)


# Slack --------------------------------------------------------------------------------------------------


@pytest.fixture
def web(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


def test_slack_rejects_a_wrong_token(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-wrong", base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError) as info:
        client.auth_test()
    assert info.value.response.status_code == 200
    assert info.value.response["error"] == "invalid_auth"


def test_slack_auth_test_and_messages(fake_slack: FakeSlack, web: WebClient) -> None:
    auth = web.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("U0BOT", "B0BOT", "T111")
    assert "chat:write" in auth.headers["x-oauth-scopes"]
    posted = web.chat_postMessage(channel="C111", text="hello", blocks=[{"type": "divider"}])
    web.chat_update(channel="C111", ts=posted["ts"], text="edited")
    assert fake_slack.messages["C111"][0]["text"] == "edited"
    assert fake_slack.messages["C111"][0]["blocks"] == [{"type": "divider"}]
    with pytest.raises(SlackApiError, match="message_not_found"):
        web.chat_update(channel="C111", ts="1.000000", text="nope")
    assert web.conversations_open(users="U111")["channel"]["id"] == "DU111"
    assert web.users_info(user="U111")["user"]["tz"] == "Europe/Paris"
    assert [call["channel"] for call in fake_slack.api_calls("chat.postMessage")] == ["C111"]


def test_slack_channel_errors_rate_limits_and_failures(fake_slack: FakeSlack, web: WebClient) -> None:
    fake_slack.forbid_channel("C999")
    with pytest.raises(SlackApiError, match="not_in_channel"):
        web.chat_postMessage(channel="C999", text="hi")
    fake_slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        web.chat_postMessage(channel="C111", text="hi")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"
    fake_slack.fail_next("users.info", "user_not_visible")
    with pytest.raises(SlackApiError, match="user_not_visible"):
        web.users_info(user="U111")
    assert web.users_info(user="U111")["ok"] is True
    unknown = http_post(fake_slack.api_url + "no.such", headers={"Authorization": f"Bearer {BOT_TOKEN}"})
    assert unknown.json() == {"ok": False, "error": "unknown_method"}


def test_slack_views(fake_slack: FakeSlack, web: WebClient) -> None:
    view = {
        "type": "modal",
        "callback_id": "reschedule_modal",
        "title": {"type": "plain_text", "text": "R"},
        "blocks": [],
    }
    fake_slack.expire_trigger("111.222.old")
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        web.views_open(trigger_id="111.222.old", view=view)
    opened = web.views_open(trigger_id="111.222.new", view=view)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "reschedule_modal"
    updated = web.views_update(
        view_id=opened["id"],
        hash=opened["hash"],
        view={**view, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "done"}}]},
    )["view"]
    assert fake_slack.views[opened["id"]]["blocks"] == updated["blocks"]
    with pytest.raises(SlackApiError, match="hash_conflict"):
        web.views_update(view_id=opened["id"], hash=opened["hash"], view=view)


def test_response_url_records_posts(fake_slack: FakeSlack) -> None:
    url = fake_slack.new_response_url()
    response = http_post(url, json={"text": "done", "replace_original": True})
    assert (response.status_code, response.text) == (200, "ok")
    assert fake_slack.responses(url) == [{"text": "done", "replace_original": True}]
    assert http_post(fake_slack.url + "/response/unknown", json={"text": "x"}).status_code == 404
    assert fake_slack.wait_for(lambda: fake_slack.responses(url))[0]["text"] == "done"


def test_a_spent_response_url_is_refused_used_url(fake_slack: FakeSlack) -> None:
    url = fake_slack.new_response_url()
    fake_slack.spend_response_url(url)
    response = http_post(url, json={"text": "late"})
    assert (response.status_code, response.text) == (404, "used_url") and fake_slack.responses(url) == []


def test_signature_matches_slack_sdk_verifier() -> None:
    from slack_sdk.signature import SignatureVerifier

    body, ts = "payload=%7B%7D", "1700000000"
    expected = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    assert sign(SIGNING_SECRET, ts, body.encode()) == expected


def test_slack_unfurl_needs_a_message_or_an_unfurl_id_and_records_the_cards(
    fake_slack: FakeSlack, web: WebClient
) -> None:
    cards = {"https://cloud.trigger.test/runs/run_x": {"blocks": [{"type": "divider"}]}}
    web.chat_unfurl(channel="C111", ts="1.000100", unfurls=cards)
    web.chat_unfurl(unfurl_id="C111.1.abc", source="composer", unfurls=cards)
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        web.chat_unfurl(channel="C111", unfurls=cards)
    with pytest.raises(SlackApiError, match="invalid_unfurls"):
        web.chat_unfurl(channel="C111", ts="1.000100", unfurls={})
    assert [call["unfurls"] for call in fake_slack.unfurls] == [cards, cards]
    assert fake_slack.unfurls[1]["source"] == "composer"


def test_an_outage_holds_the_port_so_no_other_program_can_take_it(fake_trigger: FakeTrigger) -> None:
    port = int(fake_trigger.url.rsplit(":", 1)[1])
    fake_trigger.refuse_connections()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
    finally:
        fake_trigger.accept_connections()
    assert fake_trigger.url == f"http://127.0.0.1:{port}"


def test_quiet_for_is_zero_while_a_request_is_handled_and_counts_from_its_answer(
    fake_trigger: FakeTrigger, api: httpx.Client
) -> None:
    held = fake_trigger.hold("GET", r"^/api/v3/runs/")
    asking = threading.Thread(target=lambda: api.get("/api/v3/runs/run_nothinghere00000000000000"))
    asking.start()
    try:
        fake_trigger.wait_for(lambda: fake_trigger.requests)
        assert fake_trigger.quiet_for() == 0.0
    finally:
        held.set()
        asking.join()
    wait_quiet([fake_trigger], quiet=0.05)
    assert fake_trigger.quiet_for() >= 0.05
