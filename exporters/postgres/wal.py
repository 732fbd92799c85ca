"""wal: number and total size of the WAL segment files in pg_wal (pg_ls_waldir(),
which needs pg_monitor or superuser)."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

PG10 = 100000

SQL = (
    "SELECT count(*) AS segments, COALESCE(sum(size), 0) AS size_bytes "
    "FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'"
)

register_query_collector(
    QueryCollectorSpec(
        name="wal",
        description="Number and total size of WAL segments (pg_ls_waldir, needs pg_monitor).",
        prefix="pg_wal",
        queries=(
            Query(
                SQL,
                columns=(
                    Column("segments", GAUGE, "Number of WAL segments"),
                    Column("size_bytes", GAUGE, "Total size of WAL segments"),
                ),
                versions=(PG10, 10**7),
            ),
        ),
    )
)
