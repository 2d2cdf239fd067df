"""Do-nothing stand-ins for the database-backed services `SurfaceDeps` requires, for tests of one surface's logic
that touch no database: nothing is claimed twice, nothing is remembered, recorded, followed, kept or carried out.

`services()` gives all of them, to pass as `SurfaceDeps(..., **services())`; a test that exercises one service
names the real one (`**services(home_views=HomeViews(engine))`)."""

from __future__ import annotations

from typing import Any

from bot.domain.audit import AuditRecord
from bot.rescheduler import Actor
from bot.slack.respond import Respond
from bot.slack.set_run import Private, SetRunner
from bot.storage.audit import AuditLog
from bot.storage.bulk_sets import BulkSet
from bot.storage.follow_ups import FollowRequest, FollowUps
from bot.storage.home_views import HomeViews
from bot.storage.outbox import Outbox
from bot.storage.replays import ReplayGuard


class NoReplays(ReplayGuard):
    """Every request is a first delivery."""

    def __init__(self) -> None:
        pass

    async def first_time(self, key: str) -> bool:
        return True

    async def aclose(self, timeout: float) -> None:
        return None


class NoAudit(AuditLog):
    """Records nothing and has no history (its listeners are never called)."""

    def __init__(self) -> None:
        self.listeners = []

    def record(self, entry: AuditRecord) -> None:
        return None

    async def flush(self, timeout: float | None = None) -> None:
        return None

    async def for_user(self, team_id: str, user_id: str, limit: int = 15) -> list[AuditRecord]:
        return []

    async def moves_by(self, team_id: str, user_id: str, limit: int = 200) -> list[AuditRecord]:
        return []

    async def for_run(self, run_id: str, limit: int = 30) -> list[AuditRecord]:
        return []


class NoFollowUps(FollowUps):
    """No card follows its run."""

    def __init__(self) -> None:
        pass

    def follow_soon(self, request: FollowRequest) -> None:
        return None

    async def flush(self, timeout: float) -> None:
        return None


class NoHomeViews(HomeViews):
    """Nobody is known to have opened their Home."""

    def __init__(self) -> None:
        pass

    def opened(self, team_id: str, user_id: str) -> None:
        return None

    async def seconds_since_opened(self, team_id: str, user_id: str) -> float | None:
        return None

    async def aclose(self, timeout: float) -> None:
        return None


class NoOutbox(Outbox):
    """Keeps nothing for later."""

    def __init__(self) -> None:
        pass

    def keep_soon(self, team_id: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None, error: str) -> None:
        return None

    async def flush(self, timeout: float) -> None:
        return None


class NoSets(SetRunner):
    """No confirmed set is carried out, and none is carried on."""

    def __init__(self) -> None:
        pass

    def stop(self) -> None:
        return None

    async def run(self) -> None:
        return None

    async def tick(self) -> bool:
        return False

    async def start(
        self,
        bulk: BulkSet,
        actor: Actor,
        respond: Respond | None,
        private: Private,
        *,
        at: tuple[str, str] | None = None,
    ) -> None:
        return None


def services(**given: Any) -> dict[str, Any]:
    """One do-nothing stand-in for each service `SurfaceDeps` requires, by field name, but those `given`."""
    return {
        "replays": NoReplays(),
        "audit": NoAudit(),
        "follow_ups": NoFollowUps(),
        "home_views": NoHomeViews(),
        "outbox": NoOutbox(),
        "sets": NoSets(),
    } | given
