"""Properties of the mrkdwn helpers (bot/render/mrkdwn.py) over any text, since what they escape is not ours.

Escaped text carries no raw `<` or `>` (so it cannot ping, link or open a token) and every `&` it carries starts one
of the three entities; escaping loses nothing; a link is one link whatever its label and URL hold; a code span is one
span; truncation keeps to its bound and is idempotent.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.render.mrkdwn import ELLIPSIS, code, escape, link, truncate

# Slack's control characters, entities half-typed and whole, and its special tokens, among anything at all.
hostile = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="<>&|`*_~!@#^;amplgt \n", max_size=80),
    st.lists(
        st.sampled_from(["<!channel>", "<@U111>", "<!here|here>", "&amp;", "&lt;", "&gt;", "&", "<", ">", "|", "`"])
    ).map("".join),
)
ENTITY_OR_AMP = re.compile(r"&(?!amp;|lt;|gt;)")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@given(hostile)
def test_escaped_text_has_no_control_characters_and_only_entities(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert ENTITY_OR_AMP.search(escaped) is None, escaped


@given(hostile)
def test_escaping_loses_nothing(text: str) -> None:
    assert unescape(escape(text)) == text


@given(hostile)
def test_escaping_changes_text_exactly_when_it_holds_a_control_character(text: str) -> None:
    assert (escape(text) == text) == (not any(char in text for char in "&<>"))


@given(hostile, hostile)
def test_a_link_is_one_link_with_an_escaped_label(url: str, label: str) -> None:
    written = link(url, label)
    assert written.startswith("<") and written.endswith(">")
    inner = written[1:-1]
    assert "<" not in inner and ">" not in inner  # nothing can close the link early or open another
    target, _, shown = inner.partition("|")
    assert "|" not in target  # the first "|" is the one between URL and label
    assert shown == escape(label)


@given(hostile, st.integers(1, 300))
def test_a_code_span_is_one_span_on_one_line_and_escaped(text: str, limit: int) -> None:
    span = code(text, limit)
    assert span.startswith("`") and span.endswith("`") and len(span) >= 2
    inner = span[1:-1]
    assert "`" not in inner and "\n" not in inner
    assert "<" not in inner and ">" not in inner and ENTITY_OR_AMP.search(inner) is None
    assert len(unescape(inner)) <= limit


@given(hostile, st.integers(1, 300))
def test_truncation_keeps_to_its_bound_and_marks_the_cut(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith(ELLIPSIS) and text.startswith(cut[: -len(ELLIPSIS)])


@given(hostile, st.integers(0, 300))
def test_truncation_is_idempotent(text: str, limit: int) -> None:
    once = truncate(text, limit)
    assert truncate(once, max(limit, len(once))) == once
    if limit >= 1:
        assert truncate(once, limit) == once


@given(hostile, st.integers(1, 300))
def test_escaping_after_truncating_keeps_every_entity_whole(text: str, limit: int) -> None:
    # The order the bot uses for untrusted text (code(), summaries): cut first, then escape, so no entity is cut.
    assert ENTITY_OR_AMP.search(escape(truncate(text, limit))) is None
