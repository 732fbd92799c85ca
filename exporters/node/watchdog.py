"""watchdog: hardware and software watchdog timers from <sysfs>/class/watchdog/<watchdog>/.

The timeout, the time left before the machine is reset, the pretimeout, the boot status (why the last reset
happened) and the rest of the numeric attributes as gauges, and the textual ones (identity, state, status,
options, pretimeout governor) as labels of ``node_watchdog_info``, empty when the driver lacks them. An
attribute that is not a number leaves that watchdog out, and the collector reports the failure while the
other watchdogs are still served.
"""

from __future__ import annotations

import errno
import os

from ..core.collector import NoData, PartialFailure
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors
from .sysfs_values import go_int, sys_read


def _value(name: str, file: str):
    return gauge(f"node_watchdog_{name}", f"Value of /sys/class/watchdog/<watchdog>/{file}", "name")


# (attribute file, family), in node_exporter's order.
NUMERIC = (
    ("bootstatus", _value("bootstatus", "bootstatus")),
    ("fw_version", _value("fw_version", "fw_version")),
    ("nowayout", _value("nowayout", "nowayout")),
    ("timeleft", _value("timeleft_seconds", "timeleft")),
    ("timeout", _value("timeout_seconds", "timeout")),
    ("pretimeout", _value("pretimeout_seconds", "pretimeout")),
    ("access_cs0", _value("access_cs0", "access_cs0")),
)
TEXT = ("options", "identity", "state", "status", "pretimeout_governor")
INFO = gauge("node_watchdog_info", "Info of /sys/class/watchdog/<watchdog>", "name", *TEXT)
NUMERIC_FILES = dict(NUMERIC)


def read_watchdog(path: str) -> tuple[dict[str, int], dict[str, str]]:
    numbers: dict[str, int] = {}
    texts: dict[str, str] = {}
    for file in (*NUMERIC_FILES, *TEXT):
        full = os.path.join(path, file)
        try:
            text = sys_read(full)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise ValueError(f"{full}: {exc.strerror or exc}") from None
        if file in TEXT:
            texts[file] = text
            continue
        value = go_int(text, 0)
        if value is None:
            raise ValueError(f"{full}: not an integer: {text[:40]!r}")
        numbers[file] = value
    return numbers, texts


@node_collectors.register
class WatchdogCollector(HostCollector):
    name = "watchdog"
    description = "Watchdog timers (/sys/class/watchdog): timeout, time left, boot status, identity."
    metrics = tuple(d for _, d in NUMERIC) + (INFO,)

    def read(self):
        base = self.sys("class", "watchdog")
        try:
            names = sorted(os.listdir(base))
        except FileNotFoundError:
            raise NoData(f"{base} does not exist: no watchdog class on this system") from None
        families = {file: d.family() for file, d in NUMERIC}
        info = INFO.family()
        errors = []
        for name in names:
            try:
                numbers, texts = read_watchdog(os.path.join(base, name))
            except ValueError as exc:
                errors.append(str(exc))
                continue
            for file, value in numbers.items():
                families[file].add((name,), value)
            info.add((name, *(texts.get(t, "") for t in TEXT)), 1)
        out = [*families.values(), info]
        if errors:
            raise PartialFailure(f"watchdog: {errors[0]}", out)
        return out
