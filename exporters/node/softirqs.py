"""softirqs (off by default): softirq calls per CPU and type, from /proc/softirqs."""

from __future__ import annotations

from ..core.metrics import counter
from .registry import HostCollector, node_collectors, read_text

SOFTIRQS = counter("node_softirqs_functions_total", "Softirq counts per CPU.", "cpu", "type")
# the types node_exporter reports, in its order; a type the kernel adds later is left out, as there
TYPES = ("HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU")


def parse_softirqs(text: str) -> dict[str, list[int]]:
    """{type: [calls per CPU]} of /proc/softirqs (its first line names the CPUs)."""
    lines = text.splitlines()
    if not lines:
        raise ValueError("/proc/softirqs is empty")
    out = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < 2 or not parts[0].endswith(":") or parts[0][:-1] not in TYPES:
            continue
        try:
            out[parts[0][:-1]] = [int(v) for v in parts[1:]]
        except ValueError:
            raise ValueError(f"/proc/softirqs: non-numeric count in {line.strip()[:80]!r}") from None
    return out


@node_collectors.register
class SoftirqsCollector(HostCollector):
    name = "softirqs"
    default_enabled = False
    description = "Softirq calls per CPU and type (/proc/softirqs)."
    metrics = (SOFTIRQS,)

    def read(self):
        fam = SOFTIRQS.family()
        parsed = parse_softirqs(read_text(self.proc("softirqs")))
        for kind in TYPES:
            for cpu, calls in enumerate(parsed.get(kind, ())):
                fam.add((str(cpu), kind), calls)
        yield fam
