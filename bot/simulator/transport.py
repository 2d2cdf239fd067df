"""The simulator behind an httpx transport: `httpx.AsyncClient(base_url=..., transport=SimulatorTransport(sim))`."""

from __future__ import annotations

import httpx

from bot.simulator.api import TriggerSimulator

__all__ = ["SimulatorTransport"]


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Answers every request from `simulator`, in-process (nothing goes over the network)."""

    def __init__(self, simulator: TriggerSimulator) -> None:
        self.simulator = simulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = self.simulator.handle(request.method, request.url.path, request.url.query.decode(), headers, body)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)
