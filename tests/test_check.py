"""`reschedule-bot check` against the fakes: everything good, then each credential bad in turn.

The command runs in this process with only the given environment (as `python -m bot check` would read it); one test
runs it as a process, for the command line itself.

Each run asserts the exit code, the line that fails (and that it says what to do), and that no token, signing
secret or key from the environment appears in stdout or stderr.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot import check, settings
from bot.storage import db
from tests.e2e_harness import BOT_TOKEN, PROD_KEY, SIGNING_SECRET, bot_env, refusing_address, run_cli, run_in_process
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_TOKEN = "xapp-1-A111-fakefakefake-0004"
GROUP = "S0PLATFORM"
DB_PASSWORD = "pg-s3cret-password"


@pytest.fixture
def good(fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path) -> dict[str, str]:
    """Every credential good and every optional check on: the app token, a user group, a migrated database."""
    fake_slack.scopes = ",".join(check.REQUIRED_SCOPES)
    fake_slack.app_token = APP_TOKEN
    fake_slack.add_usergroup(GROUP, ["U111", "U222"], handle="platform")
    env = bot_env(
        fake_slack,
        fake_trigger,
        tmp_path,
        SLACK_APP_TOKEN=APP_TOKEN,
        ACCESS__PROD__GROUPS=GROUP,
        DIGEST_CHANNEL="C0DIGEST",
        DIGEST_SCHEDULE="09:00,17:30",
        DIGEST_TIMEZONE="Europe/Berlin",
    )
    asyncio.run(_migrate(env["DATABASE_URL"]))
    return env


async def _migrate(url: str) -> None:
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
    finally:
        await engine.dispose()


def _check(env: dict[str, str], cwd: Path, *, as_process: bool = False) -> subprocess.CompletedProcess[str]:
    result = run_cli(["check"], env, cwd) if as_process else run_in_process(["check"], env, cwd)
    output = result.stdout + result.stderr
    for secret in (BOT_TOKEN, SIGNING_SECRET, PROD_KEY, APP_TOKEN, DB_PASSWORD, *_secrets_in(env)):
        assert secret not in output, f"a secret was printed:\n{output}"
    assert "Traceback" not in output, output
    return result


def _secrets_in(env: dict[str, str]) -> list[str]:
    names = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "TRIGGER_SECRET_KEY")
    return [env[name] for name in names if env.get(name)]


def _line(result: subprocess.CompletedProcess[str], name: str) -> str:
    """The report line for check `name` (the one line whose name column is exactly it)."""
    lines = result.stdout.splitlines()
    found = [line for line in lines if line[6:].startswith(name + " ") and line[:5].strip() in ("ok", "FAIL", "skip")]
    assert len(found) == 1, f"no single line for {name!r}:\n{result.stdout}"
    return found[0]


def _fails(result: subprocess.CompletedProcess[str], name: str, *, says: str, fix: str) -> None:
    """Exit 1; the line for `name` fails saying `says`, followed by a fix line containing `fix`."""
    assert result.returncode == 1, result.stdout + result.stderr
    line = _line(result, name)
    assert line.startswith("FAIL") and says in line, result.stdout
    lines = result.stdout.splitlines()
    following = lines[lines.index(line) + 1]
    assert following.strip().startswith("fix:") and fix in following, result.stdout
    assert "failed" in lines[-1] and "not ready" in lines[-1]


def test_required_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "manifests" / "slack.yaml").read_text(encoding="utf-8"))
    assert list(check.REQUIRED_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]


def test_everything_good_passes_every_line(good: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    result = _check(good, tmp_path, as_process=True)  # the command line itself, once
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    report = lines[1:-1]
    names = [
        "settings",
        "slack bot token",
        "slack scopes",
        "slack app token",
        "trigger.dev prod",
        "database",
        "access rules",
        "digest",
        f"user group {GROUP}",
    ]
    assert [line[6:].split("  ")[0].strip() for line in report] == names, result.stdout
    assert all(line.startswith("ok ") for line in report), result.stdout
    assert lines[-1] == f"All {len(names)} checks passed."
    assert "workspace T111" in _line(result, "slack bot token") and "bot user U0BOT" in _line(result, "slack bot token")
    assert f"revision {db.LATEST} (current)" in _line(result, "database")
    assert "ACCESS__PROD (0 users, 1 groups, 0 channels) → prod" in _line(result, "access rules")
    assert "2 members" in _line(result, f"user group {GROUP}")
    assert "to C0DIGEST at 09:00, 17:30 (Europe/Berlin), next " in _line(result, "digest")
    # Read-only: one call each, nothing posted anywhere.
    assert len(fake_slack.api_calls("usergroups.users.list")) == 1
    assert not fake_slack.messages and not fake_slack.ephemerals


def test_optional_checks_are_skipped_when_not_configured(
    fake_slack: FakeSlack, fake_trigger: FakeTrigger, tmp_path: Path
) -> None:
    fake_slack.scopes = ",".join(check.REQUIRED_SCOPES)
    env = bot_env(fake_slack, fake_trigger, tmp_path)
    assert run_cli(["migrate"], env, tmp_path).returncode == 0
    result = _check(env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _line(result, "slack app token").startswith("skip")
    assert "everyone may move runs" in _line(result, "access rules")
    assert _line(result, "digest") == "skip  digest                 off (DIGEST_CHANNEL is not set)"
    assert result.stdout.splitlines()[-1] == "All 6 checks passed, 2 not checked."


def test_configuration_error_exits_2_naming_the_problem(tmp_path: Path) -> None:
    result = _check({"SLACK_BOT_TOKEN": BOT_TOKEN, "MAX_DELAY": "forever"}, tmp_path)
    assert result.returncode == 2
    assert _line(result, "settings").startswith("FAIL")
    assert "TRIGGER_SECRET_KEY is not set" in result.stderr and "MAX_DELAY is invalid" in result.stderr


def test_bot_token_rejected(good: dict[str, str], tmp_path: Path) -> None:
    env = {**good, "SLACK_BOT_TOKEN": "xoxb-revoked-1234"}
    result = _check(env, tmp_path)
    _fails(result, "slack bot token", says="Slack rejected SLACK_BOT_TOKEN (invalid_auth)", fix="Bot User OAuth Token")
    assert _line(result, "slack scopes").startswith("skip")
    assert _line(result, f"user group {GROUP}").startswith("skip")


def test_missing_scope(good: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.scopes = "commands,chat:write,im:write,users:read,links:read"
    result = _check(good, tmp_path)
    _fails(result, "slack scopes", says="not granted: chat:write.public, usergroups:read", fix="reinstall")
    assert _line(result, "slack bot token").startswith("ok")


def test_app_token_rejected(good: dict[str, str], tmp_path: Path) -> None:
    result = _check({**good, "SLACK_APP_TOKEN": "xapp-1-A111-revoked-9999"}, tmp_path)
    _fails(result, "slack app token", says="Slack rejected SLACK_APP_TOKEN (invalid_auth)", fix="connections:write")


def test_trigger_key_unknown_to_trigger(good: dict[str, str], tmp_path: Path) -> None:
    result = _check({**good, "TRIGGER_SECRET_KEY": "tr_prod_notaknownkey0000000099"}, tmp_path)
    _fails(result, "trigger.dev prod", says="Trigger.dev rejected the key for prod (401)", fix="API keys")


def test_trigger_unreachable(good: dict[str, str], tmp_path: Path) -> None:
    with refusing_address() as nowhere:
        result = _check({**good, "TRIGGER_API_URL": f"http://{nowhere}"}, tmp_path)
    _fails(result, "trigger.dev prod", says="did not answer usefully (ConnectError)", fix="TRIGGER_API_URL")


def test_database_unreachable(good: dict[str, str], tmp_path: Path) -> None:
    env = {**good, "DATABASE_URL": f"postgresql://bot:{DB_PASSWORD}@127.0.0.1:9/reschedule"}
    result = _check(env, tmp_path)
    _fails(result, "database", says="did not answer", fix="DATABASE_URL")
    assert "postgresql (127.0.0.1:9/reschedule)" in _line(result, "settings")


def test_schema_behind(good: dict[str, str], tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
    result = _check({**good, "DATABASE_URL": f"sqlite:///{old}"}, tmp_path)
    _fails(result, "database", says=f"schema at revision 0001, this bot needs revision {db.LATEST}", fix="migrate")
    with sqlite3.connect(old) as conn:  # check never migrates
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_fresh_install_without_a_sqlite_file_passes_and_creates_nothing(good: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    result = _check({**good, "DATABASE_URL": f"sqlite:///{missing}"}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _line(result, "database").startswith("ok") and "creates" in _line(result, "database"), result.stdout
    assert not missing.exists()


def test_sqlite_file_in_a_folder_that_does_not_exist(good: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "bot.sqlite3"
    result = _check({**good, "DATABASE_URL": f"sqlite:///{missing}"}, tmp_path)
    _fails(result, "database", says="folder", fix="create the folder")
    assert not missing.parent.exists()


def _config_error(env: dict[str, str], tmp_path: Path) -> str:
    """check's exit 2 and the problems it printed (stderr)."""
    result = _check(env, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert _line(result, "settings").startswith("FAIL")
    return result.stderr


def test_slack_tokens_of_the_wrong_kind_are_named(good: dict[str, str], tmp_path: Path) -> None:
    errors = _config_error({**good, "SLACK_BOT_TOKEN": "hello", "SLACK_APP_TOKEN": "xoxb-1-not-an-app-token"}, tmp_path)
    assert "SLACK_BOT_TOKEN is not a Slack token: it must start xoxb-" in errors, errors
    assert "SLACK_APP_TOKEN is a bot token (xoxb-…): it must start xapp-" in errors, errors
    assert "hello" not in errors


def test_bad_trigger_keys_are_named_where_they_were_configured(good: dict[str, str], tmp_path: Path) -> None:
    env = {**good, "TRIGGER_SECRET_KEY": "hello", "TRIGGER_SECRET_KEYS": "billing=not-a-key,pk_public0000001"}
    errors = _config_error(env, tmp_path)
    assert "TRIGGER_SECRET_KEY is not a Trigger.dev secret key" in errors, errors
    assert "the key for billing in TRIGGER_SECRET_KEYS is not a Trigger.dev secret key" in errors, errors
    assert "the second key in TRIGGER_SECRET_KEYS is a public key (pk_…)" in errors, errors
    assert "unknown" not in errors and "both called" not in errors, errors


def test_invalid_values_are_explained_in_the_operators_terms(good: dict[str, str], tmp_path: Path) -> None:
    env = {**good, "PORT": "abc", "SHUTDOWN_GRACE": "5", "LOG_LEVEL": "LOUD", "ACCESS__PROD__USER": "U123"}
    errors = _config_error(env, tmp_path)
    assert "PORT is invalid: use a whole number, e.g. 3000." in errors, errors
    assert "SHUTDOWN_GRACE is invalid: use 20 or more." in errors, errors
    assert "LOG_LEVEL is invalid: use one of DEBUG, INFO, WARNING or ERROR." in errors, errors
    assert "ACCESS__PROD__USER is not a setting: use ACCESS__PROD__USERS" in errors, errors
    for pydantic_wording in ("Value error", "Input should", "Extra inputs"):
        assert pydantic_wording not in errors, errors


def test_the_database_url_example_is_shown_whole(good: dict[str, str], tmp_path: Path) -> None:
    errors = _config_error({**good, "DATABASE_URL": "mysql://bot@db/reschedule"}, tmp_path)
    assert "use sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:5432/database" in errors, errors
    assert "[redacted]" not in errors


def test_a_rule_for_an_environment_not_configured_lists_only_the_configured_ones(
    good: dict[str, str], tmp_path: Path
) -> None:
    errors = _config_error({**good, "ACCESS__PRODUCTION__USERS": "U123"}, tmp_path)
    assert "ACCESS__PRODUCTION names the environment 'production', which is not configured (configured: prod)" in errors


def test_unreadable_user_group(good: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.fail_next("usergroups.users.list", "missing_scope")
    result = _check(good, tmp_path)
    _fails(result, f"user group {GROUP}", says="usergroups.users.list failed (missing_scope)", fix="usergroups:read")


def test_unknown_user_group(good: dict[str, str], tmp_path: Path) -> None:
    result = _check({**good, "ACCESS__PROD__GROUPS": "S0NOSUCHGROUP"}, tmp_path)
    _fails(result, "user group S0NOSUCHGROUP", says="no_such_subteam", fix="ACCESS__<ENV>__GROUPS")


def test_digest_line_names_the_next_post_in_its_timezone(good: dict[str, str], tmp_path: Path) -> None:
    config = settings.Settings(_env_file=None, **{k.lower(): v for k, v in good.items()})  # type: ignore[arg-type]
    at = datetime(2026, 11, 30, 16, 45, tzinfo=UTC)  # 17:45 in Berlin: today's 17:30 has passed
    result = check._digest(config, at)
    assert result.status == "ok"
    assert "next 2026-12-01 09:00 CET" in result.detail and "within 12h" in result.detail


def test_protected_environments_are_reported_and_their_groups_looked_up(
    good: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.add_usergroup("S0APPROVERS", ["U222"], handle="prod-approvers")
    env = {**good, "APPROVAL__PROD__APPROVERS": "U111,S0APPROVERS", "APPROVAL__PROD__CHANNEL": "C0APPROVE"}
    result = _check({**env, "APPROVAL_TIMEOUT": "45m"}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    line = _line(result, "protected environments")
    assert line.startswith("ok") and "APPROVAL__PROD protects prod: 1 approver(s) and 1 user group(s)" in line
    assert "requests in C0APPROVE" in line and "after 45m" in line
    assert "1 members" in _line(result, "user group S0APPROVERS")
    unknown = _check({**good, "APPROVAL__PROD__APPROVERS": "S0NOSUCHGROUP"}, tmp_path)
    _fails(unknown, "user group S0NOSUCHGROUP", says="no_such_subteam", fix="ACCESS__<ENV>__GROUPS")
