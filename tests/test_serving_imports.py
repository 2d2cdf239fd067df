"""A serving process leaves the terminal packages out, and httpx and the bot's serving modules still work without
them; building the bot as `serve` does loads nothing that only the demo, the digest, protected environments, the
migrations, PostgreSQL or the command-line tools use (each check in a fresh interpreter, so the test's own imports do
not count)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.e2e_harness import BOT_TOKEN, PROD_KEY, SIGNING_SECRET

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
    return run_fresh(PROBE.format(prepare=prepare), REPO)


def run_fresh(code: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run `code` in a fresh interpreter; what it printed last, as JSON."""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
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


# What `python -m bot serve` does before serving (bot/__main__.py), with the configuration given in full (no .env,
# SQLite in a temporary folder, nothing optional configured). inspect.stack() fails: it reads the source of every
# calling frame and resolves the path of every loaded module, a tenth of a second at start that Bolt spends only
# when its app is given no name.
SERVE_PROBE = textwrap.dedent(
    """
    import inspect, json, sys

    def no_stack(*args, **kwargs):
        raise AssertionError("inspect.stack() called while building the bot")

    inspect.stack = no_stack
    from bot.serving_imports import leave_out_terminal_packages
    leave_out_terminal_packages()
    from bot import settings, wiring
    from bot.server import asgi_app

    config = settings.load(
        "serve",
        _env_file=None,
        slack_bot_token={token!r},
        slack_signing_secret={secret!r},
        trigger_secret_key={key!r},
        database_url={database!r},
    )
    bot = wiring.build(config)
    asgi_app(bot)
    loaded = sorted(name for name, module in sys.modules.items() if module is not None)
    print(json.dumps({{"loaded": loaded, "app_name": bot.app.name}}))
    """
)

# Loaded where they are used: `--demo` (bot/wiring.py), DIGEST_CHANNEL and APPROVAL__* (bot/wiring.py), a schema
# that is not current (bot/storage/db.py), PostgreSQL (bot/storage/db.py), `check`, `shell` and Socket Mode
# (bot/__main__.py).
NOT_FOR_SERVING = (
    "bot.demo",
    "bot.simulator",
    "bot.digest",
    "bot.storage.digest_posts",
    "bot.approval_expiry",
    "alembic",
    "asyncpg",
    "sqlalchemy.dialects.postgresql",
    "bot.check",
    "bot.shell",
    "bot.socket_mode",
    "rich",
    "pygments",
)


def test_building_the_bot_to_serve_loads_nothing_only_other_modes_or_features_use(tmp_path: Path) -> None:
    code = SERVE_PROBE.format(
        token=BOT_TOKEN, secret=SIGNING_SECRET, key=PROD_KEY, database=f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    )
    kept = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG", "TMPDIR")}
    result = run_fresh(code, tmp_path, kept)  # no setting of the test's environment, no .env, nothing in the tree
    loaded = result["loaded"]
    assert isinstance(loaded, list)
    assert {"bot.server", "bot.wiring", "slack_bolt", "sqlalchemy", "uvicorn"} <= set(loaded)
    unexpected = [name for name in loaded if _within(name)]
    assert unexpected == []
    assert result["app_name"] == "app.py"  # the name Bolt gives by default (the calling file's): its loggers' names


def _within(name: str) -> bool:
    """`name` is one of NOT_FOR_SERVING or inside one of them (not merely sharing a prefix: `bot.checks`)."""
    return any(name == package or name.startswith(package + ".") for package in NOT_FOR_SERVING)


def test_a_serving_process_leaves_what_it_started_with_out_of_the_collectors_walks() -> None:
    """In a fresh interpreter (this test's own collector is left alone): what exists when the bot starts serving is
    frozen, and the youngest generation is collected after YOUNGEST allocations."""
    code = textwrap.dedent(
        """
        import gc, json
        import bot.wiring
        from bot.collector import YOUNGEST, tune_for_serving
        before = gc.get_freeze_count()
        tune_for_serving()
        print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()[0],
                          "youngest": YOUNGEST}))
        """
    )
    result = run_fresh(code, REPO)
    assert result["before"] == 0
    assert isinstance(result["frozen"], int) and result["frozen"] > 10_000  # modules, classes, functions, …
    assert result["threshold"] == result["youngest"] == 5_000
