"""bloat (off by default; not in postgres_exporter): estimated bloat of tables and B-tree
indexes, the space beyond what their live rows need at their fillfactor.

- ``pg_bloat_table_bytes{datname,schemaname,relname}`` and ``pg_bloat_table_ratio`` (of the
  table's size, 0 to 1);
- ``pg_bloat_index_bytes{datname,schemaname,relname,indexrelname}`` and ``pg_bloat_index_ratio``.

An estimate from the planner's statistics, not a measurement: the expected pages are the rows
(``reltuples``) times the row size (tuple header, null bitmap, the columns' average widths from
pg_stats, alignment, line pointer) over the usable page space at the fillfactor; the bloat is the
pages beyond those. It is as fresh as the last ANALYZE, and reads no table data (pgstattuple
would read every page). A table or index is left out when pg_stats lacks one of its columns
(never analyzed, or not visible: pg_stats shows only columns the role may SELECT, so the
exporter's role needs pg_read_all_data or SELECT on the tables) and for expression indexes.

Bounded and cached: at most ``--collector.bloat.limit`` tables and as many indexes per database
(default 50, the most bloated by bytes), read at most every ``--collector.bloat.cache-seconds``
(default 600; the statistics change at ANALYZE). The DSN's database, or each database with
``--auto-discover-databases`` (the fan-out), as the per-table collectors."""

from __future__ import annotations

import time

from ..core.collector import Flag, PartialFailure
from ..core.metrics import MetricDef
from . import fanout
from .query import GAUGE, Column, Query, QueryCollectorSpec, _Families
from .registry import PgCollector, pg_collectors

# the widths PostgreSQL pads to: a heap tuple header of 23 bytes, an index tuple header of 8,
# a 4-byte line pointer per row, a 24-byte page header, B-tree's 16-byte special space and metapage
TABLE_SQL = r"""WITH widths AS (
  SELECT schemaname, tablename, sum((1 - null_frac) * avg_width) AS width, bool_or(null_frac > 0) AS nulls,
         count(*) AS columns
  FROM pg_stats WHERE NOT inherited AND schemaname NOT IN ('pg_catalog', 'information_schema')
  GROUP BY 1, 2
), t AS (
  SELECT n.nspname AS schemaname, c.relname, c.relpages::float8 AS pages, c.reltuples::float8 AS tuples,
         current_setting('block_size')::float8 AS bs, w.width, w.nulls, w.columns,
         (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
           AS natts,
         COALESCE((SELECT substring(o FROM 'fillfactor=([0-9]+)')::float8 FROM unnest(c.reloptions) o
                   WHERE o LIKE 'fillfactor=%%'), 100) AS ff
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN widths w ON w.schemaname = n.nspname AND w.tablename = c.relname
  WHERE c.relkind IN ('r', 'm') AND c.relpages > 0 AND c.reltuples >= 0
), e AS (
  SELECT *, 4 + 8 * ceil((8 * ceil((23 + CASE WHEN nulls THEN ceil(natts / 8.0) ELSE 0 END) / 8.0) + width) / 8.0)
              AS row_bytes
  FROM t WHERE columns = natts
), b AS (
  SELECT schemaname, relname, pages * bs AS size,
         GREATEST(0, pages - ceil(tuples * row_bytes / ((bs - 24) * ff / 100))) * bs AS bloat
  FROM e
)
SELECT current_database() AS datname, schemaname, relname, bloat AS table_bytes,
       CASE WHEN size > 0 THEN bloat / size ELSE 0 END AS table_ratio
FROM b ORDER BY bloat DESC, schemaname, relname LIMIT %(limit)d"""

INDEX_SQL = r"""WITH i AS (
  SELECT n.nspname AS schemaname, t.relname, c.relname AS indexrelname, c.relpages::float8 AS pages,
         c.reltuples::float8 AS tuples, current_setting('block_size')::float8 AS bs, x.indnatts,
         COALESCE((SELECT substring(o FROM 'fillfactor=([0-9]+)')::float8 FROM unnest(c.reloptions) o
                   WHERE o LIKE 'fillfactor=%%'), 90) AS ff,
         sum((1 - s.null_frac) * s.avg_width) AS width, count(s.attname) AS columns
  FROM pg_index x
  JOIN pg_class c ON c.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (x.indkey)
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname
                       AND NOT s.inherited
  WHERE x.indexprs IS NULL AND c.relpages > 1 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  GROUP BY n.nspname, t.relname, c.relname, c.relpages, c.reltuples, x.indnatts, c.reloptions
), b AS (
  SELECT schemaname, relname, indexrelname, pages * bs AS size,
         GREATEST(0, pages - 1 - ceil(tuples * (4 + 8 * ceil((8 + width) / 8.0)) / ((bs - 40) * ff / 100))) * bs
           AS bloat
  FROM i WHERE columns = indnatts
)
SELECT current_database() AS datname, schemaname, relname, indexrelname, bloat AS index_bytes,
       CASE WHEN size > 0 THEN bloat / size ELSE 0 END AS index_ratio
FROM b ORDER BY bloat DESC, schemaname, relname, indexrelname LIMIT %(limit)d"""

TABLE = QueryCollectorSpec(
    "bloat",
    "",
    "pg_bloat",
    (
        Query(
            TABLE_SQL,
            ("datname", "schemaname", "relname"),
            (
                Column(
                    "table_bytes",
                    GAUGE,
                    "Estimated bloat of the table: bytes beyond what its live rows need at its "
                    "fillfactor (from the planner's statistics)",
                ),
                Column("table_ratio", GAUGE, "Estimated bloat of the table as a fraction of its size (0 to 1)"),
            ),
        ),
    ),
)
INDEX = QueryCollectorSpec(
    "bloat",
    "",
    "pg_bloat",
    (
        Query(
            INDEX_SQL,
            ("datname", "schemaname", "relname", "indexrelname"),
            (
                Column(
                    "index_bytes",
                    GAUGE,
                    "Estimated bloat of the B-tree index: bytes beyond what its entries need at its "
                    "fillfactor (from the planner's statistics)",
                ),
                Column("index_ratio", GAUGE, "Estimated bloat of the B-tree index as a fraction of its size (0 to 1)"),
            ),
        ),
    ),
)


@pg_collectors.register
class BloatCollector(PgCollector):
    name = "bloat"
    default_enabled = False
    description = (
        "Estimated table and B-tree index bloat from the planner's statistics; the most bloated "
        "--collector.bloat.limit per database, cached --collector.bloat.cache-seconds."
    )
    metrics = tuple(
        MetricDef(f"{spec.prefix}_{c.column}", c.type, c.help, (*spec.queries[0].labels, "server"))
        for spec in (TABLE, INDEX)
        for c in spec.queries[0].columns
    )
    flags = (
        Flag(
            "--collector.bloat.limit",
            "collector_bloat_limit",
            "Serve at most this many tables, and as many indexes, per database (the most bloated).",
            default=50,
            type=int,
        ),
        Flag(
            "--collector.bloat.cache-seconds",
            "collector_bloat_cache_seconds",
            "Reuse the estimates for this many seconds (they change when ANALYZE runs).",
            default=600.0,
            type=float,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        limit = settings.get("collector_bloat_limit")
        self.limit = 50 if limit is None else int(limit)
        if self.limit < 1:
            raise ValueError("--collector.bloat.limit must be at least 1")
        cache = settings.get("collector_bloat_cache_seconds")
        self.cache_seconds = 600.0 if cache is None else float(cache)
        if self.cache_seconds < 0:
            raise ValueError("--collector.bloat.cache-seconds must not be negative")
        self.fanout = settings.options.fanout.enabled
        self._cached: tuple[float, list] | None = None  # (monotonic time, [(spec, names, rows)])

    async def _read(self) -> tuple[list, list, int]:
        """[(spec, names, rows)] of every database read, the reads that failed, the databases."""
        out: list = []
        failed: list = []
        databases = 1
        for spec in (TABLE, INDEX):
            sql = spec.queries[0].sql % {"limit": self.limit}
            if not self.fanout:
                out.append((spec, *await self.session.fetch(sql)))
                continue
            pending = await self.session.fanout().fetch(sql)
            databases = len(pending)
            for _, result in pending:
                try:
                    out.append((spec, *await result))
                except fanout.DatabaseFailed as exc:
                    if exc.datname not in {f.datname for f in failed}:
                        failed.append(exc)
        return out, failed, databases

    async def collect(self):
        now = time.monotonic()
        failed: list = []
        databases = 0
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            results = self._cached[1]
        else:
            results, failed, databases = await self._read()
            if not failed:  # a partial read is served, not kept
                self._cached = (now, results)
        server = self.session.server if self.with_server else None
        families = {id(spec): _Families(spec, spec.queries[0], server, False) for spec in (TABLE, INDEX)}
        for spec, names, rows in results:
            families[id(spec)].add(names, rows)
        out = [fam for f in families.values() for fam in f.result()]
        if failed:
            raise PartialFailure(fanout.failure_message(failed, databases), out)
        return out
