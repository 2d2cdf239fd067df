"""The fast tier (`pytest -m "not e2e"`) starts nothing: a test that starts the bot, its process or a fake server
itself is marked e2e, by hand or by its module (the fixtures that start them mark their users: tests/conftest.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import E2E_FIXTURES

TESTS = Path(__file__).resolve().parent
# What starts a server or a process when a test calls it.
STARTERS = frozenset(
    {"FakeSlack", "FakeTrigger", "FakeSocketMode", "InProcessBot", "BotProcess", "SocketBotProcess", "run_cli"}
    | {"subprocess.run", "subprocess.Popen"}
)


def marks_e2e(decorators: list[ast.expr]) -> bool:
    return any("mark.e2e" in ast.unparse(decorator) for decorator in decorators)


def called(node: ast.AST) -> set[str]:
    """The names a function calls (`FakeSlack(…)`, `subprocess.run(…)`), at any depth."""
    names: set[str] = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Name):
                names.add(call.func.id)
            elif isinstance(call.func, ast.Attribute) and ast.unparse(call.func.value) == "subprocess":
                names.add(f"subprocess.{call.func.attr}")
    return names


def unmarked_starters(path: Path) -> list[str]:
    """The tests in `path` that start something themselves without being marked e2e (by hand, by their module, or
    by a fixture of E2E_FIXTURES, which marks them at collection)."""
    if path.name.startswith("test_e2e_"):
        return []
    tree = ast.parse(path.read_text(), str(path))
    module_marked = any(
        isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets)
        and "mark.e2e" in ast.unparse(node.value)
        for node in tree.body
    )
    if module_marked:
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
            starts = called(node) & STARTERS
            fixtures = {arg.arg for arg in node.args.args}
            if starts and not marks_e2e(node.decorator_list) and not fixtures & E2E_FIXTURES:
                found.append(f"{path.name}::{node.name} starts {', '.join(sorted(starts))}")
    return found


def test_every_test_that_starts_a_server_or_a_process_is_marked_e2e() -> None:
    assert [item for path in sorted(TESTS.glob("test_*.py")) for item in unmarked_starters(path)] == []


def test_the_scan_sees_an_unmarked_start(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import pytest, subprocess\n"
        "def test_a():\n    with FakeSlack('x') as f:\n        pass\n"
        "@pytest.mark.e2e\ndef test_b():\n    InProcessBot({})\n"
        "def test_c():\n    subprocess.run(['true'])\n"
        "def test_d():\n    assert 1 + 1 == 2\n"
    )
    assert unmarked_starters(sample) == [
        "test_sample.py::test_a starts FakeSlack",
        "test_sample.py::test_c starts subprocess.run",
    ]
