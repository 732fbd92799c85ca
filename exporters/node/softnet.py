"""softnet: per-CPU packet processing counters from /proc/net/softnet_stat, as node_exporter 1.9.

One row per online CPU of hexadecimal columns: packets processed, dropped
(backlog full), times net_rx_action ran out of quota ("squeezed"), then (9th)
collisions taking the device's transmit lock, (10th) RPS wake-ups, (11th) flow
limit hits, and on kernels since 5.10 (12th) the backlog length and (13th) the
CPU id. As 1.9, the ``cpu`` label is that CPU id when the row has it (it differs
from the row number when CPUs are offline), else the row number; a column the
kernel does not print reads as 0.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors, read_text

PROCESSED = counter("node_softnet_processed_total", "Number of processed packets", "cpu")
DROPPED = counter("node_softnet_dropped_total", "Number of dropped packets", "cpu")
TIMES_SQUEEZED = counter(
    "node_softnet_times_squeezed_total", "Number of times processing packets ran out of quota", "cpu"
)
CPU_COLLISION = counter(
    "node_softnet_cpu_collision_total",
    "Number of collision occur while obtaining device lock while transmitting",
    "cpu",
)
RECEIVED_RPS = counter("node_softnet_received_rps_total", "Number of times cpu woken up received_rps", "cpu")
FLOW_LIMIT = counter("node_softnet_flow_limit_count_total", "Number of times flow limit has been reached", "cpu")
BACKLOG_LEN = gauge("node_softnet_backlog_len", "Softnet backlog status", "cpu")

# Kernels since 2.6 print at least this many columns; node_exporter refuses fewer.
MIN_COLUMNS = 9


class SoftnetRow(NamedTuple):
    cpu: int
    processed: int
    dropped: int
    squeezed: int
    collision: int
    received_rps: int
    flow_limit: int
    backlog_len: int


def _hex32(text: str) -> int:
    value = int(text, 16)
    if value < 0 or value > 0xFFFFFFFF or "_" in text or text[:2].lower() == "0x" or text[:1] in "+-":
        raise ValueError(text)
    return value


def parse_softnet_stat(text: str) -> list[SoftnetRow]:
    """One row per CPU line; a row with fewer than 9 columns or a non-hex value raises ValueError."""
    rows: list[SoftnetRow] = []
    for n, line in enumerate(text.splitlines()):
        columns = line.split()
        if not columns:
            continue
        if len(columns) < MIN_COLUMNS:
            raise ValueError(f"softnet_stat row {n}: {len(columns)} columns, at least {MIN_COLUMNS} expected")
        try:
            v = [_hex32(c) for c in columns[:13]] + [0] * (13 - min(len(columns), 13))
        except ValueError:
            raise ValueError(f"softnet_stat row {n}: not hexadecimal: {line[:80]!r}") from None
        cpu = v[12] if len(columns) >= 13 else len(rows)
        rows.append(SoftnetRow(cpu, v[0], v[1], v[2], v[8], v[9], v[10], v[11]))
    return rows


@node_collectors.register
class SoftnetCollector(HostCollector):
    name = "softnet"
    description = "Per-CPU softirq packet processing statistics (/proc/net/softnet_stat)."
    metrics = (PROCESSED, DROPPED, TIMES_SQUEEZED, CPU_COLLISION, RECEIVED_RPS, FLOW_LIMIT, BACKLOG_LEN)

    def read(self):
        rows = parse_softnet_stat(read_text(self.proc("net", "softnet_stat")))
        fams = [d.family() for d in self.metrics]
        for row in rows:
            label = (str(row.cpu),)
            for fam, value in zip(fams, row[1:]):
                fam.add(label, value)
        return fams
