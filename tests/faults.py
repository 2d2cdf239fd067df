"""Helpers shared by the fault tests (tests/test_faults_*.py, tests/test_e2e_two_processes.py): read the audit
trail a bot wrote, wait for the one answer a person got.

The audit trail is read after the bot has stopped (its shutdown flushes the batched writer), so "exactly one
row" means exactly one, not "one so far".
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.fakes.slack import FakeSlack

RESCHEDULE = r"/api/v1/runs/.+/reschedule"
RETRIEVE = r"/api/v3/runs/"


def sqlite_rows(path: Path, sql: str = "SELECT * FROM audit_events ORDER BY id") -> list[dict[str, Any]]:
    """Rows of a query on the bot's SQLite file (read-only; none when the table does not exist yet)."""
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql)]
        except sqlite3.OperationalError:
            return []


def audit_of(path: Path, run_id: str) -> list[tuple[str, str | None]]:
    """(outcome, the error's first word) of every audit row about `run_id`, oldest first."""
    rows = sqlite_rows(path)
    return [(row["outcome"], (row["error"] or "").split(":")[0] or None) for row in rows if row["run_id"] == run_id]


def only_response(fake_slack: FakeSlack, url: str) -> dict[str, Any]:
    """The one message posted to `url`, once there is one (AssertionError if more arrive meanwhile)."""
    posted = fake_slack.wait_for(lambda: fake_slack.responses(url))
    assert len(posted) == 1, posted
    body: dict[str, Any] = posted[0]
    return body


def said(body: dict[str, Any]) -> str:
    """Everything a message says: its text and its blocks."""
    return str(body.get("text", "")) + json.dumps(body.get("blocks", []))
