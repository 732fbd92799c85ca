"""One persistent connection to the PostgreSQL target, shared by every collector.

Connection discipline, the thing postgres_exporter's users complain about most:
- one connection per target, kept between scrapes (``application_name`` names it
  in pg_stat_activity), made again after a server restart;
- ``connect_timeout``, ``statement_timeout`` and ``lock_timeout`` on the session,
  and every wait also bounded by the scrape deadline, so a server that accepts
  TCP and never answers costs one deadline, not a hung scrape;
- queries of concurrent collectors take turns on the connection, and concurrent
  scrapes share one run (the core's coalescing), so 8 scrapers still mean one
  backend;
- except for the one read that dominates a scrape on a server with many databases,
  ``pg_database_size()`` (45 of 53 ms at 50 databases): a collector may ask for the
  "slow" lane, a second kept connection, so the server runs it beside the other
  queries on another core instead of after them. Two backends per target, at most.

``pg_up`` comes from a real query in the same scrape, never from an earlier one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import TYPE_CHECKING

from ..core.collector import NoData, Settings
from ..core.errors import describe_error
from ..core.helpers import file_signature
from ..core.helpers import resolve_future as _resolve
from ..core.logging import log_on_change
from ..core.metrics import COUNTER, GAUGE, UNTYPED, MetricDef, MetricFamily
from ..core.scrape import ScrapeHooks, ScrapeResult
from ..core.scrape import time_left as _left
from .compat import relabel
from .dsn import redact, scrub, server_label
from .fanout import DatabaseFanout, FanoutConfig
from .pipeline import connection_failed, failed_query

if TYPE_CHECKING:
    from .servershare import ServerShare

log = logging.getLogger("exporters.postgres")

UP = MetricDef(
    "pg_up",
    GAUGE,
    "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).",
)
STATIC = MetricDef(
    "pg_static", UNTYPED, "Version string as reported by postgres", ("server", "short_version", "version")
)
LAST_ERROR = MetricDef(
    "pg_exporter_last_scrape_error",
    GAUGE,
    "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).",
)
SCRAPES = MetricDef("pg_exporter_scrapes_total", COUNTER, "Total number of times PostgreSQL was scraped for metrics.")
LAST_DURATION = MetricDef(
    "pg_exporter_last_scrape_duration_seconds", GAUGE, "Duration of the last scrape of metrics from PostgreSQL."
)
BUILD_INFO = MetricDef(
    "postgres_exporter_build_info",
    GAUGE,
    "A metric with a constant '1' value labeled by version, revision, branch, goversion from which "
    "postgres_exporter was built, and the goos and goarch for the build.",
    ("branch", "goarch", "goos", "goversion", "revision", "tags", "version"),
)
RELOAD_OK = MetricDef(
    "postgres_exporter_config_last_reload_successful", GAUGE, "Postgres exporter config loaded successfully."
)
RELOAD_AT = MetricDef(
    "postgres_exporter_config_last_reload_success_timestamp_seconds",
    GAUGE,
    "Timestamp of the last successful configuration reload.",
)
STATUS_METRICS = (UP, STATIC, LAST_ERROR, SCRAPES, LAST_DURATION, BUILD_INFO, RELOAD_OK, RELOAD_AT)

_CANNOT_SCRAPE = ("cannot scrape %s: %s", "connected to %s again")  # logged once per change, not every scrape

NO_FANOUT = FanoutConfig()  # without --auto-discover-databases
CANCEL_GRACE = 2.0  # seconds a query cancelled at the scrape deadline may take to unwind

# a probe on another database's connection: does its own database exist and take this role's connections
_DATABASE_OPEN_SQL = (
    "SELECT datallowconn AND has_database_privilege(datname, 'CONNECT') FROM pg_database WHERE datname = %s"
)
# the last column: may this role read other roles' sessions in full (NULL before PostgreSQL 10)
_PROBE_SQL = (
    "SELECT current_setting('server_version_num')::int, version(), pg_is_in_recovery(), "
    "(SELECT pg_has_role(oid, 'USAGE') FROM pg_roles WHERE rolname = 'pg_monitor')"
)


class _Lane:
    """One kept connection and the queries waiting for its next pipeline."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.conn = None
        self.lock = asyncio.Lock()
        self.queue: list = []  # (sql, params, future) waiting for the next pipeline

    def usable(self) -> bool:
        return self.conn is not None and not self.conn.closed and not self.conn.broken


class DatabaseClosed(Exception):
    """A probe on a connection lent by another database of the server: its own database is gone or
    refuses this role (what a login to it would have said)."""


class TargetDown(NoData):
    """The connection check of this scrape failed; collectors fail fast with this
    (the session has logged the cause once; the collectors only log it at debug)."""


def short_version(version: str) -> str:
    """'PostgreSQL 15.18 (Debian ...)' -> '15.18.0', as postgres_exporter's short_version."""
    m = re.search(r"PostgreSQL (\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    if not m:
        return "0.0.0"
    return ".".join(g or "0" for g in m.groups())


def _build_info(tags: bool):
    """postgres_exporter's build info, with this exporter's version: dashboards that show which
    exporter version runs find it under the name they know (goversion: the Python version)."""
    import platform

    from .. import __version__

    labels = BUILD_INFO.labels if tags else tuple(n for n in BUILD_INFO.labels if n != "tags")
    fam = MetricFamily(BUILD_INFO.name, GAUGE, BUILD_INFO.help, labels)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    values = {
        "branch": "",
        "goarch": arch,
        "goos": platform.system().lower(),
        "goversion": "python" + platform.python_version(),
        "revision": os.environ.get("FLEXTIME_EXPORTER_REVISION", "unknown"),
        "tags": "",
        "version": __version__,
    }
    fam.add(tuple(values[n] for n in labels), 1)
    return fam


class PgSession(ScrapeHooks):
    def __init__(
        self,
        dsn: str,
        *,
        application_name: str,
        connect_timeout: float,
        statement_timeout: float,
        lock_timeout: float,
        second_connection: bool = True,
        constant_labels: tuple = (),
        metric_prefix: str = "pg",
        static: bool = True,
        build_info_tags: bool = True,
        config_loaded_at: float | None = None,
        fanout: FanoutConfig = NO_FANOUT,
    ) -> None:
        self.dsn = dsn
        self.fanout_config = fanout  # the per-database fan-out's (fanout.py)
        self._fanout: DatabaseFanout | None = None  # made on first use by fanout()
        self.constant_labels, self.metric_prefix = constant_labels, metric_prefix
        self.static = static  # pg_static: one of the built-in maps --disable-default-metrics leaves out
        self.build_info_tags = build_info_tags  # 0.11.1's build_info has no ``tags`` label
        # 0.17.1's --config.file metrics (None: not served, --compat=0.11); 0 when no file was given
        self.config_loaded_at = config_loaded_at
        self.second_connection = second_connection
        self.display = redact(dsn)
        self.server = self.label = server_label(dsn)
        self.application_name = application_name
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.lock_timeout = lock_timeout
        self._main = _Lane("main")  # the probe and every query but the slow ones
        self._slow = _Lane("slow")  # pg_database_size(): beside the others, on a second backend
        self.up = False
        self.version_num = 0
        self.version = ""
        self.in_recovery = False
        self.error = ""
        self.scrapes = 0
        self._logged_error = ""
        self._warned_monitor = False
        self._secret: tuple | None = None  # (file, how to build the DSN again, the file's signature)
        # a /probe target: its server's ServerShare (servershare.py) lends the connection per scrape
        self.share: ServerShare | None = None
        self.settings: Settings | None = None  # the exporter's settings, for which the share is kept
        self.dbname = ""
        self.any_database = False  # may borrow a connection of another database (nothing database-local read)
        self._borrows = 0

    def fanout(self) -> DatabaseFanout:
        """The per-database fan-out of this target (fanout.py), made on first use; its connections
        are closed by close()."""
        if self._fanout is None:
            self._fanout = DatabaseFanout(self, self.fanout_config)
        return self._fanout

    def use_share(self, settings: Settings, share: ServerShare, dbname: str, any_database: bool = False) -> None:
        """A /probe target: the connections and cluster-wide reads of its server's ``share`` (kept for
        ``settings``, servershare.py), for its database ``dbname``. ``any_database``: no per-database
        collector is on, so a probe may run on an idle connection of another database of the server
        (no login); its pg_up then also asks pg_database whether ``dbname`` takes connections."""
        self.settings, self.share, self.dbname = settings, share, dbname
        self.any_database = any_database

    # ---- connection -----------------------------------------------------------------------
    def watch_secret(self, path: str, resolve) -> None:
        """The DSN's password comes from ``path`` (DATA_SOURCE_PASS_FILE): when the file changes (a
        rotated secret) ``resolve()`` builds the DSN again, used from the next connection on."""
        self._secret = (path, resolve, file_signature(path))

    def reread_secret(self) -> None:
        """Before each new connection: the password file read again when it changed (mtime, inode, size)."""
        if self._secret is None:
            return
        path, resolve, signature = self._secret
        now = file_signature(path)
        if now == signature:
            return
        self._secret = (path, resolve, now)
        try:
            dsn = resolve()
        except Exception as exc:  # ConfigError: names the file, never the password
            log.error(
                "%s changed but cannot be used (%s); the password read before stays in use",
                path,
                scrub(describe_error(exc), self.dsn),
            )
            return
        if dsn != self.dsn:
            self.dsn = dsn
            log.info("%s changed: its password is used from the next connection to %s", path, self.display)

    async def _connect(self):
        import psycopg

        self.reread_secret()
        budget = _left(self.connect_timeout)
        options = (
            f"-c statement_timeout={int(self.statement_timeout * 1000)} -c lock_timeout={int(self.lock_timeout * 1000)}"
        )
        return await asyncio.wait_for(
            psycopg.AsyncConnection.connect(
                self.dsn,
                autocommit=True,
                application_name=self.application_name,
                connect_timeout=max(2, int(self.connect_timeout)),
                options=options,
                prepare_threshold=None,
            ),  # no server-side prepared statements: works behind PgBouncer
            timeout=budget,
        )

    @property
    def _conn(self):
        return self._main.conn

    async def _discard(self) -> None:
        """Drop both connections: the target failed (or restarted), start afresh next scrape."""
        for lane in (self._main, self._slow):
            conn, lane.conn = lane.conn, None
            if conn is not None:
                await self._close_quietly(conn)

    @staticmethod
    async def _close_quietly(conn) -> None:
        try:
            await asyncio.wait_for(conn.close(), timeout=1)
        except Exception:  # a connection we give up on may fail to close cleanly
            pass

    async def fetch(self, sql: str, params=None, *, slow: bool = False) -> tuple[list[str], list[tuple]]:
        """Run one query on the shared connection within the scrape deadline:
        (column names, rows).

        The queries that collectors issue at the same moment (they start together)
        go to the server as one pipeline: one round trip for the batch instead of
        one per query. A failure that leaves the connection unusable drops it.
        ``slow``: the second connection, for the one read that would hold up the rest."""
        if not self.up or self._main.conn is None:
            raise TargetDown(f"no connection to {self.display}")
        future = asyncio.get_running_loop().create_future()
        self._enqueue(self._slow if slow and self.second_connection else self._main, (sql, params, future))
        return await future

    def _enqueue(self, lane: _Lane, item) -> None:
        lane.queue.append(item)
        if len(lane.queue) == 1:  # start after every collector started in this tick has queued
            asyncio.get_running_loop().call_soon(self._start_batch, lane)

    def _start_batch(self, lane: _Lane) -> None:
        batch, lane.queue = lane.queue, []
        asyncio.get_running_loop().create_task(self._run_batch(lane, batch))

    async def _run_batch(self, lane: _Lane, batch: list) -> None:
        import psycopg

        async with lane.lock:
            items = [item for item in batch if not item[2].done()]  # skip callers already cancelled
            if not items:
                return
            if lane is self._slow and not lane.usable() and not await self._connect_slow_lane():
                for item in items:  # no second connection: the main one runs them after the rest
                    self._enqueue(self._main, item)
                return
            conn = lane.conn
            try:
                if conn is None:
                    raise TargetDown(f"no connection to {self.display}")
                await self._bounded(conn, items)
            except asyncio.CancelledError:
                self._give_up(lane, conn)
                raise
            except (asyncio.TimeoutError, psycopg.Error, TargetDown) as exc:
                # mid-protocol or broken: a new connection next scrape
                self._give_up(lane, conn)
                error = exc if isinstance(exc, TargetDown) else TargetDown(scrub(describe_error(exc), self.dsn))
                for _, _, future in items:
                    _resolve(future, error)

    async def _bounded(self, conn, items: list) -> None:
        """The batch's pipeline within the scrape deadline. Shortly before the deadline the server
        is asked to cancel the query it is running (as a statement timeout would): that query's
        collector fails and the queries queued behind it still answer in time. At the deadline
        whatever runs is cancelled too, and the pipeline gets CANCEL_GRACE seconds to unwind, so
        the connection is kept: a slow query costs its collector, not a new backend every scrape.
        Raises TimeoutError when the server does not answer the cancel."""
        task = asyncio.ensure_future(self._pipeline(conn, items))
        left = _left()
        margin = min(1.0, 0.2 * left)  # time left for the queries behind a cancelled one
        try:
            for step, wait in enumerate((left - margin, None, CANCEL_GRACE)):
                done, _ = await asyncio.wait({task}, timeout=max(0.0, _left() if wait is None else wait))
                if done:
                    break
                if step == 2:  # the server did not answer the cancel in time
                    raise asyncio.TimeoutError()
                log.debug("a query on %s runs into the scrape deadline: cancelling it", self.display)
                if hasattr(conn, "cancel_safe"):  # psycopg 3.2+
                    await asyncio.wait_for(conn.cancel_safe(timeout=CANCEL_GRACE), timeout=CANCEL_GRACE)
                else:
                    await asyncio.wait_for(asyncio.to_thread(conn.cancel), timeout=CANCEL_GRACE)
        except asyncio.CancelledError:
            task.cancel()
            raise
        except Exception as exc:  # the cancel failed (or timed out): the connection goes
            if not task.done():
                task.cancel()
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise asyncio.TimeoutError() from exc
        task.result()

    async def _connect_slow_lane(self) -> bool:
        """Make the second connection (first use, or after it broke); False when that fails."""
        if self._slow.conn is not None:
            await self._close_quietly(self._slow.conn)
            self._slow.conn = None
        try:
            self._slow.conn = await self._connect()
            return True
        except Exception as exc:  # the main connection works (pg_up 1): only log, and use it
            log.debug("no second connection to %s: %s", self.display, scrub(describe_error(exc), self.dsn))
            return False

    def _give_up(self, lane: _Lane, conn) -> None:
        if conn is not None and lane.conn is conn:
            lane.conn = None
            asyncio.get_running_loop().create_task(self._close_quietly(conn))

    async def _pipeline(self, conn, items: list) -> None:
        """Send the batch as one pipeline and hand each result to its collector as soon as it
        arrives, so collectors turn rows into metrics while the server still runs the later
        queries. A query error (a statement timeout, a user query's mistake) aborts the rest of a
        pipeline: that query's collector gets the error, the unanswered ones go out again as a new
        pipeline on the same connection. Only a failure of the connection itself raises."""
        import psycopg

        pending = list(items)
        while True:
            pending = [item for item in pending if not item[2].done()]  # not those given up on
            if not pending:
                return
            cursors: list = []
            try:
                async with conn.pipeline():
                    cursors = [conn.cursor() for _ in pending]
                    for cur, (sql, params, _) in zip(cursors, pending):
                        await cur.execute(sql, params)
                    for cur, (_, _, future) in zip(list(cursors), list(pending)):
                        _resolve(future, await self._result(cur))
                        pending.pop(0)
                        cursors.pop(0)
                return
            except psycopg.Error as exc:
                if connection_failed(conn, exc):
                    raise
                if pending:  # the query that failed (the first unanswered when psycopg cannot tell) is not sent again
                    failed = failed_query(cursors) or 0
                    _resolve(pending.pop(failed)[2], RuntimeError(scrub(describe_error(exc), self.dsn)))

    @staticmethod
    async def _result(cur) -> tuple[list[str], list[tuple]]:
        rows = await cur.fetchall()  # in a pipeline this is what waits for the result to arrive
        return [d.name for d in cur.description or ()], rows

    # ---- ScrapeHooks ----------------------------------------------------------------------
    async def before(self) -> None:
        """Check (or make) the connection with a real query: this scrape's pg_up."""
        self.scrapes += 1
        if self.share is not None and not await self._borrow():
            return
        await self._check()

    async def _borrow(self) -> bool:
        """A /probe target: take a connection of its server's share for this scrape (given back
        in families()); concurrent scrapes of the target use the same one."""
        self._borrows += 1
        if self._borrows > 1:
            return True
        try:
            self._main.conn = await self.share.take(self.dbname, self.any_database)
            return True
        except (Exception, asyncio.CancelledError) as exc:
            self._borrows -= 1
            self.up = False
            self.error = (
                f"no free connection to the server within the scrape deadline "
                f"(--probe.connections-per-server {self.share.connections})"
            )
            if self.error != self._logged_error:
                log.error("cannot scrape %s: %s", self.display, self.error)
                self._logged_error = self.error
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False

    def _give_back(self) -> None:
        if self.share is None or self._borrows == 0:
            return
        self._borrows -= 1
        if self._borrows == 0:
            conn, self._main.conn = self._main.conn, None
            if not self._main.lock.locked():
                self.share.give(self.dbname, conn)
                return
            # a pipeline still ends on it (its results are in, its sync is not): given back after that
            asyncio.get_running_loop().create_task(self._give_when_done(conn))

    async def _give_when_done(self, conn) -> None:
        async with self._main.lock:
            self.share.give(self.dbname, conn)

    async def _probe(self) -> None:
        if not self._main.usable():
            await self._discard()
            self._main.conn = await self._connect()
        async with self._main.lock:
            cur = await asyncio.wait_for(self._conn.execute(_PROBE_SQL), timeout=_left())
            self.version_num, self.version, self.in_recovery, monitor = await cur.fetchone()
            if self.share is not None and self._conn.info.dbname != self.dbname:  # lent by another database
                cur = await asyncio.wait_for(self._conn.execute(_DATABASE_OPEN_SQL, (self.dbname,)), timeout=_left())
                row = await cur.fetchone()
                if row is None or not row[0]:
                    raise DatabaseClosed(
                        f'database "{self.dbname}" does not exist'
                        if row is None
                        else f'database "{self.dbname}" does not accept connections (datallowconn, or CONNECT privilege)'
                    )
        if monitor is False and not self._warned_monitor:  # once per process: it does not change by itself
            self._warned_monitor = True
            log.warning(
                "%s: the role is not a member of pg_monitor: pg_stat_activity hides other roles' "
                "sessions' state, query and wait event, so the activity metrics undercount them",
                self.display,
            )

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
            self._logged_error = log_on_change(log, self._logged_error, "", *_CANNOT_SCRAPE, self.display)
        except asyncio.CancelledError:
            self.up, self.error = False, "timed out"
            await self._discard()
            raise
        except Exception as exc:
            self.up = False
            self.error = "timed out" if isinstance(exc, asyncio.TimeoutError) else scrub(describe_error(exc), self.dsn)
            if not isinstance(exc, DatabaseClosed):  # that one's lent connection is sound: it goes back
                await self._discard()
            self._logged_error = log_on_change(log, self._logged_error, self.error, *_CANNOT_SCRAPE, self.display)

    def families(self, result: ScrapeResult):
        self._give_back()
        up = UP.family()
        up.add((), 1 if self.up else 0)
        out = [up]
        if self.up and self.static:
            static = STATIC.family()
            static.add((self.server, short_version(self.version), self.version), 1)
            out.append(static)
        failed = not self.up or any(not s.success for s in result.statuses.values())
        for d, v in ((LAST_ERROR, 1 if failed else 0), (SCRAPES, self.scrapes), (LAST_DURATION, result.duration)):
            fam = d.family()
            fam.add((), v)
            out.append(fam)
        if self.constant_labels or self.metric_prefix != "pg":  # the collectors' families too, once per run
            result.families[:] = relabel(result.families, self.constant_labels, self.metric_prefix)
            out = relabel(out, self.constant_labels, self.metric_prefix)
        out.append(_build_info(self.build_info_tags))
        if self.config_loaded_at is not None:
            for d, v in ((RELOAD_OK, 1 if self.config_loaded_at else 0), (RELOAD_AT, self.config_loaded_at)):
                fam = d.family()
                fam.add((), v)
                out.append(fam)
        return out

    async def close(self) -> None:
        if self._fanout is not None:  # the per-database fan-out's connections (fanout.py)
            await self._fanout.close()
        if self.share is not None:
            from . import servershare

            if self._borrows:
                self._borrows = 1
                self._give_back()
            await servershare.release(self.settings, self.share, self.dbname)
            return
        await self._discard()

    def probe_view(self, result: ScrapeResult, query) -> ScrapeResult:
        """``/probe?...&scope=database``: only the probed database's series (those labelled with its
        ``datname``, and the per-database collectors' own) and the target's status; every other
        series is the server's, served by a probe without ``scope``."""
        scope = query.get("scope", "")
        if scope in ("", "server") or self.share is None:
            return result
        from .servershare import PER_DATABASE

        own = f'datname="{self.dbname}"'
        keep_whole = {d.name for d in STATUS_METRICS} | {
            "pg_scrape_collector_success",
            "pg_scrape_collector_duration_seconds",
        }
        keep_whole |= {self.metric_prefix + n[2:] for n in keep_whole if n.startswith("pg_")}
        per_db = set(PER_DATABASE)
        out = []
        for fam in result.families:
            if "datname" in fam.labelnames:
                samples = [s for s in fam.samples if own in s[1]]
                if samples:
                    out.append(
                        MetricFamily(
                            fam.name, fam.type, fam.help, fam.labelnames, samples, 0, {(n, b) for n, b, _ in samples}
                        )
                    )
            elif fam.name in keep_whole or fam.name in self._per_database_families(per_db):
                out.append(fam)
        return ScrapeResult(out, result.started_at, result.duration, result.statuses)

    def _per_database_families(self, per_db: set) -> set:
        names = getattr(self, "_per_db_names", None)
        if names is None:
            from .registry import pg_collectors

            names = set()
            for name in per_db:
                try:
                    cls = pg_collectors.get(name)
                except KeyError:
                    continue
                for d in getattr(cls, "metrics", ()) or ():
                    names.add(d.name)
                    names.add(self.metric_prefix + d.name[2:] if d.name.startswith("pg_") else d.name)
            self._per_db_names = names
        return names

    async def health(self) -> str | None:
        """For /health: can the target be reached right now (a fresh probe, bounded)?"""
        if self.share is not None:  # a /probe target: a connection of the share, only for this
            if not await self._borrow():
                return self.error
            try:
                await self._check()
                return None if self.up else self.error
            finally:
                self._give_back()
        if self.up and self._conn is not None:
            try:
                await self.fetch("SELECT 1")
                return None
            except Exception as exc:
                return scrub(str(exc), self.dsn)
        started = time.monotonic()
        await self._check()
        return None if self.up else (self.error or f"cannot connect ({time.monotonic() - started:.1f}s)")
