"""stat: boot time, context switches, forks, interrupts and run queue from /proc/stat."""

from __future__ import annotations

from ..core.collector import Flag
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
SOFTIRQS = counter("node_softirqs_total", "Number of softirq calls.", "vector")
# the numbers after the total on the "softirq" line, in the kernel's order
SOFTIRQ_VECTORS = ("hi", "timer", "net_tx", "net_rx", "block", "block_iopoll", "tasklet", "sched", "hrtimer", "rcu")


def parse_softirq(text: str) -> dict[str, int]:
    """{vector: calls} from the "softirq" line of /proc/stat (vectors an old kernel lacks read as 0)."""
    for line in text.splitlines():
        if line.startswith("softirq "):
            values = [int(v) for v in line.split()[2:]]
            values += [0] * (len(SOFTIRQ_VECTORS) - len(values))
            return dict(zip(SOFTIRQ_VECTORS, values))
    return {}


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
    metrics = (*(d for _, d in STAT_KEYS), SOFTIRQS)
    flags = (
        Flag(
            "--collector.stat.softirq",
            "collector_stat_softirq",
            "Export softirq calls per vector.",
            default=False,
            type=bool,
        ),
    )

    def read(self):
        text = read_text(self.proc("stat"))
        values = parse_stat(text)
        for key, d in STAT_KEYS:
            if key in values:
                fam = d.family()
                fam.add((), values[key])
                yield fam
        if self.settings.get("collector_stat_softirq"):
            fam = SOFTIRQS.family()
            for vector, calls in parse_softirq(text).items():
                fam.add((vector,), calls)
            yield fam
