"""The suite never reads or writes the working tree: each test runs from its own temporary folder (so the bot's
default `sqlite:///reschedule-bot.sqlite3`, a `.env` or a log can never be the clone's), and the conftest check
`outside_the_working_tree` fails any test that created, removed or changed a file there."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from bot.settings import Settings
from tests.conftest import tree_changes, tree_snapshot
from tests.e2e_harness import REPO_ROOT


def test_each_test_runs_from_its_own_temporary_folder(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert Path.cwd() != REPO_ROOT and REPO_ROOT not in Path.cwd().parents


def test_the_default_database_is_in_the_tests_folder_not_the_clone(tmp_path: Path) -> None:
    default: SecretStr = Settings.model_fields["database_url"].default
    relative = Path(str(make_url(default.get_secret_value()).database))
    assert not relative.is_absolute() and relative.resolve().parent == tmp_path


def test_the_check_names_what_changed_in_the_tree() -> None:
    before = {"README.md": (10, 1), "reschedule_bot.egg-info": (-1, 1), "tests/x.py": (5, 1)}
    after = {"README.md": (11, 2), "reschedule-bot.sqlite3": (4096, 3), "reschedule_bot.egg-info": (-1, 1)}
    assert tree_changes(before, after) == ["created reschedule-bot.sqlite3", "removed tests/x.py", "changed README.md"]
    assert tree_changes(before, before) == []


def test_the_snapshot_sees_the_files_at_the_top_of_the_clone_and_no_caches() -> None:
    snapshot = tree_snapshot()
    assert {"README.md", "pyproject.toml", "tests/conftest.py", "bot/settings.py"} <= snapshot.keys()
    assert not any(".pytest_cache" in name or "__pycache__" in name for name in snapshot)
