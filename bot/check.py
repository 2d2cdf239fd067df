"""`reschedule-bot check`: load the configuration as `serve` does, then prove each credential works, changing nothing.

One line per check (`ok`, `FAIL` with what to do, or `skip` when a check depends on one that failed), then a
summary. Exit 0 only when every check passes, 1 when any fails, 2 when the configuration cannot be loaded.

Every call is read-only: Slack `auth.test`, `apps.connections.open` (the connection URL it returns is never opened),
`usergroups.users.list`; Trigger.dev's retrieve route for a made-up run id (404 proves the key works); the database's
schema revision (never migrated; a SQLite file that does not exist yet is not created: only its folder is looked
at, since `serve` creates it). No secret is ever printed: each line is redacted with the configured secret values
and with `logs.redact` before it is written.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import make_url

from bot import logs, operator_messages, settings
from bot.access_check import GroupLookupFailed
from bot.domain.access_rules import DEFAULT, split_ids
from bot.domain.delays import format_duration
from bot.domain.digest import next_slot, parse_schedule, zone
from bot.slack.app import web_client
from bot.slack.bot_identity import TOKEN_ERRORS
from bot.slack.groups import SlackGroups
from bot.slack.replies import slack_error
from bot.storage import db
from bot.trigger.client import Deadline, RetryPolicy, TriggerClient, new_http_client
from bot.trigger.errors import AuthRejected, RunNotFound, TriggerError, TriggerUnavailable

# The bot scopes manifests/slack.yaml asks for (oauth_config.scopes.bot). The package does not ship the manifest,
# so the list lives here; tests/test_check.py fails when the two differ.
REQUIRED_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "users:read",
    "usergroups:read",
    "links:read",
    "links:write",
)

# A run id no environment has: the retrieve route answers 404 for it with a working key, 401/403 without one.
MADE_UP_RUN_ID = "run_rescheduleBotCheck000000"
TRIGGER_SECONDS = 5.0  # per environment, the quick second look at the 404 included
SLACK_SECONDS = 15.0
DATABASE_SECONDS = 10.0
TRIGGER_POLICY = RetryPolicy(max_attempts=2, min_backoff=0.5)

Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Result:
    """One line of the report; `fix` says what to do about a failure."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


def _failed(name: str, detail_and_fix: tuple[str, str]) -> Result:
    detail, fix = detail_and_fix
    return Result(name, "fail", detail, fix)


def main(args: argparse.Namespace) -> int:
    """Entry point for `reschedule-bot check` (dispatched from bot.__main__)."""
    del args  # no options yet
    try:
        config, mode = _load()
    except settings.ConfigError as exc:
        print(operator_messages.CHECK_TITLE)
        print(
            operator_messages.check_line("fail", operator_messages.CHECK_CONFIG, operator_messages.CHECK_CONFIG_FAILED)
        )
        # Our own text, which never holds a value: only secret-shaped words are masked (the URL rule of
        # logs.redact would mask the DATABASE_URL example's "user:password@").
        print(logs.SECRET_PATTERNS.sub(logs.REDACTED, str(exc)), file=sys.stderr)
        return 2
    if config.log_level == "DEBUG":
        logs.configure(config.log_level, config.log_format)
    else:
        # The clients log each failed attempt; the report already says what failed, once, with what to do.
        logging.getLogger().addHandler(logging.NullHandler())
    settings_line = Result(
        operator_messages.CHECK_CONFIG,
        "ok",
        operator_messages.check_settings_ok(
            mode, [item.env.name for item in config.environments()], _database_label(config)
        ),
    )
    results = [settings_line, *asyncio.run(run_checks(config))]
    print(operator_messages.CHECK_TITLE)
    secret_values = _secret_values(config)
    for result in results:
        print(_scrub(operator_messages.check_line(result.status, result.name, result.detail), secret_values))
        if result.fix:
            print(_scrub(operator_messages.check_fix(result.fix), secret_values))
    failed = sum(result.status == "fail" for result in results)
    passed = sum(result.status == "ok" for result in results)
    print(operator_messages.check_summary(passed, failed, len(results) - failed - passed))
    return 1 if failed else 0


def _load() -> tuple[settings.Settings, settings.Mode]:
    """The settings as the deployment's mode loads them: `socket` when an app token is set and no signing secret
    (a Socket Mode set-up), else `serve`. A ConfigError names every problem at once."""
    try:
        probe: settings.Settings | None = settings.load("migrate")
    except settings.ConfigError:
        probe = None  # load("serve") below reports the same problems and any missing variable with them
    mode: settings.Mode = "serve"
    if probe is not None and _present(probe.slack_app_token) and not _present(probe.slack_signing_secret):
        mode = "socket"
    return settings.load(mode), mode


def _present(secret: object) -> bool:
    value = getattr(secret, "get_secret_value", None)
    return value is not None and str(value()).strip() != ""


async def run_checks(config: settings.Settings) -> list[Result]:
    """Every check after the settings, in report order. Checks that do not depend on each other run together."""
    assert config.slack_bot_token is not None
    client = web_client(config.slack_bot_token.get_secret_value(), str(config.slack_api_url))
    slack_task = asyncio.create_task(_slack(client))
    app_task = asyncio.create_task(_app_token(config))
    trigger_task = asyncio.create_task(_trigger(config))
    database_task = asyncio.create_task(_database(config))
    slack_results, token_ok = await slack_task
    access_results = [*_access(config), *_approvals(config), _digest(config)]
    group_results = await _groups(config, client, token_ok)
    return [
        *slack_results,
        await app_task,
        *await trigger_task,
        await database_task,
        *access_results,
        *group_results,
    ]


async def _slack(client: AsyncWebClient) -> tuple[list[Result], bool]:
    """auth.test: the workspace, the bot user, and the granted scopes against REQUIRED_SCOPES."""
    name = operator_messages.CHECK_SLACK_TOKEN
    try:
        response = await asyncio.wait_for(client.auth_test(), SLACK_SECONDS)
    except SlackApiError as exc:
        error = slack_error(exc)
        why = (
            operator_messages.check_slack_rejected(error)
            if error in TOKEN_ERRORS
            else operator_messages.check_slack_error(error)
        )
        return [
            _failed(name, why),
            Result(operator_messages.CHECK_SLACK_SCOPES, "skip", operator_messages.CHECK_AFTER_TOKEN),
        ], False
    except Exception as exc:
        failure = _failed(name, operator_messages.check_slack_unreachable(slack_error(exc)))
        return [
            failure,
            Result(operator_messages.CHECK_SLACK_SCOPES, "skip", operator_messages.CHECK_AFTER_TOKEN),
        ], False
    token = Result(
        name,
        "ok",
        operator_messages.check_slack_ok(
            str(response.get("team_id") or response.get("team") or "?"),
            str(response.get("url") or "?"),
            str(response.get("user_id") or "?"),
            str(response.get("bot_id") or "?"),
        ),
    )
    header = next((value for key, value in response.headers.items() if key.lower() == "x-oauth-scopes"), None)
    return [token, _scopes(header)], True


def _scopes(header: object) -> Result:
    name = operator_messages.CHECK_SLACK_SCOPES
    if not isinstance(header, str):
        return Result(name, "skip", operator_messages.CHECK_SCOPES_UNKNOWN)
    granted = {part.strip() for part in header.split(",") if part.strip()}
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if missing:
        return _failed(name, operator_messages.check_scopes_missing(missing))
    extra = sorted(granted - set(REQUIRED_SCOPES))
    return Result(name, "ok", operator_messages.check_scopes_ok(len(REQUIRED_SCOPES), extra))


async def _app_token(config: settings.Settings) -> Result:
    """SLACK_APP_TOKEN, when set: apps.connections.open answers a URL only to a working token (the URL is unused)."""
    name = operator_messages.CHECK_SLACK_APP_TOKEN
    if not _present(config.slack_app_token):
        return Result(name, "skip", operator_messages.CHECK_APP_TOKEN_UNSET)
    assert config.slack_app_token is not None
    client = AsyncWebClient(base_url=str(config.slack_api_url), timeout=10)
    try:
        await asyncio.wait_for(
            client.apps_connections_open(app_token=config.slack_app_token.get_secret_value()), SLACK_SECONDS
        )
    except SlackApiError as exc:
        return _failed(name, operator_messages.check_app_token_rejected(slack_error(exc)))
    except Exception as exc:
        return _failed(name, operator_messages.check_slack_unreachable(slack_error(exc)))
    return Result(name, "ok", operator_messages.CHECK_APP_TOKEN_OK)


async def _trigger(config: settings.Settings) -> list[Result]:
    """Each key, at once: the retrieve route for a made-up run (404: works; 401/403: rejected)."""
    http = new_http_client(str(config.trigger_api_url))
    try:
        return list(
            await asyncio.gather(
                *(
                    _trigger_key(TriggerClient(http=http, key=item.key, policy=TRIGGER_POLICY), item.env.name)
                    for item in config.environments()
                )
            )
        )
    finally:
        await http.aclose()


async def _trigger_key(client: TriggerClient, env_name: str) -> Result:
    name = operator_messages.check_trigger_name(env_name)
    try:
        await client.retrieve_run(MADE_UP_RUN_ID, Deadline.after(TRIGGER_SECONDS))
    except RunNotFound as exc:
        return Result(name, "ok", operator_messages.check_trigger_ok(exc.status))
    except AuthRejected as exc:
        return _failed(name, operator_messages.check_trigger_rejected(env_name, exc.status))
    except TriggerUnavailable as exc:
        return _failed(name, operator_messages.check_trigger_unreachable(_trigger_reason(exc)))
    except TriggerError as exc:
        return _failed(name, operator_messages.check_trigger_unexpected(exc.status, (exc.server_message or "")[:120]))
    except httpx.HTTPError as exc:  # e.g. an invalid URL, raised before any request
        return _failed(name, operator_messages.check_trigger_unreachable(type(exc).__name__))
    return Result(name, "ok", operator_messages.check_trigger_ok(200))


def _trigger_reason(exc: TriggerError) -> str:
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPError):
        return type(cause).__name__
    return str(exc.status) if exc.status else str(exc)[:120]


async def _database(config: settings.Settings) -> Result:
    """Reachable, and at the newest revision this bot ships. Reads only: never migrates, never creates a file."""
    name = operator_messages.CHECK_DATABASE
    url = config.database_url.get_secret_value()
    parsed = make_url(url)
    sqlite_file = parsed.database if parsed.drivername.startswith("sqlite") else None
    if sqlite_file and sqlite_file != ":memory:" and not Path(sqlite_file).exists():
        return _sqlite_to_create(Path(sqlite_file))
    try:
        revision = await asyncio.wait_for(_schema_revision(url), DATABASE_SECONDS)
    except Exception as exc:
        return _failed(name, operator_messages.check_database_unreachable(_exception_text(exc)))
    if revision == db.LATEST:
        return Result(name, "ok", operator_messages.check_database_ok(revision))
    if revision is None or revision in db.revisions():
        return _failed(name, operator_messages.check_database_behind(revision, db.LATEST))
    return _failed(name, operator_messages.check_database_ahead(revision, db.LATEST))


def _sqlite_to_create(path: Path) -> Result:
    """A SQLite file not created yet: fine when `serve` will be able to create it (its folder exists, writable)."""
    name = operator_messages.CHECK_DATABASE
    folder = path.parent
    if not folder.is_dir():
        return _failed(name, operator_messages.check_database_folder_missing(str(folder)))
    if not os.access(folder, os.W_OK | os.X_OK):
        return _failed(name, operator_messages.check_database_folder_read_only(str(folder)))
    return Result(name, "ok", operator_messages.check_database_will_create(str(path)))


async def _schema_revision(url: str) -> str | None:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return await db.schema_revision(conn)
    finally:
        await engine.dispose()


def _exception_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _access(config: settings.Settings) -> list[Result]:
    """Each ACCESS__<ENV> rule and CONFIRM_ENVIRONMENTS resolved to the configured environments they cover."""
    problems = config.key_problems() + config.timing_problems()
    if problems:  # load() refuses these, so only a settings change between load and here could show them
        detail = "; ".join(problem.strip(" -") for problem in problems)
        return [Result(operator_messages.CHECK_ACCESS, "fail", detail, operator_messages.CHECK_ACCESS_FIX)]
    environments = [item.env for item in config.environments()]
    parts: list[str] = []
    for rule_name in sorted(config.access):
        lowered = rule_name.lower()
        variable = "ACCESS__" + rule_name.upper()
        if lowered == DEFAULT:
            named = _named_rules(config)
            covered = [env.name for env in environments if all(n.lower() not in named for n in env.names)]
        else:
            covered = [env.name for env in environments if _governed_by(env.names, lowered, config)]
        rule = config.access[rule_name]
        counts = (len(split_ids(rule.users)), len(split_ids(rule.groups)), len(split_ids(rule.channels)))
        parts.append(operator_messages.check_access_rule(variable, covered, *counts))
    if not parts:
        parts.append(operator_messages.CHECK_ACCESS_NONE)
    confirmed = [env.name for env in environments if set(env.names) & config.confirm_environments]
    parts.append(operator_messages.check_confirmations(confirmed))
    return [Result(operator_messages.CHECK_ACCESS, "ok", "; ".join(parts))]


def _approvals(config: settings.Settings) -> list[Result]:
    """Each protected environment (APPROVAL__<ENV>__…): who approves, where requests go, and APPROVAL_TIMEOUT; no
    line when none is protected."""
    policy = config.approval_policy()
    environments = [item.env for item in config.environments()]
    parts: list[str] = []
    for name in sorted(policy.rules):
        rule = policy.rules[name]
        covered = [env.name for env in environments if policy.rule_for(*env.names) is rule]
        parts.append(
            operator_messages.check_approval_rule(
                "APPROVAL__" + name.upper(), covered, len(rule.users), len(rule.groups), rule.channel
            )
        )
    if not parts:
        return []
    parts.append(operator_messages.check_approval_timeout(format_duration(policy.timeout)))
    return [Result(operator_messages.CHECK_APPROVALS, "ok", "; ".join(parts))]


def _digest(config: settings.Settings, now: datetime | None = None) -> Result:
    """When the digest will post and what (nothing is posted: the channel is only named)."""
    if not config.digest_channel:
        return Result(operator_messages.CHECK_DIGEST, "skip", operator_messages.CHECK_DIGEST_OFF)
    times = parse_schedule(config.digest_schedule)
    tz = zone(config.digest_timezone)
    upcoming = next_slot(times, tz, now or datetime.now(UTC))
    detail = operator_messages.check_digest(
        config.digest_channel,
        [at.strftime("%H:%M") for at in times],
        config.digest_timezone,
        upcoming.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if upcoming else "",
        format_duration(config.digest_window),
        config.digest_skip_empty,
    )
    return Result(operator_messages.CHECK_DIGEST, "ok", detail)


def _named_rules(config: settings.Settings) -> set[str]:
    return {name.lower() for name in config.access if name.lower() != DEFAULT}


def _governed_by(names: Iterable[str], rule: str, config: settings.Settings) -> bool:
    """Whether `rule` is the one Policy.rule_for picks for an environment with these names (its own, then kind)."""
    rules = _named_rules(config)
    first = next((name.lower() for name in names if name.lower() in rules), None)
    return first == rule


async def _groups(config: settings.Settings, client: AsyncWebClient, token_ok: bool) -> list[Result]:
    """usergroups.users.list once for each group any rule names (access rules and approvers)."""
    policy = config.policy()
    groups = sorted(
        {group for rule in [*policy.rules.values(), policy.default] for group in rule.groups}
        | {group for rule in config.approval_policy().rules.values() for group in rule.groups}
    )
    if not groups:
        return []
    if not token_ok:
        return [
            Result(operator_messages.check_group_name(group), "skip", operator_messages.CHECK_AFTER_TOKEN)
            for group in groups
        ]
    lookup = SlackGroups(client, ttl=0)
    return list(await asyncio.gather(*(_group(lookup, group) for group in groups)))


async def _group(lookup: SlackGroups, group: str) -> Result:
    name = operator_messages.check_group_name(group)
    try:
        members = await asyncio.wait_for(lookup.members(group), SLACK_SECONDS)
    except GroupLookupFailed as exc:
        return _failed(name, operator_messages.check_group_failed(str(exc)))
    except Exception as exc:
        return _failed(name, operator_messages.check_group_failed(slack_error(exc)))
    return Result(name, "ok", operator_messages.check_group_ok(len(members)))


def _database_label(config: settings.Settings) -> str:
    """The database without its password: `sqlite (path)` or `postgresql (host:port/name)`."""
    url = config.database_url.get_secret_value()
    try:
        parsed = make_url(url)
    except Exception:
        return "unreadable DATABASE_URL"
    if parsed.drivername.startswith("sqlite"):
        return f"sqlite ({parsed.database})"
    port = f":{parsed.port}" if parsed.port else ""
    return f"postgresql ({parsed.host}{port}/{parsed.database})"


def _secret_values(config: settings.Settings) -> list[str]:
    values = [
        secret.get_secret_value()
        for secret in (
            config.slack_bot_token,
            config.slack_signing_secret,
            config.slack_app_token,
            config.trigger_secret_key,
            config.trigger_secret_keys,
        )
        if secret is not None
    ]
    values += [item.key.get_secret_value() for item in config.environments()]
    try:
        password = make_url(config.database_url.get_secret_value()).password
    except Exception:
        password = None
    if password:
        values.append(str(password))
    return sorted((value for value in values if len(value.strip()) >= 4), key=len, reverse=True)


def _scrub(line: str, secret_values: list[str]) -> str:
    for value in secret_values:
        line = line.replace(value, "[redacted]")
    return logs.redact(line)
