"""What makes one exporter of the fleet (:class:`ExporterSpec`): everything core needs to
build its command, its scrapes and its HTTP side, without knowing hosts or databases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .collector import CollectorSet, Flag, Settings
from .metrics import MetricDef
from .scrape import ScrapeHooks

# A health check returns None when healthy, or a short reason (never a secret).
HealthCheck = Callable[[], Awaitable[str | None]]


@dataclass
class ExporterSpec:
    """What makes one exporter of the fleet: its name, metric namespace, port,
    collectors, own flags, start-up validation and health checks; for an exporter
    with targets (a database), how to reach them (see core/targets.py)."""

    name: str
    namespace: str
    default_port: int
    collectors: CollectorSet
    flags: tuple[Flag, ...] = ()
    # checks every input before serving (ConfigError), and returns the exporter's options: a frozen,
    # typed object its sessions and collectors read as settings.options (None: they read the flags);
    # its ``collector_toggles``, when it has them, are (collector name, on) pairs that count as given
    # --collector.NAME flags (postgres' --disable-default-metrics switches collectors off)
    validate: Callable[[Settings], Any] | None = None
    # health checks by name (default: each configured target's session.health())
    health_checks: Callable[[Settings], dict[str, HealthCheck]] | None = None
    # one line for --help and the landing page: the catalogue's (exporters/catalogue.py), not repeated
    description: str = ""
    # the configured targets' connection strings (secrets: never shown), scraped on /metrics
    targets: Callable[[Settings], list[str]] | None = None
    # the ScrapeHooks (session) of one target; its collectors find it as settings.hooks
    session: Callable[[Settings, str], ScrapeHooks] | None = None
    target_label: str = ""  # label added to every family when several targets share /metrics
    # multi-target mode: the connection string a /probe request names, or ProbeRefused
    resolve_probe: Callable[[Settings, Any], str] | None = None
    probe_path: str = "/probe"
    # a counter of refused probe requests on /metrics, when the Go exporter has one
    probe_errors_metric: str = ""
    # the Go exporter's environment prefix (REDIS_EXPORTER_): every flag is also read from it
    go_env_prefix: str = ""
    # families the session adds after the collectors (pg_up, redis_up, the scheduler's counters):
    # the metric reference and `rules check` read them here
    session_metrics: tuple[MetricDef, ...] = ()
    # the collectors that have something to read with these settings (the scheduler's backend kinds);
    # a collector on by default but not in it does not run, so it reports no success 0 for nothing
    applicable: Callable[[Settings], set[str]] | None = None
    # the Go exporter's own build-info metric, served too (node: "node_exporter_build_info")
    go_build_info: str = ""
    # Go's flag package spellings accepted too (redis_exporter): -name, -name=value, --flag=true|false
    go_flag_syntax: bool = False
    # other spellings of the common flags (Go's --log-format for --log.format)
    flag_aliases: dict[str, tuple[str, ...]] | None = None
    # the web config the exporter's own flags describe (redis_exporter's --basic-auth-*, --tls-server-*),
    # as a web-config.yml mapping; used when --web.config.file is not given
    web_config: Callable[[Settings], dict | None] | None = None
    # more exporter-wide families on /metrics (redis_exporter_build_info)
    exporter_families: Callable[[Settings], list] | None = None
    # the families of every answer, last step before rendering (redis_exporter's --namespace)
    finish_families: Callable[[Settings, list, bool], list] | None = None
    # more routes: (method, path, handler factory taking the ExporterApp) (redis_exporter's /-/reload)
    routes: tuple = ()
