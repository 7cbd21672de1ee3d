"""Load on the tower's ingest API: closed-loop clients, batches, and an open-loop paced sender.

One asyncio loop with kept-alive connections (bench.client), in the bench process. Every event is
new (a fresh id), valid, and for plant 1000, 2000 or 3000, so each one is routed and delivered to
the sandbox's systems.
"""

import asyncio
import json
import math
import statistics
import time
from dataclasses import dataclass, field

from bench.client import ERRORS, Client
from bench.events import released_event

EVENTS = "/api/v1/events"
BATCH = "/api/v1/events/batch"
BATCH_SIZE = 1000


@dataclass
class IngestRun:
    accepted: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_error: str = ""
    unavailable: bool = False  # the endpoint answered 404
    response_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what

    def summary(self) -> dict:
        ms = sorted(self.response_ms)
        return {"accepted": self.accepted, "errors": self.errors, "seconds": round(self.seconds, 2),
                "events_per_s": round(self.rate, 1), "first_error": self.first_error,
                "response_p50_ms": round(statistics.median(ms), 1) if ms else None,
                "response_p99_ms": round(percentile(ms, 99), 1) if ms else None}


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(1, math.ceil(len(sorted_values) * p / 100)) - 1]


def _client(web_url: str, api_key: str, connections: int) -> Client:
    return Client(web_url, connections=connections, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})


async def _post_event(client: Client, run: IngestRun, phase: str) -> None:
    body = json.dumps(released_event(phase)).encode()
    start = time.perf_counter()
    try:
        response = await client.request("POST", EVENTS, body, "application/cloudevents+json")
    except ERRORS as e:
        run.error(f"{e.__class__.__name__}: {e}")
        return
    run.response_ms.append((time.perf_counter() - start) * 1000)
    if response.status_code == 202:
        run.accepted += 1
    else:
        run.error(f"{response.status_code} {response.text[:200]}")


async def _closed_loop(clients: int, seconds: float, one_request, stop=lambda: False) -> float:
    """`clients` concurrent loops, each awaiting `one_request()` after the other for `seconds` (or until
    `stop()`); returns the time taken."""
    start = time.perf_counter()

    async def one_client() -> None:
        while time.perf_counter() - start < seconds and not stop():
            await one_request()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return time.perf_counter() - start


async def ingest_clients(web_url: str, api_key: str, *, clients: int, seconds: float, phase: str) -> IngestRun:
    """`clients` concurrent closed-loop clients, each POSTing one event after another for `seconds`."""
    run = IngestRun()
    async with _client(web_url, api_key, clients) as client:
        run.seconds = await _closed_loop(clients, seconds, lambda: _post_event(client, run, phase))
    return run


async def web_floor(web_url: str, *, clients: int, seconds: float) -> IngestRun:
    """The web stack's own ceiling: GET /healthz (no database) from the same clients."""
    run = IngestRun()

    async def one_request() -> None:
        try:
            response = await client.request("GET", "/healthz")
        except ERRORS as e:
            run.error(f"{e.__class__.__name__}: {e}")
            return
        if response.status_code == 200:
            run.accepted += 1
        else:
            run.error(f"{response.status_code} {response.text[:200]}")

    async with _client(web_url, "", clients) as client:
        run.seconds = await _closed_loop(clients, seconds, one_request)
    return run


async def ingest_paced(web_url: str, api_key: str, *, rate: float, seconds: float, phase: str) -> IngestRun:
    """Open loop: one event every 1/rate s whatever the answers, each request on its own task."""
    run = IngestRun()
    async with _client(web_url, api_key, 64) as client:
        start, sends = time.perf_counter(), []
        for n in range(max(1, int(rate * seconds))):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            sends.append(asyncio.create_task(_post_event(client, run, phase)))
        await asyncio.gather(*sends)
        run.seconds = time.perf_counter() - start
    return run


async def ingest_batches(web_url: str, api_key: str, *, clients: int, seconds: float, phase: str) -> IngestRun:
    """`clients` concurrent clients, each POSTing batches of 1,000 events for `seconds`."""
    run = IngestRun()

    async def one_batch() -> None:
        body = json.dumps([released_event(phase) for _ in range(BATCH_SIZE)]).encode()
        sent = time.perf_counter()
        try:
            response = await client.request("POST", BATCH, body, "application/cloudevents-batch+json")
        except ERRORS as e:
            run.error(f"{e.__class__.__name__}: {e}")
            return
        run.response_ms.append((time.perf_counter() - sent) * 1000)
        if response.status_code == 404:
            run.unavailable = True
        elif response.status_code != 200:
            run.error(f"{response.status_code} {response.text[:200]}")
        else:
            for item in response.json()["results"]:
                if item.get("status") == 202:
                    run.accepted += 1
                else:
                    run.error(json.dumps(item)[:200])

    async with _client(web_url, api_key, clients) as client:
        run.seconds = await _closed_loop(clients, seconds, one_batch, stop=lambda: run.unavailable)
    return run
