"""stat_archiver: WAL archiving counters (pg_stat_archiver), as postgres_exporter
0.11.1 names them: counters without ``_total``, and the age in seconds of the last
successful archive (NaN when nothing has been archived yet)."""

from __future__ import annotations

from .query import COUNTER, GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

SQL = (
    "SELECT archived_count, failed_count, "
    "EXTRACT(EPOCH FROM now() - last_archived_time)::float8 AS last_archive_age FROM pg_stat_archiver"
)

register_query_collector(
    QueryCollectorSpec(
        name="stat_archiver",
        description="WAL archiver statistics (pg_stat_archiver).",
        prefix="pg_stat_archiver",
        legacy_server=True,  # one of postgres_exporter 0.17.1's built-in maps: keeps ``server``
        queries=(
            Query(
                SQL,
                columns=(
                    Column("archived_count", COUNTER, "Number of WAL files that have been successfully archived"),
                    Column("failed_count", COUNTER, "Number of failed attempts for archiving WAL files"),
                    Column(
                        "last_archive_age", GAUGE, "Time in seconds since last WAL segment was successfully archived"
                    ),
                ),
            ),
        ),
    )
)
