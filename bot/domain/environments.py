"""Which Trigger.dev environment a secret key belongs to, read from its prefix (tr_prod_…, tr_stg_…)."""

from __future__ import annotations

from dataclasses import dataclass

# Key prefix → (environment name used in configuration, title shown to people).
_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("tr_prod_", "prod", "Prod"),
    ("tr_stg_", "staging", "Staging"),
    ("tr_dev_", "dev", "Dev"),
    ("tr_preview_", "preview", "Preview"),
)


@dataclass(frozen=True, slots=True)
class Environment:
    """A named Trigger.dev environment: `name` is for configuration, `title` for display."""

    name: str
    title: str


UNKNOWN = Environment(name="unknown", title="Unknown environment")


def environment_for_key(key: str) -> Environment:
    """The environment a secret key belongs to, from its prefix; UNKNOWN for other shapes."""
    for prefix, name, title in _PREFIXES:
        if key.startswith(prefix):
            return Environment(name=name, title=title)
    return UNKNOWN


def looks_like_secret_key(key: str) -> bool:
    """True for environment secret keys (the only kind the reschedule route accepts)."""
    return any(key.startswith(prefix) for prefix, _, _ in _PREFIXES)
