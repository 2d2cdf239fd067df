"""The preview card (bot/render/unfurl.py), which links of a link_shared event are previewed, and the retry header."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot import messages
from bot.domain.environments import Environment
from bot.domain.runs import Run
from bot.render.controls import Controls
from bot.render.mrkdwn import date_token
from bot.render.unfurl import PREVIEW_BUTTONS, run_preview
from bot.slack.events import retry_number
from bot.slack.unfurl import MAX_RUNS_PER_MESSAGE, LinkShared, clicked_preview, run_links

PROD = Environment("prod", "Prod", "prod")
BASE = "https://cloud.trigger.dev"
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = WHEN - timedelta(hours=2)


def run(status: str = "DELAYED", task: str = "send-reminder", n: int = 0) -> Run:
    return Run.from_api(
        {
            "id": f"run_cm9k2x7ab000108l5ghf2d{n:03d}",
            "taskIdentifier": task,
            "status": status,
            "delayedUntil": "2026-12-01T09:00:00.000Z" if status == "DELAYED" else None,
        }
    )


def action_ids(card: dict[str, object]) -> list[str]:
    blocks = card["blocks"]
    assert isinstance(blocks, list)
    return [item["action_id"] for block in blocks if block["type"] == "actions" for item in block["elements"]]


def test_the_card_shows_task_environment_status_and_the_time_as_a_date_token() -> None:
    card = run_preview(run(), PROD, f"{BASE}/runs/x", Controls(now=NOW, confirm=False))
    text = json.dumps(card)
    assert messages.UNFURL_HEAD.format(task="send-reminder", env="Prod") in json.dumps(card["blocks"][0])
    assert date_token(WHEN) in text and "Delayed" in text
    assert action_ids(card) == [button.action_id for button in PREVIEW_BUTTONS]
    assert "rb1:undo" not in text and "rb1:open" not in text


def test_a_task_name_cannot_ping_or_link() -> None:
    text = json.dumps(run_preview(run(task="<!channel> & <https://evil.test|x>"), PROD, f"{BASE}/runs/x"))
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;https://evil.test|x&gt;" in text


def test_no_buttons_without_controls_or_once_the_run_has_started() -> None:
    assert action_ids(run_preview(run(), PROD, f"{BASE}/runs/x")) == []
    started = run_preview(run("EXECUTING"), PROD, f"{BASE}/runs/x", Controls(now=NOW, confirm=False))
    assert action_ids(started) == [] and messages.LABEL_SCHEDULED not in json.dumps(started)


def test_confirm_environments_and_demo_carry_over() -> None:
    card = run_preview(run(), PROD, f"{BASE}/runs/x", Controls(now=NOW, confirm=True, demo=True))
    push = card["blocks"][-1]["elements"][0]
    assert push["action_id"] == "rb1:push_1h" and "confirm" in push
    assert messages.DEMO_SUMMARY_NOTE in json.dumps(card, ensure_ascii=False)
    started = run_preview(run("COMPLETED"), PROD, f"{BASE}/runs/x", demo=True)
    assert messages.DEMO_SUMMARY_NOTE in json.dumps(started, ensure_ascii=False)
    assert messages.DEMO_SUMMARY_NOTE not in json.dumps(run_preview(run(), PROD, f"{BASE}/runs/x"), ensure_ascii=False)


def shared(*urls: str) -> LinkShared:
    return LinkShared.model_validate({"channel": "C1", "links": [{"url": url, "domain": "x"} for url in urls]})


def test_only_run_links_on_the_dashboard_host_are_previewed() -> None:
    a, b = run(n=1).id, run(n=2).id
    links = shared(
        f"https://CLOUD.trigger.dev/runs/{a}",
        f"https://cloud.trigger.dev/projects/v3/proj_x/runs/{b}?tab=logs",
        f"https://evil.test/runs/{a}",
        f"https://cloud.trigger.dev.evil.test/runs/{a}",
        "https://cloud.trigger.dev/orgs/acme",
        f"https://cloud.trigger.dev/runs/{a}/logs",
        "https://[bad/runs/x",
    )
    assert run_links(links, BASE) == {
        f"https://CLOUD.trigger.dev/runs/{a}": a,
        f"https://cloud.trigger.dev/projects/v3/proj_x/runs/{b}?tab=logs": b,
    }


def test_a_self_hosted_dashboard_is_matched_by_its_own_host() -> None:
    a = run(n=1).id
    links = shared(f"https://ops.example.com/trigger/runs/{a}", f"https://cloud.trigger.dev/runs/{a}")
    assert run_links(links, "https://ops.example.com/trigger") == {f"https://ops.example.com/trigger/runs/{a}": a}


def test_the_links_of_the_first_five_runs_are_kept() -> None:
    ids = [run(n=n).id for n in range(MAX_RUNS_PER_MESSAGE + 2)]
    urls = [f"{BASE}/runs/{run_id}" for run_id in ids] + [f"{BASE}/runs/{ids[0]}/"]
    found = run_links(shared(*urls), BASE)
    assert list(found.values()) == ids[:MAX_RUNS_PER_MESSAGE]


def test_a_click_is_from_a_preview_only_when_slack_says_it_is_an_app_unfurl() -> None:
    container = {"type": "message_attachment", "channel_id": "C1", "message_ts": "1.2", "is_app_unfurl": True}
    assert clicked_preview({"container": {**container, "app_unfurl_url": f"{BASE}/runs/x"}}) is not None
    assert clicked_preview({"container": container}) is None  # no URL to redraw
    assert clicked_preview({"container": {**container, "is_app_unfurl": False, "app_unfurl_url": "u"}}) is None
    assert clicked_preview({"container": {"type": "message", "channel_id": "C1", "message_ts": "1.2"}}) is None


def test_the_retry_number_is_read_from_either_header_shape() -> None:
    assert retry_number({"x-slack-retry-num": ["2"]}) == "2"
    assert retry_number({"x-slack-retry-num": "1"}) == "1"
    assert retry_number({}) == "" and retry_number({"x-slack-retry-num": ["x\n"]}) == ""
