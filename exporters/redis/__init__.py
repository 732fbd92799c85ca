"""``flextime-exporter redis``: Redis and Valkey metrics with redis_exporter's names.

See docs/redis.md for targets, passwords, the /scrape allowlist and what differs from redis_exporter."""

from __future__ import annotations

import logging
from types import MappingProxyType

from ..catalogue import description
from ..core.collector import Flag, Settings
from ..core.errors import ConfigError
from ..core.spec import ExporterSpec
from ..core.targets import Allowlist, ProbeRefused
from . import compat
from .address import DEFAULT_PORT, RedisTarget, allowed, parse_address
from .options import PasswordSource, RedisOptions
from .registry import redis_collectors
from .session import STATUS_METRICS, RedisSession

log = logging.getLogger("exporters.redis")

# Importing a collector module registers it; the order here is the order of /metrics.
from . import clients, collectors, commands, key_groups, keys, scripts, sentinel  # noqa: F401,E402
from .cluster import discover_route  # noqa: E402


def duration(text) -> float:
    """Seconds, as a number or a Go duration ('15s', '500ms', '1m')."""
    value = str(text).strip()
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if value.endswith(suffix) and value[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(value[: -len(suffix)]) * factor
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a duration (e.g. 15s, 500ms, 2.5)") from None


FLAGS = (
    Flag(
        "--redis.addr",
        "redis_addr",
        "Address of the Redis instance: redis://, rediss://, unix://, valkey://, or "
        "host:port. Its password may be in the URI.",
        default="redis://localhost:6379",
        env=("REDIS_ADDR",),
        metavar="URI",
    ),
    Flag("--redis.user", "redis_user", "User name for Redis ACL.", default="", env=("REDIS_USER",)),
    Flag(
        "--redis.password",
        "redis_password",
        "Password of --redis.addr (sent to that address only).",
        default="",
        env=("REDIS_PASSWORD",),
    ),
    Flag(
        "--redis.password-file",
        "redis_password_file",
        "JSON object of Redis URI to password; each password is only sent to its own address.",
        default="",
        env=("REDIS_PASSWORD_FILE",),
        metavar="FILE",
    ),
    Flag(
        "--scrape.allowed-targets",
        "scrape_allowed_targets",
        "Comma-separated host:port shell-glob patterns (the port may be a glob too: host:63*) that "
        "/scrape?target= may connect to; a Unix socket only by its exact path (/run/redis/redis.sock) or "
        "directory (/run/redis/); none by default, so /scrape refuses every target.",
        default="",
    ),
    Flag(
        "--connection-timeout",
        "connection_timeout",
        "Timeout for connecting to and talking with Redis "
        "(seconds or a Go duration); a scrape's deadline bounds it too.",
        default="15s",
        type=duration,
    ),
    Flag(
        "--set-client-name",
        "set_client_name",
        "Name the connection 'flextime-exporter' (CLIENT SETNAME).",
        default=True,
        type=bool,
    ),
    Flag(
        "--config-command",
        "config_command",
        "Name of the CONFIG command (renamed on managed Redis); '-' to not send it.",
        default="CONFIG",
    ),
    Flag(
        "--include-system-metrics",
        "include_system_metrics",
        "Also export redis_total_system_memory_bytes.",
        default=False,
        type=bool,
        env=("REDIS_EXPORTER_INCL_SYSTEM_METRICS",),
    ),
    Flag(
        "--include-config-metrics",
        "include_config_metrics",
        "Every CONFIG GET * setting as redis_config_key_value{key,value} (numbers also as redis_config_value); "
        "one CONFIG GET * per scrape instead of one GET per key. Passwords are never exported.",
        default=False,
        type=bool,
        env=("REDIS_EXPORTER_INCL_CONFIG_METRICS",),
    ),
    Flag(
        "--redact-config-metrics",
        "redact_config_metrics",
        "Leave password settings (requirepass, masterauth, ...) out of --include-config-metrics. Always on here: "
        "=false is accepted and changes nothing (a warning says so).",
        default=True,
        type=bool,
    ),
    Flag(
        "--include-modules-metrics",
        "include_modules_metrics",
        "Also send INFO MODULES: redis_module_info per loaded module and the RediSearch fields.",
        default=False,
        type=bool,
        env=("REDIS_EXPORTER_INCL_MODULES_METRICS",),
    ),
    Flag(
        "--is-tile38",
        "is_tile38",
        "The target is Tile38: also send SERVER EXT (its tile38_* fields).",
        default=False,
        type=bool,
    ),
    Flag(
        "--ping-on-connect",
        "ping_on_connect",
        "PING the server in every scrape, in a round trip of its own, and export "
        "redis_exporter_last_scrape_ping_time_seconds.",
        default=False,
        type=bool,
    ),
    Flag("--namespace", "namespace", "Namespace (name prefix) of the metrics, instead of redis.", default="redis"),
    Flag(
        "--redis-only-metrics",
        "redis_only_metrics",
        "Only Redis' metrics: no process_*, promhttp_*, flextime_exporter_* and redis_exporter_build_info.",
        default=False,
        type=bool,
    ),
    Flag("--debug", "debug", "Log at debug level (as --log.level=debug).", default=False, type=bool),
    Flag(
        "--basic-auth-username",
        "basic_auth_username",
        "Require HTTP basic auth with this user (and --basic-auth-password or --basic-auth-hash-password): the "
        "web config's basic_auth_users. Not with --web.config.file.",
        default="",
    ),
    Flag("--basic-auth-password", "basic_auth_password", "Password of --basic-auth-username.", default=""),
    Flag(
        "--basic-auth-hash-password",
        "basic_auth_hash_password",
        "bcrypt hash of the password of --basic-auth-username (instead of --basic-auth-password).",
        default="",
    ),
    Flag(
        "--tls-server-cert-file",
        "tls_server_cert_file",
        "Serve HTTPS with this certificate (and --tls-server-key-file): the web config's tls_server_config.",
        default="",
        metavar="FILE",
    ),
    Flag("--tls-server-key-file", "tls_server_key_file", "Key of --tls-server-cert-file.", default="", metavar="FILE"),
    Flag(
        "--tls-server-ca-cert-file",
        "tls_server_ca_cert_file",
        "Require client certificates signed by this CA (RequireAndVerifyClientCert).",
        default="",
        metavar="FILE",
    ),
    Flag(
        "--tls-server-min-version",
        "tls_server_min_version",
        "Oldest TLS version served: TLS1.0 ... TLS1.3.",
        default="TLS1.2",
    ),
    Flag(
        "--exclude-latency-histogram-metrics",
        "exclude_latency_histogram_metrics",
        "Do not send LATENCY HISTOGRAM (Redis 7+).",
        default=False,
        type=bool,
    ),
    Flag(
        "--include-metrics-for-empty-databases",
        "include_metrics_for_empty_databases",
        "Export redis_db_keys and redis_db_keys_expiring as 0 for databases without keys.",
        default=True,
        type=bool,
    ),
    Flag(
        "--tls-client-cert-file",
        "tls_client_cert_file",
        "Client certificate for TLS to Redis.",
        default="",
        metavar="FILE",
    ),
    Flag("--tls-client-key-file", "tls_client_key_file", "Client key for TLS to Redis.", default="", metavar="FILE"),
    Flag(
        "--tls-ca-cert-file",
        "tls_ca_cert_file",
        "CA certificate to verify Redis' TLS certificate.",
        default="",
        metavar="FILE",
    ),
    Flag("--tls-server-name", "tls_server_name", "Server name to verify in Redis' TLS certificate.", default=""),
    Flag(
        "--skip-tls-verification",
        "skip_tls_verification",
        "Do not verify Redis' TLS certificate.",
        default=False,
        type=bool,
    ),
)


def validate(settings: Settings) -> RedisOptions:
    compat.apply_logging(settings)
    compat.check_namespace(settings.namespace)
    if not settings.redact_config_metrics:
        log.warning("--redact-config-metrics=false: passwords stay out of redis_config_key_value all the same")
    passwords = PasswordSource.from_settings(settings)  # a malformed address or password file stops start-up
    allowlist = Allowlist(
        [p for p in settings.scrape_allowed_targets.split(",") if p.strip()], DEFAULT_PORT, "--scrape.allowed-targets"
    )
    if settings.connection_timeout <= 0:
        raise ConfigError("--connection-timeout must be positive")
    for flag in ("tls_client_cert_file", "tls_client_key_file", "tls_ca_cert_file"):
        path = settings.get(flag)
        if path:
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise ConfigError(f"--{flag.replace('_', '-')} {path}: {exc.strerror or exc}") from None
    _check_tls_files(settings)
    loaded = scripts.load_scripts(scripts.script_paths(settings.get("script")))
    return RedisOptions(passwords, allowlist, MappingProxyType(loaded))


def _check_tls_files(settings: Settings) -> None:
    """Load the TLS files once at start-up, so a file that is not PEM stops it (ConfigError)
    rather than failing every scrape; they are loaded again for each connection (rotation)."""
    import ssl

    ca, cert, key = (settings.get(f) for f in ("tls_ca_cert_file", "tls_client_cert_file", "tls_client_key_file"))
    if key and not cert:
        raise ConfigError("--tls-client-key-file needs --tls-client-cert-file")
    try:
        if ca:
            ssl.create_default_context(cafile=ca)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"--tls-ca-cert-file {ca}: no PEM CA certificate in it ({exc.reason or 'unreadable'})"
        ) from None
    try:
        if cert:
            ssl.create_default_context().load_cert_chain(cert, key or None, password="")
    except ssl.SSLError as exc:
        files = f"--tls-client-cert-file {cert}" + (f" / --tls-client-key-file {key}" if key else "")
        raise ConfigError(
            f"{files}: not a PEM certificate and its unencrypted key ({exc.reason or 'unreadable'})"
        ) from None


async def reload_passwords(app) -> None:
    """/-/reload: the password file read again (ConfigError when it cannot be, the old one kept). The
    configured target whose password changed drops its connection and makes the next one with it."""
    settings = app.settings
    settings.options.passwords.reload()
    pool = app.pool
    for target, key in zip(list(pool.configured), targets(settings)):
        session = target.hooks
        if session is not None and session.target.key() != key:  # its password changed: reconnect with it
            session.target = RedisTarget.from_key(key)
            await session.close()
    for key in list(pool.probes):  # probe targets pick up their password at their next request
        await pool._close_probe(key, "password file reloaded")


def targets(settings: Settings) -> list[str]:
    creds = settings.options.passwords.credentials
    return [creds.for_configured(creds.addr).key()] if creds.addr is not None else []


def make_session(settings: Settings, key: str) -> RedisSession:
    import redis.asyncio.connection  # noqa: F401  (imported now, not inside the first scrape's deadline)

    return RedisSession(RedisTarget.from_key(key), settings, settings.options.passwords.current)


def resolve_probe(settings: Settings, query) -> str:
    """/scrape?target=: only allowed addresses, and only their own password (see address.py)."""
    text = query.get("target", "").strip()
    if not text:
        raise ProbeRefused("the target parameter is missing")
    try:
        target = parse_address(text, "target")
    except ConfigError as exc:
        raise ProbeRefused(str(exc)) from None
    options: RedisOptions = settings.options
    if not allowed(options.allowlist, target):
        where = "--scrape.allowed-targets" if options.allowlist else "--scrape.allowed-targets (empty)"
        raise ProbeRefused(f"target {target.address} is not allowed by {where}")
    return options.passwords.credentials.for_probe(target).key()


SPEC = ExporterSpec(
    session_metrics=STATUS_METRICS,
    name="redis",
    namespace="redis",
    default_port=9121,
    collectors=redis_collectors,
    flags=FLAGS,
    validate=validate,
    description=description("redis"),
    targets=targets,
    session=make_session,
    target_label="instance",
    resolve_probe=resolve_probe,
    probe_path="/scrape",
    probe_errors_metric="redis_target_scrape_request_errors_total",
    go_env_prefix="REDIS_EXPORTER_",
    go_flag_syntax=True,
    flag_aliases={"--log.format": ("--log-format",)},
    web_config=compat.web_config,
    exporter_families=compat.exporter_families,
    finish_families=compat.finish_families,
    routes=(
        ("*", "/-/reload", compat.reload_route(reload_passwords)),
        ("GET", "/discover-cluster-nodes", discover_route),
    ),
)
