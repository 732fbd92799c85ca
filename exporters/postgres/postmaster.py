"""postmaster: ``pg_postmaster_start_time_seconds``, the server's start time as a
unix timestamp, as the old example queries.yaml produced it (upstream's
``postmaster`` collector is off by default; dashboards still use the family, so
ours is on)."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

register_query_collector(
    QueryCollectorSpec(
        name="postmaster",
        description="Start time of the server (pg_postmaster_start_time).",
        prefix="pg_postmaster",
        queries=(
            Query(
                "SELECT EXTRACT(EPOCH FROM pg_postmaster_start_time())::float8 AS start_time_seconds",
                columns=(Column("start_time_seconds", GAUGE, "Time at which postmaster started"),),
            ),
        ),
    )
)
