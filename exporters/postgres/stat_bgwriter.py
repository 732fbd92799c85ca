"""stat_bgwriter: background writer and (before PostgreSQL 17) checkpoint counters.

Names as postgres_exporter has them: counters with ``_total``; the checkpoint
times are milliseconds, and ``stats_reset_total`` is a unix timestamp."""

from __future__ import annotations

from .query import COUNTER, Column, Query, QueryCollectorSpec, register_query_collector

PG17 = 170000

_SHARED = (
    Column("buffers_clean", COUNTER, "Number of buffers written by the background writer", "buffers_clean_total"),
    Column(
        "maxwritten_clean",
        COUNTER,
        "Number of times the background writer stopped a cleaning scan because it had written too many buffers",
        "maxwritten_clean_total",
    ),
    Column("buffers_alloc", COUNTER, "Number of buffers allocated", "buffers_alloc_total"),
    Column("stats_reset", COUNTER, "Time at which these statistics were last reset", "stats_reset_total"),
)
_BEFORE_17 = (
    Column(
        "checkpoints_timed",
        COUNTER,
        "Number of scheduled checkpoints that have been performed",
        "checkpoints_timed_total",
    ),
    Column(
        "checkpoints_req", COUNTER, "Number of requested checkpoints that have been performed", "checkpoints_req_total"
    ),
    Column(
        "checkpoint_write_time",
        COUNTER,
        "Total amount of time that has been spent in the portion of checkpoint processing where files are written "
        "to disk, in milliseconds",
        "checkpoint_write_time_total",
    ),
    Column(
        "checkpoint_sync_time",
        COUNTER,
        "Total amount of time that has been spent in the portion of checkpoint processing where files are "
        "synchronized to disk, in milliseconds",
        "checkpoint_sync_time_total",
    ),
    Column("buffers_checkpoint", COUNTER, "Number of buffers written during checkpoints", "buffers_checkpoint_total"),
    Column("buffers_backend", COUNTER, "Number of buffers written directly by a backend", "buffers_backend_total"),
    Column(
        "buffers_backend_fsync",
        COUNTER,
        "Number of times a backend had to execute its own fsync call (normally the background writer handles "
        "those even when the backend does its own write)",
        "buffers_backend_fsync_total",
    ),
)

register_query_collector(
    QueryCollectorSpec(
        name="stat_bgwriter",
        description="Background writer statistics (pg_stat_bgwriter); checkpoint counters before PostgreSQL 17.",
        prefix="pg_stat_bgwriter",
        queries=(
            Query("SELECT * FROM pg_stat_bgwriter", columns=_BEFORE_17 + _SHARED, versions=(0, PG17)),
            Query(
                "SELECT buffers_clean, maxwritten_clean, buffers_alloc, stats_reset FROM pg_stat_bgwriter",
                columns=_SHARED,
                versions=(PG17, 10**7),
            ),
        ),
    )
)
