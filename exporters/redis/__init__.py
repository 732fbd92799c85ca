"""``flextime-exporter redis``: Redis and Valkey metrics with redis_exporter's names.

See docs/redis.md for targets, passwords, the /scrape allowlist and what differs from redis_exporter."""

from __future__ import annotations

from ..catalogue import description
from ..core.collector import Flag, Settings
from ..core.errors import ConfigError
from ..core.spec import ExporterSpec
from ..core.targets import ProbeRefused
from .address import Credentials, RedisTarget, allowed, load_password_file, parse_address
from .registry import redis_collectors
from .session import STATUS_METRICS, RedisSession

# Importing a collector module registers it; the order here is the order of /metrics.
from . import collectors, commands, keys  # noqa: F401,E402


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
    Flag("--redis.addr", "redis_addr", "Address of the Redis instance: redis://, rediss://, unix://, valkey://, or "
         "host:port. Its password may be in the URI.", default="redis://localhost:6379", env=("REDIS_ADDR",),
         metavar="URI"),
    Flag("--redis.user", "redis_user", "User name for Redis ACL.", default="", env=("REDIS_USER",)),
    Flag("--redis.password", "redis_password", "Password of --redis.addr (sent to that address only).",
         default="", env=("REDIS_PASSWORD",)),
    Flag("--redis.password-file", "redis_password_file",
         "JSON object of Redis URI to password; each password is only sent to its own address.",
         default="", env=("REDIS_PASSWORD_FILE",), metavar="FILE"),
    Flag("--scrape.allowed-targets", "scrape_allowed_targets",
         "Comma-separated host:port shell-glob patterns (or socket paths) that /scrape?target= may connect "
         "to; none by default, so /scrape refuses every target.", default=""),
    Flag("--connection-timeout", "connection_timeout", "Timeout for connecting to and talking with Redis "
         "(seconds or a Go duration); a scrape's deadline bounds it too.", default="15s", type=duration),
    Flag("--set-client-name", "set_client_name", "Name the connection 'flextime-exporter' (CLIENT SETNAME).",
         default=True, type=bool),
    Flag("--config-command", "config_command",
         "Name of the CONFIG command (renamed on managed Redis); '-' to not send it.", default="CONFIG"),
    Flag("--include-system-metrics", "include_system_metrics",
         "Also export redis_total_system_memory_bytes.", default=False, type=bool),
    Flag("--exclude-latency-histogram-metrics", "exclude_latency_histogram_metrics",
         "Do not send LATENCY HISTOGRAM (Redis 7+).", default=False, type=bool),
    Flag("--include-metrics-for-empty-databases", "include_metrics_for_empty_databases",
         "Export redis_db_keys and redis_db_keys_expiring as 0 for databases without keys.", default=True, type=bool),
    Flag("--tls-client-cert-file", "tls_client_cert_file", "Client certificate for TLS to Redis.", default="",
         metavar="FILE"),
    Flag("--tls-client-key-file", "tls_client_key_file", "Client key for TLS to Redis.", default="", metavar="FILE"),
    Flag("--tls-ca-cert-file", "tls_ca_cert_file", "CA certificate to verify Redis' TLS certificate.", default="",
         metavar="FILE"),
    Flag("--tls-server-name", "tls_server_name", "Server name to verify in Redis' TLS certificate.", default=""),
    Flag("--skip-tls-verification", "skip_tls_verification", "Do not verify Redis' TLS certificate.",
         default=False, type=bool),
)


def _credentials(settings: Settings) -> Credentials:
    if "redis_credentials" not in settings.__dict__:
        addr = parse_address(settings.redis_addr) if settings.redis_addr else None
        if addr is not None and settings.redis_password and not addr.password:
            addr = RedisTarget(addr.scheme, addr.host, addr.port, addr.path, addr.db, addr.username,
                               settings.redis_password)
        by_address = load_password_file(settings.redis_password_file) if settings.redis_password_file else {}
        settings.redis_credentials = Credentials(addr, settings.redis_user, by_address)
    return settings.redis_credentials


def validate(settings: Settings) -> None:
    _credentials(settings)  # a malformed address or password file stops start-up
    settings.allowed_patterns = tuple(p.strip() for p in settings.scrape_allowed_targets.split(",") if p.strip())
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
        raise ConfigError(f"--tls-ca-cert-file {ca}: no PEM CA certificate in it ({exc.reason or 'unreadable'})") \
            from None
    try:
        if cert:
            ssl.create_default_context().load_cert_chain(cert, key or None, password="")
    except ssl.SSLError as exc:
        files = f"--tls-client-cert-file {cert}" + (f" / --tls-client-key-file {key}" if key else "")
        raise ConfigError(f"{files}: not a PEM certificate and its unencrypted key ({exc.reason or 'unreadable'})") \
            from None


def targets(settings: Settings) -> list[str]:
    creds = _credentials(settings)
    return [creds.for_configured(creds.addr).key()] if creds.addr is not None else []


def make_session(settings: Settings, key: str) -> RedisSession:
    import redis.asyncio.connection  # noqa: F401  (imported now, not inside the first scrape's deadline)

    return RedisSession(RedisTarget.from_key(key), settings)


def resolve_probe(settings: Settings, query) -> str:
    """/scrape?target=: only allowed addresses, and only their own password (see address.py)."""
    text = query.get("target", "").strip()
    if not text:
        raise ProbeRefused("the target parameter is missing")
    try:
        target = parse_address(text, "target")
    except ConfigError as exc:
        raise ProbeRefused(str(exc)) from None
    if not allowed(settings.allowed_patterns, target):
        where = "--scrape.allowed-targets" if settings.allowed_patterns else "--scrape.allowed-targets (empty)"
        raise ProbeRefused(f"target {target.address} is not allowed by {where}")
    return _credentials(settings).for_probe(target).key()


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
)
