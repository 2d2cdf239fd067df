"""The test secrets must never appear in anything the bot says or writes: checked over everything the suite captures.

`SESSION` collects, as the suite runs, every request the fake Slack and fake Trigger.dev receive (method, path,
query, body and every header except Authorization, which the real APIs need), every bot log file (in-process and
`serve` process, read when the bot stops), and every test's captured log records, stdout and stderr (pytest's report
sections, records as logged, before bot/logs.py redacts them), and what `reschedule-bot` commands run by the tests
printed (tests/e2e_harness.py run_cli, run_in_process). Each capture is scanned as it arrives, raw and
URL-decoded; `check()` fails naming every place a secret was found, and runs when the session ends
(`no_secret_in_anything_captured`, imported by tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from tests.e2e_harness import (
    BOT_TOKEN,
    DEV_KEY,
    LOG_OBSERVERS,
    OUTPUT_OBSERVERS,
    PROD_KEY,
    SIGNING_SECRET,
    STAGING_KEY,
)
from tests.fakes._server import FakeServer, RecordedRequest

TEST_SECRETS: dict[str, str] = {
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "TRIGGER_SECRET_KEY (prod)": PROD_KEY,
    "TRIGGER_SECRET_KEYS (staging)": STAGING_KEY,
    "TRIGGER_SECRET_KEYS (dev)": DEV_KEY,
}
CONTEXT = 60  # characters shown either side of a secret found


@dataclass(frozen=True)
class Finding:
    secret: str  # its name, never its value
    place: str
    excerpt: str  # the text around it, the secret itself masked


class SecretScan:
    """Scans captured text for the given secrets; remembers where each was found."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self.secrets = dict(secrets)
        self.findings: list[Finding] = []
        self.scanned = 0  # captures scanned, so a check can tell that something was looked at

    def add(self, place: str, captured: str | bytes) -> None:
        text = captured.decode("utf-8", errors="replace") if isinstance(captured, bytes) else captured
        self.scanned += 1
        for variant in dict.fromkeys((text, unquote_plus(text))):
            for name, value in self.secrets.items():
                at = variant.find(value)
                if at >= 0:
                    excerpt = variant[max(0, at - CONTEXT) : at + len(value) + CONTEXT].replace(value, f"<{name}>")
                    finding = Finding(name, place, excerpt)
                    if finding not in self.findings:
                        self.findings.append(finding)

    def add_request(self, server: FakeServer, request: RecordedRequest) -> None:
        """What a fake received, as the bot sent it, less the Authorization header."""
        headers = "\n".join(f"{name}: {value}" for name, value in request.headers.items() if name != "authorization")
        place = f"{type(server).__name__} {request.method} {request.path}"
        self.add(place, f"{request.method} {request.path}?{request.query}\n{headers}\n\n{request.text()}")

    def add_file(self, path: Path) -> None:
        if path.exists():
            self.add(f"log file {path}", path.read_bytes())

    def check(self) -> None:
        if self.findings:
            lines = [f"  {f.secret} in {f.place}: …{f.excerpt}…" for f in self.findings]
            raise AssertionError(f"a test secret was found in {len(self.findings)} place(s):\n" + "\n".join(lines))


SESSION = SecretScan(TEST_SECRETS)
FakeServer.observers.append(SESSION.add_request)
LOG_OBSERVERS.append(SESSION.add_file)
OUTPUT_OBSERVERS.append(SESSION.add)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Every test's captured log records, stdout and stderr, for each phase."""
    for title, content in report.sections:
        SESSION.add(f"{report.nodeid} [{title}]", content)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_anything_captured() -> Iterator[None]:
    """Fails the session's last test (at teardown) when any capture held a secret, naming each place."""
    yield
    SESSION.check()
