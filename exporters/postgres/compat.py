"""``--compat``: which postgres_exporter's label sets and names to serve, 0.17 (today's, the
default) or 0.11 (Debian 12's), and postgres_exporter's other whole-exporter flags
(``--constantLabels``, ``--metric-prefix``, ``--disable-default-metrics``,
``--disable-settings-metrics``, ``--dumpmaps``).

What the switch changes (docs/postgres.md lists every family):

- ``server``: 0.11.1 puts ``server="host:port"`` on every family. 0.17.1 keeps it only on the
  families of its built-in query maps (``pg_static``, ``pg_settings_*``, ``pg_stat_activity_*``,
  ``pg_stat_archiver_*``, ``pg_replication_slots_*``, ``pg_stat_replication_*``,
  ``pg_stat_database_conflicts_*``, and custom queries); its collectors' families have none.
  A collector says which kind it is (``legacy_server``); :func:`keeps_server` decides.
- ``pg_stat_activity_*`` adds ``usename``, ``application_name``, ``backend_type``,
  ``wait_event_type`` and ``wait_event`` under 0.17 (stat_activity.py).
- ``pg_stat_database_*``: 0.17 reads the known columns only, leaves out the shared-objects row and
  adds ``active_time_seconds_total``; 0.11 emits every column, new ones untyped.
- ``pg_statio_user_tables_*``: ``heap_blocks_read`` (0.17) or ``heap_blks_read`` (0.11)."""

from __future__ import annotations

import re

from ..core.collector import Flag, Settings
from ..core.errors import ConfigError

MODERN, LEGACY = "0.17", "0.11"

FLAG = Flag(
    "--compat",
    "compat",
    "Label sets and names of which postgres_exporter to serve: 0.17 (today's: no server label on the "
    "collectors' families, pg_stat_activity by user, application, backend type and wait event) or 0.11 "
    "(Debian 12's: server on every family, pg_stat_activity by datname and state only). See docs/postgres.md.",
    default=MODERN,
    type=(MODERN, LEGACY),
)

# the collectors whose families 0.17.1 serves from its built-in query maps: they keep ``server``, and
# --disable-default-metrics turns them off (0.11.1's maps also held pg_locks and pg_stat_database)
DEFAULT_MAPS = {
    MODERN: ("stat_activity", "stat_archiver", "replication_slots", "stat_replication", "stat_database_conflicts"),
    LEGACY: (
        "stat_activity",
        "stat_archiver",
        "replication_slots",
        "stat_replication",
        "stat_database_conflicts",
        "locks",
        "stat_database",
    ),
}

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_PREFIX = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# labels of families that are not any collector's: pg_scrape_collector_*, pg_static, histograms
RESERVED_LABELS = ("le", "quantile", "server", "collector", "short_version", "version")


def mode(settings: Settings) -> str:
    return settings.get("compat") or MODERN


def modern(settings: Settings) -> bool:
    return mode(settings) != LEGACY


def keeps_server(settings: Settings, legacy_server: bool) -> bool:
    """Does a family carry ``server`` under this --compat (0.11: all; 0.17: the built-in maps')?"""
    return legacy_server or not modern(settings)


def constant_labels(text: str | None, taken: set[str]) -> tuple[tuple[str, str], ...]:
    """``--constantLabels`` ``k=v,k2=v2`` -> pairs; ConfigError naming the bad part. ``taken``: the
    label names the exporter's families already use (a constant label may not shadow one)."""
    pairs: list[tuple[str, str]] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"--constantLabels {part.strip()!r}: expected label=value (comma-separated pairs)")
        if not LABEL_NAME.match(name) or name.startswith("__"):
            raise ConfigError(
                f"--constantLabels: {name!r} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
            )
        if name in taken or name in RESERVED_LABELS:
            raise ConfigError(f"--constantLabels: label {name!r} is already used by the exporter's series")
        if name in (n for n, _ in pairs):
            raise ConfigError(f"--constantLabels: label {name!r} is given twice")
        pairs.append((name, value))
    return tuple(pairs)


def metric_prefix(text: str | None) -> str:
    prefix = "pg" if text is None else text
    if not METRIC_PREFIX.match(prefix):
        raise ConfigError(f"--metric-prefix {prefix!r}: not a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    return prefix


FLAGS = (
    FLAG,
    Flag(
        "--disable-default-metrics",
        "disable_default_metrics",
        "Leave out the families of postgres_exporter's built-in query maps (pg_static, pg_stat_activity, "
        "pg_stat_archiver, pg_replication_slots, pg_stat_replication, pg_stat_database_conflicts; with "
        "--compat=0.11 also pg_locks and pg_stat_database), as postgres_exporter does; the other collectors, "
        "settings and --extend.query-path queries stay.",
        default=False,
        type=bool,
    ),
    Flag(
        "--disable-settings-metrics",
        "disable_settings_metrics",
        "Leave out pg_settings_* (the settings collector).",
        default=False,
        type=bool,
    ),
    Flag(
        "--constantLabels",
        "constant_labels",
        "label=value pairs, comma-separated, added to every series of "
        "the target (postgres_exporter adds them to its built-in maps' families only).",
        metavar="LABELS",
        env=("PG_EXPORTER_CONSTANT_LABELS",),
    ),
    Flag(
        "--metric-prefix",
        "metric_prefix",
        "Prefix of the metric names instead of pg (pg_up -> PREFIX_up).",
        default="pg",
        metavar="PREFIX",
    ),
    Flag(
        "--dumpmaps",
        "dumpmaps",
        "Print the built-in metric maps (query collectors, their columns, types and labels) and exit.",
        default=False,
        type=bool,
    ),
    Flag(
        "--collector.bgwriter",
        "collector_bgwriter",
        "postgres_exporter 0.11's name of --collector.stat_bgwriter.",
        default=False,
        type=bool,
    ),
)


def _given(dest: str) -> bool:
    """Was the flag ``dest`` given (command line or environment), not left at its default?"""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    try:
        source = ctx.get_parameter_source(dest)
    except Exception:
        return False
    return source is not None and source.name != "DEFAULT"


def collector_toggles(settings: Settings) -> tuple[tuple[str, bool], ...]:
    """The collectors the whole-exporter flags switch on or off (--collector.bgwriter,
    --disable-default-metrics, --disable-settings-metrics), as (name, on) pairs the runtime counts as
    given --collector.NAME flags when it chooses the collectors (core/spec.py)."""
    from ..core.collector import collector_toggle_dest

    toggles: dict[str, bool] = {}
    if _given("collector_bgwriter"):  # --collector.bgwriter / --no-collector.bgwriter
        toggles["stat_bgwriter"] = bool(settings.get("collector_bgwriter"))
    if settings.get("disable_default_metrics"):
        for name in DEFAULT_MAPS[mode(settings)]:
            if name not in toggles and settings.get(collector_toggle_dest(name)) is None:
                toggles[name] = False
    if settings.get("disable_settings_metrics"):
        toggles["settings"] = False
    return tuple(toggles.items())


def dump_maps(collectors, settings: Settings, out) -> None:
    """--dumpmaps: every collector's families with type and labels under this --compat."""
    for cls in collectors:
        out.write(f"{cls.name}{'' if cls.default_enabled else ' (off by default)'}\n")
        server = ["server"] if keeps_server(settings, getattr(cls, "legacy_server", False)) else []
        for d in cls.metrics:
            labels = [n for n in d.labels if n != "server"] + server
            out.write(f"  {d.name:<60} {d.type.upper():<9} {','.join(labels)}\n")
        out.write("\n")


def relabel(families: list, labels: tuple[tuple[str, str], ...], prefix: str) -> list:
    """The families with ``--constantLabels`` added to every sample and ``pg_`` names under
    ``--metric-prefix``; the families unchanged (not copied) when neither flag is given."""
    from ..core.metrics import MetricFamily, label_block

    if not labels and prefix == "pg":
        return families
    names = tuple(n for n, _ in labels)
    pairs = label_block(labels)[1:-1] if labels else ""
    out = []
    for fam in families:
        name = fam.name
        rename = prefix != "pg" and name.startswith("pg_")
        if rename:
            name = prefix + name[2:]
        new = MetricFamily(name, fam.type, fam.help, (*fam.labelnames, *names))
        cut = len(fam.name)
        samples = new.samples
        for sample, block, value in fam.samples:
            if rename:
                sample = name + sample[cut:]
            if pairs:
                block = f"{block[:-1]},{pairs}}}" if block else f"{{{pairs}}}"
            samples.append((sample, block, value))
        new.duplicates = fam.duplicates
        out.append(new)
    return out
