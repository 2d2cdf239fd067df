"""Configuration: names from the ecosystems, fail-fast messages naming every problem, secrets kept secret."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot import settings

REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-test-0000",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "TRIGGER_SECRET_KEY": "tr_prod_fakefakefakefakefake0001",
}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real variable and no developer .env can reach these tests."""
    for name in list(__import__("os").environ):
        if name.startswith(("SLACK_", "TRIGGER_")) or name in {"MAX_DELAY", "PORT", "LOG_LEVEL", "DATABASE_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_serve_needs_bot_token_signing_secret_and_trigger_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("serve")
    text = str(caught.value)
    for name in REQUIRED:
        assert name in text
    assert "SLACK_APP_TOKEN" not in text
    assert "Basic Information → App Credentials → Signing Secret" in text


def test_socket_needs_the_app_token_not_the_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, SLACK_BOT_TOKEN="xoxb-1", TRIGGER_SECRET_KEY="tr_dev_x")
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("socket")
    assert "SLACK_APP_TOKEN" in str(caught.value) and "SLACK_SIGNING_SECRET" not in str(caught.value)


def test_socket_ping_interval_defaults_to_bolts_and_refuses_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    socket_env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "TRIGGER_SECRET_KEY": "tr_dev_x"}
    monkeypatch.delenv("SOCKET_PING_INTERVAL", raising=False)
    set_env(monkeypatch, **socket_env)
    assert settings.load("socket").socket_ping_interval == 10.0
    set_env(monkeypatch, SOCKET_PING_INTERVAL="0")
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("socket")
    assert "SOCKET_PING_INTERVAL" in str(caught.value).upper()


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, **REQUIRED)
    config = settings.load("serve")
    assert str(config.slack_api_url) == "https://slack.com/api/"
    assert str(config.trigger_api_url) == "https://api.trigger.dev/"
    assert str(config.trigger_dashboard_url) == "https://cloud.trigger.dev/"
    assert config.max_delay == timedelta(days=365)
    assert config.trigger_deadline == 15.0
    assert config.shutdown_grace == 30.0
    assert config.confirm_environments == frozenset({"prod"})


def test_values_are_read_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        monkeypatch,
        **REQUIRED,
        SLACK_API_URL="http://127.0.0.1:9999/api",
        MAX_DELAY="90d",
        CONFIRM_ENVIRONMENTS="Prod, staging",
        TRIGGER_SECRET_KEYS="tr_stg_fakefakefakefakefake0002",
        TRIGGER_DEADLINE="4",
    )
    config = settings.load("serve")
    assert str(config.slack_api_url) == "http://127.0.0.1:9999/api/"
    assert config.max_delay == timedelta(days=90)
    assert config.confirm_environments == frozenset({"prod", "staging"})
    assert config.trigger_deadline == 4.0


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in REQUIRED.items()))
    config = settings.load("serve")
    assert config.trigger_secret_key is not None
    assert config.trigger_secret_key.get_secret_value() == REQUIRED["TRIGGER_SECRET_KEY"]


def test_invalid_and_missing_are_named_together(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, MAX_DELAY="forever", PORT="eighty", SLACK_API_URL="not a url")
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("serve")
    text = str(caught.value)
    for name in ("MAX_DELAY", "PORT", "SLACK_API_URL", "SLACK_BOT_TOKEN", "TRIGGER_SECRET_KEY"):
        assert name in text


def test_secrets_never_appear_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, **REQUIRED)
    config = settings.load("serve")
    shown = repr(config) + str(config)
    for value in REQUIRED.values():
        assert value not in shown
    set_env(monkeypatch, PORT="x")
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("serve")
    for value in REQUIRED.values():
        assert value not in str(caught.value)


def test_migrate_needs_no_slack_or_trigger_settings() -> None:
    assert settings.load("migrate").slack_bot_token is None


def test_several_keys_named_from_prefixes_or_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        monkeypatch,
        **REQUIRED,
        TRIGGER_SECRET_KEYS="tr_stg_fakefakefakefakefake0002, billing_prod=tr_prod_fakefakefakefakefake0009",
    )
    envs = [(item.env.name, item.env.title, item.env.kind) for item in settings.load("serve").environments()]
    assert envs == [
        ("prod", "Prod", "prod"),
        ("staging", "Staging", "staging"),
        ("billing_prod", "billing_prod", "prod"),
    ]


def test_a_named_prod_key_gets_the_prod_rule() -> None:
    from bot.domain.access_rules import Policy, Rule
    from bot.domain.environments import environment_for_key

    billing = environment_for_key("tr_prod_fakefakefakefakefake0009", "billing_prod")
    only_me = Rule(users=frozenset({"U0ONLYME"}))
    assert Policy(rules={"prod": only_me}).rule_for(*billing.names) == only_me
    assert billing.names == ("billing_prod", "prod")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ACCESS__PRODUCTION__USERS", "U1", "ACCESS__PRODUCTION names the environment 'production'"),
        ("CONFIRM_ENVIRONMENTS", "production", "CONFIRM_ENVIRONMENTS names the environment 'production'"),
        ("TRIGGER_SECRET_KEYS", "Billing Prod=tr_prod_fakefakefakefakefake0009", "'billing prod'"),
        ("TRIGGER_SECRET_KEYS", "tr_pat_fakefakefakefakefake0009", "is a personal access token"),
        ("TRIGGER_SECRET_KEYS", "tr_prod_fakefakefakefakefake0009", "two Trigger.dev keys are both called prod"),
        ("ACCESS__PROD__USERS", "alice", "use Slack ids"),
        ("DATABASE_URL", "mysql://x@y/z", "postgresql://user:password@host"),
    ],
)
def test_configuration_mistakes_stop_the_process(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    set_env(monkeypatch, **REQUIRED, **{name: value})
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("serve")
    assert expected in str(caught.value)
    assert "fakefake" not in str(caught.value)


def test_hyphenated_names_become_variable_friendly_and_kinds_are_always_known(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        monkeypatch,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
        TRIGGER_SECRET_KEYS="tr_stg_fakefakefakefakefake0002,billing-prod=tr_prod_fakefakefakefakefake0009",
        ACCESS__BILLING_PROD__USERS="U1",
        ACCESS__PROD__USERS="U2",  # a kind: accepted even where only a named prod key exists
        CONFIRM_ENVIRONMENTS="prod,dev",  # dev is not configured here, but it is a kind: shared configs work
    )
    config = settings.load("serve")
    assert [item.env.name for item in config.environments()] == ["staging", "billing_prod"]
    assert config.policy().rule_for("billing_prod", "prod").users == frozenset({"U1"})


# --- Operations: LOG_FORMAT, PROMETHEUS_MULTIPROC_DIR, METRICS_TOKEN ---


def test_operations_settings_default_to_text_logs_and_open_single_process_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, **REQUIRED)
    config = settings.load("serve")
    assert (config.log_format, config.prometheus_multiproc_dir, config.metrics_token) == ("text", None, None)


@pytest.mark.parametrize(
    ("variable", "shared"),
    [("PROMETHEUS_MULTIPROC_DIR", True), ("prometheus_multiproc_dir", True), ("Prometheus_Multiproc_Dir", False)],
)
def test_metrics_are_shared_only_when_the_variable_is_in_the_environment_as_prometheus_client_spells_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, shared: bool
) -> None:
    for spelling in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        monkeypatch.delenv(spelling, raising=False)
    assert not settings.metrics_shared_by_processes()
    monkeypatch.setenv(variable, "")  # present, even empty, is what prometheus-client looks for
    assert settings.metrics_shared_by_processes() is shared


def test_operations_settings_are_read_and_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    set_env(monkeypatch, **REQUIRED, LOG_FORMAT="json", PROMETHEUS_MULTIPROC_DIR=str(shared), METRICS_TOKEN="t0k")
    config = settings.load("serve")
    assert (config.log_format, config.prometheus_multiproc_dir) == ("json", str(shared))
    assert config.metrics_token is not None and "t0k" not in repr(config)
    set_env(monkeypatch, LOG_FORMAT="xml", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "none"))
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("serve")
    assert "LOG_FORMAT" in str(caught.value) and "PROMETHEUS_MULTIPROC_DIR" in str(caught.value)


def test_values_given_to_load_win_over_the_environment_and_env_file_none_reads_no_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`load` takes what `Settings` takes, as pydantic-settings documents it: field values and `_env_file`."""
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in REQUIRED.items()))
    set_env(monkeypatch, TRIGGER_DEADLINE="4")
    config = settings.load("serve", trigger_deadline=7, access={"prod": {"users": "U1"}})
    assert config.trigger_deadline == 7 and config.policy().rule_for("prod").users == frozenset({"U1"})
    with pytest.raises(settings.ConfigError) as caught:
        settings.load("serve", _env_file=None)
    assert "SLACK_BOT_TOKEN" in str(caught.value)
