"""meminfo_numa (off by default): memory per NUMA node, from /sys/devices/system/node/node<N>/meminfo
(gauges, "Node 0 MemFree: 53030372 kB" -> node_memory_numa_MemFree{node="0"} in bytes) and .../numastat
(counters, "numa_hit 193460335812" -> node_memory_numa_numa_hit_total{node="0"})."""

from __future__ import annotations

import os
import re

from ..core.metrics import COUNTER, GAUGE, MetricFamily, counter, gauge
from .registry import HostCollector, node_collectors, read_text

# For the generated metric reference only: the real names come from the files.
NUMA_MEMINFO = gauge("node_memory_numa_<Key>", "Memory information field <Key>.", "node")
NUMA_STAT = counter("node_memory_numa_<key>_total", "Memory information field <key>_total.", "node")
_NODE_DIR = re.compile(r"^node([0-9]*)$")
_PARENS = re.compile(r"\((.*)\)")


def parse_node_meminfo(text: str) -> list[tuple[str, str, float]]:
    """[(field, node, value)]: "Node 0 Active(anon): 1 kB" -> ("Active_anon", "0", 1024.0)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 4:
            raise ValueError(f"invalid line in meminfo: {line[:80]!r}")
        try:
            value = float(parts[3])
        except ValueError:
            raise ValueError(f"invalid value in meminfo: {line[:80]!r}") from None
        if len(parts) == 5 and parts[4] == "kB":
            value *= 1024
        elif len(parts) != 4:
            raise ValueError(f"invalid line in meminfo: {line[:80]!r}")
        out.append((_PARENS.sub(r"_\1", parts[2].rstrip(":")), parts[1], value))
    return out


def parse_numastat(text: str) -> list[tuple[str, float]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"numastat: expected 2 fields: {line[:80]!r}")
        try:
            out.append((parts[0], float(parts[1])))
        except ValueError:
            raise ValueError(f"invalid value in numastat: {line[:80]!r}") from None
    return out


@node_collectors.register
class MeminfoNumaCollector(HostCollector):
    name = "meminfo_numa"
    default_enabled = False
    description = "Memory statistics per NUMA node (/sys/devices/system/node/node*/{meminfo,numastat})."
    metrics = (NUMA_MEMINFO, NUMA_STAT)

    def read(self):
        base = self.sys("devices", "system", "node")
        families: dict[str, MetricFamily] = {}

        def add(name: str, typ: str, node: str, value: float) -> None:
            fam = families.get(name)
            if fam is None:
                fam = families[name] = MetricFamily(
                    f"node_memory_numa_{name}", typ, f"Memory information field {name}.", ("node",)
                )
            fam.add((node,), value)

        nodes = sorted(d for d in os.listdir(base) if _NODE_DIR.match(d)) if os.path.isdir(base) else []
        for directory in nodes:
            for field, node, value in parse_node_meminfo(read_text(os.path.join(base, directory, "meminfo"))):
                add(field, GAUGE, node, value)
            number = _NODE_DIR.match(directory).group(1)
            for field, value in parse_numastat(read_text(os.path.join(base, directory, "numastat"))):
                add(field + "_total", COUNTER, number, value)
        return list(families.values())
