"""Slack's request signature: every malformed header is a refusal with a reason, never an exception."""

from __future__ import annotations

import pytest

from bot.slack import signature
from tests.e2e_harness import SIGNING_SECRET, sign

SECRET = SIGNING_SECRET.encode()
BODY = b"command=%2Freschedule&text=help"
NOW = 1_800_000_000.0


def good(ts: str = str(int(NOW))) -> tuple[str, str]:
    return ts, sign(SIGNING_SECRET, ts, BODY)


def test_a_correctly_signed_recent_request_passes() -> None:
    ts, sig = good()
    assert signature.problem(SECRET, ts, sig, BODY, NOW) is None


@pytest.mark.parametrize("timestamp", ["abc", "1e3", "12x", "", " 1800000000", "-5", "1" * 40, "١٢٣", "1.5"])
def test_a_malformed_timestamp_is_refused_not_raised(timestamp: str) -> None:
    sig = sign(SIGNING_SECRET, timestamp, BODY)
    assert signature.problem(SECRET, timestamp, sig, BODY, NOW) in {"malformed timestamp", "no signature"}


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_a_timestamp_more_than_five_minutes_away_either_way_is_stale(skew: int) -> None:
    ts, sig = good(str(int(NOW) + skew))
    assert signature.problem(SECRET, ts, sig, BODY, NOW) == "stale timestamp"


def test_the_edge_of_the_window_still_passes() -> None:
    ts, sig = good(str(int(NOW) - 300))
    assert signature.problem(SECRET, ts, sig, BODY, NOW) is None


@pytest.mark.parametrize(
    "sig", ["", "v0=", "v1=" + "0" * 64, "v0=" + "0" * 63, "v0=" + "é" * 64, "nonsense", "v0=" + "0" * 64]
)
def test_a_malformed_or_wrong_signature_is_refused(sig: str) -> None:
    assert signature.problem(SECRET, str(int(NOW)), sig, BODY, NOW) is not None


def test_missing_headers_are_refused() -> None:
    ts, sig = good()
    assert signature.problem(SECRET, None, sig, BODY, NOW) == "no signature"
    assert signature.problem(SECRET, ts, None, BODY, NOW) == "no signature"


def test_a_changed_body_or_another_secret_is_a_wrong_signature() -> None:
    ts, sig = good()
    assert signature.problem(SECRET, ts, sig, BODY + b"&x=1", NOW) == "wrong signature"
    assert signature.problem(b"another-secret", ts, sig, BODY, NOW) == "wrong signature"
