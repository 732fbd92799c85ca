"""The one small interface every queue backend (bullmq.py, rq.py, sql.py) implements.

A reader does two things per scrape, read-only:
  * returns a :class:`QueueState` per queue: counts by state, ages, workers (gauges);
  * hands each job that finished since its previous read to the ledger, exactly once.

The second part is incremental: a reader keeps a cursor into the backend's history (BullMQ's
events stream, RQ's registries scored by time, a SQL ``finished_at`` column), so the work per
scrape grows with the jobs finished since the last scrape, not with the history kept. It starts
at the exporter's start time: jobs that finished before it are not counted (docs/scheduler.md,
"Counters across restarts"). A reader applies one scrape's finished jobs to the ledger with no
await in between, so a scrape cancelled at its deadline counts nothing twice and loses nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .config import BackendConfig
from .contract import Ledger


@dataclass
class QueueState:
    """Gauges of one queue, read in this scrape. None means the backend cannot tell."""

    queue: str
    jobs: dict[str, int] = field(default_factory=dict)  # state label -> jobs in it
    oldest_waiting_age: float | None = None  # seconds since the oldest waiting job was enqueued; 0 when none
    workers: int | None = None
    paused: bool | None = None
    overdue: int | None = None  # delayed / scheduled jobs whose run time has passed (the promoter is stuck)
    stalled: int | None = None  # active jobs whose worker stopped renewing its lock / heartbeat
    exists: bool | None = None  # whether the backend has the queue at all (a typo in a queue name reads as idle)


class Reader:
    """Base of a backend reader. Subclasses implement :meth:`read_states` and :meth:`consume`."""

    kind = ""

    def __init__(self, config: BackendConfig, ledger: Ledger, timeout: float = 5.0,
                 started_at: float | None = None) -> None:
        self.config = config
        self.timeout = timeout  # seconds for connecting and for each round trip
        self.name = config.name
        self.ledger = ledger
        # jobs finishing at or after this moment (epoch seconds, the backend's clock) are counted
        self.started_at = time.time() if started_at is None else started_at
        self._consume_lock = asyncio.Lock()  # two overlapping scrapes must not both consume

    @property
    def display(self) -> str:
        """The backend as logs show it: never a password."""
        return f"{self.kind} {self.name}"

    async def read(self) -> list[QueueState]:
        """One scrape: finished jobs into the ledger, then the queues' gauges."""
        async with self._consume_lock:
            await self.consume()
        return await self.read_states()

    async def start(self) -> None:
        """Called once when the exporter starts serving; most readers need nothing."""

    async def read_states(self) -> list[QueueState]:
        raise NotImplementedError

    async def consume(self) -> None:
        """Hand jobs finished since the previous call to self.ledger.record(), each once."""
        raise NotImplementedError

    async def health(self) -> str | None:
        """None when the backend answers, else a short reason (no secrets)."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


def redis_client(url: str, timeout: float):
    """A redis-py asyncio client for a reader: bytes replies, bounded connect and socket
    timeouts, at most 4 connections (a scrape uses one or two at a time)."""
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                   max_connections=4, decode_responses=False, health_check_interval=0,
                                   client_name="flextime-exporter")
