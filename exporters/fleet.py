"""``flextime-exporter fleet --config fleet.yml``: several exporters in one process and one
asyncio loop, each on its own port or on its own path of a shared listener, so one service on
a VM covers the host, its PostgreSQL and its Redis (see docs/fleet.md).

Each exporter's flags (``args``) and environment (``env``, over the process environment) are
parsed by the exporter's own click command, with the same validation as standalone; one
exporter's ``env`` is never seen by another. Every check runs before anything listens: bad
input raises ConfigError naming the exporter (exit status 2)."""

from __future__ import annotations

import html
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from . import __version__
from .core.errors import ConfigError

if TYPE_CHECKING:
    from .core.runtime import Prepared

log = logging.getLogger("exporters.fleet")

TOP_KEYS = {"listen", "exporters", "log_level", "log_format"}
ENTRY_KEYS = {"exporter", "name", "path", "probe_path", "listen", "env", "args"}
SHARED_ROUTES = ("/", "/health", "/ready", "/live")  # the shared listener's own routes


@dataclass
class Member:
    """One exporter of the fleet, checked and built."""

    name: str
    where: str  # "exporters[1] (postgres)": how messages name it
    prepared: Prepared
    path: str | None = None  # metrics path on the shared listener; None: its own listener
    probe_path: str | None = None


@dataclass
class Fleet:
    members: list[Member]
    shared_addresses: list = field(default_factory=list)  # (text, host, port)
    log_level: str = "info"
    log_format: str = "text"


def _addresses(value, where: str) -> list[str]:
    items = [value] if isinstance(value, (str, int)) else value
    if not isinstance(items, list) or not items or not all(isinstance(a, (str, int)) for a in items):
        raise ConfigError(f"{where}: expected an address [host]:port or a list of them")
    return [str(a) if not isinstance(a, int) else f":{a}" for a in items]


def _parse_address(text: str, where: str):
    from .core.server import parse_listen_address

    try:
        return (text, *parse_listen_address(text))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}".replace("--web.listen-address ", "")) from None


def load(path: str, environ=None) -> Fleet:
    """Read and check the fleet config at ``path`` and build every exporter (nothing listens yet)."""
    environ = dict(os.environ if environ is None else environ)
    data = _read_yaml(path)
    log_level, log_format = _log_options(path, data)
    shared = (
        [_parse_address(a, f"{path}: listen") for a in _addresses(data["listen"], f"{path}: listen")]
        if data.get("listen") is not None
        else []
    )
    entries = data.get("exporters")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: 'exporters' must be a non-empty list")

    claims = _Claims(path, shared)
    members = [_member(path, i, entry, environ, shared, claims) for i, entry in enumerate(entries)]
    _check_ports(path, claims.ports)
    if shared and not any(m.path for m in members):
        raise ConfigError(f"{path}: listen: no exporter has a 'path' on the shared listener")
    return Fleet(members, shared, log_level, log_format)


def _read_yaml(path: str) -> dict:
    """The config file as a mapping with only known top-level keys."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'exporters'")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
    return data


def _log_options(path: str, data: dict) -> tuple[str, str]:
    from .core.logging import FORMATS, LEVELS

    log_level = str(data.get("log_level", "info"))
    log_format = str(data.get("log_format", "text"))
    if log_level not in LEVELS or log_format not in FORMATS:
        raise ConfigError(
            f"{path}: log_level must be one of {', '.join(LEVELS)} and log_format one of {', '.join(FORMATS)}"
        )
    return log_level, log_format


class _Claims:
    """What the members checked so far use: names, paths on the shared listener, ports, and the
    shared listener's web config; a second claim is an error naming both owners."""

    def __init__(self, path: str, shared: list) -> None:
        self.path = path
        self.names: dict[str, str] = {}  # exporter name -> where
        self.routes: dict[str, str] = {r: "the fleet" for r in SHARED_ROUTES}  # path on the shared listener -> owner
        self.ports: list[tuple[str, str | None, int, str]] = [(t, h, p, "the shared listener") for t, h, p in shared]
        self.web_config: tuple[str, str | None] | None = None  # (where, --web.config.file) of the shared listener

    def name(self, name: str, where: str) -> None:
        if name in self.names:
            raise ConfigError(
                f"{self.path}: {where}: duplicate name {name!r} (also {self.names[name]}); "
                "give each exporter of the same kind its own 'name'"
            )
        self.names[name] = where

    def route(self, route: str, where: str) -> None:
        if route in self.routes:
            raise ConfigError(
                f"{self.path}: {where}: duplicate path {route} on the shared listener "
                f"(already used by {self.routes[route]})"
            )
        self.routes[route] = where

    def shared_web_config(self, where: str, web_config_file: str | None) -> None:
        if self.web_config is not None and self.web_config[1] != web_config_file:
            raise ConfigError(
                f"{self.path}: {where}: --web.config.file {web_config_file!r} differs from "
                f"{self.web_config[0]}'s {self.web_config[1]!r}: the exporters on the "
                "shared listener share its TLS and basic auth"
            )
        self.web_config = self.web_config or (where, web_config_file)


def _entry(path: str, i: int, entry, claims: _Claims) -> tuple[str, str, str, list[str], dict[str, str]]:
    """One entry of 'exporters' checked, before its exporter parses its flags: (kind, name, where, args, env)."""
    from .catalogue import EXPORTERS

    where = f"exporters[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where}: expected a mapping with 'exporter'")
    kind = entry.get("exporter")
    if kind not in EXPORTERS:
        raise ConfigError(f"{path}: {where}: unknown exporter {kind!r} (one of {', '.join(sorted(EXPORTERS))})")
    name = str(entry.get("name") or kind)
    where = f"{where} ({name})"
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"{path}: {where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(ENTRY_KEYS))})")
    claims.name(name, where)
    args = entry.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        raise ConfigError(f"{path}: {where}: 'args' must be a list of strings")
    env = entry.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, (str, int, float, bool)) for v in env.values()):
        raise ConfigError(f"{path}: {where}: 'env' must be a mapping of names to strings")
    libpq = sorted(k for k in env if str(k).startswith("PG"))
    if libpq:
        raise ConfigError(
            f"{path}: {where}: env {libpq[0]}: libpq reads its PG* variables from the process "
            "environment, not per exporter; put it in the DSN (e.g. passfile=...) or in the "
            "service's environment"
        )
    if entry.get("path") is not None and entry.get("listen") is not None:
        raise ConfigError(f"{path}: {where}: give 'path' (on the shared listener) or 'listen' (its own), not both")
    return kind, name, where, [str(a) for a in args], {str(k): str(v) for k, v in env.items()}


def _member(path: str, i: int, entry, environ: dict, shared: list, claims: _Claims) -> Member:
    """One exporter of the fleet: its flags parsed and checked as standalone, on the shared
    listener ('path') or its own ('listen', or its flags' --web.listen-address)."""
    from .catalogue import load_spec
    from .core.runtime import parse_settings, prepare

    kind, name, where, args, env = _entry(path, i, entry, claims)
    spec = load_spec(kind)
    try:
        settings = parse_settings(spec, args, {**environ, **env})
    except click.UsageError as exc:
        raise ConfigError(f"{path}: {where}: {exc.format_message()}") from None
    except click.exceptions.Exit:
        raise ConfigError(f"{path}: {where}: --help and --version are not exporter flags here") from None
    member_path = entry.get("path")
    if member_path is not None:
        if not shared:
            raise ConfigError(f"{path}: {where}: 'path' {member_path!r} needs the top-level 'listen'")
        if not isinstance(member_path, str) or not member_path.startswith("/"):
            raise ConfigError(f"{path}: {where}: path {member_path!r} must start with '/'")
        settings = settings.replace(web_telemetry_path=member_path, web_listen_address=())
    elif entry.get("listen") is not None:
        settings = settings.replace(web_listen_address=tuple(_addresses(entry["listen"], f"{path}: {where}: listen")))
    if settings.get("web_systemd_socket"):  # every member would take the same passed descriptors
        raise ConfigError(f"{path}: {where}: --web.systemd-socket is for a standalone exporter, not a fleet member")
    try:
        prepared = prepare(spec, settings)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {where}: {exc}") from None
    member = Member(name, where, prepared)
    if member_path is None:
        claims.ports += [(text, host, port, where) for text, host, port in prepared.addresses]
        return member
    member.path = member_path
    if spec.resolve_probe is not None:
        default_probe = member_path.rsplit("/", 1)[0] + spec.probe_path
        member.probe_path = str(entry.get("probe_path") or default_probe)
        if not member.probe_path.startswith("/"):
            raise ConfigError(f"{path}: {where}: probe_path {member.probe_path!r} must start with '/'")
    for route in (member_path, member.probe_path):
        if route is not None:
            claims.route(route, where)
    if spec.web_config is not None and spec.web_config(settings):
        raise ConfigError(
            f"{path}: {where}: its own TLS / basic auth flags (--tls-server-*, --basic-auth-*) "
            "need its own listener; the shared listener takes them from --web.config.file"
        )
    claims.shared_web_config(where, settings.web_config_file)
    return member


_ANY = {None, "", "0.0.0.0", "::"}


def _check_ports(path: str, ports) -> None:
    """A port listened on twice (on the same or an overlapping host) is a duplicate, named with both owners."""
    for i, (text, host, port, owner) in enumerate(ports):
        for text2, host2, port2, owner2 in ports[:i]:
            if port and port == port2 and (host == host2 or host in _ANY or host2 in _ANY):
                raise ConfigError(
                    f"{path}: {owner}: duplicate port {port} ({text}, already used by {owner2} on {text2})"
                )


# ---- serving --------------------------------------------------------------------------------------


def _shared_application(fleet: Fleet):
    """One aiohttp application for the exporters with a 'path': each one's metrics (and probe)
    route, one /health over all of them, /ready, /live and a landing page."""
    from aiohttp import web

    from .core.server import ExporterApp

    on_shared = [m for m in fleet.members if m.path]
    first = on_shared[0].prepared.app  # same web config for all of them (checked in load)
    app = web.Application(middlewares=[first.protect])
    checks = {}
    for m in on_shared:
        exp = m.prepared.app
        app.router.add_get(m.path, exp.metrics)
        if m.probe_path:
            app.router.add_get(m.probe_path, exp.probe)
        for check, fn in exp.health_checks.items():
            checks[check if check.startswith(m.name) else f"{m.name} {check}"] = fn
    app.router.add_get("/health", ExporterApp.health_handler(checks))
    app.router.add_get("/ready", first.ready)
    app.router.add_get("/live", first.live)

    async def landing(request):
        rows = "\n".join(
            f"<li>{html.escape(m.name)} ({html.escape(m.prepared.spec.name)}): "
            f'<a href="{html.escape(m.path)}">{html.escape(m.path)}</a>'
            + (f", {html.escape(m.probe_path)}?target=..." if m.probe_path else "")
            + "</li>"
            for m in on_shared
        )
        own = "\n".join(
            f"<li>{html.escape(m.name)} ({html.escape(m.prepared.spec.name)}): own listener "
            f"{html.escape(', '.join(a[0] for a in m.prepared.addresses))}</li>"
            for m in fleet.members
            if not m.path
        )
        page = (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>flextime-exporter fleet</title></head>\n'
            f"<body><h1>flextime-exporter fleet</h1><p>Version {html.escape(__version__)}.</p>\n"
            f'<ul>{rows}\n{own}\n<li><a href="/health">/health</a>, /ready, /live</li></ul></body></html>\n'
        )
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/", landing)
    return app, first.web_config.config.ssl_context


async def serve(fleet: Fleet) -> None:
    """Serve every exporter from this loop until SIGTERM or SIGINT."""
    from .core.runtime import listen, make_runner, wait_for_signal

    runners = []
    try:
        if fleet.shared_addresses:
            application, ssl_context = _shared_application(fleet)
            runner = make_runner(application)
            await runner.setup()
            runners.append(runner)
            paths = ", ".join(f"{m.name} on {m.path}" for m in fleet.members if m.path)
            await listen(runner, fleet.shared_addresses, ssl_context, f"fleet: {paths}")
        for m in fleet.members:
            if m.path:
                continue
            p = m.prepared
            runner = make_runner(p.app.build())
            await runner.setup()
            runners.append(runner)
            try:
                await listen(
                    runner, p.addresses, p.ssl_context, f"{m.name}, collectors: " + (", ".join(p.app.enabled) or "none")
                )
            except ConfigError as exc:
                raise ConfigError(f"{m.where}: {exc}") from None
        for m in fleet.members:
            await m.prepared.pool.start()
        await wait_for_signal()
    finally:
        for runner in runners:
            await runner.cleanup()
        for m in fleet.members:
            await m.prepared.pool.close()


def run(config: str) -> None:
    from .core.logging import setup_logging
    from .core.runtime import serve_until_stopped

    setup_logging("info", "text")  # the exporters' checks may log while they are built
    fleet = load(config)
    setup_logging(fleet.log_level, fleet.log_format)
    log.info("fleet of %d exporters: %s", len(fleet.members), ", ".join(m.name for m in fleet.members))
    serve_until_stopped(serve(fleet))


@click.command("fleet", context_settings={"max_content_width": 120})
@click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(path_type=str),
    metavar="FILE",
    envvar="FLEXTIME_FLEET_CONFIG",
    show_envvar=True,
    help="The fleet's YAML: which exporters, their flags and environment, their ports or paths.",
)
def command(config: str) -> None:
    """Run several exporters in one process, each on its own port or on its own path of a shared
    listener (docs/fleet.md). Bad input (an unknown exporter, a bad flag of one exporter, a duplicate
    path or port) stops start-up with one line naming it and exit status 2."""
    run(config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
