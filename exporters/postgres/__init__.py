"""``flextime-exporter postgres``: PostgreSQL metrics with postgres_exporter's names.

See docs/postgres.md for targets, collectors and what differs from postgres_exporter."""

from __future__ import annotations

import os
import time

from ..catalogue import description
from ..core.collector import Flag, Settings
from ..core.errors import ConfigError
from ..core.spec import ExporterSpec
from . import compat, config, fanout, servershare
from .dsn import resolve_dsns
from .options import PostgresOptions
from .registry import pg_collectors
from .session import STATUS_METRICS, PgSession

# Importing a collector module registers it; the order here is the order of /metrics.
from . import (  # noqa: F401,E402
    database,
    locks,
    postmaster,
    replication,
    replication_slots,
    roles,
    settings,
    stat_activity,
    stat_archiver,
    stat_bgwriter,
    stat_checkpointer,
    stat_database,
    stat_progress_vacuum,
    stat_replication,
    stat_user_tables,
    statio_user_tables,
    wal,
    database_wraparound,
    long_running_transactions,
    stat_statements,
    statio_user_indexes,
    process_idle,
    replication_slot,
    stat_activity_autovacuum,
    stat_wal_receiver,
    xlog_location,
    stat_io,
    wait_events,
    bloat,
)
from . import user_queries  # noqa: E402  (last: custom queries come after the built-in families)

FLAGS = (
    Flag(
        "--dsn",
        "dsn",
        "PostgreSQL DSN (URI or key=value), several comma-separated, all served on /metrics. "
        "Default: DATA_SOURCE_NAME, else DATA_SOURCE_URI with DATA_SOURCE_USER / DATA_SOURCE_PASS (each also "
        "as *_FILE).",
        metavar="DSN",
    ),
    Flag(
        "--config.file",
        "config_file",
        "YAML with postgres_exporter's auth_modules and probe.allowed_targets, "
        "the targets /probe may connect to (none without it).",
        metavar="FILE",
    ),
    Flag(
        "--postgres.application-name",
        "postgres_application_name",
        "application_name of the exporter's connection (pg_stat_activity).",
        default="flextime-exporter",
    ),
    Flag(
        "--postgres.connect-timeout",
        "postgres_connect_timeout",
        "Seconds to wait for a connection.",
        default=5.0,
        type=float,
    ),
    Flag(
        "--postgres.statement-timeout",
        "postgres_statement_timeout",
        "statement_timeout of the exporter's session, in seconds.",
        default=10.0,
        type=float,
    ),
    Flag(
        "--postgres.lock-timeout",
        "postgres_lock_timeout",
        "lock_timeout of the exporter's session, in seconds.",
        default=2.0,
        type=float,
    ),
    Flag(
        "--probe.connections-per-server",
        "probe_connections_per_server",
        "Most connections /probe targets of one server (same host, port, user and options) hold at once, "
        "in use or kept idle, whatever the number of databases probed.",
        default=servershare.CONNECTIONS_PER_SERVER,
        type=int,
    ),
    Flag(
        "--probe.cluster-cache-seconds",
        "probe_cluster_cache_seconds",
        "Seconds the cluster-wide reads of one server (settings, locks, activity, pg_stat_database, replication, "
        "...) serve every /probe of its databases; 0: each probe reads them. Set it just under the scrape "
        "interval.",
        default=servershare.CLUSTER_CACHE_SECONDS,
        type=float,
    ),
    user_queries.FLAG,
    *fanout.FANOUT_FLAGS,
    *compat.FLAGS,
)


def targets(settings: Settings) -> list[str]:
    """The configured DSNs, scraped together on /metrics (none: /probe only)."""
    return resolve_dsns(settings.get("environ", os.environ), settings.get("dsn"))  # fleet: its own env


def validate(settings: Settings) -> PostgresOptions:
    if settings.get("dumpmaps"):
        import sys

        compat.dump_maps(pg_collectors, settings, sys.stdout)
        raise SystemExit(0)
    taken = {label for cls in pg_collectors for d in cls.metrics for label in d.labels}
    labels = compat.constant_labels(settings.get("constant_labels"), taken)
    prefix = compat.metric_prefix(settings.get("metric_prefix"))
    pg_config = config.load(settings.config_file) if settings.get("config_file") else config.PgConfig()
    loaded_at = round(time.time(), 3) if settings.get("config_file") else 0.0
    if not targets(settings) and not pg_config.allowed_targets:
        raise ConfigError(
            "no PostgreSQL target: give --dsn or set DATA_SOURCE_NAME "
            "(or DATA_SOURCE_URI with DATA_SOURCE_USER / DATA_SOURCE_PASS), "
            "or allow /probe targets in --config.file (probe.allowed_targets)"
        )
    if settings.extend_query_path:
        user_queries.load(settings.extend_query_path)  # a missing or malformed file stops start-up
    if settings.get("probe_connections_per_server", 1) < 1 or settings.get("probe_cluster_cache_seconds", 0) < 0:
        raise ConfigError(
            "--probe.connections-per-server must be at least 1 and --probe.cluster-cache-seconds not negative"
        )
    for flag in ("postgres_connect_timeout", "postgres_statement_timeout", "postgres_lock_timeout"):
        if settings.get(flag) <= 0:
            raise ConfigError(f"--{flag.replace('_', '.', 1).replace('_', '-')} must be positive")
    toggles = compat.collector_toggles(settings)
    fanout_config = fanout.configure(settings)
    return PostgresOptions(
        config=pg_config,
        config_loaded_at=loaded_at,
        constant_labels=labels,
        metric_prefix=prefix,
        fanout=fanout_config,
        collector_toggles=toggles,
        probe_any_database=not fanout_config.enabled and not _reads_database_local(settings, toggles),
    )


def _reads_database_local(settings: Settings, toggles: tuple[tuple[str, bool], ...]) -> bool:
    """Is a collector that reads the connected database's own views on (servershare.PER_DATABASE)?
    The custom queries count only with --extend.query-path: without it they read nothing."""
    explicit = pg_collectors.explicit(settings, toggles)
    on = set(pg_collectors.enabled_names(explicit, settings.collector_disable_defaults)) & servershare.PER_DATABASE
    if not settings.extend_query_path:
        on.discard("user_queries")
    return bool(on)


def make_session(settings: Settings, dsn: str) -> PgSession:
    import psycopg  # noqa: F401  (about 0.3 s: imported now, not inside the first scrape's deadline)

    options: PostgresOptions = settings.options
    # /probe targets of one server share its connections and cluster-wide reads (servershare.py)
    share = None if dsn in targets(settings) else dsn
    # the second connection (pg_database_size beside the rest) only without the fan-out, whose own
    # connections then keep a target within 1 + --postgres.fanout-connections backends
    session = PgSession(
        dsn,
        second_connection=not options.fanout.enabled and share is None,
        application_name=settings.postgres_application_name,
        connect_timeout=settings.postgres_connect_timeout,
        statement_timeout=settings.postgres_statement_timeout,
        lock_timeout=settings.postgres_lock_timeout,
        constant_labels=options.constant_labels,
        metric_prefix=options.metric_prefix,
        static=not settings.get("disable_default_metrics"),
        build_info_tags=compat.modern(settings),
        config_loaded_at=options.config_loaded_at if compat.modern(settings) else None,
        fanout=options.fanout,
    )
    env = settings.get("environ", os.environ)
    if (
        env.get("DATA_SOURCE_PASS_FILE")
        and not settings.get("dsn")
        and not env.get("DATA_SOURCE_NAME")
        and dsn in targets(settings)
    ):  # the configured target, built from DATA_SOURCE_URI: a rotated file is read
        session.watch_secret(env["DATA_SOURCE_PASS_FILE"], lambda: resolve_dsns(env)[0])
    if share is not None:
        session.use_share(
            settings, *servershare.share_for(settings, dsn, session.display), any_database=options.probe_any_database
        )
    return session


def resolve_probe(settings: Settings, query) -> str:
    return config.resolve_probe(settings.options.config, query)


SPEC = ExporterSpec(
    session_metrics=STATUS_METRICS,
    name="postgres",
    namespace="pg",
    default_port=9187,
    collectors=pg_collectors,
    flags=FLAGS,
    validate=validate,
    targets=targets,
    session=make_session,
    target_label="server",
    resolve_probe=resolve_probe,
    go_env_prefix="PG_EXPORTER_",  # PG_EXPORTER_EXTEND_QUERY_PATH, PG_EXPORTER_AUTO_DISCOVER_DATABASES, ...
    description=description("postgres"),
)
