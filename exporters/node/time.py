"""time: the system clock, its time zone, and the kernel's clocksources."""

from __future__ import annotations

import glob
import os
import time as _time

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

TIME_SECONDS = gauge("node_time_seconds", "System time in seconds since epoch (1970).")
TIME_ZONE_OFFSET = gauge("node_time_zone_offset_seconds", "System time zone offset in seconds.", "time_zone")
CLOCKSOURCE_AVAILABLE = gauge(
    "node_time_clocksource_available_info",
    "Available clocksources read from '/sys/devices/system/clocksource'.",
    "clocksource",
    "device",
)
CLOCKSOURCE_CURRENT = gauge(
    "node_time_clocksource_current_info",
    "Current clocksource read from '/sys/devices/system/clocksource'.",
    "clocksource",
    "device",
)


def parse_clocksources(text: str) -> list[str]:
    """The names in an ``available_clocksource`` / ``current_clocksource`` file."""
    return text.split()


def clocksource_device(dirname: str) -> str | None:
    """``clocksource0`` -> ``"0"``; None for anything else."""
    base = os.path.basename(dirname.rstrip("/"))
    num = base[len("clocksource") :]
    return num if base.startswith("clocksource") and num.isdigit() else None


@node_collectors.register
class TimeCollector(HostCollector):
    name = "time"
    description = "System time, time zone offset and clocksources."
    metrics = (TIME_SECONDS, TIME_ZONE_OFFSET, CLOCKSOURCE_AVAILABLE, CLOCKSOURCE_CURRENT)

    def read(self):
        now = _time.time()
        fam = TIME_SECONDS.family()
        fam.add((), now)
        yield fam

        local = _time.localtime(now)
        fam = TIME_ZONE_OFFSET.family()
        fam.add((local.tm_zone,), local.tm_gmtoff)
        yield fam

        available = CLOCKSOURCE_AVAILABLE.family()
        current = CLOCKSOURCE_CURRENT.family()
        pattern = os.path.join(glob.escape(self.sys("devices", "system", "clocksource")), "clocksource*")
        for path in sorted(glob.glob(pattern)):
            device = clocksource_device(path)
            if device is None:
                continue
            for fam, filename in ((available, "available_clocksource"), (current, "current_clocksource")):
                try:
                    names = parse_clocksources(read_text(os.path.join(path, filename)))
                except OSError:
                    continue
                for source in names:
                    fam.add((source, device), 1)
        yield available
        yield current
