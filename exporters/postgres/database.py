"""database: size and connection limit (-1: none) of every database,
``pg_database_size_bytes{datname}`` and ``pg_database_connection_limit{datname}`` (and ``server``
under --compat=0.11).

pg_database_size() stats every file of a database: the most expensive read of
a scrape on a server with many databases (45 ms of the 53 ms of SQL at 50
databases). Sizes change slowly, so they are read at most every
--collector.database.cache-seconds (default 30; 0 reads them every scrape), and
then on the session's second connection, beside the other queries rather than
after them. A database created meanwhile shows at the next read."""

from __future__ import annotations

import time

from ..core.collector import Flag
from ..core.metrics import gauge
from .registry import PgCollector, pg_collectors

SIZE = gauge("pg_database_size_bytes", "Disk space used by the database", "datname", "server")
LIMIT = gauge("pg_database_connection_limit", "Connection limit set for the database", "datname", "server")
SQL = "SELECT datname, pg_database_size(datname) AS size FROM pg_database"
LIMIT_SQL = "SELECT datname, datconnlimit FROM pg_database"


@pg_collectors.register
class DatabaseCollector(PgCollector):
    name = "database"
    description = "Size of each database (pg_database_size)."
    metrics = (SIZE, LIMIT)
    flags = (
        Flag(
            "--collector.database.cache-seconds",
            "collector_database_cache_seconds",
            "Reuse database sizes for this many seconds (0: read them every scrape).",
            default=30.0,
            type=float,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.cache_seconds = float(settings.get("collector_database_cache_seconds", 30.0))
        self._cached: tuple[float, list[dict]] | None = None

    async def collect(self):
        now = time.monotonic()
        if self._cached and now - self._cached[0] < self.cache_seconds:
            rows = self._cached[1]
        else:
            rows = await self.rows(SQL, slow=True)
            self._cached = (now, rows)
        limits = self.family(LIMIT)  # cheap (a catalog read), and changed by ALTER DATABASE: never cached
        for row in await self.rows(LIMIT_SQL):
            limits.add(self.labels(row["datname"]), row["datconnlimit"])
        fam = self.family(SIZE)
        for row in rows:
            fam.add(self.labels(row["datname"]), row["size"])
        return [limits, fam]
