"""What the bot says to the person who runs it: start-up problems in the settings, and `reschedule-bot check`.

Never shown in Slack. Slack readers' sentences are in bot/messages.py; workflow authors' in bot/workflow_messages.py.
"""

from __future__ import annotations

# --- Start-up (printed to the operator, never to Slack) ------------------------------------------------------------


def config_missing(name: str, where: str) -> str:
    return f"  - {name} is not set. Find it in: {where}."


def config_invalid(name: str, problem: str) -> str:
    return f"  - {name} is invalid: {problem}."


def config_rule(kind: str, context: dict[str, object], fallback: str) -> str:
    """What a setting must be, for a value of the wrong type or range (`kind` is pydantic's error type)."""
    rules = {
        "int_parsing": "use a whole number, e.g. 3000",
        "int_from_float": "use a whole number, e.g. 3000",
        "float_parsing": "use a number, e.g. 15 or 2.5",
        "bool_parsing": "use true or false",
        "greater_than_equal": f"use {_number(context.get('ge'))} or more",
        "greater_than": f"use more than {_number(context.get('gt'))}",
        "less_than_equal": f"use {_number(context.get('le'))} or less",
        "less_than": f"use less than {_number(context.get('lt'))}",
        "literal_error": f"use one of {str(context.get('expected', '')).replace(chr(39), '')}",
        "url_parsing": "use a full URL, e.g. https://example.com/",
        "url_scheme": "use an http:// or https:// URL",
    }
    return rules.get(kind) or fallback.removeprefix("Value error, ")


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_unknown_setting(name: str, group: str) -> str:
    return f"  - {name} is not a setting: use {group}__USERS, {group}__GROUPS or {group}__CHANNELS."


def config_problems(problems: list[str]) -> str:
    lines = "\n".join(problems)
    return (
        "reschedule-bot cannot start; fix these settings (environment variables or a .env file):\n"
        f"{lines}\nSee README.md, section Settings."
    )


def config_key_place(variable: str, position: int, name: str) -> str:
    """Where a Trigger.dev key was configured, as the operator wrote it."""
    if variable == "TRIGGER_SECRET_KEY":
        return "TRIGGER_SECRET_KEY"
    if name:
        return f"the key for {name} in TRIGGER_SECRET_KEYS"
    ordinal = {1: "first", 2: "second", 3: "third"}.get(position, f"number {position}")
    return f"the {ordinal} key in TRIGGER_SECRET_KEYS"


def config_bad_key(place: str, kind: str) -> str:
    looks_like = {
        "public": "a public key (pk_…)",
        "pat": "a personal access token (tr_pat_…)",
        "oat": "an organization access token (tr_oat_…)",
    }.get(kind, "not a Trigger.dev secret key")
    return (
        f"  - {place} is {looks_like}: use an environment's secret key (it starts tr_prod_, tr_stg_, tr_dev_ or "
        "tr_preview_), from the Trigger.dev dashboard → your project → API keys."
    )


def config_bad_token(variable: str, prefix: str, kind: str) -> str:
    found = {"bot": "a bot token (xoxb-…)", "user": "a user token (xoxp-…)", "app": "an app-level token (xapp-…)"}
    what = f"is {found[kind]}" if kind else "is not a Slack token"
    return f"  - {variable} {what}: it must start {prefix}. Find it in: {WHERE_TO_FIND_TOKEN[variable]}."


WHERE_TO_FIND_TOKEN = {
    "SLACK_BOT_TOKEN": "Slack app settings → OAuth & Permissions → Bot User OAuth Token",
    "SLACK_APP_TOKEN": "Slack app settings → Basic Information → App-Level Tokens (scope connections:write)",
}


def config_duplicate_env(env_name: str) -> str:
    return (
        f"  - two Trigger.dev keys are both called {env_name}: name them in TRIGGER_SECRET_KEYS, "
        "e.g. web-prod=tr_prod_…,jobs-prod=tr_prod_…."
    )


def config_bad_env_name(name: str) -> str:
    return (
        f"  - the environment name {name!r} in TRIGGER_SECRET_KEYS must be 1-40 lower-case letters, digits or "
        "underscores (it is used in ACCESS__<NAME>__… variables and --env)."
    )


def config_no_approvers(variable: str) -> str:
    return (
        f"  - {variable}__CHANNEL is set but {variable}__APPROVERS names nobody: the environment would not be "
        "protected. Name approvers (user ids U…, user-group ids S…) or remove the channel."
    )


def config_unknown_env(variable: str, name: str, known: list[str]) -> str:
    return (
        f"  - {variable} names the environment {name!r}, which is not configured "
        f"(configured: {', '.join(known) or 'none'}); a misspelt rule would protect nothing."
    )


def slack_token_rejected(error: str) -> str:
    return (
        f"reschedule-bot cannot start: Slack rejected SLACK_BOT_TOKEN ({error}). Copy the Bot User OAuth Token "
        "(xoxb-…) from the Slack app settings → OAuth & Permissions, and reinstall the app if it was revoked."
    )


def slack_unreachable(error: str) -> str:
    return (
        f"reschedule-bot cannot start: Slack's Web API did not answer ({error}); check SLACK_API_URL and the network."
    )


def slack_app_token_rejected(error: str) -> str:
    return (
        f"reschedule-bot cannot start Socket Mode: Slack rejected SLACK_APP_TOKEN ({error}). Create an App-Level "
        "Token (xapp-…) with the connections:write scope under Basic Information, and enable Socket Mode "
        "(manifests/slack.socket.yaml)."
    )


def serve_request_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return (
        f"listening on http://{shown}:{port}. Give Slack the Request URL https://<your host>/slack/events (for "
        f"Slash Commands, Interactivity and Event Subscriptions), where <your host> is the public HTTPS address "
        f"that forwards to port {port} here (a platform's router, a reverse proxy or a tunnel)."
    )


def serve_cannot_listen(host: str, port: int, reason: str) -> str:
    return (
        f"reschedule-bot cannot listen on {host}:{port} ({reason}): another program may be using the port; choose "
        "another with PORT or --port (0: any free port)."
    )


def config_deadline_too_long(deadline: float, grace: float, longest: float) -> str:
    return (
        f"TRIGGER_DEADLINE is {deadline:g} s, but with SHUTDOWN_GRACE at {grace:g} s a move started just before a "
        f"deploy could not finish and be answered before the platform stops the process. Set TRIGGER_DEADLINE to "
        f"at most {longest:g}, or raise SHUTDOWN_GRACE to match your platform's grace period."
    )


# --- reschedule-bot check ------------------------------------------------------------------------------------------

CHECK_TITLE = "reschedule-bot check: the settings, and each credential asked once (read-only, nothing is changed)"
CHECK_MARKS = {"ok": "ok", "fail": "FAIL", "skip": "skip"}
CHECK_CONFIG = "settings"
CHECK_CONFIG_FAILED = "the configuration cannot be loaded (below); nothing else was checked"


def check_line(status: str, name: str, detail: str) -> str:
    return f"{CHECK_MARKS[status]:<5} {name:<22} {detail}"


def check_fix(what_to_do: str) -> str:
    return f"{'':<5} {'':<22} fix: {what_to_do}"


def check_summary(passed: int, failed: int, skipped: int) -> str:
    skipped_text = f", {skipped} not checked" if skipped else ""
    if failed:
        return f"{failed} failed, {passed} passed{skipped_text}: reschedule-bot is not ready."
    return f"All {passed} checks passed{skipped_text}."


def check_settings_ok(mode: str, environments: list[str], database: str) -> str:
    return f"complete for {mode}: Trigger.dev environments {', '.join(environments)}; database {database}"


CHECK_SLACK_TOKEN = "slack bot token"
CHECK_SLACK_SCOPES = "slack scopes"
CHECK_SLACK_APP_TOKEN = "slack app token"


def check_slack_ok(team: str, url: str, user: str, bot_id: str) -> str:
    return f"auth.test: workspace {team} ({url}), bot user {user} (bot {bot_id})"


def check_slack_rejected(error: str) -> tuple[str, str]:
    return (
        f"Slack rejected SLACK_BOT_TOKEN ({error})",
        "copy the Bot User OAuth Token (xoxb-…) from the Slack app settings → OAuth & Permissions; reinstall the "
        "app to the workspace if the token was revoked.",
    )


def check_slack_error(error: str) -> tuple[str, str]:
    return (
        f"auth.test failed ({error})",
        "Slack answered but refused the call; check SLACK_BOT_TOKEN and SLACK_API_URL, then run check again.",
    )


def check_slack_unreachable(error: str) -> tuple[str, str]:
    return (
        f"Slack's Web API did not answer ({error})",
        "check SLACK_API_URL (default https://slack.com/api/) and that this host can reach it.",
    )


def check_scopes_ok(count: int, extra: list[str]) -> str:
    text = f"all {count} scopes manifests/slack.yaml asks for are granted"
    return text + (f" (also granted, unused: {', '.join(extra)})" if extra else "")


def check_scopes_missing(missing: list[str]) -> tuple[str, str]:
    return (
        f"not granted: {', '.join(missing)}",
        "add them under the Slack app settings → OAuth & Permissions → Bot Token Scopes (or update the app from "
        "manifests/slack.yaml), then reinstall the app to the workspace.",
    )


CHECK_SCOPES_UNKNOWN = "auth.test did not say which scopes were granted (no x-oauth-scopes header)"
CHECK_AFTER_TOKEN = "not checked: the bot token did not pass auth.test"
CHECK_APP_TOKEN_UNSET = "not set (only `reschedule-bot socket` needs it)"
CHECK_APP_TOKEN_OK = "apps.connections.open accepted it (the connection it offered was not used)"


def check_app_token_rejected(error: str) -> tuple[str, str]:
    return (
        f"Slack rejected SLACK_APP_TOKEN ({error})",
        "create an App-Level Token (xapp-…) with the connections:write scope under Basic Information → App-Level "
        "Tokens, and enable Socket Mode (manifests/slack.socket.yaml).",
    )


def check_trigger_name(env_name: str) -> str:
    return f"trigger.dev {env_name}"


def check_trigger_ok(status: int | None) -> str:
    answer = "404" if status == 404 else str(status or "a run")
    return f"the key works (a made-up run id answered {answer})"


def check_trigger_rejected(env_name: str, status: int | None) -> tuple[str, str]:
    return (
        f"Trigger.dev rejected the key for {env_name} ({status})",
        f"copy {env_name}'s secret key (tr_prod_…, tr_stg_…) from the Trigger.dev dashboard → your project → API "
        "keys into TRIGGER_SECRET_KEY or TRIGGER_SECRET_KEYS; a public key, a personal access token or a revoked "
        "key is refused.",
    )


def check_trigger_unreachable(error: str) -> tuple[str, str]:
    return (
        f"Trigger.dev did not answer usefully ({error})",
        "check TRIGGER_API_URL (default https://api.trigger.dev; self-hosted instances use their own) and that "
        "this host can reach it, then run check again.",
    )


def check_trigger_unexpected(status: int | None, server_message: str) -> tuple[str, str]:
    return (
        f"unexpected answer {status}: {server_message or 'no message'}",
        "check that TRIGGER_API_URL points at the Trigger.dev API (not the dashboard) and that the key is an "
        "environment secret key.",
    )


CHECK_DATABASE = "database"


def check_database_ok(revision: str) -> str:
    return f"reachable; schema at revision {revision} (current)"


def check_database_will_create(path: str) -> str:
    return f"no file yet: `serve` (or `migrate`) creates {path} with its schema at start-up (its folder is writable)"


def check_database_folder_missing(folder: str) -> tuple[str, str]:
    return (
        f"the SQLite file's folder {folder} does not exist, so it cannot be created there",
        "create the folder, or point DATABASE_URL at a file in one that exists (sqlite:///path/to/file.sqlite3).",
    )


def check_database_folder_read_only(folder: str) -> tuple[str, str]:
    return (
        f"the SQLite file does not exist yet and this user cannot create files in {folder}",
        "make the folder writable for the user the bot runs as, or point DATABASE_URL at a writable place.",
    )


def check_database_behind(revision: str | None, latest: str) -> tuple[str, str]:
    found = "no schema yet" if revision is None else f"schema at revision {revision}"
    return (
        f"reachable; {found}, this bot needs revision {latest}",
        "run `reschedule-bot migrate` (the Procfile's release step does); check changed nothing.",
    )


def check_database_ahead(revision: str, latest: str) -> tuple[str, str]:
    return (
        f"reachable; schema at revision {revision}, newer than this bot knows ({latest})",
        "a newer reschedule-bot migrated this database: deploy that version (or a newer one) here too.",
    )


def check_database_unreachable(error: str) -> tuple[str, str]:
    return (
        f"did not answer ({error})",
        "check DATABASE_URL (host, port, database name, user and password) and that the database is running and "
        "reachable from this host.",
    )


CHECK_ACCESS = "access rules"
CHECK_APPROVALS = "protected environments"


def check_approval_rule(variable: str, covered: list[str], users: int, groups: int, channel: str | None) -> str:
    envs = ", ".join(covered) or "no configured environment"
    where = f"requests in {channel}" if channel else "requests where the move is asked"
    return f"{variable} protects {envs}: {users} approver(s) and {groups} user group(s), {where}"


def check_approval_timeout(duration: str) -> str:
    return f"a request expires after {duration} (APPROVAL_TIMEOUT)"


CHECK_ACCESS_NONE = "none set: everyone may move runs in every environment"


def check_access_rule(variable: str, applies_to: list[str], users: int, groups: int, channels: int) -> str:
    limits = f"{users} users, {groups} groups, {channels} channels" if users or groups or channels else "open to all"
    if not applies_to:
        return f"{variable} ({limits}) applies to no configured environment yet (it names a kind)"
    return f"{variable} ({limits}) → {', '.join(applies_to)}"


def check_confirmations(applies_to: list[str]) -> str:
    return f"confirmations → {', '.join(applies_to) or 'none'}"


CHECK_DIGEST = "digest"
CHECK_DIGEST_OFF = "off (DIGEST_CHANNEL is not set)"


def check_digest(channel: str, times: list[str], tz: str, upcoming: str, window: str, skip_empty: bool) -> str:
    empty = "nothing posted" if skip_empty else "one short line"
    return (
        f"to {channel} at {', '.join(times)} ({tz}), next {upcoming}; runs coming due within {window}; "
        f"nothing due: {empty} (the channel is not checked: only posting would prove it)"
    )


CHECK_ACCESS_FIX = "fix the variables named above (README.md, section Environments, access and the audit trail)."


def check_group_name(group_id: str) -> str:
    return f"user group {group_id}"


def check_group_ok(members: int) -> str:
    return f"readable with usergroups.users.list ({members} members)"


def check_group_failed(error: str) -> tuple[str, str]:
    if error == "missing_scope":
        fix = "grant the usergroups:read scope (manifests/slack.yaml) and reinstall the app to the workspace."
    elif error in ("no_such_subteam", "subteam_not_found", "invalid_arguments"):
        fix = (
            "the id names no user group in this workspace: copy the group's id (S…) from Slack → People → User "
            "groups, and correct ACCESS__<ENV>__GROUPS."
        )
    else:
        fix = "Slack did not list the group's members, so nobody could pass a rule naming it; run check again."
    return f"unreadable: usergroups.users.list failed ({error})", fix


SHELL_NEEDS_EXTRA = (
    "reschedule-bot shell draws with rich, which is not installed (a deploy leaves it out): install the shell "
    "extra, e.g. .venv/bin/pip install -e '.[shell]' from the repository, then run the shell again."
)
