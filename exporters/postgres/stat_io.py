"""stat_io (off by default; not in postgres_exporter, upstream #1078): PostgreSQL 16+'s
cumulative I/O statistics (pg_stat_io) per backend type, object and context,
``pg_stat_io_*_total{backend_type,object,context}``, counters:

- operations: ``reads_total``, ``writes_total``, ``writebacks_total``, ``extends_total``,
  ``hits_total``, ``evictions_total``, ``reuses_total``, ``fsyncs_total``;
- times in seconds (the view's milliseconds, non-zero with track_io_timing):
  ``read_seconds_total``, ``write_seconds_total``, ``writeback_seconds_total``,
  ``extend_seconds_total``, ``fsync_seconds_total``;
- bytes: ``read_bytes_total``, ``write_bytes_total``, ``extend_bytes_total``: PostgreSQL 18's
  columns, or on 16 and 17 the operations times ``op_bytes`` (the column 18 removed).

A combination the server does not track (NULL in the view) has no sample. The labels take
PostgreSQL's fixed sets (about 30 rows on 16, 40 on 18, with 18's ``wal`` object): bounded.
On PostgreSQL 15 and older the view does not exist: the collector fails with that reason
(success 0, logged once)."""

from __future__ import annotations

from ..core.metrics import COUNTER, MetricDef
from .registry import PgCollector, pg_collectors

PG16, PG18 = 160000, 180000
_L = ("backend_type", "object", "context", "server")
COUNTS = ("reads", "writes", "writebacks", "extends", "hits", "evictions", "reuses", "fsyncs")
TIMES = ("read", "write", "writeback", "extend", "fsync")
BYTES = ("read", "write", "extend")
METRICS = (
    *(MetricDef(f"pg_stat_io_{c}_total", COUNTER, f"Number of {c} operations (pg_stat_io.{c})", _L) for c in COUNTS),
    *(
        MetricDef(
            f"pg_stat_io_{t}_seconds_total",
            COUNTER,
            f"Time spent in {t} operations, in seconds (pg_stat_io.{t}_time; needs track_io_timing)",
            _L,
        )
        for t in TIMES
    ),
    *(
        MetricDef(
            f"pg_stat_io_{b}_bytes_total",
            COUNTER,
            f"Bytes of {b} operations (pg_stat_io.{b}_bytes on PostgreSQL 18, {b}s x op_bytes before)",
            _L,
        )
        for b in BYTES
    ),
)


def sql_for(version: int) -> str:
    if version >= PG18:
        size = ", ".join(f"{b}_bytes" for b in BYTES)
    else:
        size = ", ".join(f"{b}s * op_bytes AS {b}_bytes" for b in BYTES)
    times = ", ".join(f"{t}_time / 1000.0 AS {t}_seconds" for t in TIMES)
    return (
        f"SELECT backend_type, object, context, {', '.join(COUNTS)}, {times}, {size} FROM pg_stat_io ORDER BY 1, 2, 3"
    )


@pg_collectors.register
class StatIoCollector(PgCollector):
    name = "stat_io"
    default_enabled = False
    description = "I/O per backend type, object and context (pg_stat_io, PostgreSQL 16+; 18's byte columns)."
    metrics = METRICS

    async def collect(self):
        version = self.session.version_num
        if version < PG16:
            raise RuntimeError(f"pg_stat_io needs PostgreSQL 16 or later (this server is {version // 10000})")
        rows = await self.rows(sql_for(version))
        columns = [*COUNTS, *(f"{t}_seconds" for t in TIMES), *(f"{b}_bytes" for b in BYTES)]
        families = [self.family(d) for d in METRICS]
        for row in rows:
            labels = self.labels(row["backend_type"], row["object"], row["context"])
            for column, fam in zip(columns, families):
                if row[column] is not None:
                    fam.add(labels, float(row[column]))
        return families
