"""ksmd (off by default): kernel samepage merging, from /sys/kernel/mm/ksm/."""

from __future__ import annotations

from ..core.metrics import counter, gauge
from .processes import read_uint
from .registry import HostCollector, node_collectors

# file -> metric; full_scans is a counter, sleep_millisecs is served in seconds
FILES = (
    ("full_scans", counter("node_ksmd_full_scans_total", "ksmd 'full_scans' file."), 1),
    *(
        (name, gauge(f"node_ksmd_{name}", f"ksmd '{name}' file."), 1)
        for name in (
            "merge_across_nodes",
            "pages_shared",
            "pages_sharing",
            "pages_to_scan",
            "pages_unshared",
            "pages_volatile",
            "run",
        )
    ),
    ("sleep_millisecs", gauge("node_ksmd_sleep_seconds", "ksmd 'sleep_millisecs' file."), 1000),
)


@node_collectors.register
class KsmdCollector(HostCollector):
    name = "ksmd"
    default_enabled = False
    description = "Kernel samepage merging (/sys/kernel/mm/ksm)."
    metrics = tuple(d for _, d, _ in FILES)

    def read(self):
        for name, d, divisor in FILES:
            value = read_uint(self.sys("kernel", "mm", "ksm", name))
            fam = d.family()
            fam.add((), value / divisor if divisor != 1 else value)
            yield fam
