"""rapl: energy counters of Intel/AMD RAPL power zones (package, core, uncore, dram) from
<sysfs>/class/powercap/<zone>/energy_uj.

One counter per zone, in joules, named after the zone (``node_rapl_package_joules_total``) with an ``index``
label for zones of the same name (``package-0``, ``package-1``) and the zone's sysfs ``path``, as node_exporter
names them; with ``--collector.rapl.enable-zone-label`` one family ``node_rapl_joules_total`` with the zone
name as ``rapl_zone`` instead. Only root may read energy_uj on recent kernels (a side channel): without
permission the collector reports no data (logged at debug level), as node_exporter does.
"""

from __future__ import annotations

import os
import re

from ..core.collector import Flag, NoData, PartialFailure
from ..core.metrics import COUNTER, MetricFamily, counter
from .registry import HostCollector, node_collectors
from .sysfs_values import read_trimmed, read_uint

JOULES = counter("node_rapl_joules_total", "Current RAPL value in joules", "index", "path", "rapl_zone")
ZONE_JOULES = counter("node_rapl_<zone>_joules_total", "Current RAPL <zone> value in joules", "index", "path")
_UNSAFE = re.compile(r"_*[^0-9A-Za-z_]+_*")


def sanitize(name: str) -> str:
    """node_exporter's SanitizeMetricName: each run of other characters (with the _ around it) to one _."""
    return _UNSAFE.sub("_", name)


def rapl_zones(powercap: str, entries: list[str]) -> list[tuple[str, int, str]]:
    """[(zone name, index, path)] of the powercap directories that have a name file, in directory order.
    ``package-1`` is ("package", 1); a repeated plain name is numbered by how often it was seen."""
    zones = []
    used: dict[str, int] = {}
    for entry in entries:
        path = os.path.join(powercap, entry)
        try:
            name = read_trimmed(os.path.join(path, "name"))
        except OSError:
            continue
        base, dash, number = name.partition("-")
        if dash and "-" not in number and re.fullmatch(r"[+-]?[0-9]+", number):
            index, name = int(number), base
        else:
            index = used.get(name, 0)
        read_uint(os.path.join(path, "max_energy_range_uj"))  # node_exporter refuses a zone without it
        zones.append((name, index, path))
        used[name] = index + 1
    return zones


@node_collectors.register
class RaplCollector(HostCollector):
    name = "rapl"
    description = "RAPL energy counters per power zone (/sys/class/powercap)."
    metrics = (ZONE_JOULES, JOULES)
    flags = (
        Flag(
            "--collector.rapl.enable-zone-label",
            "collector_rapl_enable_zone_label",
            "Serve one family node_rapl_joules_total with the zone as label rapl_zone, instead of one family per zone.",
            default=False,
            type=bool,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.zone_label = bool(self.settings.get("collector_rapl_enable_zone_label", False))

    def read(self):
        powercap = os.path.normpath(self.sys("class", "powercap"))
        try:
            entries = sorted(os.listdir(powercap))
        except FileNotFoundError:
            raise NoData(f"{powercap} does not exist: no powercap (RAPL) on this system") from None
        try:
            zones = rapl_zones(powercap, entries)
        except PermissionError as exc:
            raise NoData(f"cannot read the powercap files: {exc.strerror}") from None
        families: dict[str, MetricFamily] = {}
        for name, index, path in zones:
            try:
                joules = read_uint(os.path.join(path, "energy_uj")) / 1000000.0
            except PermissionError:
                raise NoData(f"{path}/energy_uj: permission denied (only root may read RAPL counters)") from None
            except (OSError, ValueError) as exc:
                raise PartialFailure(f"rapl: {exc}", list(families.values())) from None
            if self.zone_label:
                fam = families.setdefault(JOULES.name, JOULES.family())
                fam.add((str(index), path, name), joules)
            else:
                metric = f"node_rapl_{sanitize(name)}_joules_total"
                fam = families.setdefault(
                    metric, MetricFamily(metric, COUNTER, f"Current RAPL {name} value in joules", ("index", "path"))
                )
                fam.add((str(index), path), joules)
        return list(families.values())
