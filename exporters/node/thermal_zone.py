"""thermal_zone: ACPI/SoC thermal zone temperatures and cooling device (fan, CPU throttle) states from
<sysfs>/class/thermal.

``thermal_zoneN/temp`` is in millidegrees Celsius; ``cooling_deviceN/{cur,max}_state`` are throttle steps
(``cur_state`` may be -1, intel_powerclamp). As node_exporter does, a zone whose ``type``, ``policy`` or
``temp`` cannot be read is left out; a zone or cooling device whose value is not a number is left out too,
and the collector reports the failure (success 0) naming the file while the others are still served.
"""

from __future__ import annotations

import glob
import os

from ..core.collector import PartialFailure
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors
from .sysfs_values import go_int, read_trimmed, sys_read

ZONE_TEMP = gauge("node_thermal_zone_temp", "Zone temperature in Celsius", "zone", "type")
COOLING_CUR = gauge("node_cooling_device_cur_state", "Current throttle state of the cooling device", "name", "type")
COOLING_MAX = gauge("node_cooling_device_max_state", "Maximum throttle state of the cooling device", "name", "type")


def numbered(pattern: str) -> list[str]:
    """Glob matches in Go's order (sorted)."""
    return sorted(glob.glob(pattern))


@node_collectors.register
class ThermalZoneCollector(HostCollector):
    name = "thermal_zone"
    description = "Thermal zone temperatures and cooling device states (/sys/class/thermal)."
    metrics = (ZONE_TEMP, COOLING_CUR, COOLING_MAX)

    def read(self):
        base = self.sys("class", "thermal")
        temp, cur, maxi = ZONE_TEMP.family(), COOLING_CUR.family(), COOLING_MAX.family()
        errors = []
        for zone in numbered(os.path.join(glob.escape(base), "thermal_zone[0-9]*")):
            try:
                zone_type = sys_read(os.path.join(zone, "type"))
                sys_read(os.path.join(zone, "policy"))
                text = read_trimmed(os.path.join(zone, "temp"))
            except OSError:
                continue  # a zone without a readable sensor (ENODATA while the device sleeps)
            millidegrees = go_int(text)
            if millidegrees is None:
                errors.append(f"{zone}/temp: not an integer: {text[:40]!r}")
                continue
            temp.add((os.path.basename(zone)[len("thermal_zone") :], zone_type), millidegrees / 1000.0)
        for device in numbered(os.path.join(glob.escape(base), "cooling_device[0-9]*")):
            try:
                values = [sys_read(os.path.join(device, f)) for f in ("type", "max_state", "cur_state")]
            except OSError as exc:
                errors.append(f"{device}: {exc.strerror or exc}")
                continue
            dev_type, max_state, cur_state = values[0], go_int(values[1]), go_int(values[2])
            if max_state is None or cur_state is None:
                errors.append(f"{device}: max_state/cur_state not an integer: {values[1][:20]!r}, {values[2][:20]!r}")
                continue
            labels = (os.path.basename(device)[len("cooling_device") :], dev_type)
            cur.add(labels, cur_state)
            maxi.add(labels, max_state)
        families = [temp, cur, maxi]
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise PartialFailure(f"thermal_zone: {errors[0]}{more}", families)
        return families
