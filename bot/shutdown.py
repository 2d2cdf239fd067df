"""How a deploy's grace period is spent, so that shutdown never outlives it and never loses a move silently.

Platforms send SIGTERM and kill the process SHUTDOWN_GRACE seconds later (30 s on most). In that time the bot
finishes the work it acknowledged (the drain), tells anyone whose work still did not finish, and writes the audit
trail. A move started just before SIGTERM needs its whole Trigger.dev deadline, a read-back when the answer was
lost, and its replies to Slack: the longest allowed TRIGGER_DEADLINE is derived from the grace period.
"""

from __future__ import annotations

CONFIRM_SECONDS = 5.0  # reading a run back when a reschedule's answer was lost
REPLY_SECONDS = 3.0  # the summary, the DM and any note after a move
TELL_SECONDS = 3.0  # telling the people whose work did not finish in the drain
FLUSH_SECONDS = 3.0  # writing what the audit trail still holds
MARGIN_SECONDS = 1.0


def drain_seconds(grace: float) -> float:
    """How long shutdown waits for acknowledged work to finish."""
    return max(1.0, grace - TELL_SECONDS - FLUSH_SECONDS - MARGIN_SECONDS)


def longest_deadline(grace: float) -> float:
    """The longest TRIGGER_DEADLINE whose work can still finish within the drain."""
    return drain_seconds(grace) - CONFIRM_SECONDS - REPLY_SECONDS
