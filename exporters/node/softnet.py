"""softnet: per-CPU packet processing counters from /proc/net/softnet_stat.

One row per CPU of hexadecimal columns: packets processed, packets dropped (backlog full), times
net_rx_action ran out of quota ("squeezed"), five unused columns, transmit lock collisions (column 9), RPS
wake-ups (10, kernels 2.6.35+), flow limit hits (11, 3.11+), and the backlog length and CPU id (12 and 13,
5.10+). As node_exporter 1.9 does, the ``cpu`` label is the CPU id of column 13 when the row has it (it
differs from the row number when CPUs are offline), else the row number; a column the kernel does not
print reads 0.
"""

from __future__ import annotations

from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors, read_text

PROCESSED = counter("node_softnet_processed_total", "Number of processed packets", "cpu")
DROPPED = counter("node_softnet_dropped_total", "Number of dropped packets", "cpu")
TIMES_SQUEEZED = counter("node_softnet_times_squeezed_total", "Number of times processing packets ran out of quota", "cpu")
CPU_COLLISION = counter("node_softnet_cpu_collision_total",
                        "Number of collision occur while obtaining device lock while transmitting", "cpu")
RECEIVED_RPS = counter("node_softnet_received_rps_total", "Number of times cpu woken up received_rps", "cpu")
FLOW_LIMIT = counter("node_softnet_flow_limit_count_total", "Number of times flow limit has been reached", "cpu")
BACKLOG_LEN = gauge("node_softnet_backlog_len", "Softnet backlog status", "cpu")

# (column, family) of the per-CPU values, in node_exporter's order; the CPU id is column 12.
COLUMNS = ((0, PROCESSED), (1, DROPPED), (2, TIMES_SQUEEZED), (8, CPU_COLLISION), (9, RECEIVED_RPS),
           (10, FLOW_LIMIT), (11, BACKLOG_LEN))
CPU_ID_COLUMN = 12

# Kernels since 2.6 print at least this many columns; node_exporter 1.5.0 refuses fewer.
MIN_COLUMNS = 9


def parse_softnet_stat(text: str) -> list[tuple[str, list[int]]]:
    """Return ``[(cpu label, [value of each COLUMNS column]), ...]``, one per row.

    A row with fewer than 9 columns or a non-hex value (of at most 32 bits) raises ValueError."""
    rows = []
    for n, line in enumerate(text.splitlines()):
        columns = line.split()
        if not columns:
            continue
        if len(columns) < MIN_COLUMNS:
            raise ValueError(f"softnet_stat row {n}: {len(columns)} columns, at least {MIN_COLUMNS} expected")
        try:
            numbers = [int(c, 16) for c in columns[:CPU_ID_COLUMN + 1]]
        except ValueError:
            raise ValueError(f"softnet_stat row {n}: not hexadecimal: {line[:80]!r}") from None
        if any(v >= 2**32 or v < 0 for v in numbers) or any(
                c[:1] in "+-" or c[:2].lower() == "0x" or "_" in c for c in columns[:CPU_ID_COLUMN + 1]):
            raise ValueError(f"softnet_stat row {n}: not a 32-bit hexadecimal number: {line[:80]!r}")
        cpu = str(numbers[CPU_ID_COLUMN]) if len(numbers) > CPU_ID_COLUMN else str(n)
        rows.append((cpu, [numbers[i] if i < len(numbers) else 0 for i, _ in COLUMNS]))
    return rows


@node_collectors.register
class SoftnetCollector(HostCollector):
    name = "softnet"
    description = "Per-CPU softirq packet processing statistics (/proc/net/softnet_stat)."
    metrics = tuple(d for _, d in COLUMNS)

    def read(self):
        rows = parse_softnet_stat(read_text(self.proc("net", "softnet_stat")))
        families = [d.family() for _, d in COLUMNS]
        for cpu, values in rows:
            for fam, value in zip(families, values):
                fam.add((cpu,), value)
        return families
