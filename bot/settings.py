"""The one place configuration is read: environment variables and an optional `.env` file.

Nothing else in the bot reads `os.environ`. Secrets are `SecretStr`, so they never show up in a repr, a log line
or a validation error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    SettingsConfigDict,
)

from bot import messages, operator_messages, shutdown
from bot.domain.access_rules import DEFAULT, Policy, Rule, split_ids
from bot.domain.approvals import DEFAULT_TIMEOUT, ApprovalPolicy, ApprovalRule
from bot.domain.delays import DelayError
from bot.domain.digest import parse_schedule, zone
from bot.domain.environments import KINDS, UNKNOWN, Environment, environment_for_key, looks_like_secret_key
from bot.domain.typed_time import parse_duration

Mode = Literal["serve", "socket", "migrate", "shell", "check"]
_ID_RE = re.compile(r"[A-Z0-9][A-Z0-9_]{1,40}")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")

# Where an operator finds each required value; used in the start-up error.
WHERE_TO_FIND = {
    "SLACK_BOT_TOKEN": "Slack app settings → OAuth & Permissions → Bot User OAuth Token (xoxb-…)",
    "SLACK_SIGNING_SECRET": "Slack app settings → Basic Information → App Credentials → Signing Secret",
    "SLACK_APP_TOKEN": "Slack app settings → Basic Information → App-Level Tokens (xapp-…, scope connections:write)",
    "TRIGGER_SECRET_KEY": "Trigger.dev dashboard → your project → API keys → Secret key (tr_prod_…, tr_stg_…)",
}


class AccessRule(BaseModel):
    """ACCESS__<ENV>__USERS / __GROUPS / __CHANNELS: comma-separated Slack ids; empty means everyone."""

    model_config = ConfigDict(extra="forbid")

    users: str = ""
    groups: str = ""
    channels: str = ""

    @field_validator("users", "groups", "channels", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return ",".join(str(item) for item in value)
        if isinstance(value, str) and any(
            not _ID_RE.fullmatch(part.strip()) for part in value.split(",") if part.strip()
        ):
            raise ValueError(
                "use Slack ids separated by commas, e.g. U024BE7LH,U0G9QF9C6 (or S… for groups, C… for channels)"
            )
        return value


class ApprovalSetting(BaseModel):
    """APPROVAL__<ENV>__APPROVERS (Slack user ids U…/W… and user-group ids S…, comma-separated) protects that
    environment; APPROVAL__<ENV>__CHANNEL is where its requests are posted (default: where the move was asked)."""

    model_config = ConfigDict(extra="forbid")

    approvers: str = ""
    channel: str = ""

    @field_validator("approvers", mode="before")
    @classmethod
    def _approver_ids(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        if isinstance(value, str) and any(
            not (_ID_RE.fullmatch(part.strip()) and part.strip()[0] in "UWS")
            for part in value.split(",")
            if part.strip()
        ):
            raise ValueError(
                "use Slack user ids (U…, W…) and user-group ids (S…) separated by commas, e.g. U024BE7LH,S0614TZR7"
            )
        return value

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_id(cls, value: object) -> object:
        if (
            isinstance(value, str)
            and value.strip()
            and not (_ID_RE.fullmatch(value.strip()) and value.strip()[0] in "CG")
        ):
            raise ValueError("use one Slack channel id, e.g. C024BE91L")
        return value.strip() if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class KeyedEnvironment:
    """One configured Trigger.dev environment: its name, display title and secret key."""

    env: Environment
    key: SecretStr
    # Where it was configured: TRIGGER_SECRET_KEY, or TRIGGER_SECRET_KEYS (its position there, from 1, and the name
    # given to it, if any), so a problem with it can be reported in the operator's terms.
    variable: str = "TRIGGER_SECRET_KEY"
    position: int = 0
    given_name: str = ""


class Settings(BaseSettings):
    """Runtime configuration. Field names map 1:1 to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_nested_delimiter="__"
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    # Socket Mode: seconds between pings on the connection; a dropped one is noticed and replaced within about this.
    socket_ping_interval: float = Field(default=10.0, ge=0.2, le=120)
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")

    trigger_secret_key: SecretStr | None = None
    trigger_secret_keys: SecretStr | None = None
    trigger_api_url: AnyHttpUrl = AnyHttpUrl("https://api.trigger.dev")
    trigger_dashboard_url: AnyHttpUrl = AnyHttpUrl("https://cloud.trigger.dev")
    trigger_deadline: float = Field(default=15.0, gt=0, le=600)
    shutdown_grace: float = Field(default=30.0, ge=20, le=3600)

    max_delay: Annotated[timedelta, NoDecode] = timedelta(days=365)
    confirm_environments: Annotated[frozenset[str], NoDecode] = frozenset({"prod"})
    dm_confirmations: bool = True
    bulk_limit: int = Field(default=100, ge=2, le=1000)

    access: dict[str, AccessRule] = Field(default_factory=dict)
    # Protected environments (bot/approvals.py): moves there wait for another person's Approve.
    approval: dict[str, ApprovalSetting] = Field(default_factory=dict)
    approval_timeout: Annotated[timedelta, NoDecode] = DEFAULT_TIMEOUT
    usergroup_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    slack_team_id: str | None = None
    slack_app_id: str | None = None
    allow_slack_connect: bool = True

    database_url: SecretStr = SecretStr("sqlite:///reschedule-bot.sqlite3")
    audit_channel: str | None = None

    # The digest of runs coming due (bot/digest.py): posted to DIGEST_CHANNEL at each DIGEST_SCHEDULE time.
    digest_channel: str | None = None
    digest_schedule: str = "09:00"
    digest_timezone: str = "UTC"
    digest_window: Annotated[timedelta, NoDecode] = timedelta(hours=12)
    digest_skip_empty: bool = False

    # Summary cards that follow their run (bot/follow.py): due cards are looked for every FOLLOW_POLL_SECONDS,
    # FOLLOW_GRACE_SECONDS after the start time they show.
    follow_poll_seconds: float = Field(default=15.0, gt=0, le=3600)
    follow_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Private messages Slack could not take (bot/late.py): tried again OUTBOX_RETRY_SECONDS after, then 3, 6, 12 and
    # 30 times that apart; due ones are looked for every half of it.
    outbox_retry_seconds: float = Field(default=10.0, gt=0, le=600)
    # Confirmed work that outlives its process (bot/intents.py, bot/slack/set_run.py, bot/message_fixes.py): a
    # process holds a move in flight or a set it carries out for WORK_LEASE_SECONDS at a time (renewed while it
    # works); what a stopped process let go of is looked for every WORK_POLL_SECONDS by every process.
    work_lease_seconds: float = Field(default=60.0, ge=2, le=3600)
    work_poll_seconds: float = Field(default=5.0, gt=0, le=600)

    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line (bot/logs.py)
    # GET /metrics (bot/metrics.py): the directory several processes on one host share their counts through (it
    # must also be in the process environment, where prometheus-client reads it), and an optional bearer token.
    prometheus_multiproc_dir: str | None = None
    metrics_token: SecretStr | None = None

    _demo: bool = PrivateAttr(default=False)

    @property
    def demo(self) -> bool:
        """Demo mode (`--demo`): Trigger.dev is the simulator in bot/demo.py, with its keys and URLs."""
        return self._demo

    @field_validator("max_delay", mode="before")
    @classmethod
    def _parse_max_delay(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return timedelta(seconds=int(text))
            try:
                return parse_duration(text)
            except DelayError as exc:
                raise ValueError("use a duration like 365d, 12w or 90d") from exc
        return value

    @field_validator("digest_window", mode="before")
    @classmethod
    def _parse_digest_window(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return parse_duration(value.strip())
            except DelayError as exc:
                raise ValueError("use a duration like 12h, 90m or 2d") from exc
        return value

    @field_validator("approval_timeout", mode="before")
    @classmethod
    def _parse_approval_timeout(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                timeout = parse_duration(value.strip())
            except DelayError as exc:
                raise ValueError("use a duration like 30m, 2h or 1d (at most 7d)") from exc
            if timeout > timedelta(days=7):
                raise ValueError("use a duration like 30m, 2h or 1d (at most 7d)")
            return timeout
        return value

    @field_validator("digest_schedule")
    @classmethod
    def _check_digest_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("digest_timezone")
    @classmethod
    def _check_digest_timezone(cls, value: str) -> str:
        zone(value)
        return value.strip()

    @field_validator("confirm_environments", mode="before")
    @classmethod
    def _parse_names(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not (text.startswith(("sqlite:///", "postgresql://", "postgres://"))):
            raise ValueError("use sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:5432/database")
        return value

    @field_validator("prometheus_multiproc_dir", mode="after")
    @classmethod
    def _multiproc_dir(cls, value: str | None) -> str | None:
        if value and not Path(value).is_dir():
            raise ValueError("must be an existing directory (create it, empty, before the processes start)")
        return value or None

    @field_validator("slack_api_url", mode="after")
    @classmethod
    def _trailing_slash(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        # slack_sdk joins method names onto the base URL; without the slash the last path part is lost.
        text = str(value)
        return value if text.endswith("/") else AnyHttpUrl(text + "/")

    def environments(self) -> list[KeyedEnvironment]:
        """TRIGGER_SECRET_KEY and TRIGGER_SECRET_KEYS (`[name=]key,…`); names default from key prefixes."""
        entries: list[tuple[str, int, str]] = []
        if _present(self.trigger_secret_key):
            assert self.trigger_secret_key is not None
            entries.append(("TRIGGER_SECRET_KEY", 0, self.trigger_secret_key.get_secret_value().strip()))
        if _present(self.trigger_secret_keys):
            assert self.trigger_secret_keys is not None
            parts = [part.strip() for part in self.trigger_secret_keys.get_secret_value().split(",") if part.strip()]
            entries.extend(("TRIGGER_SECRET_KEYS", position, part) for position, part in enumerate(parts, 1))
        result: list[KeyedEnvironment] = []
        for variable, position, entry in entries:
            name, sep, key = entry.partition("=")
            if not sep:
                name, key = "", entry
            env = environment_for_key(key.strip(), name.strip() or None)
            keyed = KeyedEnvironment(env, SecretStr(key.strip()), variable, position, name.strip())
            result.append(keyed)
        return result

    def policy(self) -> Policy:
        rules = {
            name.lower(): Rule(split_ids(rule.users), split_ids(rule.groups), split_ids(rule.channels))
            for name, rule in self.access.items()
        }
        default = rules.pop(DEFAULT, Rule())
        return Policy(rules=rules, default=default)

    def approval_policy(self) -> ApprovalPolicy:
        """The protected environments (APPROVAL__<ENV>__…) and APPROVAL_TIMEOUT."""
        rules = {
            name.lower(): ApprovalRule(
                users=frozenset(i for i in split_ids(rule.approvers) if i[0] in "UW"),
                groups=frozenset(i for i in split_ids(rule.approvers) if i[0] == "S"),
                channel=rule.channel or None,
            )
            for name, rule in self.approval.items()
        }
        return ApprovalPolicy(rules=rules, timeout=self.approval_timeout)

    def key_problems(self) -> list[str]:
        """Keys that cannot work, bad or repeated names, and rules or confirmations naming no environment.

        Never the key values. A misspelt ACCESS__PRODUCTION__… must stop the process, not protect nothing.
        """
        problems: list[str] = []
        seen: set[str] = set()
        for item in self.environments():
            if not looks_like_secret_key(item.key.get_secret_value()):
                where = operator_messages.config_key_place(item.variable, item.position, item.given_name)
                problems.append(operator_messages.config_bad_key(where, key_kind(item.key.get_secret_value())))
                continue  # its name came from no prefix: nothing more to say about it
            if not _NAME_RE.fullmatch(item.env.name):
                problems.append(operator_messages.config_bad_env_name(item.env.name[:60]))
            if item.env.name in seen:
                problems.append(operator_messages.config_duplicate_env(item.env.name))
            seen.add(item.env.name)
        # Kinds are always accepted, so one configuration can be shared by deployments with different keys; the
        # message names only the environments this deployment has.
        configured = sorted({name for item in self.environments() for name in item.env.names} - {UNKNOWN.name})
        known = set(configured) | set(KINDS)
        for name in sorted(self.access):
            if name.lower() != DEFAULT and name.lower() not in known:
                problems.append(operator_messages.config_unknown_env("ACCESS__" + name.upper(), name, configured))
        for name in sorted(self.approval):
            if name.lower() not in known:
                problems.append(operator_messages.config_unknown_env("APPROVAL__" + name.upper(), name, configured))
            elif not split_ids(self.approval[name].approvers):
                problems.append(operator_messages.config_no_approvers("APPROVAL__" + name.upper()))
        explicit = self.confirm_environments if "confirm_environments" in self.model_fields_set else frozenset()
        for name in sorted(explicit - known):
            problems.append(operator_messages.config_unknown_env("CONFIRM_ENVIRONMENTS", name, configured))
        return problems

    def token_problems(self) -> list[str]:
        """Slack tokens of the wrong kind: each kind has its own prefix (xoxb- for a bot token, xapp- for an
        app-level one), so a value without it cannot work. Never the values."""
        problems: list[str] = []
        for variable, prefix in (("SLACK_BOT_TOKEN", "xoxb-"), ("SLACK_APP_TOKEN", "xapp-")):
            secret: SecretStr | None = getattr(self, variable.lower())
            if _present(secret):
                assert secret is not None
                value = secret.get_secret_value().strip()
                if not value.startswith(prefix):
                    problems.append(operator_messages.config_bad_token(variable, prefix, slack_token_kind(value)))
        return problems

    def timing_problems(self) -> list[str]:
        """A move started just before shutdown must be able to finish, be confirmed and be answered within the
        platform's grace period: TRIGGER_DEADLINE is bounded by SHUTDOWN_GRACE."""
        longest = shutdown.longest_deadline(self.shutdown_grace)
        if self.trigger_deadline > longest:
            return [operator_messages.config_deadline_too_long(self.trigger_deadline, self.shutdown_grace, longest)]
        return []

    def missing_for(self, mode: Mode) -> list[str]:
        """Names of the variables that `mode` needs and that are not set."""
        if mode == "migrate":
            return []
        needed = [] if mode == "shell" else ["SLACK_BOT_TOKEN"]  # the shell stands in for Slack
        if not self.environments():
            needed.append("TRIGGER_SECRET_KEY")
        if mode in ("serve", "check"):
            needed.append("SLACK_SIGNING_SECRET")
        if mode == "socket":
            needed.append("SLACK_APP_TOKEN")
        return [name for name in needed if not _present(getattr(self, name.lower()))]


def key_kind(key: str) -> str:
    """What a value that is not an environment secret key looks like (for the message), or "" if nothing known."""
    for prefix, kind in (("pk_", "public"), ("tr_pat_", "pat"), ("tr_oat_", "oat"), ("tr_uat_", "pat")):
        if key.startswith(prefix):
            return kind
    return ""


def slack_token_kind(value: str) -> str:
    """The kind of Slack token a value is, from its prefix ("bot", "user", "app"), or "" if none."""
    for prefix, kind in (("xoxb-", "bot"), ("xoxp-", "user"), ("xapp-", "app")):
        if value.startswith(prefix):
            return kind
    return ""


def _invalid(error: ErrorDetails) -> str:
    """One invalid setting in the operator's terms: the variable's name as set, and what it must be."""
    location = [str(part) for part in error["loc"]]
    variable = "__".join(location).upper()
    context = error.get("ctx") or {}
    kind = error["type"]
    if kind == "value_error" and "error" in context:
        return operator_messages.config_invalid(variable, str(context["error"]))
    if kind == "extra_forbidden" and location[0] == "access":
        return operator_messages.config_unknown_setting(variable, "__".join(location[:2]).upper())
    return operator_messages.config_invalid(variable, operator_messages.config_rule(kind, context, error["msg"]))


def _present(secret: SecretStr | None) -> bool:
    return secret is not None and secret.get_secret_value().strip() != ""


class ConfigError(Exception):
    """Raised with one message naming every missing or invalid variable (never their values)."""


def load(mode: Mode, *, demo: bool = False, **values: Any) -> Settings:
    """Read and check the configuration for `mode`, or raise ConfigError describing everything wrong.

    Read from the environment and a `.env` file; `values` go to `Settings` as pydantic-settings takes them (field
    values, which win over the environment, or `_env_file=None` for no .env file).
    `demo`: Trigger.dev's key(s) and URLs are the simulator's (bot/demo.py); a real key also configured is an error.
    """
    return _load(mode, demo, values)


class _TriggerKeys(BaseSettings):
    """Only the Trigger.dev keys, read as Settings reads them: whether any is configured."""

    model_config = Settings.model_config
    trigger_secret_key: SecretStr | None = None
    trigger_secret_keys: SecretStr | None = None


class _ProcessEnvironment(BaseSettings):
    """What prometheus-client reads from the process environment itself, as it spells it, when it is imported: never
    from .env, which it does not see."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")
    multiproc_dir: str | None = Field(
        default=None, validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
    )


def metrics_shared_by_processes() -> bool:
    """Whether prometheus-client keeps this process's metrics in files for several processes to share: it does when
    either spelling of PROMETHEUS_MULTIPROC_DIR is in the process environment (even empty)."""
    return _ProcessEnvironment().multiproc_dir is not None


def _demo_values(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The Trigger.dev settings of demo mode, and the conflicts: real keys configured as well (named, never shown)."""
    from bot.demo import demo_environ

    keys = _TriggerKeys(**values)  # the other values are ignored, as Settings ignores unknown variables
    conflicts = [
        name.upper() for name in ("trigger_secret_key", "trigger_secret_keys") if _present(getattr(keys, name))
    ]
    return {name.lower(): value for name, value in demo_environ().items()}, conflicts


def _load(mode: Mode, demo: bool, values: dict[str, Any]) -> Settings:
    problems: list[str] = []
    overrides: dict[str, Any] = {}
    if demo:
        overrides, conflicts = _demo_values(values)
        if conflicts:
            problems.append(messages.config_demo_with_key(conflicts))
    try:
        settings = Settings(**(values | overrides))
    except ValidationError as exc:
        invalid: dict[str, Any] = {}
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0])
            invalid[field] = Settings.model_fields[field].default
            problems.append(_invalid(error))
        # Read again with the invalid values set aside, so missing ones are named in the same message.
        settings = Settings(**(values | invalid | overrides))
    settings._demo = demo
    for name in settings.missing_for(mode):
        problems.append(operator_messages.config_missing(name, WHERE_TO_FIND[name]))
    if mode != "migrate":
        problems.extend(settings.token_problems())
        problems.extend(settings.key_problems())
        problems.extend(settings.timing_problems())
    if problems:
        raise ConfigError(operator_messages.config_problems(problems))
    return settings
