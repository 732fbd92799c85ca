"""loadavg: node_load1/5/15 from /proc/loadavg."""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

LOAD1 = gauge("node_load1", "1m load average.")
LOAD5 = gauge("node_load5", "5m load average.")
LOAD15 = gauge("node_load15", "15m load average.")


def parse_loadavg(text: str) -> tuple[float, float, float]:
    fields = text.split()
    if len(fields) < 3:
        raise ValueError(f"unexpected /proc/loadavg content: {text[:80]!r}")
    return float(fields[0]), float(fields[1]), float(fields[2])


@node_collectors.register
class LoadavgCollector(HostCollector):
    name = "loadavg"
    description = "Load averages (/proc/loadavg)."
    metrics = (LOAD1, LOAD5, LOAD15)

    def read(self):
        values = parse_loadavg(read_text(self.proc("loadavg")))
        for d, v in zip(self.metrics, values):
            fam = d.family()
            fam.add((), v)
            yield fam
