"""Turn an :class:`ExporterSpec` into a command: flags (each with an environment
variable), validation of every input before serving, and the serve loop."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import click

from .collector import Flag, Settings, collector_toggle_dest
from .errors import ConfigError
from .logging import FORMATS, LEVELS, access_logger_class, setup_logging
from .server import ExporterApp, ExporterSpec, parse_listen_address
from .targets import MAX_PROBE_TARGETS, PROBE_IDLE_SECONDS

if TYPE_CHECKING:
    from .targets import TargetPool

log = logging.getLogger("exporters.runtime")


def probe_flags(spec: ExporterSpec) -> tuple[Flag, ...]:
    """The multi-target pool's settings, for an exporter that has /probe or /scrape."""
    if spec.resolve_probe is None:
        return ()
    return (
        Flag(
            "--probe.max-targets",
            "probe_max_targets",
            f"Most multi-target ({spec.probe_path}) targets kept with their connections; beyond it the least "
            "recently probed is closed.",
            default=MAX_PROBE_TARGETS,
            type=int,
        ),
        Flag(
            "--probe.idle-timeout",
            "probe_idle_timeout",
            f"Seconds after which a {spec.probe_path} target nobody probed is closed with its connections "
            "(checked on a timer, also when probes stop).",
            default=PROBE_IDLE_SECONDS,
            type=float,
        ),
    )


def common_flags(spec: ExporterSpec) -> tuple[Flag, ...]:
    """The flags every exporter of the fleet has, named as the Go exporters name them."""
    return probe_flags(spec) + (
        Flag(
            "--web.listen-address",
            "web_listen_address",
            "Address to listen on, [host]:port (IPv6 in brackets); repeatable.",
            default=(f":{spec.default_port}",),
            multiple=True,
            metavar="[HOST]:PORT",
        ),
        Flag(
            "--web.systemd-socket",
            "web_systemd_socket",
            "Listen on the sockets systemd passes (socket activation: a .socket unit) instead of --web.listen-address.",
            default=False,
            type=bool,
        ),
        Flag(
            "--web.telemetry-path",
            "web_telemetry_path",
            "Path under which to expose metrics.",
            default="/metrics",
            metavar="PATH",
        ),
        Flag(
            "--web.config.file",
            "web_config_file",
            "exporter-toolkit web-config.yml: TLS, client certificates, basic auth, headers, rate limit.",
            metavar="FILE",
        ),
        Flag(
            "--web.disable-exporter-metrics",
            "web_disable_exporter_metrics",
            "Leave out the exporter's own process_*, build-info and handler metrics.",
            default=False,
            type=bool,
        ),
        Flag(
            "--web.max-requests",
            "web_max_requests",
            "Most scrapes served at once; more get HTTP 503 (0 = no limit).",
            default=40,
            type=int,
        ),
        Flag(
            "--scrape.timeout",
            "scrape_timeout",
            "Seconds a scrape may take when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds header.",
            default=10.0,
            type=float,
        ),
        Flag(
            "--scrape.timeout-offset",
            "scrape_timeout_offset",
            "Seconds subtracted from Prometheus' scrape timeout, so the answer arrives in time.",
            default=0.5,
            type=float,
        ),
        Flag(
            "--web.enable-openmetrics",
            "web_enable_openmetrics",
            "Answer in OpenMetrics when the scraper asks for it. Off by default, as in the Go exporters: "
            "Prometheus asks for OpenMetrics first, and OpenMetrics names every counter with _total, so "
            "pg_stat_database_xact_commit would be stored as pg_stat_database_xact_commit_total.",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.disable-defaults",
            "collector_disable_defaults",
            "Turn off every collector not enabled explicitly with --collector.NAME.",
            default=False,
            type=bool,
        ),
        Flag(
            "--log.level",
            "log_level",
            "Only log messages with this severity or above.",
            default="info",
            type=tuple(k for k in LEVELS if k != "warning"),
        ),
        Flag(
            "--log.format",
            "log_format",
            "text: '<ISO8601> <LEVEL> [<component>] <message>' (logfmt is taken as text); json: one object a line.",
            default="text",
            type=FORMATS,
        ),
    )


def envvar(spec: ExporterSpec, flag: str) -> str:
    """--web.listen-address of the node exporter -> FLEXTIME_NODE_WEB_LISTEN_ADDRESS."""
    return f"FLEXTIME_{spec.name.upper()}_" + flag.lstrip("-").upper().replace(".", "_").replace("-", "_")


def envvars(spec: ExporterSpec, flag: Flag) -> list[str]:
    """Ours first, then the Go exporter's names for the same flag (a drop-in keeps its environment)."""
    names = [envvar(spec, flag.flag), *flag.env]
    if spec.go_env_prefix:
        names.append(spec.go_env_prefix + flag.flag.lstrip("-").upper().replace(".", "_").replace("-", "_"))
    return list(dict.fromkeys(names))


ENV_META_KEY = "flextime.environ"  # ctx.meta: the environment flags are read from (default: os.environ)


class EnvOption(click.Option):
    """An option whose environment variables come from ``ctx.meta[ENV_META_KEY]`` when the caller
    gives a mapping there (fleet mode: each exporter its own environment), else from os.environ."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        env = ctx.meta.get(ENV_META_KEY)
        if env is None:
            return super().resolve_envvar_value(ctx)
        names = [self.envvar] if isinstance(self.envvar, str) else list(self.envvar or ())
        return next((env[n] for n in names if env.get(n)), None)


def _option(spec: ExporterSpec, flag: Flag) -> click.Option:
    if spec.flag_aliases and flag.flag in spec.flag_aliases:
        flag = Flag(**{**flag.__dict__, "aliases": (*flag.aliases, *spec.flag_aliases[flag.flag])})
    kwargs: dict[str, Any] = dict(help=flag.help, envvar=envvars(spec, flag), show_envvar=True, metavar=flag.metavar)
    if flag.type is bool:
        negative = "--no-" + flag.flag.lstrip("-")
        return EnvOption([f"{flag.flag}/{negative}", flag.dest], default=bool(flag.default), **kwargs)
    ptype = click.Choice(list(flag.type)) if isinstance(flag.type, tuple) else flag.type
    return EnvOption(
        [flag.flag, *flag.aliases, flag.dest],
        type=ptype,
        default=flag.default,
        multiple=flag.multiple,
        show_default=flag.default not in (None, (), ""),
        **kwargs,
    )


def help_section(flag: str) -> str:
    """Which --help heading a common flag goes under (the exporter's own flags go under "Target")."""
    if flag.startswith("--log."):
        return "Logging"
    if flag.startswith("--collector."):
        return "Collectors"
    return "Web"  # --web.*, --scrape.* and --probe.*: how the exporter serves


HELP_SECTIONS = ("Target", "Collectors", "Web", "Logging")


class SectionedCommand(click.Command):
    """--help with the options under headings, the exporter's own (target) flags first, instead of
    one flat list of 200-300 lines. ``sections`` maps a parameter's name to its heading."""

    def __init__(self, *args, sections: Mapping[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.sections = dict(sections)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list] = {title: [] for title in (*HELP_SECTIONS, "Other")}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                rows[self.sections.get(param.name, "Other")].append(record)
        for title, records in rows.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def build_command(spec: ExporterSpec) -> click.Command:
    common = common_flags(spec)
    sections = {f.dest: help_section(f.flag) for f in common}
    params: list[click.Parameter] = [_option(spec, f) for f in spec.flags]
    sections.update({f.dest: "Target" for f in spec.flags})
    params += [_option(spec, f) for f in common if sections[f.dest] == "Collectors"]  # --collector.disable-defaults
    for cls in spec.collectors:
        state = "on" if cls.default_enabled else "off"
        params.append(
            EnvOption(
                [f"--collector.{cls.name}/--no-collector.{cls.name}", collector_toggle_dest(cls.name)],
                default=None,
                help=f"{cls.description} (default: {state})",
                envvar=envvar(spec, f"--collector.{cls.name}"),
                show_envvar=True,
            )
        )
        params += [_option(spec, f) for f in cls.flags]
        sections.update({collector_toggle_dest(cls.name): "Collectors", **{f.dest: "Collectors" for f in cls.flags}})
    params += [_option(spec, f) for f in common if sections[f.dest] != "Collectors"]

    def show_version(ctx: click.Context, _param, value) -> None:
        if value and not ctx.resilient_parsing:
            from .. import __version__

            click.echo(f"flextime-exporter {spec.name}, version {__version__}")
            ctx.exit()

    # the Go exporters' --version, and kingpin's --help-long/--help-man (the same help here)
    params.append(
        click.Option(
            ["--version"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=show_version,
            help="Show the version and exit.",
        )
    )

    def callback(**values):
        run(spec, Settings(**values))

    cls = GoFlagCommand if spec.go_flag_syntax else SectionedCommand
    return cls(
        spec.name,
        params=params,
        callback=callback,
        help=spec.description,
        short_help=spec.description,
        context_settings={"max_content_width": 120, "help_option_names": ["-h", "--help", "--help-long", "--help-man"]},
        sections=sections,
    )


GO_TRUE, GO_FALSE = ("1", "t", "true"), ("0", "f", "false")  # Go's strconv.ParseBool, case as Go takes it


class GoFlagCommand(SectionedCommand):
    """Also takes Go's flag package spellings (redis_exporter's): ``-name`` and ``-name=value`` for
    ``--name``, ``-h``/``-help``, and ``--flag=true|false`` (or 1/0, t/f) for a boolean flag."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, go_style_args(self, list(args)))


def go_style_args(command: click.Command, args: list[str]) -> list[str]:
    options = {o: p for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}
    out: list[str] = []
    takes_value = False  # the previous word was an option that takes the next word as its value
    for i, word in enumerate(args):
        if takes_value:
            out.append(word)
            takes_value = False
            continue
        if word == "--":
            out += args[i:]
            break
        name, eq, value = word.partition("=")
        if name in ("-h", "-help"):
            word, name = "--help", "--help"
        elif name.startswith("-") and not name.startswith("--") and "-" + name in options:
            name = "-" + name
            word = name + eq + value
        option = options.get(name)
        if option is not None and option.is_flag and eq and name in option.opts and option.secondary_opts:
            if value.lower() in GO_TRUE and value in (value.lower(), value.upper(), value.capitalize()):
                word = name
            elif value.lower() in GO_FALSE and value in (value.lower(), value.upper(), value.capitalize()):
                word = option.secondary_opts[0]
        elif option is not None and not option.is_flag and not eq:
            takes_value = True
        out.append(word)
    return out


def parse_settings(spec: ExporterSpec, args: list[str], env: Mapping[str, str]) -> Settings:
    """The exporter's flags from ``args`` and the environment ``env`` (not os.environ), parsed and
    checked by the same click command as the standalone exporter; ``settings.environ`` is ``env``.
    A bad flag raises click.UsageError (its ctx names the exporter)."""
    command = build_command(spec)
    parent = click.Context(click.Command("flextime-exporter"), info_name="flextime-exporter")
    parent.meta[ENV_META_KEY] = env
    with command.make_context(spec.name, list(args), parent=parent) as ctx:
        return Settings(**ctx.params, environ=env)


@dataclass
class Prepared:
    """An exporter checked and built, ready to serve: its app, addresses and targets."""

    spec: ExporterSpec
    settings: Settings
    app: ExporterApp
    addresses: list  # (text, host, port)
    ssl_context: object
    pool: TargetPool
    sockets: list | tuple = ()  # (text, socket): --web.systemd-socket, in place of addresses


def prepare(spec: ExporterSpec, settings: Settings) -> Prepared:
    """Validate every input and build the exporter without serving. Bad input raises ConfigError."""
    from .targets import TargetPool
    from .webconfig import WebConfigWatcher

    addresses = [(a, *parse_listen_address(a)) for a in settings.web_listen_address]
    sockets = []
    if settings.get("web_systemd_socket"):
        from .sdsocket import systemd_sockets

        sockets, addresses = systemd_sockets(), []
    if not settings.web_telemetry_path.startswith("/"):
        raise ConfigError(f"--web.telemetry-path {settings.web_telemetry_path!r}: must start with '/'")
    if settings.scrape_timeout <= 0 or settings.scrape_timeout_offset < 0:
        raise ConfigError("--scrape.timeout must be positive and --scrape.timeout-offset not negative")
    if settings.get("probe_max_targets", 1) < 1 or settings.get("probe_idle_timeout", 1) <= 0:
        raise ConfigError("--probe.max-targets must be at least 1 and --probe.idle-timeout positive")
    options = spec.validate(settings) if spec.validate else None
    if options is not None:  # the exporter's typed options, passed down with the settings
        settings = settings.replace(options=options)
    flags_config = spec.web_config(settings) if spec.web_config else None
    if flags_config and settings.web_config_file:
        raise ConfigError(
            "--web.config.file and the exporter's own TLS / basic auth flags cannot be combined: use one of them"
        )
    web_config = WebConfigWatcher(settings.web_config_file, flags_config)
    explicit = spec.collectors.explicit(settings, getattr(options, "collector_toggles", ()))  # see spec.py
    enabled = spec.collectors.enabled_names(explicit, settings.collector_disable_defaults)
    if spec.applicable is not None:  # left out: nothing to read, unless asked for by name
        have = spec.applicable(settings)
        enabled = [name for name in enabled if name in have or explicit.get(name)]
    pool = TargetPool(spec, settings, enabled)
    app = ExporterApp(spec, settings, pool, enabled, web_config)
    return Prepared(spec, settings, app, addresses, web_config.config.ssl_context, pool, sockets)


def run(spec: ExporterSpec, settings: Settings) -> None:
    """Validate every input, then serve until SIGTERM or SIGINT. Bad input raises ConfigError."""
    setup_logging(settings.log_level, settings.log_format)
    prepared = prepare(spec, settings)
    serve_until_stopped(_serve(prepared.app, prepared.addresses, prepared.ssl_context, prepared.pool, prepared.sockets))


def serve_until_stopped(main) -> None:
    """Run ``main`` (serve until SIGTERM/SIGINT, then close) and leave the process.

    Not ``asyncio.run``: its last step waits for every worker thread of the default executor, and a
    read stuck in the kernel (a FIFO in the textfile directory, a dead NFS mount) never returns, so
    SIGTERM closed the listener and the process stayed until SIGKILL. Here whatever is left is
    cancelled (waited for at most SHUTDOWN_GRACE seconds) and the process exits without joining
    stuck threads: everything that holds state (connections, sessions) was closed by ``main``."""
    raise_open_file_limit()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_resource_errors())
    loop.run_until_complete(main)  # an error (a port in use: ConfigError) propagates: exit status 2
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=SHUTDOWN_GRACE))
    exit_now()


SHUTDOWN_GRACE = 5.0
RESOURCE_ERROR_LOG_INTERVAL = 60.0  # seconds between two log lines about running out of descriptors


def raise_open_file_limit() -> None:
    """Raise the soft RLIMIT_NOFILE to the hard limit, as node_exporter does: the default soft limit
    (1,024) is reached by a few hundred scrapers plus the database sessions and files."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        else:
            log.debug("open-file limit raised from %d to %d", soft, target)


def _quiet_resource_errors():
    """A loop exception handler: asyncio logs every failed accept() at ERROR with a traceback when the
    process is out of descriptors (megabytes a second); say it in one line a minute instead."""
    last = [0.0]
    resource_errnos = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in resource_errnos:
            now = time.monotonic()
            if now - last[0] >= RESOURCE_ERROR_LOG_INTERVAL:
                last[0] = now
                log.error(
                    "cannot accept connections: %s (open-file limit reached?); said again at most once a minute",
                    exc.strerror or exc,
                )
            return
        loop.default_exception_handler(context)

    return handler


def exit_now() -> None:
    # A read stuck in the kernel (a dead NFS mount) would make the interpreter wait for its worker
    # thread forever at exit; everything is already closed, so leave without joining it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def make_runner(app):
    """An aiohttp runner for ``app`` (a web.Application) with the exporters' access log, and quiet,
    non-echoing answers to malformed requests (see httpserver.py)."""
    from .httpserver import ExporterRunner, set_server_header

    app.on_response_prepare.append(set_server_header)
    return ExporterRunner(app, access_log=logging.getLogger("aiohttp.access"), access_log_class=access_logger_class())


async def listen(runner, addresses, ssl_context, what: str, sockets=()) -> None:
    """Start a site of the set-up ``runner`` on each (text, host, port), and on each (text, socket)
    systemd passed; a busy port raises ConfigError."""
    from aiohttp import web

    for text, sock in sockets:
        await web.SockSite(runner, sock, ssl_context=ssl_context).start()
        log.info("listening on %s (%s), %s", text, "https" if ssl_context else "http", what)
    for text, host, port in addresses:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:  # asyncio's message names the address as a Python tuple: ours as given
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise ConfigError(f"cannot listen on {text}: {reason}") from exc
        log.info("listening on %s (%s), %s", text, "https" if ssl_context else "http", what)


async def wait_for_signal() -> None:
    """Return at the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")


async def _serve(app: ExporterApp, addresses, ssl_context, pool, sockets=()) -> None:
    runner = make_runner(app.build())
    await runner.setup()
    try:
        await listen(runner, addresses, ssl_context, "collectors: " + (", ".join(app.enabled) or "none"), sockets)
        await pool.start()
        await wait_for_signal()
    finally:
        await runner.cleanup()
        await pool.close()
