"""settings: every numeric and boolean server setting as ``pg_settings_<name>``,
with postgres_exporter's unit rules (time -> ``_seconds``, size -> ``_bytes``)."""

from __future__ import annotations

import re

from ..core.metrics import GAUGE, MetricFamily, gauge
from .registry import PgCollector, pg_collectors

SQL = (
    "SELECT name, setting, COALESCE(unit, '') AS unit, short_desc, vartype FROM pg_settings "
    "WHERE vartype IN ('bool', 'integer', 'real')"
)

# unit -> (suffix, multiplier); sizes are powers of two, as PostgreSQL means them
_TIME = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}
_SIZE = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_SIZE_UNIT = re.compile(r"^(\d*)(B|kB|MB|GB|TB)$")  # "kB", or a block unit such as "8kB", "16MB"

SETTING = gauge(
    "pg_settings_<name>[_seconds|_bytes]",
    "A server setting (pg_settings): time units converted to seconds, sizes to bytes.",
    "server",
)


def convert(name: str, setting: str, unit: str, vartype: str) -> tuple[str, float, str]:
    """(metric name, value, unit note for HELP) of one pg_settings row; ValueError if unparsable."""
    metric = "pg_settings_" + name.replace(".", "_").replace("-", "_")
    if vartype == "bool":
        return metric, 1.0 if setting == "on" else 0.0, ""
    value = float(setting)
    if not unit:
        return metric, value, ""
    if unit in _TIME:
        return metric + "_seconds", value if value == -1 else value * _TIME[unit], "seconds"
    m = _SIZE_UNIT.match(unit)
    if m:
        factor = int(m.group(1) or 1) * _SIZE[m.group(2)]
        return metric + "_bytes", value if value == -1 else value * factor, "bytes"
    raise ValueError(f"unknown unit {unit!r} of setting {name}")


@pg_collectors.register
class SettingsCollector(PgCollector):
    name = "settings"
    description = "Numeric and boolean server settings (pg_settings)."
    legacy_server = True  # 0.17.1 still serves pg_settings_* with ``server``
    metrics = (SETTING,)

    async def collect(self):
        out = []
        for row in await self.rows(SQL):
            try:
                name, value, converted = convert(row["name"], row["setting"], row["unit"], row["vartype"])
            except ValueError:
                continue  # a unit PostgreSQL added after this was written: better absent than wrong
            note = f" [Units converted to {converted}.]" if converted else ""
            fam = MetricFamily(name, GAUGE, f"{row['short_desc']}{note}", ("server",))
            fam.add((self.session.server,), value)
            out.append(fam)
        return out
