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
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from redis.credentials import CredentialProvider

from ..core.errors import describe_error
from .config import BackendConfig
from .contract import Ledger


@dataclass
class Recurring:
    """One recurring job (a BullMQ job scheduler / repeatable job, an rq-scheduler job) of a queue."""

    name: str
    next_run: float | None = None  # epoch seconds it is due next
    last_run: float | None = None  # epoch seconds a job of it last finished (seen since the exporter started)
    interval: float | None = None  # seconds between runs, when known (every, or from the cron pattern)
    overdue: bool = False  # its next run is past due by more than the grace (its slot was missed)


def overdue_grace(interval: float | None) -> float:
    """Seconds a recurring job may be late before it counts as overdue: half its interval, within
    1 s .. 5 min; 60 s when the interval is unknown (a pattern that does not parse)."""
    return 60.0 if interval is None else min(300.0, max(1.0, interval / 2))


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
    longest_active_age: float | None = None  # seconds the longest-running active job has run; 0 when none
    recurring: list[Recurring] = field(default_factory=list)


class Reader:
    """Base of a backend reader. Subclasses implement :meth:`read_states` and :meth:`consume`."""

    kind = ""

    def __init__(
        self, config: BackendConfig, ledger: Ledger, timeout: float = 5.0, started_at: float | None = None
    ) -> None:
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


class RedisReader(Reader):
    """A reader of queues kept in Redis (BullMQ, RQ, Celery): one client, made on first use so the
    password file is read then, and healthy while that Redis answers PING. Closing cancels the
    reader's background tasks (``_background``) and then closes the client."""

    _redis = None

    @property
    def redis(self):
        """The reader's client. Its replies carry no per-reply timeout (see ``redis_client``): a
        scrape bounds all of its reads at once (the collector's deadline), and every other use
        (health, discovery) is bounded by its caller with ``self.timeout``."""
        if self._redis is None:
            self._redis = redis_client(
                self.config.redis_url, self.timeout, self.config.password_file, reply_timeout=False
            )
        return self._redis

    def _background(self) -> tuple[asyncio.Task | None, ...]:
        """Tasks the reader runs beside scrapes (followers, discovery): cancelled on close."""
        return ()

    async def health(self) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.ping()
        except TimeoutError:
            return f"no answer to PING within {self.timeout:g}s"
        except Exception as exc:
            return describe_error(exc)
        return None

    async def close(self) -> None:
        for task in self._background():
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except BaseException:
                    pass
        client, self._redis = self._redis, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                pass


class PasswordFile(CredentialProvider):
    """A redis-py credential provider reading the password from a file (a mounted secret): read
    again whenever the file changes (size, mtime or inode), so a rotated password is used by the
    next connection without a restart. The error names the file, never its content."""

    def __init__(self, path: str, username: str | None = None) -> None:
        self.path = path
        self.username = username
        self._stamp: tuple | None = None
        self._password = ""

    def read(self) -> str:
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp != self._stamp:
                with open(self.path, encoding="utf-8") as handle:
                    self._password = handle.read().rstrip("\r\n")
                self._stamp = stamp
        except (OSError, UnicodeDecodeError) as exc:
            raise ConnectionError(
                f"password file {self.path}: {getattr(exc, 'strerror', None) or type(exc).__name__}"
            ) from None
        return self._password

    def get_credentials(self):
        password = self.read()
        return (self.username, password) if self.username else (password,)

    async def get_credentials_async(self):
        return self.get_credentials()


def _without_password(url: str) -> tuple[str, str | None]:
    """The URL without its user and password (the provider sends them), and the user name."""
    parts = urlsplit(url)
    query = "&".join(kv for kv in parts.query.split("&") if kv and not kv.startswith(("password=", "username=")))
    if parts.scheme == "unix":
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)), parts.username
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    if parts.hostname and ":" in parts.hostname:
        netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), (
        unquote(parts.username) if parts.username else None
    )


def redis_client(url: str, timeout: float, password_file: str = "", *, reply_timeout: bool = True):
    """A redis-py asyncio client for a reader: bytes replies, a bounded connect timeout, at most 4
    connections (a scrape uses one or two at a time). With ``password_file`` the password comes
    from that file, read again when it changes.

    ``reply_timeout=False`` leaves out redis-py's socket timeout, which arms an asyncio timer for
    every reply: about 6 us each, 40% of the CPU of a 640-command pipeline (the RQ discovery scan's
    first pass, or 1,000 finished jobs read at once). Only for a client whose every call the
    caller bounds itself."""
    import redis.asyncio as aioredis

    extra: dict[str, Any] = {}
    if password_file:
        url, user = _without_password(url)
        extra["credential_provider"] = PasswordFile(password_file, user)
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout if reply_timeout else None,
        socket_connect_timeout=timeout,
        max_connections=4,
        decode_responses=False,
        health_check_interval=0,
        client_name="flextime-exporter",
        **extra,
    )
