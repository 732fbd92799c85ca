"""replication: is this server a replica, and how far behind is its replay.

``pg_replication_lag_seconds``, ``pg_replication_is_replica`` and
``pg_replication_last_replay_seconds`` as current postgres_exporter names them,
plus ``pg_replication_lag``, the name the old example queries.yaml (and the
alerts and dashboards built on it) used, with the same value as
``pg_replication_lag_seconds``:

- 0 on a primary;
- 0 on a replica that has replayed everything it received (caught up and idle,
  however old its last replayed transaction is);
- else ``max(0, now() - pg_last_xact_replay_timestamp())`` in seconds.

``last_replay_seconds`` is that age without the caught-up shortcut (0 on a primary)."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

PG10 = 100000

_LAG = (
    "CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END"
)

SQL = (
    f"SELECT {_LAG} AS lag_seconds, "
    "CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS is_replica, "
    "GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) AS last_replay_seconds, "
    f"{_LAG} AS lag"
)

LAG_HELP = "Replication lag behind master in seconds"

register_query_collector(
    QueryCollectorSpec(
        name="replication",
        description="Replica status and replay lag in seconds (also as the legacy pg_replication_lag).",
        prefix="pg_replication",
        queries=(
            Query(
                SQL,
                columns=(
                    Column("lag_seconds", GAUGE, LAG_HELP),
                    Column("is_replica", GAUGE, "Indicates if the server is a replica"),
                    Column("last_replay_seconds", GAUGE, "Age of last replay in seconds"),
                    Column("lag", GAUGE, LAG_HELP),
                ),
                versions=(PG10, 10**7),
            ),
        ),
    )
)
