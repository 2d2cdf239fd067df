"""reschedule-bot: reschedule delayed Trigger.dev runs from Slack."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line client (and with it rich, pygments and click, about 6 MiB) whenever they are
# installed, as rich is here for the demo shell; the bot never runs that client. A None entry in sys.modules makes
# that one import fail, and httpx falls back to a stub `httpx.main`. The shell imports rich itself.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
