"""Tests for bot.domain.run_refs: run ids in typed references, dashboard URLs and Slack messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.run_refs import RUN_ID_RE, dashboard_url, find_run_ids, parse_run_ref

# One id of each shape Trigger.dev issues.
CUID = "run_cm9k2x7ab000108l5ghf2d1qz"  # 25 lowercase chars (the alert example)
NANOID = "run_p4omhh45hgxxnq1re6ovy"  # legacy 21-char nanoid (the spec example)
BASE62 = "run_2aB3cD4eF5gH6iJ7kL8mN9oPqRs"  # pre-cutover 27-char base62 with capitals
RUN_OPS = "run_0123456789abcdefghijklmnoq1"  # 26 base32hex + shard char + version "1"
SHORTEST = "run_" + "a" * 20
LONGEST = "run_" + "Z" * 30
PROJECT_REF = "proj_abcdefghijklmnopqrst"
CLOUD = "https://cloud.trigger.dev"

AlertBuilder = Callable[..., dict[str, Any]]


def test_id_fixtures_have_the_documented_lengths() -> None:
    assert [len(run_id) - 4 for run_id in (CUID, NANOID, BASE62, RUN_OPS)] == [25, 21, 27, 27]


# --- Trigger.dev's "run failed" alerts ----------------------------------------------------


def current_alert(run_id: str, *, origin: str = CLOUD) -> dict[str, Any]:
    """The run-failed alert as posted by Trigger.dev today, as Slack returns it."""
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0TRIGGER",
        "ts": "1751371201.000100",
        "text": f"Run {run_id} failed for send-reminder [20250701.3.Prod]",
        "blocks": [
            {
                "type": "section",
                "block_id": "a1",
                "text": {"type": "mrkdwn", "text": ":rotating_light: Error in *send-reminder*"},
            },
            {
                "type": "section",
                "block_id": "a2",
                "text": {
                    "type": "mrkdwn",
                    "text": "```Error: SMTP timeout\n    at sendMail (src/trigger/reminder.ts:42:11)```",
                },
            },
            {
                "type": "context",
                "block_id": "a3",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": (
                            "> *send-reminder* | 20250701.3.Prod\n"
                            f"> {run_id} | Acme Web\n"
                            "> <!date^1751371200^{date_short_pretty} {time_secs}|Jul 1, 2025, 12:00:00 PM UTC>"
                        ),
                    }
                ],
            },
            {
                "type": "actions",
                "block_id": "a4",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "Xy1",
                        "text": {"type": "plain_text", "text": "Investigate"},
                        "url": f"{origin}/projects/v3/{PROJECT_REF}/runs/{run_id}",
                    }
                ],
            },
        ],
    }


def older_alert(run_id: str, *, origin: str = CLOUD) -> dict[str, Any]:
    """The run-failed alert format of 2024-08 to at least 2025-08, still found in channels."""
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0TRIGGER",
        "ts": "1723000001.000200",
        "text": f"Run {run_id} failed for send-reminder [20240801.1.Staging]",
        "blocks": [
            {
                "type": "section",
                "block_id": "b1",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        ":rotating_light: Error in *send-reminder* "
                        "_<!date^1723000000^at {date_num} {time_secs}|2024-08-07 03:06:40 UTC>_"
                    ),
                },
            },
            {
                "type": "section",
                "block_id": "b2",
                "text": {"type": "mrkdwn", "text": "```Error: SMTP timeout```"},
            },
            {
                "type": "context",
                "block_id": "b3",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{run_id} | send-reminder | 20240801.1.Staging | Acme Web",
                    }
                ],
            },
            {"type": "divider", "block_id": "b4"},
            {
                "type": "actions",
                "block_id": "b5",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "Zq9",
                        "text": {"type": "plain_text", "text": "Investigate"},
                        "url": f"{origin}/projects/v3/{PROJECT_REF}/runs/{run_id}",
                    }
                ],
            },
        ],
    }


def only_block(message: dict[str, Any], block_type: str) -> dict[str, Any]:
    """The message with its text cleared and only the blocks of one type kept."""
    return {**message, "text": "", "blocks": [b for b in message["blocks"] if b["type"] == block_type]}


@pytest.mark.parametrize("build", [current_alert, older_alert])
@pytest.mark.parametrize("run_id", [CUID, NANOID, BASE62, RUN_OPS])
def test_alert_formats_yield_their_run(build: AlertBuilder, run_id: str) -> None:
    assert find_run_ids(build(run_id)) == [run_id]


@pytest.mark.parametrize("build", [current_alert, older_alert])
@pytest.mark.parametrize("block_type", ["context", "actions"])
def test_alert_run_is_found_in_context_and_in_the_investigate_button_alone(
    build: AlertBuilder, block_type: str
) -> None:
    message = only_block(build(CUID), block_type)
    assert len(message["blocks"]) == 1
    assert find_run_ids(message) == [CUID]


@pytest.mark.parametrize("build", [current_alert, older_alert])
def test_alert_from_self_hosted_instance(build: AlertBuilder) -> None:
    message = only_block(build(NANOID, origin="http://localhost:3030"), "actions")
    assert find_run_ids(message) == [NANOID]


@pytest.mark.parametrize("build", [current_alert, older_alert])
def test_investigate_button_url_is_a_run_reference(build: AlertBuilder) -> None:
    button = only_block(build(CUID), "actions")["blocks"][0]["elements"][0]
    assert button["text"]["text"] == "Investigate"
    assert parse_run_ref(button["url"]) == CUID


def test_shortcut_payload_message_shape() -> None:
    # The message of tests/data/slack/payloads/message_action.json, with a real id for its "run_x".
    message = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B999",
        "text": "",
        "ts": "1583636382.000300",
        "team": "T111",
        "attachments": [
            {
                "id": 1,
                "color": "ff0000",
                "fallback": f"Run failed: {CUID}",
                "title": f"Run failed: {CUID}",
                "title_link": f"https://cloud.trigger.dev/projects/v3/proj_abc/runs/{CUID}",
                "text": "Task `send-digest` failed",
            }
        ],
        "blocks": [
            {
                "type": "section",
                "block_id": "d7eJ",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Run failed:* <https://cloud.trigger.dev/projects/v3/proj_abc/runs/{CUID}|{CUID}>",
                    "verbatim": False,
                },
            }
        ],
    }
    assert find_run_ids(message) == [CUID]


def test_placeholder_run_x_is_not_a_run_id() -> None:
    assert find_run_ids({"text": "Run failed: run_x", "blocks": []}) == []


# --- find_run_ids: where it looks ----------------------------------------------------------------


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"text": f"please push {CUID} back"}, id="text"),
        pytest.param({"blocks": [section(f"*Run:* `{CUID}`")]}, id="section-text"),
        pytest.param(
            {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": f"*Run*\n{CUID}"}]}]},
            id="section-fields",
        ),
        pytest.param(
            {"blocks": [{"type": "context", "elements": [{"type": "plain_text", "text": CUID}]}]},
            id="context",
        ),
        pytest.param(
            {
                "blocks": [
                    {
                        "type": "rich_text",
                        "elements": [
                            {
                                "type": "rich_text_section",
                                "elements": [
                                    {"type": "text", "text": "see "},
                                    {"type": "text", "text": CUID, "style": {"code": True}},
                                ],
                            }
                        ],
                    }
                ]
            },
            id="rich-text-text",
        ),
        pytest.param(
            {
                "blocks": [
                    {
                        "type": "rich_text",
                        "elements": [
                            {
                                "type": "rich_text_quote",
                                "elements": [{"type": "link", "url": f"{CLOUD}/runs/{CUID}", "text": "this run"}],
                            }
                        ],
                    }
                ]
            },
            id="rich-text-link-url",
        ),
        pytest.param(
            {
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}, "value": CUID}],
                    }
                ]
            },
            id="button-value",
        ),
        pytest.param(
            {
                "blocks": [
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": "Failed run"},
                        "accessory": {"type": "button", "url": f"{CLOUD}/runs/{CUID}"},
                    }
                ]
            },
            id="section-accessory",
        ),
        pytest.param({"attachments": [{"fallback": f"Run {CUID} failed"}]}, id="attachment-fallback"),
        pytest.param({"attachments": [{"pretext": CUID}]}, id="attachment-pretext"),
        pytest.param({"attachments": [{"title": f"Run {CUID}"}]}, id="attachment-title"),
        pytest.param({"attachments": [{"title_link": f"{CLOUD}/runs/{CUID}"}]}, id="attachment-title-link"),
        pytest.param({"attachments": [{"text": f"_{CUID}_"}]}, id="attachment-text-italic"),
        pytest.param({"attachments": [{"fields": [{"title": "Run", "value": CUID}]}]}, id="attachment-field"),
        pytest.param({"attachments": [{"fields": [{"title": CUID, "value": "x"}]}]}, id="attachment-field-title"),
        pytest.param({"attachments": [{"blocks": [section(CUID)]}]}, id="attachment-blocks"),
        pytest.param(
            {"attachments": [{"actions": [{"type": "button", "url": f"{CLOUD}/runs/{CUID}"}]}]},
            id="attachment-action-url",
        ),
    ],
)
def test_find_run_ids_looks_everywhere(message: dict[str, Any]) -> None:
    assert find_run_ids(message) == [CUID]


def test_several_runs_are_deduplicated_in_first_seen_order() -> None:
    message = {
        "text": f"Runs {NANOID} and {CUID} are stuck",
        "blocks": [
            section(f"<{CLOUD}/runs/{CUID}|{CUID}> then {BASE62}"),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{NANOID}, {RUN_OPS}"}]},
        ],
        "attachments": [{"fallback": f"{BASE62} {SHORTEST}", "fields": [{"value": LONGEST}]}],
    }
    assert find_run_ids(message) == [NANOID, CUID, BASE62, RUN_OPS, SHORTEST, LONGEST]


def test_text_is_searched_before_blocks_and_blocks_before_attachments() -> None:
    message = {"attachments": [{"text": RUN_OPS}], "blocks": [section(BASE62)], "text": NANOID}
    assert find_run_ids(message) == [NANOID, BASE62, RUN_OPS]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({}, id="empty"),
        pytest.param({"text": "", "blocks": [], "attachments": []}, id="empty-fields"),
        pytest.param({"text": None, "blocks": None}, id="nulls"),
        pytest.param(
            {
                "text": "Deployment 20250701.3 [prod] succeeded",
                "blocks": [
                    section(":rocket: Deployed *20250701.3.prod* successfully"),
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "text": {"type": "plain_text", "text": "View Deployment"},
                                "url": f"{CLOUD}/projects/v3/{PROJECT_REF}/deployments/abc123",
                            }
                        ],
                    },
                ],
            },
            id="deployment-alert",
        ),
        pytest.param({"text": "run_tooshort and run_" + "a" * 31}, id="wrong-lengths"),
        pytest.param({"text": "xrun_" + "a" * 25 + " job_run_" + "b" * 25 + "c"}, id="glued"),
        pytest.param({"text": "RUN_" + "a" * 25 + " run-" + "a" * 25}, id="wrong-prefix"),
        pytest.param({"user": CUID, "bot_id": CUID, "ts": CUID}, id="other-top-level-fields-ignored"),
        pytest.param({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": 12345}}]}, id="non-str"),
    ],
)
def test_messages_without_runs(message: dict[str, Any]) -> None:
    assert find_run_ids(message) == []


def test_deeply_nested_blocks_do_not_hit_the_recursion_limit() -> None:
    nested: Any = CUID
    for _ in range(5000):
        nested = {"elements": [nested]}
    assert find_run_ids({"blocks": [nested]}) == [CUID]


# --- RUN_ID_RE -----------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", [CUID, NANOID, BASE62, RUN_OPS, SHORTEST, LONGEST])
def test_run_id_re_matches_bare_ids_fully(run_id: str) -> None:
    assert RUN_ID_RE.fullmatch(run_id) is not None


@pytest.mark.parametrize(
    "text",
    ["run_" + "a" * 19, "run_" + "a" * 31, "run_" + "a" * 20 + "-", "Run_" + "a" * 20, "run_" + "é" * 20, "run_x"],
)
def test_run_id_re_rejects_other_shapes(text: str) -> None:
    assert RUN_ID_RE.fullmatch(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"({CUID})", [CUID]),
        (f"`{CUID}`", [CUID]),
        (f"*{CUID}*", [CUID]),
        (f"_{CUID}_", [CUID]),  # Slack italics
        (f"{CUID}.", [CUID]),
        (f"/runs/{CUID}?span=abc", [CUID]),
        (f"a _{CUID}_ b", [CUID]),
        (f"_{CUID}_, _{NANOID}_", [CUID, NANOID]),
        (f"{CUID}.", [CUID]),
        (f"{CUID}{NANOID}", []),  # glued together: neither is delimited
        (f"{CUID}_{NANOID}", []),
        (f"a{CUID}", []),
        (f"job_{CUID}", []),  # part of a longer identifier
        (f"{CUID}_v2", []),
        (f"{CUID[:-1]}é", []),
        ("run_" + "a" * 31, []),
    ],
)
def test_run_id_re_boundaries(text: str, expected: list[str]) -> None:
    assert RUN_ID_RE.findall(text) == expected


# --- parse_run_ref -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        CUID,
        f"  {CUID}\n",
        f"`{CUID}`",
        # canonical run page, with and without span, fragment, trailing slash
        f"{CLOUD}/orgs/acme-8f2a/projects/web-app-Xy9/env/prod/runs/{CUID}",
        f"{CLOUD}/orgs/acme-8f2a/projects/web-app-Xy9/env/prod/runs/{CUID}?span=8a7b6c5d4e3f2a1b",
        f"{CLOUD}/orgs/acme/projects/web/env/my-branch/runs/{CUID}?span=1&tab=overview#logs",
        f"{CLOUD}/orgs/acme/projects/web/env/dev/runs/{CUID}/",
        # short redirect, project-ref redirect, org/project without env
        f"{CLOUD}/runs/{CUID}",
        f"{CLOUD}/projects/v3/{PROJECT_REF}/runs/{CUID}",
        f"{CLOUD}/orgs/acme/projects/web/runs/{CUID}",
        # other hosts
        f"http://localhost:3030/runs/{CUID}",
        f"https://trigger.internal.example.com:8443/projects/v3/{PROJECT_REF}/runs/{CUID}",
        # any path before the run path (a dashboard served under a prefix)
        f"{CLOUD}/somewhere/else/runs/{CUID}",
        f"HTTPS://CLOUD.TRIGGER.DEV/runs/{CUID}",
        # without a scheme
        f"cloud.trigger.dev/runs/{CUID}",
        f"localhost:3030/runs/{CUID}",
        # as Slack delivers links
        f"<{CLOUD}/runs/{CUID}>",
        f"<{CLOUD}/runs/{CUID}|{CUID}>",
        f"<{CLOUD}/orgs/acme/projects/web/env/prod/runs/{CUID}?span=abc&amp;x=1|the failed run>",
        f"<{CLOUD}/projects/v3/{PROJECT_REF}/runs/{CUID}|Investigate>",
        f"  <{CLOUD}/runs/{CUID}|label>  ",
    ],
)
def test_parse_run_ref_accepts_ids_and_run_urls(text: str) -> None:
    assert parse_run_ref(text) == CUID


@pytest.mark.parametrize("run_id", [NANOID, BASE62, RUN_OPS])
def test_parse_run_ref_keeps_the_id_exactly(run_id: str) -> None:
    assert parse_run_ref(run_id) == run_id
    assert parse_run_ref(dashboard_url(CLOUD, run_id)) == run_id


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "run_x",
        "run_" + "a" * 31,
        f"{CUID} {NANOID}",  # two runs is not one reference
        f"please reschedule {CUID}",
        f"{CUID}?",
        f"{CLOUD}/runs/{CUID}/extra",
        f"{CLOUD}/runs/",
        f"{CLOUD}/projects/v3/{PROJECT_REF}/deployments/abc123",
        f"{CLOUD}/orgs/acme/projects/web/env/prod/runs",
        f"{CLOUD}/orgs/acme/projects/web/env/prod/batches/batch_{'a' * 25}",
        f"{CLOUD}/?run={CUID}",
        f"ftp://cloud.trigger.dev/runs/{CUID}",
        f"/runs/{CUID}",  # no host
        f"https:///runs/{CUID}",
        f"http://[::1/runs/{CUID}",  # malformed host
        f"<mailto:someone@example.com|{CUID}>",  # only the URL counts, not the label
        "<@U123ABC>",
        f"<{CLOUD}/runs/{CUID}",
    ],
)
def test_parse_run_ref_rejects_everything_else(text: str) -> None:
    assert parse_run_ref(text) is None


# --- a dashboard served under a path prefix ------------------------------------------------------

OPS = "https://ops.example.com/trigger"


@pytest.mark.parametrize(
    "text",
    [
        f"{OPS}/runs/{CUID}",
        f"{OPS}/runs/{CUID}/",
        f"{OPS}/projects/v3/{PROJECT_REF}/runs/{CUID}",
        f"{OPS}/orgs/acme/projects/web/runs/{CUID}",
        f"{OPS}/orgs/acme/projects/web/env/prod/runs/{CUID}",
        "ops.example.com/trigger/runs/" + CUID,
        f"http://localhost:8080/trigger/runs/{CUID}",
    ],
)
def test_every_run_link_form_is_read_under_a_path_prefix(text: str) -> None:
    assert parse_run_ref(text) == CUID


@pytest.mark.parametrize(
    "text",
    [
        f"https://ops.example.com/tools/ci/trigger/runs/{CUID}",
        f"https://ops.example.com/a/b/c/d/orgs/acme/projects/web/env/prod/runs/{CUID}",
        f"https://ops.example.com/tools/trigger.dev/v2/projects/v3/{PROJECT_REF}/runs/{CUID}",
    ],
)
def test_a_prefix_of_several_segments_is_read(text: str) -> None:
    assert parse_run_ref(text) == CUID


@pytest.mark.parametrize(
    "text",
    [
        f"<{OPS}/runs/{CUID}>",
        f"<{OPS}/runs/{CUID}|{CUID}>",
        f"<{OPS}/projects/v3/{PROJECT_REF}/runs/{CUID}|Investigate>",
        f"  <{OPS}/orgs/acme/projects/web/env/prod/runs/{CUID}?span=abc&amp;x=1|the failed run>  ",
        f"`{OPS}/runs/{CUID}`",
    ],
)
def test_a_prefixed_link_wrapped_as_slack_delivers_it_is_read(text: str) -> None:
    assert parse_run_ref(text) == CUID


@pytest.mark.parametrize(
    "text",
    [
        f"{OPS}/runs/{CUID}?span=8a7b6c5d4e3f2a1b",
        f"{OPS}/runs/{CUID}#logs",
        f"{OPS}/runs/{CUID}/?tab=overview#logs",
        f"{OPS}/orgs/acme/projects/web/env/prod/runs/{CUID}?span=1&tab=overview#logs",
        f"{OPS}/runs/{CUID}?next=/runs/{NANOID}",  # another run in the query is not the run path
    ],
)
def test_a_prefixed_link_with_a_query_or_fragment_is_read(text: str) -> None:
    assert parse_run_ref(text) == CUID


@pytest.mark.parametrize(
    "text",
    [
        f"{OPS}/runs/{CUID}/trace",  # the run path must end the path
        f"{OPS}/runs/{CUID}/logs/",
        f"{OPS}/runs-archive/{CUID}",  # "runs" inside another segment
        f"{OPS}/myruns/{CUID}",
        f"{OPS}/runs/x/{CUID}",  # "runs" not right before the id
        f"{OPS}/runs",
        f"{OPS}/runs/",
        f"{OPS}/docs/runs?id={CUID}",  # the id only in the query
        f"{OPS}/search?q=/runs/{CUID}",
        f"{OPS}/#/runs/{CUID}",  # the run path only in the fragment
        f"{OPS}/runs/{CUID}.json",
        f"{OPS}//runs/{CUID}",  # an empty segment is not a prefix
        f"{OPS}/runs/{NANOID}/runs/{CUID}",  # a path naming two runs is not one reference
        f"{OPS}/projects/v3/{PROJECT_REF}/deployments/abc123",
        f"<{OPS}/runs/{CUID}/trace|{CUID}>",  # only the URL counts, not the label
    ],
)
def test_a_url_with_runs_elsewhere_is_still_not_a_run(text: str) -> None:
    assert parse_run_ref(text) is None


def test_find_run_ids_finds_prefixed_links_in_text_blocks_and_buttons() -> None:
    message = {
        "text": f"Run failed: <{OPS}/runs/{CUID}|open it>",
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{OPS}/orgs/a/projects/b/runs/{NANOID}>"}]},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Investigate"},
                        "url": f"https://ops.example.com/tools/ci/projects/v3/{PROJECT_REF}/runs/{BASE62}?span=1#x",
                    }
                ],
            },
        ],
    }
    assert find_run_ids(message) == [CUID, NANOID, BASE62]


def test_find_run_ids_reads_a_prefixed_alert_link_the_way_parse_run_ref_does() -> None:
    link = f"https://ops.example.com/a/b/c/orgs/acme/projects/web/env/prod/runs/{RUN_OPS}?span=abc"
    assert find_run_ids({"text": f"*Run failed:* <{link}|{RUN_OPS}>"}) == [RUN_OPS]
    assert parse_run_ref(f"<{link}|{RUN_OPS}>") == RUN_OPS


# --- dashboard_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (CLOUD, f"{CLOUD}/runs/{CUID}"),
        (CLOUD + "/", f"{CLOUD}/runs/{CUID}"),
        ("http://localhost:3030//", f"http://localhost:3030/runs/{CUID}"),
        (OPS, f"{OPS}/runs/{CUID}"),
        (OPS + "/", f"{OPS}/runs/{CUID}"),
        ("https://ops.example.com/tools/ci/trigger/", f"https://ops.example.com/tools/ci/trigger/runs/{CUID}"),
    ],
)
def test_dashboard_url(base: str, expected: str) -> None:
    assert dashboard_url(base, CUID) == expected


@pytest.mark.parametrize("base", [CLOUD, OPS, OPS + "/", "http://localhost:8080/a/b/trigger"])
def test_a_link_the_bot_builds_is_read_back_as_its_run(base: str) -> None:
    assert parse_run_ref(dashboard_url(base, NANOID)) == NANOID
    assert find_run_ids({"text": f"<{dashboard_url(base, NANOID)}|Open in Trigger.dev>"}) == [NANOID]
