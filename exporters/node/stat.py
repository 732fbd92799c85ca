"""stat: boot time, context switches, forks, interrupts and run queue from /proc/stat."""

from __future__ import annotations

from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors, read_text

BOOT_TIME = gauge("node_boot_time_seconds", "Node boot time, in unixtime.")
CONTEXT_SWITCHES = counter("node_context_switches_total", "Total number of context switches.")
FORKS = counter("node_forks_total", "Total number of forks.")
INTR = counter("node_intr_total", "Total number of interrupts serviced.")
PROCS_RUNNING = gauge("node_procs_running", "Number of processes in runnable state.")
PROCS_BLOCKED = gauge("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.")

# /proc/stat keyword -> metric. For "intr" the first number is the total.
STAT_KEYS = (
    ("btime", BOOT_TIME),
    ("ctxt", CONTEXT_SWITCHES),
    ("processes", FORKS),
    ("intr", INTR),
    ("procs_running", PROCS_RUNNING),
    ("procs_blocked", PROCS_BLOCKED),
)
_WANTED = {key for key, _ in STAT_KEYS}


def parse_stat(text: str) -> dict[str, int]:
    """Return the first number of each wanted /proc/stat line, by keyword."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in _WANTED:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


@node_collectors.register
class StatCollector(HostCollector):
    name = "stat"
    description = "Kernel and system statistics (/proc/stat): boot time, context switches, forks, interrupts."
    metrics = tuple(d for _, d in STAT_KEYS)

    def read(self):
        values = parse_stat(read_text(self.proc("stat")))
        for key, d in STAT_KEYS:
            if key in values:
                fam = d.family()
                fam.add((), values[key])
                yield fam
