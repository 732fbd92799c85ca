"""schedstat: per-CPU scheduler statistics from /proc/schedstat, as node_exporter 1.9 reports them.

Each ``cpuN`` line carries, as its 7th to 9th numbers, the time spent running
and waiting to run (nanoseconds) and the number of timeslices run. Lines that
are not such (the domain lines, a truncated line) are skipped, as procfs skips
them. No /proc/schedstat (a kernel without CONFIG_SCHEDSTATS) is "no data".
"""

from __future__ import annotations

import re

from ..core.collector import NoData
from ..core.metrics import counter
from .registry import HostCollector, node_collectors, read_text

RUNNING = counter("node_schedstat_running_seconds_total", "Number of seconds CPU spent running a process.", "cpu")
WAITING = counter(
    "node_schedstat_waiting_seconds_total", "Number of seconds spent by processing waiting for this CPU.", "cpu"
)
TIMESLICES = counter("node_schedstat_timeslices_total", "Number of timeslices executed by CPU.", "cpu")

_CPU_LINE = re.compile(r"cpu([0-9]+)" + r" ([0-9]+)" * 9)
_UINT64_MAX = 2**64 - 1


def parse_schedstat(text: str) -> list[tuple[str, int, int, int]]:
    """(cpu, running ns, waiting ns, timeslices) per cpu line."""
    out = []
    for line in text.splitlines():
        m = _CPU_LINE.search(line)
        if m is None:
            continue
        running, waiting, slices = (int(m.group(i)) for i in (8, 9, 10))
        if max(running, waiting, slices) > _UINT64_MAX:
            continue
        out.append((m.group(1), running, waiting, slices))
    return out


@node_collectors.register
class SchedstatCollector(HostCollector):
    name = "schedstat"
    description = "Per-CPU scheduler run/wait time and timeslices (/proc/schedstat)."
    metrics = (RUNNING, WAITING, TIMESLICES)

    def read(self):
        try:
            text = read_text(self.proc("schedstat"))
        except FileNotFoundError as exc:
            raise NoData(f"{self.proc('schedstat')} does not exist (kernel without CONFIG_SCHEDSTATS)") from exc
        running, waiting, slices = RUNNING.family(), WAITING.family(), TIMESLICES.family()
        for cpu, run_ns, wait_ns, n in parse_schedstat(text):
            running.add((cpu,), run_ns / 1e9)
            waiting.add((cpu,), wait_ns / 1e9)
            slices.add((cpu,), n)
        yield running
        yield waiting
        yield slices
