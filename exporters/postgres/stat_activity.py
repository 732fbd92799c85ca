"""stat_activity: sessions per database and state, and the age of the oldest
open transaction, from pg_stat_activity.

As postgres_exporter 0.11.1: ``pg_stat_activity_count{datname,state,server}``
and ``pg_stat_activity_max_tx_duration{datname,state,server}`` for every
database crossed with the fixed list of states (including 'disabled', shown when
track_activities is off), so empty combinations read 0; the duration is the
largest ``now() - xact_start`` in seconds (0 when no transaction is open).
Sessions without a database (background workers, walsenders) are not counted.

Unlike 0.11.1, the exporter's own backend is left out: it would otherwise show
as one 'active' session with a transaction of a few milliseconds in every
scrape."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call",
          "disabled")

SQL = f"""
SELECT d.datname, s.state, COALESCE(a.count, 0) AS count, COALESCE(a.max_tx_duration, 0) AS max_tx_duration
FROM (VALUES {", ".join(f"('{s}')" for s in STATES)}) AS s(state)
CROSS JOIN pg_database d
LEFT JOIN (
    SELECT datname, state, count(*) AS count,
           max(EXTRACT(EPOCH FROM now() - xact_start))::float8 AS max_tx_duration
    FROM pg_stat_activity
    WHERE pid <> pg_backend_pid()
    GROUP BY datname, state
) AS a ON a.datname = d.datname AND a.state = s.state
ORDER BY d.datname, s.state"""

register_query_collector(QueryCollectorSpec(
    name="stat_activity",
    description="Sessions per database and state, and their longest open transaction (pg_stat_activity); "
                "the exporter's own session is not counted.",
    prefix="pg_stat_activity",
    queries=(Query(SQL, labels=("datname", "state"), columns=(
        Column("count", GAUGE, "number of connections in this state"),
        Column("max_tx_duration", GAUGE, "max duration in seconds any active transaction has been running"),
    )),),
))
