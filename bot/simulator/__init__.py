"""A simulator of Trigger.dev's REST API: one model of the server, used in-process by `--demo` (bot/demo.py).

The model (`TriggerSimulator`) keeps environments and their secret keys, runs with their v4 statuses, and answers
the routes the bot calls as the real server does: `GET /api/v3/runs/{id}`, `POST /api/v1/runs/{id}/reschedule` (the
checks in the server's order, with its status codes and error bodies), `GET /api/v1/runs` (filters, the 7-day
window on creation, paging), the middleware's 401 without an Authorization header, and the rate limiter's token
bucket with `x-ratelimit-*` headers on every answer. `SimulatorTransport` puts it behind an httpx transport.

It imports nothing of the bot: what it knows of Trigger.dev comes from the server's behaviour, not from the client
it is used to check. Nothing here does I/O; the clock is injected.
"""

from bot.simulator.api import Answer, TriggerSimulator
from bot.simulator.limits import RateLimit
from bot.simulator.runs import API_VERSION, V4_STATUSES, SimulatedRun
from bot.simulator.transport import SimulatorTransport

__all__ = [
    "API_VERSION",
    "V4_STATUSES",
    "Answer",
    "RateLimit",
    "SimulatedRun",
    "SimulatorTransport",
    "TriggerSimulator",
]
