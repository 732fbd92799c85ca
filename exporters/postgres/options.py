"""What ``validate()`` made of the postgres exporter's flags and --config.file: read once at start-up,
frozen, and passed down as ``settings.options`` to every target's session and collectors."""

from __future__ import annotations

from dataclasses import dataclass

from .config import PgConfig
from .fanout import FanoutConfig


@dataclass(frozen=True)
class PostgresOptions:
    """The postgres exporter's options (``settings.options``); nothing in them changes while it runs."""

    config: PgConfig  # --config.file: auth_modules and probe.allowed_targets (empty without the flag)
    config_loaded_at: float  # Unix time --config.file was read, 0.0 without it (pg_exporter_last_reload_*)
    constant_labels: tuple[tuple[str, str], ...]  # --constantLabels, checked
    metric_prefix: str  # --metric-prefix, checked ("pg": the names unchanged)
    fanout: FanoutConfig  # --auto-discover-databases, --include/--exclude-databases, the bound
    # collectors switched by --collector.bgwriter, --disable-default-metrics, --disable-settings-metrics:
    # counted by the runtime as given --collector.NAME flags (core/spec.py)
    collector_toggles: tuple[tuple[str, bool], ...] = ()
    # no per-database collector is on: a /probe of one database may use an idle connection of another
    # database of the same server (servershare.py), so a warm fleet of more databases than
    # --probe.connections-per-server logs in no more
    probe_any_database: bool = False
