"""The layers hold, for the whole package: the import-linter contracts in pyproject.toml (`domain/`, `render/`,
`trigger/` and `storage/` never import the Slack side, the action path or the wiring; `domain/` and `render/` are
pure; `messages.py` never imports `render/`), and no module imports another's private (underscore) names.
"""

from __future__ import annotations

import ast
from pathlib import Path

from importlinter.cli import lint_imports

from bot import messages
from bot.render.ids import Button

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"


def test_the_import_contracts_are_kept() -> None:
    """What `lint-imports` checks in CI, here too (no cache written: the working tree is left alone)."""
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def private_imports(path: Path) -> list[str]:
    """Every `from module import _name` in a file (a dunder such as `__version__` is public)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found += [
                f"{module}.{alias.name}"
                for alias in node.names
                if alias.name.startswith("_") and not (alias.name.startswith("__") and alias.name.endswith("__"))
            ]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    modules = sorted(BOT.rglob("*.py"))
    found = [f"{path.relative_to(ROOT)}: {name}" for path in modules for name in private_imports(path)]
    assert found == []


def test_the_scan_sees_a_private_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from bot import __version__\nfrom bot.render.run_list import MAX_BLOCKS, _line\n"
        "def f():\n    from .ids import _secret\n"
    )
    assert private_imports(sample) == ["bot.render.run_list._line", ".ids._secret"]


def test_every_button_label_names_a_button() -> None:
    """messages.py keys the labels by the button's name (so it needs nothing from render/): a typo fails here."""
    assert set(messages.BUTTON_LABELS) <= {button.value for button in Button}
