"""The benchmark's load generator, run as its own process so that it never shares a GIL with what it measures.

    python -m bench.load < job.json

Protocol, one JSON document per line: the first line of stdin is the job (see `Job`); once every connection is
open this process prints `{"ready": true}`; then it waits for one line on stdin (the go signal, sent once the
benchmark has read the server's CPU counters), sends the job's requests, and prints the result (see `run`).

Requests are signed as Slack signs them (v0 HMAC-SHA256 of the timestamp and the raw body) and sent over
`concurrency` keep-alive HTTP/1.1 connections opened before the go signal, with a minimal asyncio client (a few
µs of CPU per request, so the load generator takes as little CPU as possible from the 2 cores it shares with the
server). Closed loop: each connection sends its next request as soon as the previous one is answered; with
`interval` > 0, request i is not sent before `i * interval` seconds after the go signal (open loop, paced).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Job:
    host: str
    port: int
    path: str
    signing_secret: str
    bodies: list[str]  # application/x-www-form-urlencoded bodies, sent in this order
    concurrency: int = 1
    interval: float = 0.0  # seconds between request starts; 0 = as fast as answers come back
    timeout: float = 30.0  # per request


@dataclass
class Result:
    index: int
    sent_at: float = 0.0  # time.time() just before the request's first byte was written
    ack: float | None = None  # seconds until the whole response had been read
    status: int | None = None
    body: str = ""
    error: str | None = None


@dataclass
class Connection:
    host: str
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    opened: int = field(default=0)

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def request_bytes(job: Job, body: bytes) -> bytes:
    timestamp = str(int(time.time()))
    head = (
        f"POST {job.path} HTTP/1.1\r\n"
        f"Host: {job.host}:{job.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Slack-Request-Timestamp: {timestamp}\r\n"
        f"X-Slack-Signature: {sign(job.signing_secret, timestamp, body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def send(job: Job, connection: Connection, result: Result, body: bytes) -> None:
    if connection.writer is None:
        await connection.open()
    assert connection.reader is not None and connection.writer is not None
    data = request_bytes(job, body)
    result.sent_at = time.time()
    start = time.perf_counter()
    try:
        connection.writer.write(data)
        status, headers, answer = await asyncio.wait_for(read_response(connection.reader), job.timeout)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        await connection.close()
        return
    result.ack = time.perf_counter() - start
    result.status = status
    result.body = answer[:300].decode("utf-8", errors="replace")
    if headers.get("connection", "").lower() == "close":
        await connection.close()


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(job: Job) -> dict[str, Any]:
    """Open the connections, say ready, wait for go, send everything; returns the result document."""
    connections = [Connection(job.host, job.port) for _ in range(max(1, min(job.concurrency, len(job.bodies))))]
    await asyncio.gather(*(c.open() for c in connections))
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    results = [Result(i) for i in range(len(job.bodies))]
    bodies = [b.encode() for b in job.bodies]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    cpu = own_cpu()
    started = time.perf_counter()

    async def worker(connection: Connection) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            if job.interval > 0:
                await asyncio.sleep(max(0.0, started + i * job.interval - time.perf_counter()))
            await send(job, connection, results[i], bodies[i])

    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    cpu = own_cpu() - cpu
    for connection in connections:
        await connection.close()
    return {
        "results": [asdict(r) for r in results],
        "elapsed": elapsed,
        "load_cpu": cpu,
        "reconnects": sum(c.opened for c in connections) - len(connections),
    }


def main() -> int:
    job = Job(**json.loads(sys.stdin.readline()))
    print(json.dumps(asyncio.run(run(job))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
