"""``--config.file``: postgres_exporter's ``auth_modules`` and the allowlist of probe targets,
and how a ``/probe?target=&auth_module=`` request becomes a DSN.

The file (postgres_exporter's format, plus ``probe.allowed_targets`` and ``password_file``)::

    auth_modules:
      monitoring:                 # any name; /probe?auth_module=monitoring
        type: userpass
        userpass:
          username: exporter
          password_file: /run/secrets/pg-password   # or password: ...
        options:                  # added to the DSN as libpq parameters
          sslmode: require
    probe:
      allowed_targets:            # host:port patterns (shell globs); nothing else can be probed
        - db-1.internal:5432
        - "*.pg.example.net:5432"

Why an allowlist: postgres_exporter's /probe connects wherever the request says and sends the
auth module's password there. Here the default is that nothing may be probed, and every host a
DSN would make libpq contact (each of a multi-host list, ``hostaddr`` too) must match a pattern.
A pattern without a port means port 5432; ``host:*`` any port, ``host:54*`` a port glob. Host names
are compared as text (case-insensitive), not resolved: allow the names Prometheus sends. A host glob
only ever matches a host name or IP address: a target whose host is a path (a Unix socket directory,
``host=/tmp/x/evil.corp.test`` or ``%2Ftmp%2F...``) needs a pattern naming exactly that directory
(``/var/run/postgresql``). A pattern that can match nothing stops start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..core.errors import ConfigError
from ..core.targets import Allowlist, ProbeRefused
from .dsn import parse, redact

# Parameters a probe request may set itself. Anything that could send the connection elsewhere
# (hostaddr, service) or read local files (passfile, sslkey, ...) belongs in an auth module.
PROBE_TARGET_PARAMS = frozenset({"host", "port", "dbname", "user", "password", "sslmode"})


@dataclass
class AuthModule:
    name: str
    username: str
    password: str = field(repr=False)
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PgConfig:
    path: str = ""
    auth_modules: dict[str, AuthModule] = field(default_factory=dict)
    allowed_targets: tuple[str, ...] = ()
    allowlist: Allowlist = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"--config.file {self.path}: probe.allowed_targets" if self.path else "probe.allowed_targets"
        # ConfigError: a pattern that matches nothing
        object.__setattr__(self, "allowlist", Allowlist(self.allowed_targets, 5432, where))

    def allows(self, host: str, port: str) -> bool:
        return self.allowlist.allows(host, port)


def _text(value, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: expected a string")
    return str(value)


def load(path: str) -> PgConfig:
    """Read and check the file; ConfigError (exit 2) naming the file and the key otherwise."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except OSError as exc:
        raise ConfigError(f"--config.file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config.file {path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config.file {path}: expected a mapping at the top level")
    unknown = set(data) - {"auth_modules", "probe"}
    if unknown:
        raise ConfigError(f"--config.file {path}: unknown key {sorted(unknown)[0]!r} (expected auth_modules, probe)")
    modules = data.get("auth_modules") or {}
    if not isinstance(modules, dict):
        raise ConfigError(f"--config.file {path}: auth_modules must be a mapping of names to modules")
    auth_modules = {str(name): _auth_module(path, str(name), body) for name, body in modules.items()}
    probe = data.get("probe") or {}
    if not isinstance(probe, dict) or set(probe) - {"allowed_targets"}:
        raise ConfigError(f"--config.file {path}: probe takes one key, allowed_targets (a list of host:port patterns)")
    allowed = probe.get("allowed_targets") or []
    if not isinstance(allowed, list):
        raise ConfigError(f"--config.file {path}: probe.allowed_targets must be a list of host:port patterns")
    allowed_targets = tuple(_text(p, f"--config.file {path}: probe.allowed_targets") for p in allowed)
    return PgConfig(path, auth_modules, allowed_targets)  # ConfigError: an allowed target that matches nothing


def _auth_module(path: str, name: str, body) -> AuthModule:
    where = f"--config.file {path}: auth module {name!r}"
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping")
    if body.get("type") != "userpass":
        raise ConfigError(f"{where}: type must be 'userpass' (the only type postgres_exporter has)")
    userpass = body.get("userpass") or {}
    if not isinstance(userpass, dict) or "username" not in userpass:
        raise ConfigError(f"{where}: userpass.username is missing")
    if "password" in userpass and "password_file" in userpass:
        raise ConfigError(f"{where}: give userpass.password or userpass.password_file, not both")
    password = ""
    if "password_file" in userpass:
        secret = _text(userpass["password_file"], f"{where}: userpass.password_file")
        try:
            with open(secret, encoding="utf-8") as f:
                password = f.read().strip()
        except OSError as exc:
            raise ConfigError(f"{where}: userpass.password_file {secret}: {exc.strerror or exc}") from None
    elif "password" in userpass:
        password = _text(userpass["password"], f"{where}: userpass.password")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: options must be a mapping of libpq parameters")
    return AuthModule(
        name,
        _text(userpass["username"], f"{where}: userpass.username"),
        password,
        {str(k): _text(v, f"{where}: options.{k}") for k, v in options.items()},
    )


def _target_params(target: str) -> dict[str, str]:
    """postgres_exporter's reading of ``target``: a URI, key=value, or host[:port][/db][?params]."""
    if not target.startswith(("postgres://", "postgresql://")) and "=" not in target.split("?", 1)[0]:
        target = "postgresql://" + target
    try:
        return parse(target, "target")
    except ConfigError as exc:
        raise ProbeRefused(str(exc)) from None


def resolve_probe(config: PgConfig, query: Mapping[str, str]) -> str:
    """The DSN a /probe request names, or ProbeRefused naming what is wrong (never a password)."""
    from psycopg.conninfo import make_conninfo

    target = query.get("target", "").strip()
    if not target:
        raise ProbeRefused("the target parameter is missing")
    params = _target_params(target)
    shown = redact(make_conninfo(**params)) if params else target
    refused = sorted(set(params) - PROBE_TARGET_PARAMS)
    if refused:
        raise ProbeRefused(
            f"target {shown}: parameter {refused[0]!r} is not allowed in a probe target "
            f"(allowed: {', '.join(sorted(PROBE_TARGET_PARAMS))}; put others in an auth module's options)"
        )
    module_name = query.get("auth_module", "")
    if module_name:
        module = config.auth_modules.get(module_name)
        if module is None:
            raise ProbeRefused(
                f"unknown auth_module {module_name!r}"
                + (
                    f" (configured: {', '.join(sorted(config.auth_modules))})"
                    if config.auth_modules
                    else " (no auth_modules in --config.file)"
                )
            )
        params.update(module.options)
        params["user"] = module.username
        if module.password:
            params["password"] = module.password
    if not params.get("host"):
        raise ProbeRefused(f"target {shown}: no host")
    ports = [p.strip() or "5432" for p in params.get("port", "5432").split(",")]
    for key in ("host", "hostaddr"):  # libpq contacts each host of a list, and hostaddr instead of host
        for i, host in enumerate(h.strip() for h in params.get(key, "").split(",") if h.strip()):
            port = ports[i] if i < len(ports) else ports[-1]
            if not config.allows(host, port):
                where = f" in {config.path}" if config.path else " (no --config.file)"
                raise ProbeRefused(f"target {host}:{port} is not in probe.allowed_targets{where}")
    return make_conninfo(**params)
