"""stat_checkpointer: checkpoint counters of PostgreSQL 17+ (pg_stat_checkpointer).

PostgreSQL 17 moved the checkpoint counters out of pg_stat_bgwriter (whose
``checkpoints_*`` / ``buffers_checkpoint`` families then vanish). Current upstream
postgres_exporter reads them with its ``stat_checkpointer`` collector, off by
default, so dashboards go blank on 17 until someone turns it on. Here it is on by
default and only queries servers >= 17; on older servers it succeeds with no series.

``pg_stat_checkpointer_{num_timed,num_requested,restartpoints_timed,restartpoints_req,
restartpoints_done,write_time,sync_time,buffers_written,stats_reset}_total{[server]}``
counters as upstream names them (``write_time`` / ``sync_time`` in milliseconds,
``stats_reset`` a unix timestamp), plus PostgreSQL 18's ``num_done`` and
``slru_written`` (``_total``)."""

from __future__ import annotations

from .query import COUNTER, Column, Query, QueryCollectorSpec, register_query_collector

PG17, PG18 = 170000, 180000

_17 = (
    Column("num_timed", COUNTER, "Number of scheduled checkpoints due to timeout", "num_timed_total"),
    Column("num_requested", COUNTER, "Number of requested checkpoints", "num_requested_total"),
    Column(
        "restartpoints_timed",
        COUNTER,
        "Number of scheduled restartpoints due to timeout or after a failed attempt to perform it",
        "restartpoints_timed_total",
    ),
    Column("restartpoints_req", COUNTER, "Number of requested restartpoints", "restartpoints_req_total"),
    Column(
        "restartpoints_done", COUNTER, "Number of restartpoints that have been performed", "restartpoints_done_total"
    ),
    Column(
        "write_time",
        COUNTER,
        "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints "
        "where files are written to disk, in milliseconds",
        "write_time_total",
    ),
    Column(
        "sync_time",
        COUNTER,
        "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints "
        "where files are synchronized to disk, in milliseconds",
        "sync_time_total",
    ),
    Column(
        "buffers_written",
        COUNTER,
        "Number of buffers written during checkpoints and restartpoints",
        "buffers_written_total",
    ),
    Column("stats_reset", COUNTER, "Time at which these statistics were last reset", "stats_reset_total"),
)
_18 = (
    Column("num_done", COUNTER, "Number of checkpoints that have been performed (PostgreSQL 18+)", "num_done_total"),
    Column(
        "slru_written",
        COUNTER,
        "Number of SLRU buffers written during checkpoints and restartpoints (PostgreSQL 18+)",
        "slru_written_total",
    ),
)


def _sql(columns) -> str:
    return "SELECT " + ", ".join(c.column for c in columns) + " FROM pg_stat_checkpointer"


register_query_collector(
    QueryCollectorSpec(
        name="stat_checkpointer",
        description="Checkpointer statistics (pg_stat_checkpointer) on PostgreSQL 17+; no series on older servers.",
        prefix="pg_stat_checkpointer",
        queries=(
            Query(_sql(_17), columns=_17, versions=(PG17, PG18)),
            Query(_sql(_17 + _18), columns=_17 + _18, versions=(PG18, 10**7)),
        ),
    )
)
