"""Properties of the run-id finder (bot/domain/run_refs.py), over generated ids, texts, links and payloads.

Every id written anywhere a person or Trigger.dev puts one (plain text, Slack italics and links, dashboard URLs of
every shape, nested blocks) is found; nothing is found that is not an id written in the input; ids come back once
each, in first-seen order; and no payload, however odd, makes the finder raise.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.run_refs import RUN_ID_RE, dashboard_url, find_run_ids, parse_run_ref

ALNUM = string.ascii_letters + string.digits
run_ids = st.text(alphabet=ALNUM, min_size=20, max_size=30).map(lambda tail: "run_" + tail)
# Characters that end a word on both sides of an id, as Slack text has them around one.
DELIMITERS = " \t\n.,;:!?()[]{}<>|\"'`*~/=&#@-"
delimiters = st.text(alphabet=DELIMITERS, min_size=1, max_size=3)
segments = st.text(alphabet=ALNUM + "-._~", min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
hosts = st.builds(
    lambda parts, tld: ".".join([*parts, tld]),
    st.lists(st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10), min_size=1, max_size=3),
    st.sampled_from(["dev", "com", "io", "test"]),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40))
# Payloads of any shape: what a mangled or hostile message could carry, including non-string keys and tuples.
payloads = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4),
    ),
    max_leaves=25,
)


@st.composite
def run_urls(draw: st.DrawFn, run_id: str) -> str:
    """A dashboard link of the run in one of its shapes, under any path prefix, maybe with query/fragment."""
    shape = draw(
        st.sampled_from(
            [
                "/orgs/{o}/projects/{p}/env/{e}/runs/{r}",
                "/orgs/{o}/projects/{p}/runs/{r}",
                "/projects/v3/{p}/runs/{r}",
                "/runs/{r}",
            ]
        )
    )
    path = shape.format(o=draw(segments), p=draw(segments), e=draw(segments), r=run_id)
    prefix = "".join("/" + segment for segment in draw(st.lists(segments, max_size=2)))
    scheme = draw(st.sampled_from(["https://", "http://", "HTTPS://"]))
    tail = draw(st.sampled_from(["", "/", "?tab=logs", "#span", "/?a=1&b=2"]))
    return f"{scheme}{draw(hosts)}{prefix}{path}{tail}"


# --- every id is found ----------------------------------------------------------------------------------------------


@given(st.text(max_size=40), delimiters, run_ids, delimiters, st.text(max_size=40))
def test_an_id_between_word_boundaries_in_any_text_is_found(
    before: str, left: str, run_id: str, right: str, after: str
) -> None:
    text = before + left + run_id + right + after
    assert run_id in find_run_ids({"text": text})


@given(run_ids, st.sampled_from(["_{}_", "*{}*", "`{}`", "<{}>", "({})", "~{}~", "{}.", "{}:"]))
def test_an_id_in_slack_formatting_is_found(run_id: str, wrapping: str) -> None:
    assert find_run_ids({"text": "see " + wrapping.format(run_id) + " now"}) == [run_id]


@given(st.data(), run_ids)
def test_a_dashboard_link_is_read_as_its_run_and_found_in_a_message(data: st.DataObject, run_id: str) -> None:
    url = data.draw(run_urls(run_id))
    wrapped = data.draw(st.sampled_from(["{u}", "<{u}>", "<{u}|Investigate>", "`{u}`", "  {u}  "])).format(u=url)
    assert parse_run_ref(wrapped) == run_id
    button = {"type": "actions", "elements": [{"type": "button", "url": url, "text": {"type": "plain_text"}}]}
    assert find_run_ids({"text": "", "blocks": [button]}) == [run_id]


@given(hosts, st.lists(segments, max_size=3), st.booleans(), run_ids)
def test_the_link_the_bot_builds_reads_back_as_its_run(host: str, path: list[str], slash: bool, run_id: str) -> None:
    base = f"https://{host}" + "".join("/" + segment for segment in path) + ("/" if slash else "")
    assert parse_run_ref(dashboard_url(base, run_id)) == run_id


@given(run_ids)
def test_a_bare_id_is_read_exactly(run_id: str) -> None:
    assert parse_run_ref(run_id) == run_id and parse_run_ref(f" `{run_id}` ") == run_id


# --- nothing else is found ------------------------------------------------------------------------------------------


@given(st.one_of(st.text(max_size=120), st.text(alphabet=ALNUM + "_ /:.<>|-", max_size=120)))
def test_only_ids_written_in_the_text_are_found(text: str) -> None:
    found = find_run_ids({"text": text})
    for run_id in found:
        assert RUN_ID_RE.fullmatch(run_id) and run_id in text
    if "run_" not in text:
        assert found == []


@given(
    st.text(alphabet=ALNUM, min_size=1, max_size=3),
    run_ids,
    st.sampled_from(["{g}{r}", "{g}_{r}", "{r}{g}", "{r}_{g}"]),
)
def test_an_id_glued_to_a_word_is_not_that_id(glue: str, run_id: str, gluing: str) -> None:
    # "xrun_…", "job_run_…", "run_…_v2" are other names; "run_…x" is another (longer) id, or none.
    assert run_id not in find_run_ids({"text": gluing.format(g=glue, r=run_id)})


@given(st.text(max_size=120))
def test_parse_run_ref_answers_an_id_that_is_in_the_text_or_none(text: str) -> None:
    result = parse_run_ref(text)
    assert result is None or (RUN_ID_RE.fullmatch(result) is not None and result in text)


# --- order and duplicates -------------------------------------------------------------------------------------------


@given(st.lists(run_ids, min_size=1, max_size=12), st.data())
def test_ids_come_back_once_each_in_first_seen_order(ids: list[str], data: st.DataObject) -> None:
    mentions = [data.draw(st.sampled_from(ids)) for _ in range(data.draw(st.integers(0, 12)))]
    everything = ids + mentions
    found = find_run_ids({"text": " ".join(everything)})
    assert found == list(dict.fromkeys(everything))


@given(st.lists(run_ids, min_size=3, max_size=3, unique=True))
def test_text_comes_before_blocks_and_blocks_before_attachments(ids: list[str]) -> None:
    first, second, third = ids
    message = {
        "attachments": [{"fallback": f"{third} and {first}"}],
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": second}}],
        "text": first,
    }
    assert find_run_ids(message) == [first, second, third]


# --- never raises ---------------------------------------------------------------------------------------------------


@given(st.dictionaries(st.sampled_from(["text", "blocks", "attachments", "ts", "user"]), payloads, max_size=4))
def test_any_payload_is_searched_without_raising(message: dict[str, Any]) -> None:
    found = find_run_ids(message)
    assert len(found) == len(set(found))
    assert all(RUN_ID_RE.fullmatch(run_id) for run_id in found)


@given(payloads, run_ids)
def test_an_id_deep_inside_any_payload_is_found(payload: Any, run_id: str) -> None:
    message = {"blocks": [payload, {"elements": [[{"nested": (payload, f"<{run_id}>")}]]}]}
    assert run_id in find_run_ids(message)
