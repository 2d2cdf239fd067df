"""Many runs in one move: what happened to each run of a set, as data the summary is drawn from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class BulkOutcome(StrEnum):
    """What happened to one run of a set."""

    MOVED = "moved"
    NOT_DELAYED = "not delayed"
    NOT_FOUND = "not found"
    REFUSED = "refused"
    FAILED = "failed"
    PASSED = "time passed"  # an Undo: the run's previous time is no longer ahead
    MOVED_SINCE = "moved since"  # an Undo: someone moved the run after this move; it is left where they put it


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One run of a set and its outcome; `detail` says why it was skipped (a status, a rule, an error)."""

    run_id: str
    outcome: BulkOutcome
    env_title: str = ""
    detail: str = ""  # MOVED_SINCE: the user id of who moved it since ("" when not known)
    new: datetime | None = None  # MOVED_SINCE: where it was left
    previous: datetime | None = None  # where a moved run was before (what an Undo takes it back to)


@dataclass(frozen=True, slots=True)
class Planned:
    """A run of a set as the prompt shows it: where it is now and where it would go."""

    run_id: str
    task: str
    current: datetime
    target: datetime

    @property
    def earlier(self) -> bool:
        return self.target < self.current


def dedupe(run_ids: list[str]) -> list[str]:
    """The run ids in the order given, each once."""
    return list(dict.fromkeys(run_ids))
