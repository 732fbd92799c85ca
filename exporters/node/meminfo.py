"""meminfo: one gauge per /proc/meminfo line, named as node_exporter names them.

``MemTotal:  24683656 kB`` becomes ``node_memory_MemTotal_bytes`` (kB times
1024); a line without a unit (``HugePages_Total:  0``) keeps its bare name,
``node_memory_HugePages_Total``. ``Active(anon)`` becomes ``Active_anon``.
The set of lines depends on the kernel, so families are built at read time.
"""

from __future__ import annotations

import re

from ..core.metrics import COUNTER, GAUGE, MetricFamily, gauge
from .registry import HostCollector, node_collectors, read_text

# For the generated metric reference only: the real names come from the file.
MEMORY_BYTES = gauge("node_memory_<Key>_bytes", "Memory information field <Key> from /proc/meminfo, in bytes.")
MEMORY_UNITLESS = gauge("node_memory_<Key>", "Unitless /proc/meminfo field <Key> (HugePages counts).")

_UNITS = {"kB": 1024}
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def meminfo_key(raw: str) -> str:
    """``Active(anon)`` -> ``Active_anon``; anything else unusable in a name -> ``_``."""
    key = raw.replace("(", "_").replace(")", "")
    return _INVALID.sub("_", key)


def parse_meminfo(text: str) -> dict[str, float]:
    """Return ``{metric name suffix: value}``, e.g. ``{"MemTotal_bytes": 25276063744}``.

    Values with a ``kB`` unit are converted to bytes and get ``_bytes``;
    unitless values are kept as they are. Malformed lines are skipped."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields or not key.strip():
            continue
        try:
            value = int(fields[0])
        except ValueError:
            continue
        name = meminfo_key(key.strip())
        if len(fields) > 1:
            multiplier = _UNITS.get(fields[1])
            if multiplier is None:
                continue  # a unit we do not know: better absent than wrong
            out[name + "_bytes"] = value * multiplier
        else:
            out[name] = value
    return out


@node_collectors.register
class MeminfoCollector(HostCollector):
    name = "meminfo"
    description = "Memory statistics (/proc/meminfo), one gauge per field."
    metrics = (MEMORY_BYTES, MEMORY_UNITLESS)

    def read(self):
        for key, value in parse_meminfo(read_text(self.proc("meminfo"))).items():
            # node_exporter's rule; no Linux field ends in "_total" today.
            typ = COUNTER if key.endswith("_total") else GAUGE
            fam = MetricFamily(f"node_memory_{key}", typ, f"Memory information field {key}.")
            fam.add((), value)
            yield fam
