"""``flextime-exporter scheduler``: FlexTime's scheduling metrics and queue health, read from the
job queue (BullMQ, RQ, a PostgreSQL job table) at scrape time.

See docs/scheduler.md for the config file, the job contract and how the counters are kept."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from ..catalogue import description
from ..core.collector import Flag, Settings
from ..core.errors import ConfigError
from ..core.spec import ExporterSpec
from .collectors import scheduler_collectors
from .config import SchedulerConfig, load
from .session import SESSION_METRICS

FLAGS = (
    Flag(
        "--redis.addr",
        "redis_addr",
        "Redis of the --bullmq.queue / --rq.queue / --celery.queue queues "
        "(and the config file's default): redis://, rediss:// or unix://.",
        default="",
        metavar="URI",
    ),
    Flag("--redis.password", "redis_password", "Password for --redis.addr, when not in the URI.", default=""),
    Flag(
        "--redis.password-file",
        "redis_password_file",
        "File holding the Redis password (the whole file, "
        "trailing newline stripped), for every Redis read (config file backends too, unless they give their "
        "own password_file); read again when it changes.",
        default="",
        metavar="FILE",
    ),
    Flag("--bullmq.queue", "bullmq_queue", "A BullMQ queue to read (repeatable).", multiple=True, metavar="NAME"),
    Flag("--bullmq.prefix", "bullmq_prefix", "BullMQ key prefix.", default="bull"),
    Flag(
        "--bullmq.discover",
        "bullmq_discover",
        "Read every BullMQ queue under the prefix (found by its meta key).",
        default=False,
        type=bool,
    ),
    Flag("--rq.queue", "rq_queue", "An RQ queue to read (repeatable).", multiple=True, metavar="NAME"),
    Flag("--rq.discover", "rq_discover", "Read every RQ queue listed in rq:queues.", default=False, type=bool),
    Flag(
        "--celery.queue",
        "celery_queue",
        "A Celery queue (Redis broker) to read (repeatable).",
        multiple=True,
        metavar="NAME",
    ),
    Flag(
        "--celery.result-backend",
        "celery_result_backend",
        "The Celery Redis result backend, when not --redis.addr (redis://, rediss:// or unix://).",
        default="",
        metavar="URI",
    ),
    Flag(
        "--pool.dsn",
        "pool_dsn",
        "PostgreSQL the application connects to, for database_connection_pool_size.",
        default="",
        metavar="DSN",
    ),
    Flag(
        "--pool.application-name",
        "pool_application_name",
        "The application_name of the application's connections.",
        default="",
    ),
    Flag(
        "--config.file",
        "config_file",
        "YAML file with backends, SQL job tables, the job contract and the connection pool (docs/scheduler.md).",
        default="",
        metavar="FILE",
    ),
    Flag(
        "--connection-timeout",
        "connection_timeout",
        "Seconds for connecting to and each round trip with a backend; the scrape's deadline bounds it too.",
        default=5.0,
        type=float,
    ),
)


def _with_password(url: str, password: str) -> str:
    if not url or not password:
        return url
    parts = urlsplit(url)
    if parts.password or parts.scheme == "unix":
        return (
            url
            if parts.scheme != "unix" or "password=" in parts.query
            else url + ("&" if parts.query else "?") + "password=" + quote(password, safe="")
        )
    user = quote(parts.username or "", safe="")
    netloc = f"{user}:{quote(password, safe='')}@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class SchedulerOptions:
    """What validate() made of the flags and the config file; the session reads it (settings.options)."""

    config: SchedulerConfig
    connection_timeout: float


def validate(settings: Settings) -> SchedulerOptions:
    if settings.connection_timeout <= 0:
        raise ConfigError("--connection-timeout must be positive")
    if settings.redis_password and settings.redis_password_file:
        raise ConfigError("give --redis.password or --redis.password-file, not both")
    for b in (cfg := load(settings, _with_password(settings.redis_addr, settings.redis_password))).backends:
        if b.kind in ("bullmq", "rq", "celery"):
            parts = urlsplit(b.redis_url)
            if parts.scheme not in ("redis", "rediss", "unix"):
                raise ConfigError(
                    f"backend {b.name}: the Redis address must start with redis://, rediss:// or "
                    f"unix:// (got {parts.scheme or 'no scheme'})"
                )
    return SchedulerOptions(cfg, settings.connection_timeout)


def applicable(settings: Settings) -> set[str]:
    """The backend kinds configured, and connection_pool when a pool is: the other collectors
    would only report an empty success."""
    cfg = settings.options.config
    return {b.kind for b in cfg.backends} | ({"connection_pool"} if cfg.pool is not None else set())


def targets(settings: Settings) -> list[str]:
    return ["scheduler"]


def make_session(settings: Settings, key: str):
    from .session import SchedulerSession

    options: SchedulerOptions = settings.options
    return SchedulerSession(options.config, options.connection_timeout)


SPEC = ExporterSpec(
    name="scheduler",
    namespace="scheduler",
    default_port=9839,
    collectors=scheduler_collectors,
    flags=FLAGS,
    validate=validate,
    description=description("scheduler"),
    targets=targets,
    session=make_session,
    session_metrics=SESSION_METRICS,
    applicable=applicable,
)
