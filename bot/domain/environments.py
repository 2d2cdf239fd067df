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
    """A Trigger.dev environment: `name` is for configuration (ACCESS__<NAME>__…, --env), `title` for display,
    `kind` what the key's prefix says it is (prod, staging, dev, preview), whatever it was named."""

    name: str
    title: str
    kind: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The names a rule or CONFIRM_ENVIRONMENTS may use for it: its own, then its kind."""
        return (self.name, self.kind) if self.kind and self.kind != self.name else (self.name,)


UNKNOWN = Environment(name="unknown", title="Unknown environment", kind="unknown")
KINDS = tuple(name for _, name, _ in _PREFIXES)


def environment_for_key(key: str, name: str | None = None) -> Environment:
    """The environment a secret key belongs to, from its prefix, optionally under a name of our own."""
    env = UNKNOWN
    for prefix, kind, title in _PREFIXES:
        if key.startswith(prefix):
            env = Environment(name=kind, title=title, kind=kind)
            break
    if name:
        # Names go into variable names (ACCESS__<NAME>__…), where a hyphen is not allowed: billing-prod → billing_prod.
        return Environment(name=name.lower().replace("-", "_"), title=name, kind=env.kind)
    return env


def looks_like_secret_key(key: str) -> bool:
    """True for environment secret keys (the only kind the reschedule route accepts)."""
    return any(key.startswith(prefix) for prefix, _, _ in _PREFIXES)
