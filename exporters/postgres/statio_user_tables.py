"""statio_user_tables: per-table buffer hits and block reads (pg_statio_user_tables) of the
DSN's database, or of every database with ``--auto-discover-databases``.

``pg_statio_user_tables_{heap,idx,toast,tidx}_blocks_{read,hit}{datname,schemaname,relname}``,
counters, with postgres_exporter 0.17.1's names ``heap_blocks_read`` … (without ``server``), or under
``--compat=0.11`` the names, types and HELP of the example queries.yaml Debian ships with
0.11.1 (``heap_blks_read`` …, with ``server``).
``datname`` is ``current_database()`` of the database read; at most
``--collector.statio_user_tables.limit`` tables per database (default 5000, by schema and table name)."""

from __future__ import annotations

from .query import COUNTER, Column, Query, QueryCollectorSpec, register_query_collector
from .stat_user_tables import LABELS, limit_flag, limit_param

SQL = """SELECT current_database() AS datname, schemaname, relname,
  heap_blks_read, heap_blks_hit, idx_blks_read, idx_blks_hit,
  toast_blks_read, toast_blks_hit, tidx_blks_read, tidx_blks_hit
FROM pg_statio_user_tables
ORDER BY schemaname, relname
LIMIT %(limit)d"""

COLUMNS = (
    Column("heap_blks_read", COUNTER, "Number of disk blocks read from this table"),
    Column("heap_blks_hit", COUNTER, "Number of buffer hits in this table"),
    Column("idx_blks_read", COUNTER, "Number of disk blocks read from all indexes on this table"),
    Column("idx_blks_hit", COUNTER, "Number of buffer hits in all indexes on this table"),
    Column("toast_blks_read", COUNTER, "Number of disk blocks read from this table's TOAST table (if any)"),
    Column("toast_blks_hit", COUNTER, "Number of buffer hits in this table's TOAST table (if any)"),
    Column("tidx_blks_read", COUNTER, "Number of disk blocks read from this table's TOAST table indexes (if any)"),
    Column("tidx_blks_hit", COUNTER, "Number of buffer hits in this table's TOAST table indexes (if any)"),
)

# 0.17.1's names: heap_blocks_read ... (the collector's), not the example queries.yaml's heap_blks_read
COLUMNS_017 = tuple(Column(c.column, c.type, c.help, c.column.replace("_blks_", "_blocks_")) for c in COLUMNS)

FLAG = "--collector.statio_user_tables.limit"
DEST = "collector_statio_user_tables_limit"

register_query_collector(
    QueryCollectorSpec(
        name="statio_user_tables",
        description="Per-table block reads and buffer hits (pg_statio_user_tables) of the DSN's database, or of every "
        "database with --auto-discover-databases; at most --collector.statio_user_tables.limit tables "
        "per database.",
        prefix="pg_statio_user_tables",
        queries=(Query(SQL, labels=LABELS, columns=COLUMNS_017),),
        legacy_queries=(Query(SQL, labels=LABELS, columns=COLUMNS),),
        flags=(limit_flag(FLAG, DEST, "tables"),),
        params=limit_param(FLAG, DEST),
        per_database=True,
    )
)
