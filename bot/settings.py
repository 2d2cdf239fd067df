"""The one place configuration is read: environment variables and an optional `.env` file.

Nothing else in the bot reads `os.environ`. Secrets are `SecretStr`, so they never show up in a repr, a log line
or a validation error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import messages
from bot.domain.delays import DelayError, parse_when

Mode = Literal["serve", "socket", "migrate"]

# Where an operator finds each required value; used in the start-up error.
WHERE_TO_FIND = {
    "SLACK_BOT_TOKEN": "Slack app settings → OAuth & Permissions → Bot User OAuth Token (xoxb-…)",
    "SLACK_SIGNING_SECRET": "Slack app settings → Basic Information → App Credentials → Signing Secret",
    "SLACK_APP_TOKEN": "Slack app settings → Basic Information → App-Level Tokens (xapp-…, scope connections:write)",
    "TRIGGER_SECRET_KEY": "Trigger.dev dashboard → your project → API keys → Secret key (tr_prod_…, tr_stg_…)",
}


class Settings(BaseSettings):
    """Runtime configuration. Field names map 1:1 to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")

    trigger_secret_key: SecretStr | None = None
    trigger_api_url: AnyHttpUrl = AnyHttpUrl("https://api.trigger.dev")
    trigger_dashboard_url: AnyHttpUrl = AnyHttpUrl("https://cloud.trigger.dev")
    trigger_deadline: float = Field(default=30.0, gt=0, le=600)

    max_delay: Annotated[timedelta, NoDecode] = timedelta(days=365)
    confirm_environments: Annotated[frozenset[str], NoDecode] = frozenset({"prod"})
    dm_confirmations: bool = True

    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("max_delay", mode="before")
    @classmethod
    def _parse_max_delay(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return timedelta(seconds=int(text))
            origin = datetime(2000, 1, 1, tzinfo=UTC)
            try:
                return parse_when(text, now=origin, max_delay=timedelta(days=36500)) - origin
            except DelayError as exc:
                raise ValueError("use a duration like 365d, 12w or 90d") from exc
        return value

    @field_validator("confirm_environments", mode="before")
    @classmethod
    def _parse_names(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("slack_api_url", mode="after")
    @classmethod
    def _trailing_slash(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        # slack_sdk joins method names onto the base URL; without the slash the last path part is lost.
        text = str(value)
        return value if text.endswith("/") else AnyHttpUrl(text + "/")

    def missing_for(self, mode: Mode) -> list[str]:
        """Names of the variables that `mode` needs and that are not set."""
        if mode == "migrate":
            return []
        needed = ["SLACK_BOT_TOKEN", "TRIGGER_SECRET_KEY"]
        if mode == "serve":
            needed.append("SLACK_SIGNING_SECRET")
        if mode == "socket":
            needed.append("SLACK_APP_TOKEN")
        return [name for name in needed if not _present(getattr(self, name.lower()))]


def _present(secret: SecretStr | None) -> bool:
    return secret is not None and secret.get_secret_value().strip() != ""


class ConfigError(Exception):
    """Raised with one message naming every missing or invalid variable (never their values)."""


def load(mode: Mode) -> Settings:
    """Read and check the configuration for `mode`, or raise ConfigError describing everything wrong."""
    problems: list[str] = []
    try:
        settings = Settings()
    except ValidationError as exc:
        invalid: dict[str, Any] = {}
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0])
            invalid[field] = Settings.model_fields[field].default
            problems.append(messages.config_invalid(field.upper(), error["msg"]))
        # Read again with the invalid values set aside, so missing ones are named in the same message.
        settings = Settings(**invalid)
    for name in settings.missing_for(mode):
        problems.append(messages.config_missing(name, WHERE_TO_FIND[name]))
    if problems:
        raise ConfigError(messages.config_problems(problems))
    return settings
