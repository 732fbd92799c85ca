"""stat_progress_vacuum: VACUUMs running right now (pg_stat_progress_vacuum, PostgreSQL 9.6+).

Current upstream postgres_exporter's families, plus ``server``:

- ``pg_stat_progress_vacuum_phase{datname,relname,phase[,server]}``: one-hot over the
  seven phases (1 for the phase the vacuum is in, 0 for the others);
- ``pg_stat_progress_vacuum_{heap_blks,heap_blks_scanned,heap_blks_vacuumed,index_vacuums}``
  gauges ``{datname,relname[,server]}``;
- ``_max_dead_tuples`` / ``_num_dead_tuples`` before PostgreSQL 17; from 17 on, where the
  server replaced those columns, ``_max_dead_tuple_bytes`` / ``_num_dead_item_ids``.

Vacuums of every database are listed; a table name can only be resolved in the DSN's
database, so in the others ``relname`` is the table's OID. No vacuum running: no series."""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import PgCollector, pg_collectors

PG96, PG17 = 90600, 170000

PHASES = (
    "initializing",
    "scanning heap",
    "vacuuming indexes",
    "vacuuming heap",
    "cleaning up indexes",
    "truncating heap",
    "performing final cleanup",
)

PHASE = gauge(
    "pg_stat_progress_vacuum_phase",
    "Current vacuum phase (1 = active, 0 = inactive). Label 'phase' is human-readable.",
    "datname",
    "relname",
    "phase",
    "server",
)
_L = ("datname", "relname", "server")
VALUES = (  # (column, metric, from, to)
    (
        "heap_blks_total",
        gauge("pg_stat_progress_vacuum_heap_blks", "Total number of heap blocks in the table.", *_L),
        0,
        10**7,
    ),
    (
        "heap_blks_scanned",
        gauge("pg_stat_progress_vacuum_heap_blks_scanned", "Number of heap blocks scanned.", *_L),
        0,
        10**7,
    ),
    (
        "heap_blks_vacuumed",
        gauge("pg_stat_progress_vacuum_heap_blks_vacuumed", "Number of heap blocks vacuumed.", *_L),
        0,
        10**7,
    ),
    (
        "index_vacuum_count",
        gauge("pg_stat_progress_vacuum_index_vacuums", "Number of completed index vacuum cycles.", *_L),
        0,
        10**7,
    ),
    (
        "max_dead_tuples",
        gauge(
            "pg_stat_progress_vacuum_max_dead_tuples",
            "Number of dead tuples that can be stored before an index vacuum cycle is needed (before PostgreSQL 17).",
            *_L,
        ),
        0,
        PG17,
    ),
    (
        "num_dead_tuples",
        gauge(
            "pg_stat_progress_vacuum_num_dead_tuples",
            "Number of dead tuples collected since the last index vacuum cycle (before PostgreSQL 17).",
            *_L,
        ),
        0,
        PG17,
    ),
    (
        "max_dead_tuple_bytes",
        gauge(
            "pg_stat_progress_vacuum_max_dead_tuple_bytes",
            "Amount of dead tuple data that can be stored before an index vacuum cycle is "
            "needed, in bytes (PostgreSQL 17+).",
            *_L,
        ),
        PG17,
        10**7,
    ),
    (
        "num_dead_item_ids",
        gauge(
            "pg_stat_progress_vacuum_num_dead_item_ids",
            "Number of dead item identifiers collected since the last index vacuum cycle (PostgreSQL 17+).",
            *_L,
        ),
        PG17,
        10**7,
    ),
)

_RELNAME = (
    "CASE WHEN s.datid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "THEN s.relid::regclass::text ELSE s.relid::text END"
)


def sql_for(version: int) -> tuple[str, list]:
    values = [v for v in VALUES if v[2] <= version < v[3]]
    cols = ", ".join(f"s.{column}" for column, *_ in values)
    return (
        f"SELECT d.datname, {_RELNAME} AS relname, s.phase, {cols} "
        "FROM pg_stat_progress_vacuum s JOIN pg_database d ON d.oid = s.datid "
        "ORDER BY d.datname, s.relid"
    ), values


@pg_collectors.register
class StatProgressVacuumCollector(PgCollector):
    name = "stat_progress_vacuum"
    description = "Progress of running VACUUMs (pg_stat_progress_vacuum), one-hot phase and block counts."
    metrics = (PHASE, *(m for _, m, _, _ in VALUES))

    async def collect(self):
        version = self.session.version_num
        if version < PG96:
            return []
        sql, values = sql_for(version)
        rows = await self.rows(sql)
        phase = self.family(PHASE)
        families = [(column, self.family(metric)) for column, metric, _, _ in values]
        for row in rows:
            datname, relname = row["datname"] or "", row["relname"] or ""
            for p in PHASES:
                phase.add(self.labels(datname, relname, p), 1 if row["phase"] == p else 0)
            for column, fam in families:
                v = row[column]
                fam.add(self.labels(datname, relname), float("nan") if v is None else float(v))
        return [phase, *(fam for _, fam in families)]
