"""stat_activity_autovacuum (off by default, as upstream): the start time of each running
autovacuum worker's transaction, ``pg_stat_activity_autovacuum_timestamp_seconds{relname}``
(unix seconds), ``relname`` being the table part of the worker's ``autovacuum: VACUUM
schema.table`` query text. At most autovacuum_max_workers series."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

SQL = (
    "SELECT split_part(query, '.', 2) AS relname, EXTRACT(EPOCH FROM xact_start)::float8 AS timestamp_seconds "
    "FROM pg_stat_activity WHERE query LIKE 'autovacuum:%' ORDER BY 1"
)

register_query_collector(
    QueryCollectorSpec(
        name="stat_activity_autovacuum",
        description="Start time of each running autovacuum worker's transaction, by table (pg_stat_activity).",
        prefix="pg_stat_activity_autovacuum",
        default_enabled=False,
        queries=(
            Query(
                SQL,
                labels=("relname",),
                columns=(Column("timestamp_seconds", GAUGE, "Start timestamp of the vacuum process in seconds"),),
            ),
        ),
    )
)
