"""A serving process leaves the terminal packages out, and httpx and the bot's serving modules still work without
them (each check in a fresh interpreter, so the test's own imports do not count)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import json, sys
    {prepare}
    import httpx
    import bot.server, bot.wiring

    def answer(request):
        return httpx.Response(200, json={{"ok": True}})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        works = client.get("http://trigger.test/api").json() == {{"ok": True}}
    loaded = sorted({{name.split(".")[0] for name in sys.modules if sys.modules[name] is not None}})
    print(json.dumps({{"works": works, "loaded": loaded, "cli": "httpx._main" in sys.modules}}))
    """
)


def probe(prepare: str) -> dict[str, object]:
    code = PROBE.format(prepare=prepare)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_serving_process_leaves_out_rich_pygments_and_the_httpx_command_line() -> None:
    lean = probe("from bot.serving_imports import leave_out_terminal_packages; leave_out_terminal_packages()")
    assert lean["works"] is True
    assert lean["cli"] is False
    loaded = lean["loaded"]
    assert isinstance(loaded, list)
    assert "rich" not in loaded and "pygments" not in loaded
    assert {"httpx", "slack_bolt", "sqlalchemy", "uvicorn"} <= set(loaded)


def test_without_it_httpx_loads_its_command_line_when_the_terminal_packages_are_installed() -> None:
    """The reason for leaving them out: if this stops holding (httpx no longer imports its CLI eagerly), the
    step in bot/serving_imports.py is no longer needed."""
    plain = probe("")
    assert plain["works"] is True
    assert plain["cli"] is True
    loaded = plain["loaded"]
    assert isinstance(loaded, list) and "rich" in loaded
