"""softnet: per-CPU packet processing counters from /proc/net/softnet_stat.

One row per CPU of hexadecimal columns; the first three are packets processed,
packets dropped (backlog full) and times net_rx_action ran out of quota
("squeezed"). As in node_exporter 1.5.0 the ``cpu`` label is the row number:
newer kernels print the CPU id in a later column, which differs from the row
number only when CPUs are offline, and 1.5.0 does not read it.
"""

from __future__ import annotations

from ..core.metrics import counter
from .registry import HostCollector, node_collectors, read_text

PROCESSED = counter("node_softnet_processed_total", "Number of processed packets", "cpu")
DROPPED = counter("node_softnet_dropped_total", "Number of dropped packets", "cpu")
TIMES_SQUEEZED = counter("node_softnet_times_squeezed_total", "Number of times processing packets ran out of quota", "cpu")

# Kernels since 2.6 print at least this many columns; node_exporter 1.5.0 refuses fewer.
MIN_COLUMNS = 9


def parse_softnet_stat(text: str) -> list[tuple[int, int, int]]:
    """Return ``[(processed, dropped, time_squeeze), ...]``, one tuple per row (CPU).

    A row with fewer than 9 columns or a non-hex value raises ValueError."""
    rows = []
    for n, line in enumerate(text.splitlines()):
        columns = line.split()
        if not columns:
            continue
        if len(columns) < MIN_COLUMNS:
            raise ValueError(f"softnet_stat row {n}: {len(columns)} columns, at least {MIN_COLUMNS} expected")
        try:
            rows.append((int(columns[0], 16), int(columns[1], 16), int(columns[2], 16)))
        except ValueError:
            raise ValueError(f"softnet_stat row {n}: not hexadecimal: {line[:80]!r}") from None
    return rows


@node_collectors.register
class SoftnetCollector(HostCollector):
    name = "softnet"
    description = "Per-CPU softirq packet processing statistics (/proc/net/softnet_stat)."
    metrics = (PROCESSED, DROPPED, TIMES_SQUEEZED)

    def read(self):
        rows = parse_softnet_stat(read_text(self.proc("net", "softnet_stat")))
        dropped, processed, squeezed = DROPPED.family(), PROCESSED.family(), TIMES_SQUEEZED.family()
        for cpu, (p, d, s) in enumerate(rows):
            label = (str(cpu),)
            processed.add(label, p)
            dropped.add(label, d)
            squeezed.add(label, s)
        return [dropped, processed, squeezed]
