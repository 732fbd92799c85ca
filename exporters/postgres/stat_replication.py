"""stat_replication: one series per walsender (pg_stat_replication), with
postgres_exporter 0.11.1's families and labels (application_name, client_addr,
slot_name, state).

- ``pg_stat_replication_pg_current_wal_lsn_bytes``: this server's WAL position
  in bytes from 0/0;
- ``pg_stat_replication_pg_wal_lsn_diff``: bytes between that position and the
  standby's replay_lsn;
- ``pg_stat_replication_reply_time`` (PostgreSQL 12+): the standby's last reply,
  a unix timestamp, untyped as 0.11.1 has it (a column its map did not know).

On a server that is itself in recovery (a cascading standby) "this server's
position" is the last WAL it received, where 0.11.1 gave NaN.

``slot_name`` is the replication slot the walsender streams from. 0.11.1 put the
walsender's pid there (the label is not a column of pg_stat_replication); we keep
the pid for a walsender without a slot, so two slotless standbys with the same
application_name never collide into one series."""

from __future__ import annotations

from .query import GAUGE, UNTYPED, Column, Query, QueryCollectorSpec, register_query_collector

PG10, PG12 = 100000, 120000

_POSITION = "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END"


def _sql(extra: str = "") -> str:
    return (
        "SELECT r.application_name, r.client_addr, COALESCE(s.slot_name::text, r.pid::text) AS slot_name, r.state, "
        f"pg_wal_lsn_diff({_POSITION}, '0/0')::float8 AS pg_current_wal_lsn_bytes, "
        f"pg_wal_lsn_diff({_POSITION}, r.replay_lsn)::float8 AS pg_wal_lsn_diff{extra} "
        "FROM pg_stat_replication r LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid"
    )


LABELS = ("application_name", "client_addr", "slot_name", "state")
_COLUMNS = (
    Column("pg_current_wal_lsn_bytes", GAUGE, "WAL position in bytes"),
    Column("pg_wal_lsn_diff", GAUGE, "Lag in bytes between master and slave"),
)

register_query_collector(
    QueryCollectorSpec(
        name="stat_replication",
        description="Per-walsender WAL position and byte lag of each standby (pg_stat_replication).",
        prefix="pg_stat_replication",
        legacy_server=True,  # one of postgres_exporter 0.17.1's built-in maps: keeps ``server``
        queries=(
            Query(_sql(), labels=LABELS, columns=_COLUMNS, versions=(PG10, PG12)),
            Query(
                _sql(", r.reply_time"),
                labels=LABELS,
                columns=_COLUMNS + (Column("reply_time", UNTYPED, "Unknown metric from pg_stat_replication"),),
                versions=(PG12, 10**7),
            ),
        ),
    )
)
