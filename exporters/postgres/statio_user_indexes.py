"""statio_user_indexes (off by default): per-index block reads and buffer hits
(pg_statio_user_indexes) of the DSN's database, or of every database with
``--auto-discover-databases``.

``pg_statio_user_indexes_idx_blks_read_total`` and ``pg_statio_user_indexes_idx_blks_hit_total``
``{schemaname,relname,indexrelname[,server]}``, counters, as upstream names them. With the fan-out
they also get ``datname`` (first), or the same index name in two databases would be one series;
without it they keep upstream's labels. At most ``--collector.statio_user_indexes.limit`` indexes
per database (default 5000, by schema, table and index name)."""

from __future__ import annotations

from .query import COUNTER, Column, Query, QueryCollectorSpec, register_query_collector
from .stat_user_tables import limit_flag, limit_param

SQL = """SELECT schemaname, relname, indexrelname, idx_blks_read, idx_blks_hit
FROM pg_statio_user_indexes
ORDER BY schemaname, relname, indexrelname
LIMIT %(limit)d"""

FLAG = "--collector.statio_user_indexes.limit"
DEST = "collector_statio_user_indexes_limit"

register_query_collector(
    QueryCollectorSpec(
        name="statio_user_indexes",
        description="Per-index block reads and buffer hits (pg_statio_user_indexes) of the DSN's database, or of "
        "every database with --auto-discover-databases (then with a datname label); at most "
        "--collector.statio_user_indexes.limit indexes per database.",
        prefix="pg_statio_user_indexes",
        queries=(
            Query(
                SQL,
                labels=("schemaname", "relname", "indexrelname"),
                columns=(
                    Column(
                        "idx_blks_read",
                        COUNTER,
                        "Number of disk blocks read from this index",
                        name="idx_blks_read_total",
                    ),
                    Column("idx_blks_hit", COUNTER, "Number of buffer hits in this index", name="idx_blks_hit_total"),
                ),
            ),
        ),
        default_enabled=False,
        flags=(limit_flag(FLAG, DEST, "indexes"),),
        params=limit_param(FLAG, DEST),
        per_database=True,
    )
)
