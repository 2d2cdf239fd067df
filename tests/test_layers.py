"""The layers hold: pure code never reaches up into Slack, storage, the action path or the Trigger.dev client.

`domain/` is pure rules and data; `render/` draws Block Kit from them; `messages.py` holds every sentence. None of
them may import the modules that do I/O or decide (read from the source with ast, so a new arrow upward fails here
before it reaches review).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"

# For each pure area: the modules it may import from the bot (by prefix). Anything else of the bot is an arrow up.
ALLOWED = {
    "domain": ("bot.domain",),
    "render": ("bot.domain", "bot.render", "bot.messages"),
    "messages.py": ("bot.domain", "bot.render.ids"),
}


def bot_imports(path: Path) -> list[str]:
    """Every `bot…` module a file imports, at any depth (including imports inside functions)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            found += [f"{base}.{alias.name}" if base == "bot" else base for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name == "bot" or name.startswith("bot.")]


def files(area: str) -> list[Path]:
    target = BOT / area
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_pure_areas_import_nothing_above_them(area: str) -> None:
    upward = [
        f"{path.relative_to(BOT.parent)} imports {name}"
        for path in files(area)
        for name in bot_imports(path)
        if not name.startswith(ALLOWED[area])
    ]
    assert upward == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from bot.slack import ids\nimport bot.storage.audit\ndef f():\n    from bot.rescheduler import X\n"
    )
    assert bot_imports(sample) == ["bot.slack", "bot.storage.audit", "bot.rescheduler"]
