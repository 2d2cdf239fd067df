"""reschedule-bot: reschedule delayed Trigger.dev runs from Slack."""

__version__ = "0.1.0"
