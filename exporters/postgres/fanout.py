"""A bounded per-database fan-out: per-database statistics (pg_stat_user_tables and its kin
only show the tables of the database a session is connected to) read from every database of
the target, with postgres_exporter's ``--auto-discover-databases``, ``--exclude-databases``
and ``--include-databases``.

Why not one kept connection per database, as postgres_exporter does: at 50 databases that is
52 of the server's ``max_connections``, idle between scrapes. Here at most
``--postgres.fanout-connections`` (default 3) extra connections are open at any moment, per
session, whatever the number of concurrent scrapes: a count of open connections (in use or
kept idle), where a slot is free again only once the server has ended the backend.

One scrape: the collectors' requests of one event-loop tick form a batch (as PgSession.fetch
batches its pipeline); the databases are listed (``session.fetch``), and each database gets
one connection on which all of the batch's queries go as one pipeline. The DSN's own
database uses the session's connection. A database that fails (dropped meanwhile, CONNECT
revoked, a timeout) fails alone: its futures carry :class:`DatabaseFailed`, and the
collectors serve the other databases' series (the core's PartialFailure). New connections log
in with the target's SCRAM keys where they can (scram.py), sparing the client PBKDF2 each time."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass

import click

from ..core.collector import Flag, Settings
from ..core.errors import describe_error
from ..core.helpers import resolve_future as _resolve
from ..core.scrape import time_left as _left
from . import scram
from .dsn import scrub
from .pipeline import connection_failed, failed_query

log = logging.getLogger("exporters.postgres")

LIST_SQL = (
    "SELECT datname, datname = current_database() AS own FROM pg_database "
    "WHERE datallowconn AND NOT datistemplate ORDER BY datname"
)

FANOUT_FLAGS = (
    Flag(
        "--auto-discover-databases",
        "auto_discover_databases",
        "Read the per-database collectors (stat_user_tables, statio_user_tables, statio_user_indexes) in every "
        "database that allows connections, not only the DSN's.",
        default=False,
        type=bool,
    ),
    Flag(
        "--exclude-databases", "exclude_databases", "Comma-separated databases the fan-out leaves out.", metavar="NAMES"
    ),
    Flag(
        "--include-databases",
        "include_databases",
        "Comma-separated databases the fan-out reads, none else; "
        "a name in both lists is left out, as in postgres_exporter.",
        metavar="NAMES",
    ),
    Flag(
        "--postgres.fanout-connections",
        "postgres_fanout_connections",
        "Most connections the fan-out opens at once besides the session's own, whatever the number of "
        "concurrent scrapes.",
        default=3,
        type=click.IntRange(min=1),
    ),
)

SCRAM_RETRY_SECONDS = 300.0  # after a failed try at the SCRAM keys (scram.py)
STICKY_SECONDS = 0.05  # a database whose reads take this long keeps its connection when it can (see below)


@dataclass(frozen=True)
class FanoutConfig:
    """The fan-out flags as validate() read them (part of the exporter's options)."""

    enabled: bool = False  # --auto-discover-databases
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    connections: int = 3  # --postgres.fanout-connections

    def wants(self, datname: str) -> bool:
        """postgres_exporter's rule: excluded names never, and only included ones when any are given."""
        return datname not in self.exclude and (not self.include or datname in self.include)


def _names(text: str | None) -> frozenset[str]:
    return frozenset(n.strip() for n in (text or "").split(",") if n.strip())


def configure(settings: Settings) -> FanoutConfig:
    """The fan-out flags (postgres_exporter's PG_EXPORTER_* variables are read by the runtime,
    through the spec's go_env_prefix), read once by validate() into the exporter's options."""
    config = FanoutConfig(
        bool(settings.get("auto_discover_databases")),
        _names(settings.get("include_databases")),
        _names(settings.get("exclude_databases")),
        int(settings.get("postgres_fanout_connections") or 3),
    )
    if not config.enabled and (config.include or config.exclude):  # once per exporter, not per target
        log.warning("--include-databases / --exclude-databases have no effect without --auto-discover-databases")
    return config


class DatabaseFailed(Exception):
    """One database could not be read; the message names it and never holds a password."""

    def __init__(self, datname: str, reason: str) -> None:
        super().__init__(f"{datname}: {reason}")
        self.datname = datname
        self.reason = reason


def failure_message(failed: list[DatabaseFailed], total: int) -> str:
    """'1 of 4 databases failed: app3: OperationalError: ...', naming at most three."""
    shown = "; ".join(str(f) for f in failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"{len(failed)} of {total} databases failed: {shown}"


def _retrieve(future: asyncio.Future) -> None:
    """A collector that stopped waiting leaves its futures behind: no 'exception never retrieved' noise."""
    if not future.cancelled():
        future.exception()


class DatabaseFanout:
    """Runs per-database SQL in every wanted database of one session's target (see the module doc).
    The session makes it on first use (``PgSession.fanout()``) and closes it with itself."""

    def __init__(self, session, config: FanoutConfig) -> None:
        self.session = session
        self.config = config
        self._open = 0  # fan-out connections open (in use or kept idle): never above config.connections
        self._waiters: list[tuple[str, asyncio.Future]] = []  # (database, future): waiting for a connection
        # Connections kept between scrapes, by database; each counts as open. Measured at 50
        # databases (db001 with 5,000 tables): a connect (SCRAM, backend fork) costs ~12 ms, and a
        # new backend reads db001's tables in 600-800 ms where a kept one (relation cache warm)
        # needs ~370 ms. So: when every wanted database besides the DSN's fits in the bound, all
        # connections are kept (no connect at all); otherwise only those of the costliest
        # databases, at most bound - 2 of them (bound - 1 below a bound of 3: at least two slots
        # rotate through the rest when the bound allows), and only when their reads took
        # STICKY_SECONDS or more; every other one is closed after use.
        self._idle: dict[str, object] = {}
        self._keep: set[str] = set()  # whose connections the latest batch keeps (never evicted for others)
        self._cost: dict[str, float] = {}  # seconds of the last read, by database
        self._queue: list[tuple[str, asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()
        self._scram: dict | None = None  # libpq options with the SCRAM keys; None: not learned (yet)
        self._scram_retry = 0.0  # monotonic time from which learning them may be tried (again)
        self._scram_refused = -SCRAM_RETRY_SECONDS  # monotonic time the keys were last refused

    # ---- requests ---------------------------------------------------------------------------
    async def fetch(self, sql: str) -> list[tuple[str, asyncio.Future]]:
        """Run ``sql`` in every wanted database: [(datname, future of (columns, rows))] in
        database-name order, as soon as the databases are listed; a future fails with
        DatabaseFailed for its database alone. Requests of the same tick share connections."""
        loop = asyncio.get_running_loop()
        plan = loop.create_future()
        self._queue.append((sql, plan))
        if len(self._queue) == 1:
            loop.call_soon(self._start_batch)  # after every collector started in this tick has asked
        return await plan

    def _start_batch(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[tuple[str, asyncio.Future]]) -> None:
        try:
            _, rows = await self.session.fetch(LIST_SQL)
        except Exception as exc:  # the target is down (TargetDown) or the list cannot be read
            for _, plan in batch:
                _resolve(plan, exc)
            await self._close_idle(keep=())  # kept connections are suspect too
            return
        wanted = [(name, own) for name, own in rows if self.config.wants(name)]
        loop = asyncio.get_running_loop()
        futures = {name: [loop.create_future() for _ in batch] for name, _ in wanted}
        for fs in futures.values():
            for f in fs:
                f.add_done_callback(_retrieve)
        for i, (_, plan) in enumerate(batch):
            _resolve(plan, [(name, futures[name][i]) for name, _ in wanted])
        sqls = [sql for sql, _ in batch]
        # the costliest first (they set the scrape's length), the rest by name
        others = sorted((name for name, own in wanted if not own), key=lambda n: -self._cost.get(n, 0.0))
        self._cost = {n: c for n, c in self._cost.items() if n in futures}  # forget dropped databases
        bound = self.config.connections
        if len(others) <= bound:
            keep = set(others)
        else:
            # at least two slots rotate when the bound allows it: a kept connection is idle once its
            # database is read, and one rotating slot would read the rest one database at a time
            sticky = bound - 2 if bound >= 3 else bound - 1
            keep = {n for n in others[:sticky] if self._cost.get(n, 0.0) >= STICKY_SECONDS}
        self._keep = keep
        await self._close_idle(keep=keep)
        jobs = [self._on_session(name, sqls, futures[name]) for name, own in wanted if own]
        jobs += [self._on_database(name, sqls, futures[name], name in keep) for name in others]
        await asyncio.gather(*jobs)

    # ---- the DSN's own database: the session's connection and pipeline ------------------------
    async def _on_session(self, datname: str, sqls: list[str], futures: list[asyncio.Future]) -> None:
        results = await asyncio.gather(*(self.session.fetch(sql) for sql in sqls), return_exceptions=True)
        for future, result in zip(futures, results):
            if isinstance(result, BaseException):
                result = DatabaseFailed(datname, scrub(str(result) or type(result).__name__, self.session.dsn))
            _resolve(future, result)

    # ---- every other database: a connection of its own, within the bound -----------------------
    async def _on_database(self, datname: str, sqls: list[str], futures: list[asyncio.Future], keep: bool) -> None:
        import psycopg

        conn = None
        try:
            conn = await self._take(datname)
            for _attempt in range(2):
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(datname)
                try:
                    started = time.perf_counter()
                    results = await self._bounded(self._pipeline(conn, sqls), conn)
                    self._cost[datname] = elapsed = time.perf_counter() - started
                    log.debug(
                        "fan-out: %s read in %.1f ms on a %s connection",
                        datname,
                        elapsed * 1000,
                        "kept" if reused else "new",
                    )
                    break
                except psycopg.OperationalError:
                    if not reused:
                        raise
                    # a kept connection that died since the last scrape (a server restart): one fresh try
                    await self._close(conn, keep_slot=True)
                    conn = None
            for future, result in zip(futures, results):
                if isinstance(result, BaseException):
                    result = DatabaseFailed(datname, self._reason(result))
                _resolve(future, result)
        except (Exception, asyncio.CancelledError) as exc:
            failed = DatabaseFailed(datname, self._reason(exc))
            for future in futures:
                _resolve(future, failed)
            if conn is not None:  # mid-protocol or broken: never kept
                await self._close(conn)
                conn = None
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            if conn is not None:
                if keep and datname not in self._idle and not conn.closed:
                    self._idle[datname] = conn
                    self._wake(datname)
                else:
                    await self._close(conn)

    # ---- the bound ----------------------------------------------------------------------------
    async def _take(self, datname: str):
        """The kept connection of ``datname``, or None with a slot taken (connect then), waiting
        within the scrape deadline. A kept connection counts as open: a database that finds none
        of its own and no free slot waits for one (a connection closed, or its own one back from
        a concurrent scrape); idle connections the latest batch does not keep are closed for it."""
        try:
            async with asyncio.timeout(_left()):
                while True:
                    conn = self._idle.pop(datname, None)
                    if conn is not None:
                        return conn
                    if self._open < self.config.connections:
                        self._open += 1
                        return None
                    spare = next((n for n in self._idle if n not in self._keep), None)
                    if spare is not None:
                        await self._close(self._idle.pop(spare), keep_slot=True)  # its slot is ours now
                        return None
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.append((datname, waiter))
                    try:
                        await waiter
                    except BaseException:
                        if (datname, waiter) in self._waiters:
                            self._waiters.remove((datname, waiter))
                        elif waiter.done() and not waiter.cancelled():
                            self._wake(None)  # woken, but leaving: pass the wake-up on
                        raise
        except TimeoutError:
            raise TimeoutError("no fan-out connection free within the scrape deadline") from None

    def _wake(self, datname: str | None) -> None:
        """A slot is free (None) or ``datname``'s connection is back idle: wake the first waiter it
        helps (any, when that connection may be closed for another database)."""
        self._waiters = [(n, w) for n, w in self._waiters if not w.done()]  # cancelled meanwhile
        for i, (name, waiter) in enumerate(self._waiters):
            if datname is None or name == datname:
                del self._waiters[i]
                waiter.set_result(None)
                return
        if datname is not None and datname not in self._keep:
            self._wake(None)

    async def _connect(self, datname: str):
        """A connection to ``datname`` as the session makes its own (the slot is taken); on
        failure the slot is given back. With the target's SCRAM keys when it has them (scram.py):
        a login then costs the client two HMACs instead of PBKDF2."""
        import psycopg

        s = self.session
        s.reread_secret()  # a rotated DATA_SOURCE_PASS_FILE
        options = f"-c statement_timeout={int(s.statement_timeout * 1000)} -c lock_timeout={int(s.lock_timeout * 1000)}"

        async def attempt(keys: dict):
            return await asyncio.wait_for(
                psycopg.AsyncConnection.connect(
                    s.dsn,
                    dbname=datname,
                    autocommit=True,
                    application_name=s.application_name,
                    connect_timeout=max(2, int(s.connect_timeout)),
                    options=options,
                    prepare_threshold=None,
                    **keys,
                ),
                timeout=_left(s.connect_timeout),
            )

        try:
            keys = await self._scram_keys(datname)
            if keys:
                try:
                    return await attempt(keys)
                except psycopg.OperationalError:
                    conn = await attempt({})  # the keys may be stale: a new password, or a new salt
                    self._scram = None
                    now = time.monotonic()
                    if now - self._scram_refused < SCRAM_RETRY_SECONDS:
                        # refused twice within minutes: something (a pooler that makes a new salt
                        # per login) defeats the keys; logging in twice per connection would cost
                        # more than PBKDF2, so the password alone is used for a while
                        self._scram_retry = now + SCRAM_RETRY_SECONDS
                        log.debug("fan-out: SCRAM keys refused again; the password alone for %ds", SCRAM_RETRY_SECONDS)
                    else:
                        log.debug("fan-out: SCRAM keys refused where the password was not; learning them again")
                    self._scram_refused = now
                    return conn
            return await attempt({})
        except asyncio.TimeoutError:
            self._release()
            raise TimeoutError("connecting timed out") from None
        except BaseException:
            self._release()
            raise

    async def _scram_keys(self, datname: str) -> dict:
        """libpq's options for the target's SCRAM keys, learned once by a login to ``datname``
        with its slot taken (so that login counts within the bound, on the database it was taken
        for); {} when the target cannot use them (scram.py)."""
        if self._scram is None and time.monotonic() >= self._scram_retry:
            self._scram = {}  # meanwhile the other slots log in with the password
            conn = getattr(self.session, "_conn", None)
            target = scram.eligible(conn) if conn is not None and not conn.closed else None
            if target is None:
                self._scram, self._scram_retry = None, time.monotonic() + SCRAM_RETRY_SECONDS
                return {}
            target["dbname"] = datname
            try:
                self._scram = await scram.learn(target, _left(self.session.connect_timeout))
                log.debug("fan-out: SCRAM keys learned for %s", self.session.display)
            except scram.ScramUnavailable as exc:
                self._scram = None
                self._scram_retry = float("inf") if exc.permanent else time.monotonic() + SCRAM_RETRY_SECONDS
                log.debug("fan-out: no SCRAM keys for %s: %s", self.session.display, scrub(str(exc), self.session.dsn))
        return self._scram or {}

    def _release(self) -> None:
        self._open -= 1
        self._wake(None)

    @staticmethod
    async def _bounded(work, conn):
        """Await ``work`` (I/O on ``conn``) within the scrape deadline. Unlike wait_for, never wait
        for a cancelled pipeline to unwind: its exit talks to the server, which may not answer;
        the caller closes ``conn`` instead, which ends it."""
        task = asyncio.ensure_future(work)
        task.add_done_callback(_retrieve)
        try:
            done, _ = await asyncio.wait({task}, timeout=_left())
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            # its unwinding may wait on the server; once the caller has closed conn, end it for good
            asyncio.get_running_loop().call_later(2.0, task.cancel)
            raise TimeoutError("its queries timed out")
        return task.result()

    @staticmethod
    async def _pipeline(conn, sqls: list[str]) -> list:
        """All queries as one pipeline: [(columns, rows) or the psycopg.Error of that query]. A
        query error (a statement timeout) aborts the rest of a pipeline: that query keeps its
        error and the unanswered ones go out again as a new pipeline on the same connection;
        only a failure of the connection itself raises."""
        import psycopg

        out: list = [None] * len(sqls)
        while True:
            pending = [i for i in range(len(sqls)) if out[i] is None]
            if not pending:
                return out
            cursors: list = []
            try:
                async with conn.pipeline():
                    cursors = [conn.cursor() for _ in pending]
                    for cur, i in zip(cursors, pending):
                        await cur.execute(sqls[i])
                    for cur, i in zip(list(cursors), pending):
                        rows = await cur.fetchall()
                        out[i] = ([d.name for d in cur.description or ()], rows)
                        cursors.pop(0)
            except psycopg.Error as exc:
                if connection_failed(conn, exc):
                    raise
                failed = failed_query(cursors)
                done = len(pending) - len(cursors)
                index = done + (failed or 0)
                if index < len(pending):
                    out[pending[index]] = exc
                elif done == 0:  # no query answered and none to blame: the first keeps the error
                    out[pending[0]] = exc

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, asyncio.CancelledError) or (isinstance(exc, TimeoutError) and not str(exc)):
            return "timed out"
        return scrub(describe_error(exc), self.session.dsn)

    async def _close(self, conn, keep_slot: bool = False) -> None:
        """Close, wait (briefly) until the server has ended the backend, then free the slot: the
        bound holds as the server counts backends, not only as we count sockets. The backend
        closes its socket only after leaving pg_stat_activity, so EOF on a duplicate of our
        socket tells us it is gone. ``keep_slot``: the caller goes on using the slot."""
        sock = None
        try:
            sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
            sock.setblocking(False)
        except Exception:  # already closed: nothing to wait for
            sock = None
        try:
            await asyncio.wait_for(conn.close(), timeout=_left(1.0))
        except Exception:
            pass
        try:
            if sock is not None:
                loop = asyncio.get_running_loop()
                async with asyncio.timeout(min(0.25, _left())):
                    while await loop.sock_recv(sock, 4096):
                        pass
        except (Exception, asyncio.CancelledError):
            pass
        finally:
            if sock is not None:
                sock.close()
            if not keep_slot:
                self._release()

    async def _close_idle(self, keep) -> None:
        for name in [n for n in self._idle if n not in keep]:
            await self._close(self._idle.pop(name))

    async def close(self) -> None:
        """At shutdown (session.close()): stop running batches, close every connection."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        await self._close_idle(keep=())
