"""redis_exporter's flags that are about the exporter itself rather than a collector:
``--namespace``, ``--redis-only-metrics``, ``redis_exporter_build_info``, ``--basic-auth-*`` and
``--tls-server-*`` (mapped onto the web config), ``--debug`` / ``--log-format``, and ``/-/reload``
(the password file read again). Each is a hook of the shared runtime (ExporterSpec)."""

from __future__ import annotations

import logging
import platform

from .. import __version__
from ..core.errors import ConfigError
from ..core.metrics import MetricFamily, gauge

log = logging.getLogger("exporters.redis")

BUILD_INFO = gauge(
    "redis_exporter_build_info", "redis exporter build_info", "build_date", "commit_sha", "golang_version", "version"
)
# --redis-only-metrics leaves out what is not Redis' (as redis_exporter leaves out Go's and its build info)
NOT_REDIS_PREFIXES = ("process_", "promhttp_", "flextime_exporter_", "redis_exporter_build_info")
TLS_VERSIONS = {"TLS1.0": "TLS10", "TLS1.1": "TLS11", "TLS1.2": "TLS12", "TLS1.3": "TLS13"}


def exporter_families(settings) -> list[MetricFamily]:
    """redis_exporter_build_info: our version; golang_version holds the Python version that runs it."""
    fam = BUILD_INFO.family()
    fam.add(("", "", f"python{platform.python_version()}", __version__), 1)
    return [fam]


def _renamed(fam: MetricFamily, old: str, new: str) -> MetricFamily:
    out = MetricFamily(new + fam.name[len(old) :], fam.type, fam.help, fam.labelnames)
    cut = len(old)
    out.samples = [(new + name[cut:], block, value) for name, block, value in fam.samples]
    out.duplicates = fam.duplicates
    return out


def finish_families(settings, families: list[MetricFamily], own_metrics: bool) -> list[MetricFamily]:
    """--redis-only-metrics and --namespace (every ``redis_`` family under the new name, as redis_exporter
    puts its namespace on all of its own: INFO, key checks, exporter status, build info)."""
    if settings.redis_only_metrics:
        families = [f for f in families if not f.name.startswith(NOT_REDIS_PREFIXES)]
    namespace = settings.namespace
    if namespace != "redis":
        families = [_renamed(f, "redis_", namespace + "_") if f.name.startswith("redis_") else f for f in families]
    return families


def check_namespace(namespace: str) -> None:
    import re

    if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", namespace or ""):
        raise ConfigError(f"--namespace {namespace!r}: not a metric name prefix (letters, digits, '_', ':')")


def web_config(settings) -> dict | None:
    """--basic-auth-* and --tls-server-* as a web-config.yml mapping (checked as the file would be)."""
    out: dict = {}
    user, password, hashed = (
        settings.basic_auth_username,
        settings.basic_auth_password,
        settings.basic_auth_hash_password,
    )
    if password and hashed:
        raise ConfigError("--basic-auth-password and --basic-auth-hash-password cannot be combined: use one")
    if (password or hashed) and not user:
        raise ConfigError("--basic-auth-password needs --basic-auth-username")
    if user and (password or hashed):  # redis_exporter: basic auth only with both a user and a password
        if password:
            import bcrypt

            hashed = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=10)).decode()
        out["basic_auth_users"] = {user: hashed}
    cert, key, ca = settings.tls_server_cert_file, settings.tls_server_key_file, settings.tls_server_ca_cert_file
    if cert or key:
        if not (cert and key):
            raise ConfigError("--tls-server-cert-file and --tls-server-key-file go together: give both")
        version = settings.tls_server_min_version
        if version not in TLS_VERSIONS:
            raise ConfigError(f"--tls-server-min-version {version!r}: expected one of {', '.join(TLS_VERSIONS)}")
        tls = {"cert_file": cert, "key_file": key, "min_version": TLS_VERSIONS[version]}
        if ca:  # redis_exporter then requires and verifies client certificates
            tls.update(client_ca_file=ca, client_auth_type="RequireAndVerifyClientCert")
        out["tls_server_config"] = tls
    elif ca:
        raise ConfigError("--tls-server-ca-cert-file needs --tls-server-cert-file and --tls-server-key-file")
    return out or None


def apply_logging(settings) -> None:
    """--debug and --log-format (txt|json, an alias of --log.format) as redis_exporter has them."""
    if settings.debug:
        from ..core.logging import setup_logging

        setup_logging("debug", settings.log_format)


def reload_route(reload_passwords):
    """/-/reload (any method, as redis_exporter): the password file read again (``reload_passwords(app)``,
    the package's: passed in, so this module does not import its package); the configured target's
    connection is made anew when its password changed. 400 without a password file; a file that cannot
    be read keeps the passwords in use (500 with one line naming the file)."""
    return lambda app: _reload_handler(app, reload_passwords)


def _reload_handler(app, reload_passwords):
    from aiohttp import web

    async def handler(request):
        if not app.settings.redis_password_file:
            return web.Response(status=400, text="There is no pwd file specified\n")
        try:
            await reload_passwords(app)
        except ConfigError as exc:
            log.error("reload: %s", exc)
            return web.Response(status=500, text=f"failed to reload passwords file: {exc}\n")
        log.info("reload: %s read again", app.settings.redis_password_file)
        return web.Response(text="ok")

    return handler
