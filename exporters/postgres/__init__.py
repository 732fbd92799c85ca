"""``flextime-exporter postgres``: PostgreSQL metrics with postgres_exporter's names.

Work in progress (issue 3): see docs/postgres.md for what is built and what is not."""

from __future__ import annotations

import os

from ..core.collector import Flag, Settings
from ..core.errors import ConfigError
from ..core.server import ExporterSpec
from .dsn import resolve_dsns
from .registry import pg_collectors
from .session import PgSession

# Importing a collector module registers it; the order here is the order of /metrics.
from . import (  # noqa: F401,E402
    database, locks, postmaster, replication, replication_slots, roles, settings, stat_activity,
    stat_archiver, stat_bgwriter, stat_checkpointer, stat_database, stat_progress_vacuum, stat_replication,
    stat_user_tables, statio_user_tables, wal,
    database_wraparound, long_running_transactions, stat_statements, statio_user_indexes,
)
from . import user_queries  # noqa: E402  (last: custom queries come after the built-in families)

FLAGS = (
    Flag("--dsn", "dsn", "PostgreSQL DSN (URI or key=value). Default: DATA_SOURCE_NAME, else DATA_SOURCE_URI "
         "with DATA_SOURCE_USER / DATA_SOURCE_PASS (each also as *_FILE).", metavar="DSN"),
    Flag("--postgres.application-name", "postgres_application_name",
         "application_name of the exporter's connection (pg_stat_activity).", default="flextime-exporter"),
    Flag("--postgres.connect-timeout", "postgres_connect_timeout", "Seconds to wait for a connection.",
         default=5.0, type=float),
    Flag("--postgres.statement-timeout", "postgres_statement_timeout",
         "statement_timeout of the exporter's session, in seconds.", default=10.0, type=float),
    Flag("--postgres.lock-timeout", "postgres_lock_timeout", "lock_timeout of the exporter's session, in seconds.",
         default=2.0, type=float),
    user_queries.FLAG,
)


def _dsn(settings: Settings) -> str:
    dsns = resolve_dsns(os.environ, settings.get("dsn"))
    if not dsns:
        raise ConfigError("no PostgreSQL target: give --dsn or set DATA_SOURCE_NAME "
                          "(or DATA_SOURCE_URI with DATA_SOURCE_USER / DATA_SOURCE_PASS)")
    if len(dsns) > 1:
        raise ConfigError(f"{len(dsns)} DSNs given; scraping several targets from one /metrics is not supported yet")
    return dsns[0]


def validate(settings: Settings) -> None:
    _dsn(settings)
    if not settings.get("extend_query_path"):  # postgres_exporter's variable too
        settings.extend_query_path = os.environ.get("PG_EXPORTER_EXTEND_QUERY_PATH") or None
    if settings.extend_query_path:
        user_queries.load(settings.extend_query_path)  # a missing or malformed file stops start-up
    for flag in ("postgres_connect_timeout", "postgres_statement_timeout", "postgres_lock_timeout"):
        if settings.get(flag) <= 0:
            raise ConfigError(f"--{flag.replace('_', '.', 1).replace('_', '-')} must be positive")


def make_session(settings: Settings) -> PgSession:
    return PgSession(_dsn(settings), application_name=settings.postgres_application_name,
                     connect_timeout=settings.postgres_connect_timeout,
                     statement_timeout=settings.postgres_statement_timeout,
                     lock_timeout=settings.postgres_lock_timeout)


def health_checks(settings: Settings):
    return {"postgres": settings.hooks.health}


SPEC = ExporterSpec(
    name="postgres",
    namespace="pg",
    default_port=9187,
    collectors=pg_collectors,
    flags=FLAGS,
    validate=validate,
    health_checks=health_checks,
    hooks=make_session,
    description="PostgreSQL metrics with postgres_exporter's names (default port 9187).",
)
