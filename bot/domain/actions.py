"""What an action did to a run, as its summary card and its DM confirmation say it (pure data)."""

from __future__ import annotations

from enum import StrEnum


class Did(StrEnum):
    """A move to a new time, an Undo (back to the time before a move), or Run now (started at once)."""

    MOVED = "moved"
    UNDONE = "undone"
    STARTED = "started"
