"""stat_user_tables: per-table activity (pg_stat_user_tables) of the DSN's database, or of every
database with ``--auto-discover-databases`` (the fan-out, fanout.py).

``pg_stat_user_tables_<column>{datname,schemaname,relname[,server]}`` with the
names, types and HELP of the ``pg_stat_user_tables`` query in the example
queries.yaml that Debian ships with postgres_exporter 0.11.1 (and that the Helm
chart shipped until 2023): scan and row counters, ``n_live_tup`` /
``n_dead_tup`` / ``n_mod_since_analyze`` gauges, and the ``last_*`` times as unix
timestamps (0 when never). ``datname`` is ``current_database()`` of the database read. Plus current
upstream's ``index_size_bytes`` and ``table_size_bytes`` gauges
(``pg_indexes_size()``, ``pg_table_size()``).

pg_stat_user_tables only shows the tables of the database a session is connected to: the
DSN's database is read, or with ``--auto-discover-databases`` every database the fan-out
wants, on at most ``--postgres.fanout-connections`` extra connections. Cardinality is
bounded: at most ``--collector.stat_user_tables.limit`` tables per database (default 5000),
the first by schema and table name."""

from __future__ import annotations

from ..core.collector import Flag
from .query import COUNTER, GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

DEFAULT_LIMIT = 5000
LABELS = ("datname", "schemaname", "relname")


def limit_param(flag: str, dest: str):
    """A ``params`` callable reading a positive integer limit from ``dest``."""

    def params(settings) -> dict:
        value = settings.get(dest)
        limit = DEFAULT_LIMIT if value is None else int(value)
        if limit < 1:
            raise ValueError(f"{flag} must be at least 1")
        return {"limit": limit}

    return params


def limit_flag(flag: str, dest: str, what: str) -> Flag:
    return Flag(
        flag,
        dest,
        f"Read at most this many {what} per database (the DSN's, or each one with "
        "--auto-discover-databases; the first by schema and name), to bound the number of series.",
        default=DEFAULT_LIMIT,
        type=int,
    )


def _ts(column: str) -> str:
    """A time as 0.11.1 reports it: whole unix seconds (Go's Time.Unix()), 0 (the epoch) when never.
    As an integer from the server: 20,000 of them at 5,000 tables cost the exporter less so than
    as timestamps to parse and convert."""
    return f"extract(epoch FROM date_trunc('second', COALESCE({column}, '1970-01-01Z')))::bigint AS {column}"


SQL = f"""SELECT current_database() AS datname, schemaname, relname,
  seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd,
  n_live_tup, n_dead_tup, n_mod_since_analyze,
  {_ts("last_vacuum")}, {_ts("last_autovacuum")}, {_ts("last_analyze")}, {_ts("last_autoanalyze")},
  vacuum_count, autovacuum_count, analyze_count, autoanalyze_count,
  pg_indexes_size(relid) AS index_size_bytes, pg_table_size(relid) AS table_size_bytes,
  pg_total_relation_size(relid) AS size_bytes
FROM pg_stat_user_tables
ORDER BY schemaname, relname
LIMIT %(limit)d"""

COLUMNS = (
    Column("seq_scan", COUNTER, "Number of sequential scans initiated on this table"),
    Column("seq_tup_read", COUNTER, "Number of live rows fetched by sequential scans"),
    Column("idx_scan", COUNTER, "Number of index scans initiated on this table"),
    Column("idx_tup_fetch", COUNTER, "Number of live rows fetched by index scans"),
    Column("n_tup_ins", COUNTER, "Number of rows inserted"),
    Column("n_tup_upd", COUNTER, "Number of rows updated"),
    Column("n_tup_del", COUNTER, "Number of rows deleted"),
    Column("n_tup_hot_upd", COUNTER, "Number of rows HOT updated (i.e., with no separate index update required)"),
    Column("n_live_tup", GAUGE, "Estimated number of live rows"),
    Column("n_dead_tup", GAUGE, "Estimated number of dead rows"),
    Column("n_mod_since_analyze", GAUGE, "Estimated number of rows changed since last analyze"),
    Column("last_vacuum", GAUGE, "Last time at which this table was manually vacuumed (not counting VACUUM FULL)"),
    Column("last_autovacuum", GAUGE, "Last time at which this table was vacuumed by the autovacuum daemon"),
    Column("last_analyze", GAUGE, "Last time at which this table was manually analyzed"),
    Column("last_autoanalyze", GAUGE, "Last time at which this table was analyzed by the autovacuum daemon"),
    Column("vacuum_count", COUNTER, "Number of times this table has been manually vacuumed (not counting VACUUM FULL)"),
    Column("autovacuum_count", COUNTER, "Number of times this table has been vacuumed by the autovacuum daemon"),
    Column("analyze_count", COUNTER, "Number of times this table has been manually analyzed"),
    Column("autoanalyze_count", COUNTER, "Number of times this table has been analyzed by the autovacuum daemon"),
    Column("index_size_bytes", GAUGE, "Total disk space used by the indexes of this table, in bytes"),
    Column(
        "table_size_bytes", GAUGE, "Total disk space used by this table without its indexes (pg_table_size), in bytes"
    ),
    Column("size_bytes", GAUGE, "Total disk space used by this table, in bytes, including all indexes and TOAST data"),
)

FLAG = "--collector.stat_user_tables.limit"
DEST = "collector_stat_user_tables_limit"

register_query_collector(
    QueryCollectorSpec(
        name="stat_user_tables",
        description="Per-table statistics (pg_stat_user_tables) of the DSN's database, or of every database with "
        "--auto-discover-databases; at most --collector.stat_user_tables.limit tables per database.",
        prefix="pg_stat_user_tables",
        queries=(Query(SQL, labels=LABELS, columns=COLUMNS),),
        flags=(limit_flag(FLAG, DEST, "tables"),),
        params=limit_param(FLAG, DEST),
        per_database=True,
    )
)
