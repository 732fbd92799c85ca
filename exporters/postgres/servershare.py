"""What the /probe targets of one PostgreSQL server share: its connections and its cluster-wide reads.

A fleet is often one cluster with many databases, each probed as its own target
(``/probe?target=host:5432/app042``). Made separately, 200 such targets hold 200 backends and
each probe re-reads the same cluster-wide views (pg_settings, pg_locks, pg_stat_activity,
pg_stat_database, replication, bgwriter, ...): ~11,000 series per probe, all but ~30 of them
the same for every database. So the probe targets of one server (same host, port, user and
options; only the database differs) share one :class:`ServerShare`:

- **connections**: at most ``--probe.connections-per-server`` open at once for the server (in use
  or kept idle). A probe borrows one for its database for the length of its scrape: the idle one
  of its database when there is one (no login), else a free slot, else the least recently used
  idle connection of another database is closed for it, else it waits (within the scrape
  deadline). Connections are kept idle between probes, so with no more databases than the bound
  a warm fleet logs in no more.
- **cluster-wide reads**: a collector that reads cluster-wide views (every collector but the
  per-database ones: stat_user_tables, statio_user_tables, statio_user_indexes, bloat and the
  custom queries) runs once per ``--probe.cluster-cache-seconds`` for the server, whichever probe
  comes first; the probes within that window get its result. Concurrent probes share one read.
  Only while the server has two probe targets or more: a lone target reads (and keeps) nothing extra.
  Per-database collectors always read the probed database, in the probe that asks.

The key is a digest of the connection string without its database: it may hold a password.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections import OrderedDict

from ..core.collector import Settings
from ..core.scrape import time_left

log = logging.getLogger("exporters.postgres")

CONNECTIONS_PER_SERVER = 10
CLUSTER_CACHE_SECONDS = 10.0
# collectors whose reads depend on the database the session is connected to
PER_DATABASE = frozenset({"stat_user_tables", "statio_user_tables", "statio_user_indexes", "bloat", "user_queries"})


def server_key(conninfo: str) -> tuple[str, str]:
    """(digest of the conninfo without dbname, the database): which targets share a server."""
    from psycopg.conninfo import conninfo_to_dict

    params = {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}
    dbname = params.pop("dbname", "") or params.get("user", "")
    digest = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()
    return digest, dbname


class NoConnectionSlot(Exception):
    """Every connection of the server was busy until the scrape deadline."""


class ServerShare:
    def __init__(self, key: str, display: str, connections: int, cache_seconds: float) -> None:
        self.key = key
        self.display = display
        self.connections = connections
        self.cache_seconds = cache_seconds
        self.users = 0  # sessions (probe targets) of this server
        self.open = 0  # connections open: in use or idle, never above ``connections``
        self.idle: OrderedDict[str, list] = OrderedDict()  # database -> idle connections, least recently used first
        self._waiters: list[asyncio.Future] = []
        self._cache: dict[str, tuple[float, list]] = {}  # collector -> (fresh until, families)
        self._reading: dict[str, asyncio.Task] = {}
        self.cluster_reads = 0  # collector runs for the cache (debug figures)
        self.logins = 0

    # ---- connections ------------------------------------------------------------------------
    async def take(self, dbname: str, any_database: bool = False):
        """An idle connection of ``dbname``, or None with a slot reserved (connect, then give it back).
        ``any_database``: a probe that reads nothing database-local (no per-database collector on) may
        have an idle connection of another database of the server rather than log in to its own."""
        async with asyncio.timeout(time_left()):
            while True:
                conn = self._idle_of(dbname)
                if conn is None and any_database:
                    for other in list(reversed(self.idle)):  # the most recently used first
                        conn = self._idle_of(other)
                        if conn is not None:
                            break
                if conn is not None:
                    return conn
                if self.open < self.connections:
                    self.open += 1
                    return None
                if self.idle:  # the least recently used idle connection of another database makes room
                    other, conns = next(iter(self.idle.items()))
                    conn = conns.pop(0)
                    if not conns:
                        del self.idle[other]
                    try:  # ended before its slot is reused: the bound holds at every moment
                        await asyncio.shield(_close_quietly(conn))
                    except BaseException:  # our deadline passed meanwhile: the slot is free for another
                        self.give(dbname, None)
                        raise
                    return None  # its slot is ours
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def _idle_of(self, dbname: str):
        """An idle, usable connection of ``dbname`` taken from the idle list (dead ones free their slot)."""
        kept = self.idle.get(dbname)
        while kept:
            conn = kept.pop()
            if not kept:
                del self.idle[dbname]
            if not conn.closed and not conn.broken:
                return conn
            self.open -= 1
            kept = self.idle.get(dbname)
        return None

    def give(self, dbname: str, conn) -> None:
        """Back from a scrape: kept idle (under the database it is connected to) when usable, else its
        slot is free."""
        if conn is None or conn.closed or conn.broken:
            self.open -= 1
            if conn is not None and not conn.closed:
                asyncio.get_running_loop().create_task(_close_quietly(conn))
        else:
            dbname = conn.info.dbname or dbname  # lent to a probe of another database: still this one's
            self.idle.setdefault(dbname, []).append(conn)
            self.idle.move_to_end(dbname)
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break

    async def drop_idle(self, dbname: str) -> None:
        """The target of ``dbname`` is gone: so are its idle connections."""
        for conn in self.idle.pop(dbname, []):
            self.open -= 1
            await _close_quietly(conn)

    async def close(self) -> None:
        for name in list(self.idle):
            await self.drop_idle(name)

    # ---- cluster-wide reads -------------------------------------------------------------------
    async def cached(self, name: str, collect):
        """The families of collector ``name``: from a read of the last ``cache_seconds`` or a new one."""
        if self.users <= 1:  # one target of this server: nothing to share, nothing kept in memory
            self._cache.clear()
            return await collect()
        hit = self._cache.get(name)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        running = self._reading.get(name)
        if running is None or running.done():
            running = self._reading[name] = asyncio.get_running_loop().create_task(self._read(name, collect))
            running.add_done_callback(_retrieve)  # a probe that stopped waiting leaves no unretrieved error
        return await asyncio.shield(running)

    async def _read(self, name: str, collect) -> list:
        self.cluster_reads += 1
        log.debug("cluster-wide read of %s on %s", name, self.display)
        families = list(await collect())
        if self.cache_seconds > 0:
            self._cache[name] = (time.monotonic() + self.cache_seconds, families)  # failures are never kept
        return families


def _retrieve(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


async def _close_quietly(conn) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=1)
    except Exception:  # a connection we give up on may fail to close cleanly
        pass


# each exporter's shares by server key, beside its settings (which are not written to once parsed):
# a fleet's postgres members each have their own
_SHARES: weakref.WeakKeyDictionary[Settings, dict[str, ServerShare]] = weakref.WeakKeyDictionary()


def share_for(settings: Settings, conninfo: str, display: str) -> tuple[ServerShare, str]:
    """The share of ``conninfo``'s server (made on first use, kept for ``settings``) and the database."""
    shares = _SHARES.setdefault(settings, {})
    key, dbname = server_key(conninfo)
    share = shares.get(key)
    if share is None:
        share = shares[key] = ServerShare(
            key,
            display,
            int(settings.get("probe_connections_per_server") or CONNECTIONS_PER_SERVER),
            float(settings.get("probe_cluster_cache_seconds", CLUSTER_CACHE_SECONDS)),
        )
    share.users += 1
    return share, dbname


async def release(settings: Settings, share: ServerShare, dbname: str) -> None:
    """A probe target closed: its database's idle connections go; the share too once unused."""
    share.users -= 1
    await share.drop_idle(dbname)
    if share.users <= 0:
        await share.close()
        _SHARES.get(settings, {}).pop(share.key, None)
