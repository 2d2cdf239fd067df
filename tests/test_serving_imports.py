"""What a serving process loads: rich (the shell's rendering) is an optional extra, which a deploy
(requirements.lock) leaves out, and without it httpx and the bot's serving modules work and load none of the terminal
packages; building the bot as `serve` does loads nothing that only the demo, the digest, protected environments, the
migrations, PostgreSQL or the command-line tools use (each check in a fresh interpreter, so the test's own imports do
not count).

This environment has the test tools, rich among them: each probe first makes rich and pygments not importable (a
`sys.modules` entry of None, as the import system documents) to stand for a deploy's environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import requires
from pathlib import Path

import pytest

from tests.e2e_harness import BOT_TOKEN, PROD_KEY, SIGNING_SECRET

REPO = Path(__file__).resolve().parents[1]
AS_DEPLOYED = "import sys; sys.modules.update(rich=None, pygments=None)"

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


def test_rich_is_only_in_the_shell_extra_and_not_in_the_deploy_lock() -> None:
    declared = requires("reschedule-bot") or []
    rich = [line for line in declared if re.match(r"rich\b", line)]
    assert rich and all("extra ==" in line for line in rich)
    assert any('extra == "shell"' in line for line in rich)
    locked = {line.split("==")[0] for line in (REPO / "requirements.lock").read_text().splitlines() if "==" in line}
    assert {"httpx", "slack-bolt", "uvicorn"} <= locked
    assert not {"rich", "pygments", "markdown-it-py"} & locked


def test_without_the_shell_extra_the_serving_modules_and_httpx_load_no_terminal_package() -> None:
    lean = probe(AS_DEPLOYED)
    assert lean["works"] is True
    assert lean["cli"] is False
    loaded = lean["loaded"]
    assert isinstance(loaded, list)
    assert "rich" not in loaded and "pygments" not in loaded
    assert {"httpx", "slack_bolt", "sqlalchemy", "uvicorn"} <= set(loaded)


def test_with_rich_installed_httpx_loads_its_command_line() -> None:
    """Why rich is an extra: with it installed, httpx loads its command-line client (rich, pygments: about 4 MiB)
    into every process that imports httpx. If this stops holding, rich could be a plain dependency again."""
    plain = probe("")
    assert plain["works"] is True
    assert plain["cli"] is True
    loaded = plain["loaded"]
    assert isinstance(loaded, list) and "rich" in loaded


@pytest.mark.e2e  # starts the command line in a process of its own
def test_the_shell_without_rich_says_how_to_install_it(tmp_path: Path) -> None:
    code = f"{AS_DEPLOYED}\nfrom bot.__main__ import main\nraise SystemExit(main(['shell', '--demo']))"
    env = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG", "TMPDIR")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install -e '.[shell]'" in done.stderr and "Traceback" not in done.stderr


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
    sys.modules.update(rich=None, pygments=None)  # a deploy's environment: no shell extra
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
