"""One persistent connection to the PostgreSQL target, shared by every collector.

Connection discipline, the thing postgres_exporter's users complain about most:
- one connection per target, kept between scrapes (``application_name`` names it
  in pg_stat_activity), made again after a server restart;
- ``connect_timeout``, ``statement_timeout`` and ``lock_timeout`` on the session,
  and every wait also bounded by the scrape deadline, so a server that accepts
  TCP and never answers costs one deadline, not a hung scrape;
- queries of concurrent collectors take turns on the connection, and concurrent
  scrapes share one run (the core's coalescing), so 8 scrapers still mean one
  backend.

``pg_up`` comes from a real query in the same scrape, never from an earlier one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from ..core.collector import NoData
from ..core.metrics import COUNTER, GAUGE, UNTYPED, MetricDef
from ..core.scrape import ScrapeHooks, ScrapeResult, describe_error, remaining_seconds
from .dsn import redact, scrub, server_label

log = logging.getLogger("exporters.postgres")

UP = MetricDef("pg_up", GAUGE, "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).")
STATIC = MetricDef("pg_static", UNTYPED, "Version string as reported by postgres", ("server", "short_version", "version"))
LAST_ERROR = MetricDef("pg_exporter_last_scrape_error", GAUGE,
                       "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).")
SCRAPES = MetricDef("pg_exporter_scrapes_total", COUNTER, "Total number of times PostgreSQL was scraped for metrics.")
LAST_DURATION = MetricDef("pg_exporter_last_scrape_duration_seconds", GAUGE,
                          "Duration of the last scrape of metrics from PostgreSQL.")
STATUS_METRICS = (UP, STATIC, LAST_ERROR, SCRAPES, LAST_DURATION)

_PROBE_SQL = "SELECT current_setting('server_version_num')::int, version(), pg_is_in_recovery()"


def _resolve(future: asyncio.Future, result) -> None:
    """Give a waiting collector its result or exception, unless it stopped waiting."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _left(cap: float = 30.0) -> float:
    """Seconds a wait may take: the scrape deadline, or ``cap`` outside a scrape (/health)."""
    return max(0.01, min(cap, remaining_seconds()))


class TargetDown(NoData):
    """The connection check of this scrape failed; collectors fail fast with this
    (the session has logged the cause once; the collectors only log it at debug)."""


def short_version(version: str) -> str:
    """'PostgreSQL 15.18 (Debian ...)' -> '15.18.0', as postgres_exporter's short_version."""
    m = re.search(r"PostgreSQL (\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    if not m:
        return "0.0.0"
    return ".".join(g or "0" for g in m.groups())


class PgSession(ScrapeHooks):
    def __init__(self, dsn: str, *, application_name: str, connect_timeout: float,
                 statement_timeout: float, lock_timeout: float) -> None:
        self.dsn = dsn
        self.display = redact(dsn)
        self.server = server_label(dsn)
        self.application_name = application_name
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.lock_timeout = lock_timeout
        self._conn = None
        self._lock = asyncio.Lock()
        self._queue: list = []  # (sql, params, future) waiting for the next pipeline
        self.up = False
        self.version_num = 0
        self.version = ""
        self.in_recovery = False
        self.error = ""
        self.scrapes = 0
        self._logged_error = ""

    # ---- connection -----------------------------------------------------------------------
    async def _connect(self):
        import psycopg

        budget = _left(self.connect_timeout)
        options = f"-c statement_timeout={int(self.statement_timeout * 1000)} -c lock_timeout={int(self.lock_timeout * 1000)}"
        return await asyncio.wait_for(
            psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, application_name=self.application_name,
                connect_timeout=max(2, int(self.connect_timeout)), options=options,
                prepare_threshold=None),  # no server-side prepared statements: works behind PgBouncer
            timeout=budget)

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._close_quietly(conn)

    @staticmethod
    async def _close_quietly(conn) -> None:
        try:
            await asyncio.wait_for(conn.close(), timeout=1)
        except Exception:  # a connection we give up on may fail to close cleanly
            pass

    async def fetch(self, sql: str, params=None) -> tuple[list[str], list[tuple]]:
        """Run one query on the shared connection within the scrape deadline:
        (column names, rows).

        The queries that collectors issue at the same moment (they start together)
        go to the server as one pipeline: one round trip for the batch instead of
        one per query. A failure that leaves the connection unusable drops it."""
        if not self.up or self._conn is None:
            raise TargetDown(f"no connection to {self.display}")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((sql, params, future))
        if len(self._queue) == 1:
            loop.call_soon(self._start_batch)  # after every collector started in this tick has queued
        return await future

    def _start_batch(self) -> None:
        batch, self._queue = self._queue, []
        asyncio.get_running_loop().create_task(self._run_batch(batch))

    async def _run_batch(self, batch: list) -> None:
        import psycopg

        async with self._lock:
            items = [item for item in batch if not item[2].done()]  # skip callers already cancelled
            conn = self._conn
            try:
                if conn is None or not items:
                    raise TargetDown(f"no connection to {self.display}")
                await asyncio.wait_for(self._pipeline(conn, items), timeout=_left())
            except asyncio.CancelledError:
                self._give_up(conn)
                raise
            except (asyncio.TimeoutError, psycopg.OperationalError, TargetDown) as exc:
                # mid-protocol or broken: a new connection next scrape
                self._give_up(conn)
                error = exc if isinstance(exc, TargetDown) else TargetDown(scrub(describe_error(exc), self.dsn))
                for _, _, future in items:
                    _resolve(future, error)

    def _give_up(self, conn) -> None:
        if conn is not None and self._conn is conn:
            self._conn = None
            asyncio.get_running_loop().create_task(self._close_quietly(conn))

    async def _pipeline(self, conn, items: list) -> None:
        """Send the batch as one pipeline and hand each result to its collector as soon as it
        arrives, so collectors turn rows into metrics while the server still runs the later
        queries. A query error aborts the rest of a pipeline: the unanswered ones are then run
        one at a time, so only the failing collector fails."""
        import psycopg

        pending = list(items)
        try:
            async with conn.pipeline():
                cursors = [conn.cursor() for _ in items]
                for cur, (sql, params, _) in zip(cursors, items):
                    await cur.execute(sql, params)
                for cur, (_, _, future) in zip(cursors, items):
                    _resolve(future, await self._result(cur))
                    pending.pop(0)
            return
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            pass
        for sql, params, future in pending:
            try:
                _resolve(future, await self._result(await conn.execute(sql, params)))
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                _resolve(future, RuntimeError(scrub(describe_error(exc), self.dsn)))

    @staticmethod
    async def _result(cur) -> tuple[list[str], list[tuple]]:
        rows = await cur.fetchall()  # in a pipeline this is what waits for the result to arrive
        return [d.name for d in cur.description or ()], rows

    # ---- ScrapeHooks ----------------------------------------------------------------------
    async def before(self) -> None:
        """Check (or make) the connection with a real query: this scrape's pg_up."""
        self.scrapes += 1
        await self._check()

    async def _probe(self) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            await self._discard()
            self._conn = await self._connect()
        async with self._lock:
            cur = await asyncio.wait_for(self._conn.execute(_PROBE_SQL), timeout=_left())
            self.version_num, self.version, self.in_recovery = await cur.fetchone()

    async def _check(self) -> None:
        import psycopg

        try:
            try:
                await self._probe()
            except psycopg.OperationalError:
                if self._conn is None:
                    raise
                # the kept connection died (a server restart since the last scrape): one fresh try
                await self._discard()
                await self._probe()
            self.up, self.error = True, ""
            if self._logged_error:
                log.info("connected to %s again", self.display)
                self._logged_error = ""
        except asyncio.CancelledError:
            self.up, self.error = False, "timed out"
            await self._discard()
            raise
        except Exception as exc:
            self.up = False
            self.error = "timed out" if isinstance(exc, asyncio.TimeoutError) else scrub(describe_error(exc), self.dsn)
            await self._discard()
            if self.error != self._logged_error:  # once per change, not every scrape
                log.error("cannot scrape %s: %s", self.display, self.error)
                self._logged_error = self.error

    def families(self, result: ScrapeResult):
        up = UP.family()
        up.add((), 1 if self.up else 0)
        out = [up]
        if self.up:
            static = STATIC.family()
            static.add((self.server, short_version(self.version), self.version), 1)
            out.append(static)
        failed = not self.up or any(not s.success for s in result.statuses.values())
        for d, v in ((LAST_ERROR, 1 if failed else 0), (SCRAPES, self.scrapes), (LAST_DURATION, result.duration)):
            fam = d.family()
            fam.add((), v)
            out.append(fam)
        return out

    async def close(self) -> None:
        await self._discard()

    async def health(self) -> str | None:
        """For /health: can the target be reached right now (a fresh probe, bounded)?"""
        if self.up and self._conn is not None:
            try:
                await self.fetch("SELECT 1")
                return None
            except Exception as exc:
                return scrub(str(exc), self.dsn)
        started = time.monotonic()
        await self._check()
        return None if self.up else (self.error or f"cannot connect ({time.monotonic() - started:.1f}s)")
