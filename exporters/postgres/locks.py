"""locks: ``pg_locks_count{datname,mode[,server]}``, the number of locks held or
awaited per database and lock mode.

As postgres_exporter 0.11.1: every database of pg_database crossed with the nine
fixed lower-case table-lock modes, so a mode with no lock reads 0 rather than
vanishing. Locks not tied to a database (transaction ids, shared catalogs) are
not counted."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

MODES = (
    "accesssharelock",
    "rowsharelock",
    "rowexclusivelock",
    "shareupdateexclusivelock",
    "sharelock",
    "sharerowexclusivelock",
    "exclusivelock",
    "accessexclusivelock",
    "sireadlock",
)

SQL = f"""
SELECT d.datname, m.mode, COALESCE(l.count, 0) AS count
FROM (VALUES {", ".join(f"('{m}')" for m in MODES)}) AS m(mode)
CROSS JOIN pg_database d
LEFT JOIN (
    SELECT database, lower(mode) AS mode, count(*) AS count
    FROM pg_locks WHERE database IS NOT NULL
    GROUP BY database, lower(mode)
) AS l ON l.database = d.oid AND l.mode = m.mode
ORDER BY d.datname, m.mode"""

register_query_collector(
    QueryCollectorSpec(
        name="locks",
        description="Locks per database and mode (pg_locks); every mode of every database, zeros included.",
        prefix="pg_locks",
        queries=(Query(SQL, labels=("datname", "mode"), columns=(Column("count", GAUGE, "Number of locks"),)),),
    )
)
