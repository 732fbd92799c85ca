"""What the scheduler exporter reads: backends, queues, the job contract, the app's pool.

The simple cases need only flags (``--redis.addr``, ``--bullmq.queue``, ``--rq.queue``);
``--config.file`` adds SQL job tables, several Redis servers, the job contract's field paths
and the application whose PostgreSQL connections are reported. docs/scheduler.md shows the
file; every error names the field it is about (exit 2 at start-up)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ConfigError
from .contract import JobContract, check_path

REDIS_KINDS = ("bullmq", "rq", "celery")  # the backends read from Redis
SQL_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
# the documented default job table (docs/scheduler.md, "SQL job table")
DEFAULT_SQL_COLUMNS = {
    "id": "id",
    "queue": "queue",
    "state": "state",
    "data": "data",
    "result": "result",
    "created_at": "created_at",
    "started_at": "started_at",
    "finished_at": "finished_at",
    "run_at": "run_at",
    "heartbeat_at": "heartbeat_at",
}
# job states a SQL table's ``state`` column holds, mapped to the exported state label
DEFAULT_SQL_STATES = {
    "waiting": "waiting",
    "active": "active",
    "delayed": "delayed",
    "completed": "completed",
    "failed": "failed",
}


@dataclass
class BackendConfig:
    """One queue backend. ``kind`` is bullmq, rq or sql; ``name`` is its ``backend`` label."""

    kind: str
    name: str
    redis_url: str = field(default="", repr=False)  # bullmq / rq (may hold a password: never shown)
    password_file: str = ""  # bullmq / rq: the Redis password is read from this file (again when it changes)
    queues: tuple[str, ...] = ()
    discover: bool = False  # bullmq: every queue with a <prefix>:*:meta key; rq: every queue in rq:queues
    prefix: str = "bull"  # bullmq
    dsn: str = field(default="", repr=False)  # sql
    table: str = ""  # sql: schema.table or table
    columns: dict[str, str] = field(default_factory=dict)  # sql: role -> column name
    states: dict[str, str] = field(default_factory=dict)  # sql: value in the state column -> state label
    stalled_after: float = 300.0  # sql: an active row whose heartbeat is older than this is stalled
    max_queues: int = 100  # discovery bound; queues beyond it are counted, not read
    result_backend: str = field(default="", repr=False)  # celery: the Redis result backend (default: the broker)


@dataclass
class PoolConfig:
    """The application's PostgreSQL connections, read from pg_stat_activity."""

    dsn: str = field(default="", repr=False)
    application_name: str = ""


@dataclass
class SchedulerConfig:
    backends: list[BackendConfig] = field(default_factory=list)
    contract: JobContract = field(default_factory=JobContract)
    pool: PoolConfig | None = None
    path: str = ""


def _str(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: expected a string")
    return str(value)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v) for v in value):
        raise ConfigError(f"{where}: expected a list of queue names")
    return tuple(str(v) for v in value)


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping")
    return value


def _known(section: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


def _backend(raw: Any, index: int, default_redis: str, default_password_file: str = "") -> BackendConfig:
    where = f"backends[{index}]"
    raw = _mapping(raw, where)
    kind = _str(raw.get("type", ""), f"{where}.type")
    common = {"type", "name"}
    if kind == "bullmq":
        _known(raw, common | {"redis", "password_file", "prefix", "queues", "discover", "max_queues"}, where)
        cfg = BackendConfig(
            "bullmq",
            _str(raw.get("name", "bullmq"), f"{where}.name"),
            prefix=_str(raw.get("prefix", "bull"), f"{where}.prefix"),
        )
    elif kind == "rq":
        _known(raw, common | {"redis", "password_file", "queues", "discover", "max_queues"}, where)
        cfg = BackendConfig("rq", _str(raw.get("name", "rq"), f"{where}.name"))
    elif kind == "celery":
        _known(raw, common | {"redis", "password_file", "result_backend", "queues"}, where)
        cfg = BackendConfig("celery", _str(raw.get("name", "celery"), f"{where}.name"))
    elif kind == "sql":
        _known(raw, common | {"dsn", "table", "columns", "states", "queues", "stalled_after"}, where)
        cfg = BackendConfig("sql", _str(raw.get("name", "sql"), f"{where}.name"))
        cfg.dsn = _str(raw.get("dsn", ""), f"{where}.dsn")
        if not cfg.dsn:
            raise ConfigError(f"{where}.dsn: a PostgreSQL connection string is required")
        cfg.table = _str(raw.get("table", "scheduler_jobs"), f"{where}.table")
        if not SQL_IDENTIFIER.match(cfg.table):
            raise ConfigError(f"{where}.table: {cfg.table!r} is not a table name (schema.table or table)")
        columns = _mapping(raw.get("columns"), f"{where}.columns")
        _known(columns, set(DEFAULT_SQL_COLUMNS), f"{where}.columns")
        cfg.columns = dict(DEFAULT_SQL_COLUMNS)
        for role, column in columns.items():
            column = _str(column, f"{where}.columns.{role}")
            if not SQL_IDENTIFIER.match(column) or "." in column:
                raise ConfigError(f"{where}.columns.{role}: {column!r} is not a column name")
            cfg.columns[role] = column
        states = _mapping(raw.get("states"), f"{where}.states")
        cfg.states = (
            dict(DEFAULT_SQL_STATES)
            if not states
            else {_str(k, f"{where}.states"): _str(v, f"{where}.states.{k}") for k, v in states.items()}
        )
        bad = sorted(set(cfg.states.values()) - set(DEFAULT_SQL_STATES))
        if bad:
            raise ConfigError(f"{where}.states: {bad[0]!r} is not one of {', '.join(DEFAULT_SQL_STATES)}")
        try:
            cfg.stalled_after = float(raw.get("stalled_after", 300))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.stalled_after: expected seconds") from None
    else:
        raise ConfigError(f"{where}.type: {kind!r} is not one of bullmq, rq, celery, sql")
    if kind in ("bullmq", "rq", "celery"):
        cfg.redis_url = _str(raw.get("redis", default_redis), f"{where}.redis")
        cfg.password_file = _str(raw.get("password_file", default_password_file), f"{where}.password_file")
        if not cfg.redis_url:
            raise ConfigError(f"{where}.redis: a Redis URL is required (or --redis.addr)")
        cfg.result_backend = _str(raw.get("result_backend", cfg.redis_url), f"{where}.result_backend")
        cfg.discover = bool(raw.get("discover", False))
        try:
            cfg.max_queues = int(raw.get("max_queues", 100))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.max_queues: expected a number") from None
    if "queues" in raw:
        cfg.queues = _names(raw["queues"], f"{where}.queues")
    if kind != "sql" and not cfg.queues and not cfg.discover:
        raise ConfigError(f"{where}: give queues: [...] or discover: true")
    return cfg


def parse_config(raw: Any, path: str, default_redis: str = "", default_password_file: str = "") -> SchedulerConfig:
    """The config file's content (already YAML-decoded) as a SchedulerConfig."""
    raw = _mapping(raw, path or "config")
    _known(raw, {"backends", "job_contract", "connection_pool"}, path or "config")
    cfg = SchedulerConfig(path=path)
    backends = raw.get("backends") or []
    if not isinstance(backends, list):
        raise ConfigError("backends: expected a list")
    cfg.backends = [_backend(b, i, default_redis, default_password_file) for i, b in enumerate(backends)]
    contract = _mapping(raw.get("job_contract"), "job_contract")
    _known(
        contract,
        {"sport", "team_count", "constraint_violations", "violation_type", "violation_severity"},
        "job_contract",
    )
    values = {}
    for key, value in contract.items():
        try:
            values[key] = (
                check_path(key, value)
                if key in ("sport", "team_count", "constraint_violations")
                else _str(value, f"job_contract.{key}")
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    cfg.contract = JobContract(**values)
    pool = raw.get("connection_pool")
    if pool is not None:
        pool = _mapping(pool, "connection_pool")
        _known(pool, {"dsn", "application_name"}, "connection_pool")
        cfg.pool = PoolConfig(
            _str(pool.get("dsn", ""), "connection_pool.dsn"),
            _str(pool.get("application_name", ""), "connection_pool.application_name"),
        )
        if not cfg.pool.dsn or not cfg.pool.application_name:
            raise ConfigError("connection_pool: both dsn and application_name are required")
    return cfg


def load(settings, redis_addr: str | None = None) -> SchedulerConfig:
    """Flags and the optional file, merged: the file's backends first, then one BullMQ and one
    RQ backend from the flags when ``--bullmq.queue`` / ``--rq.queue`` are given. ``redis_addr``:
    the default Redis (``--redis.addr`` with ``--redis.password``), when not the flag as given."""
    path = settings.get("config_file") or ""
    default_redis = (settings.get("redis_addr") or "") if redis_addr is None else redis_addr
    password_file = settings.get("redis_password_file") or ""
    raw: Any = {}
    if path:
        import yaml

        try:
            with open(path, encoding="utf-8") as handle:
                raw = yaml.safe_load(handle) or {}
        except OSError as exc:
            raise ConfigError(f"--config.file {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"--config.file {path}{where}: not valid YAML") from None
    try:
        cfg = parse_config(raw, path, default_redis, password_file)
    except ConfigError as exc:
        raise ConfigError(f"--config.file {path}: {exc}" if path else str(exc)) from None
    bull_queues = tuple(q for q in (settings.get("bullmq_queue") or ()) if q)
    if bull_queues or settings.get("bullmq_discover"):
        cfg.backends.append(
            BackendConfig(
                "bullmq",
                "bullmq",
                redis_url=default_redis,
                password_file=password_file,
                queues=bull_queues,
                discover=bool(settings.get("bullmq_discover")),
                prefix=settings.get("bullmq_prefix") or "bull",
            )
        )
    rq_queues = tuple(q for q in (settings.get("rq_queue") or ()) if q)
    if rq_queues or settings.get("rq_discover"):
        cfg.backends.append(
            BackendConfig(
                "rq",
                "rq",
                redis_url=default_redis,
                password_file=password_file,
                queues=rq_queues,
                discover=bool(settings.get("rq_discover")),
            )
        )
    celery_queues = tuple(q for q in (settings.get("celery_queue") or ()) if q)
    if celery_queues:
        cfg.backends.append(
            BackendConfig(
                "celery",
                "celery",
                redis_url=default_redis,
                password_file=password_file,
                result_backend=settings.get("celery_result_backend") or default_redis,
                queues=celery_queues,
            )
        )
    if settings.get("pool_dsn"):
        if not settings.get("pool_application_name"):
            raise ConfigError("--pool.dsn needs --pool.application-name (the application's connections)")
        cfg.pool = PoolConfig(settings.pool_dsn, settings.pool_application_name)
    names = [b.name for b in cfg.backends]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"backend name {name!r} is used twice: give each backend its own name:")
    for b in cfg.backends:
        if b.kind in REDIS_KINDS and not b.redis_url:
            raise ConfigError(f"backend {b.name}: no Redis address (--redis.addr or redis: in the config file)")
        if b.kind in REDIS_KINDS and b.password_file:
            try:
                with open(b.password_file, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(
                    f"backend {b.name}: password file {b.password_file}: {exc.strerror or type(exc).__name__}"
                ) from None
    if not cfg.backends and cfg.pool is None:
        raise ConfigError("nothing to read: give --bullmq.queue, --rq.queue, --pool.dsn or --config.file with backends")
    return cfg
