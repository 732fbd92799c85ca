"""lnstat (off by default): the kernel's network cache statistics per CPU, from /proc/net/stat/* (arp_cache,
ndisc_cache, nf_conntrack, ...): a header line of field names, then one line of hexadecimal counters per CPU.
``node_lnstat_<field>_total{subsystem=<file>,cpu}``."""

from __future__ import annotations

import os

from ..core.metrics import COUNTER, MetricFamily, counter
from .registry import HostCollector, node_collectors, read_text

LNSTAT = counter("node_lnstat_<field>_total", "linux network cache stats", "subsystem", "cpu")  # reference only


def parse_net_stat(text: str) -> list[tuple[str, list[int]]]:
    """[(field, [value per CPU])] of one /proc/net/stat file."""
    lines = text.splitlines()
    if not lines:
        return []
    headers = lines[0].split()
    columns: dict[str, list[int]] = {h: [] for h in headers}
    for line in lines[1:]:
        values = line.split()
        if len(values) > len(headers):
            raise ValueError(f"more values than fields in {line[:80]!r}")
        for header, value in zip(headers, values):
            try:
                columns[header].append(int(value, 16))
            except ValueError:
                raise ValueError(f"not a hexadecimal counter: {value[:40]!r}") from None
    return list(columns.items())


@node_collectors.register
class LnstatCollector(HostCollector):
    name = "lnstat"
    default_enabled = False
    description = "Network cache statistics per CPU (/proc/net/stat/*)."
    metrics = (LNSTAT,)

    def read(self):
        directory = self.proc("net", "stat")
        families: dict[str, MetricFamily] = {}
        for filename in sorted(os.listdir(directory)):
            try:
                parsed = parse_net_stat(read_text(os.path.join(directory, filename)))
            except ValueError as exc:
                raise ValueError(f"/proc/net/stat/{filename}: {exc}") from None
            for field, values in parsed:
                fam = families.get(field)
                if fam is None:
                    fam = families[field] = MetricFamily(
                        f"node_lnstat_{field}_total", COUNTER, "linux network cache stats", ("subsystem", "cpu")
                    )
                for cpu, value in enumerate(values):
                    fam.add((filename, str(cpu)), value)
        return list(families.values())
