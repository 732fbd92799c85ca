"""stat_database and stat_database_conflicts: per-database statistics, as postgres_exporter
reads them: 0.17.1's known columns and ``active_time_seconds_total`` (PostgreSQL 14+, seconds)
without ``server`` by default; under ``--compat=0.11`` as 0.11.1 (``SELECT *`` of the view):

``pg_stat_database_<column>{datid,datname,server}``: ``numbackends`` is a gauge;
the cumulative columns are counters *without* ``_total`` (the times are
milliseconds, ``stats_reset`` a unix timestamp). Columns 0.11.1 did not know
(PostgreSQL 12+'s checksums, 14+'s sessions and times) are untyped "Unknown
metric from pg_stat_database". The shared-objects row (datid 0, NULL datname)
is kept, with ``datname=""``; NULL values are NaN.

``pg_stat_database_conflicts_confl_*{datid,datname,server}`` are counters of
queries cancelled on a standby; a column 0.11.1 did not know (PostgreSQL 16's
``confl_active_logicalslot``) is untyped. The two views are two collectors, as
they were two queries in 0.11.1, so either can be switched off alone."""

from __future__ import annotations

from .query import COUNTER, GAUGE, UNTYPED, Column, Query, QueryCollectorSpec, register_query_collector

_UNKNOWN = "Unknown metric from pg_stat_database"

STAT_DATABASE_COLUMNS = (
    Column(
        "numbackends",
        GAUGE,
        "Number of backends currently connected to this database. This is the only column in this view that "
        "returns a value reflecting current state; all other columns return the accumulated values since the "
        "last reset.",
    ),
    Column("xact_commit", COUNTER, "Number of transactions in this database that have been committed"),
    Column("xact_rollback", COUNTER, "Number of transactions in this database that have been rolled back"),
    Column("blks_read", COUNTER, "Number of disk blocks read in this database"),
    Column(
        "blks_hit",
        COUNTER,
        "Number of times disk blocks were found already in the buffer cache, so that a read was not necessary "
        "(this only includes hits in the PostgreSQL buffer cache, not the operating system's file system cache)",
    ),
    Column("tup_returned", COUNTER, "Number of rows returned by queries in this database"),
    Column("tup_fetched", COUNTER, "Number of rows fetched by queries in this database"),
    Column("tup_inserted", COUNTER, "Number of rows inserted by queries in this database"),
    Column("tup_updated", COUNTER, "Number of rows updated by queries in this database"),
    Column("tup_deleted", COUNTER, "Number of rows deleted by queries in this database"),
    Column(
        "conflicts",
        COUNTER,
        "Number of queries canceled due to conflicts with recovery in this database. (Conflicts occur only on "
        "standby servers; see pg_stat_database_conflicts for details.)",
    ),
    Column(
        "temp_files",
        COUNTER,
        "Number of temporary files created by queries in this database. All temporary files are counted, "
        "regardless of why the temporary file was created (e.g., sorting or hashing), and regardless of the "
        "log_temp_files setting.",
    ),
    Column(
        "temp_bytes",
        COUNTER,
        "Total amount of data written to temporary files by queries in this database. All temporary files are "
        "counted, regardless of why the temporary file was created, and regardless of the log_temp_files "
        "setting.",
    ),
    Column("deadlocks", COUNTER, "Number of deadlocks detected in this database"),
    Column(
        "blk_read_time", COUNTER, "Time spent reading data file blocks by backends in this database, in milliseconds"
    ),
    Column(
        "blk_write_time", COUNTER, "Time spent writing data file blocks by backends in this database, in milliseconds"
    ),
    Column("stats_reset", COUNTER, "Time at which these statistics were last reset"),
    # newer than 0.11.1's map: untyped, as 0.11.1 emits them (listed so the metric reference shows them)
    Column("checksum_failures", UNTYPED, _UNKNOWN),  # PostgreSQL 12+
    Column("checksum_last_failure", UNTYPED, _UNKNOWN),  # PostgreSQL 12+
    Column("session_time", UNTYPED, _UNKNOWN),  # PostgreSQL 14+ (milliseconds)
    Column("active_time", UNTYPED, _UNKNOWN),  # PostgreSQL 14+ (milliseconds)
    Column("idle_in_transaction_time", UNTYPED, _UNKNOWN),  # PostgreSQL 14+ (milliseconds)
    Column("sessions", UNTYPED, _UNKNOWN),  # PostgreSQL 14+
    Column("sessions_abandoned", UNTYPED, _UNKNOWN),  # PostgreSQL 14+
    Column("sessions_fatal", UNTYPED, _UNKNOWN),  # PostgreSQL 14+
    Column("sessions_killed", UNTYPED, _UNKNOWN),  # PostgreSQL 14+
)

CONFLICTS_COLUMNS = (
    Column(
        "confl_tablespace",
        COUNTER,
        "Number of queries in this database that have been canceled due to dropped tablespaces",
    ),
    Column("confl_lock", COUNTER, "Number of queries in this database that have been canceled due to lock timeouts"),
    Column(
        "confl_snapshot", COUNTER, "Number of queries in this database that have been canceled due to old snapshots"
    ),
    Column(
        "confl_bufferpin", COUNTER, "Number of queries in this database that have been canceled due to pinned buffers"
    ),
    Column("confl_deadlock", COUNTER, "Number of queries in this database that have been canceled due to deadlocks"),
)

# 0.17.1: the columns it knows, of the databases only (not the shared-objects row), and from
# PostgreSQL 14 on active_time in seconds as a counter
_KNOWN = [c.column for c in STAT_DATABASE_COLUMNS if c.type != UNTYPED]
_SQL_017 = f"SELECT datid, datname, {', '.join(_KNOWN)}{{active}} FROM pg_stat_database WHERE datname IS NOT NULL"
_COLUMNS_017 = tuple(c for c in STAT_DATABASE_COLUMNS if c.type != UNTYPED)
_ACTIVE = Column(
    "active_time_seconds_total", COUNTER, "Time spent executing SQL statements in this database, in seconds"
)
PG14 = 140000

register_query_collector(
    QueryCollectorSpec(
        name="stat_database",
        description="Per-database statistics (pg_stat_database); with --compat=0.11 every column of the view and "
        "the shared-objects row (datid 0).",
        prefix="pg_stat_database",
        queries=(
            Query(_SQL_017.format(active=""), labels=("datid", "datname"), columns=_COLUMNS_017, versions=(0, PG14)),
            Query(
                _SQL_017.format(active=", active_time / 1000.0 AS active_time_seconds_total"),
                labels=("datid", "datname"),
                columns=(*_COLUMNS_017, _ACTIVE),
                versions=(PG14, 10**7),
            ),
        ),
        legacy_queries=(
            Query(
                "SELECT * FROM pg_stat_database",
                labels=("datid", "datname"),
                columns=STAT_DATABASE_COLUMNS,
                unknown_columns=True,
            ),
        ),
    )
)

register_query_collector(
    QueryCollectorSpec(
        name="stat_database_conflicts",
        description="Queries cancelled by recovery conflicts, per database (pg_stat_database_conflicts).",
        prefix="pg_stat_database_conflicts",
        legacy_server=True,  # one of postgres_exporter 0.17.1's built-in maps: keeps ``server``
        queries=(
            Query(
                "SELECT * FROM pg_stat_database_conflicts",
                labels=("datid", "datname"),
                columns=CONFLICTS_COLUMNS,
                unknown_columns=True,
            ),
        ),
    )
)
