"""xlog_location (off by default, as upstream): ``pg_xlog_location_bytes``, the WAL position
being written (primary) or replayed (replica), truncated to its low 52 bits so that a float
holds it exactly. PostgreSQL 9.x only, whose functions it calls: from 10 on the collector
succeeds with no series (upstream also logs a warning every scrape), and
``pg_replication_slot_slot_current_wal_lsn`` / ``pg_stat_replication_pg_current_wal_lsn_bytes``
carry the position."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

PG10 = 100000

SQL = (
    "SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_xlog_replay_location() - '0/0') % (2^52)::bigint "
    "ELSE (pg_current_xlog_location() - '0/0') % (2^52)::bigint END AS bytes"
)

register_query_collector(
    QueryCollectorSpec(
        name="xlog_location",
        description="WAL position in bytes (low 52 bits) on PostgreSQL 9.x; no series from 10 on.",
        prefix="pg_xlog_location",
        default_enabled=False,
        queries=(
            Query(
                SQL,
                columns=(
                    Column(
                        "bytes",
                        GAUGE,
                        "Postgres LSN (log sequence number) being generated on primary or replayed on replica "
                        "(truncated to low 52 bits)",
                    ),
                ),
                versions=(0, PG10),
            ),
        ),
    )
)
