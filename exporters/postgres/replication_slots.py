"""replication_slots: per slot, whether it is in use and how much WAL it holds
back, as postgres_exporter 0.11.1 has them (labels slot_name, database; database
is "" for a physical slot).

``pg_replication_slots_pg_wal_lsn_diff`` is the bytes between this server's WAL
position and the slot's restart_lsn (NaN for a slot that has never reserved WAL).
On a server in recovery the position is the last WAL received: 0.11.1's query
failed there, pg_current_wal_lsn() being unavailable during recovery."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

PG10 = 100000

SQL = (
    "SELECT slot_name, database, active, "
    "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, "
    "restart_lsn)::float8 AS pg_wal_lsn_diff "
    "FROM pg_replication_slots"
)

register_query_collector(
    QueryCollectorSpec(
        name="replication_slots",
        description="Replication slots: active, and WAL retained in bytes (pg_replication_slots).",
        prefix="pg_replication_slots",
        legacy_server=True,  # one of postgres_exporter 0.17.1's built-in maps: keeps ``server``
        queries=(
            Query(
                SQL,
                labels=("slot_name", "database"),
                columns=(
                    Column("active", GAUGE, "Flag indicating if the slot is active"),
                    Column("pg_wal_lsn_diff", GAUGE, "Replication lag in bytes"),
                ),
                versions=(PG10, 10**7),
            ),
        ),
    )
)
