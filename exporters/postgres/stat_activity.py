"""stat_activity: sessions per database and state, and the age of the oldest
open transaction, from pg_stat_activity.

As postgres_exporter: ``pg_stat_activity_count`` and ``pg_stat_activity_max_tx_duration`` for
every database crossed with the fixed list of states (including 'disabled', shown when
track_activities is off), so empty combinations read 0; the duration is the
largest ``now() - xact_start`` in seconds (0 when no transaction is open).
Sessions without a database (background workers, walsenders) are not counted.

Unlike upstream, the exporter's own backends are left out: every backend with
the exporter's application_name (its main connection, the one that runs
pg_database_size() beside it, and the per-database fan-out's) would otherwise
show as 'active' sessions with transactions of a few milliseconds in every
scrape. Several exporter instances on one server that should count each other
need different --postgres.application-name values.

Labels: under ``--compat=0.17`` (the default) 0.17.1's ``datname, state, usename,
application_name, backend_type, wait_event_type, wait_event, server``: every database x
state pair with no session is one series with the other labels empty, plus one series per
(database, state, user, application, backend type, wait event) found, so the count grows
with the distinct applications and wait events. Under ``--compat=0.11``: 0.11.1's
``datname, state, server`` (databases x 6 states, fixed). Sessions without a database
(background workers) are not counted in either, as upstream."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

STATES = (
    "active",
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
    "fastpath function call",
    "disabled",
)

# 0.17.1: every database crossed with every state (zero rows: the other labels empty), plus one row per
# user, application, backend type and wait event found in pg_stat_activity
LABELS_017 = ("datname", "state", "usename", "application_name", "backend_type", "wait_event_type", "wait_event")
SQL_017 = f"""
SELECT d.datname, s.state, a.usename, a.application_name, a.backend_type, a.wait_event_type, a.wait_event,
       COALESCE(a.count, 0) AS count, COALESCE(a.max_tx_duration, 0) AS max_tx_duration
FROM (VALUES {", ".join(f"('{s}')" for s in STATES)}) AS s(state)
CROSS JOIN pg_database d
LEFT JOIN (
    SELECT datname, state, usename, application_name, backend_type, wait_event_type, wait_event, count(*) AS count,
           max(EXTRACT(EPOCH FROM now() - xact_start))::float8 AS max_tx_duration
    FROM pg_stat_activity
    WHERE application_name <> current_setting('application_name')
    GROUP BY datname, state, usename, application_name, backend_type, wait_event_type, wait_event
) AS a ON a.datname = d.datname AND a.state = s.state
ORDER BY 1, 2, 3, 4, 5, 6, 7"""

SQL = f"""
SELECT d.datname, s.state, COALESCE(a.count, 0) AS count, COALESCE(a.max_tx_duration, 0) AS max_tx_duration
FROM (VALUES {", ".join(f"('{s}')" for s in STATES)}) AS s(state)
CROSS JOIN pg_database d
LEFT JOIN (
    SELECT datname, state, count(*) AS count,
           max(EXTRACT(EPOCH FROM now() - xact_start))::float8 AS max_tx_duration
    FROM pg_stat_activity
    WHERE application_name <> current_setting('application_name')
    GROUP BY datname, state
) AS a ON a.datname = d.datname AND a.state = s.state
ORDER BY d.datname, s.state"""

COLUMNS = (
    Column("count", GAUGE, "number of connections in this state"),
    Column("max_tx_duration", GAUGE, "max duration in seconds any active transaction has been running"),
)

register_query_collector(
    QueryCollectorSpec(
        name="stat_activity",
        description="Sessions per database and state, and their longest open transaction (pg_stat_activity); "
        "the exporter's own sessions are not counted.",
        prefix="pg_stat_activity",
        legacy_server=True,  # one of postgres_exporter 0.17.1's built-in maps: keeps ``server``
        queries=(Query(SQL_017, labels=LABELS_017, columns=COLUMNS),),
        legacy_queries=(Query(SQL, labels=("datname", "state"), columns=COLUMNS),),
    )
)
