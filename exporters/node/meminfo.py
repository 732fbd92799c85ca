"""meminfo: one gauge per /proc/meminfo line, named as node_exporter names them.

``MemTotal:  24683656 kB`` becomes ``node_memory_MemTotal_bytes`` (kB times
1024); a line without a unit (``HugePages_Total:  0``) keeps its bare name,
``node_memory_HugePages_Total``. ``Active(anon)`` becomes ``Active_anon``.
The set of lines depends on the kernel, so families are built at read time.
As node_exporter 1.9 (which reads procfs' fixed Meminfo struct), only the
fields in FIELDS are served: newer kernels' lines (Zswap, SecPageTables,
FileHugePages, ...) are not.
"""

from __future__ import annotations

import re

from ..core.metrics import COUNTER, GAUGE, MetricFamily, gauge
from .registry import HostCollector, node_collectors, read_text

# For the generated metric reference only: the real names come from the file.
MEMORY_BYTES = gauge("node_memory_<Key>_bytes", "Memory information field <Key> from /proc/meminfo, in bytes.")
MEMORY_UNITLESS = gauge("node_memory_<Key>", "Unitless /proc/meminfo field <Key> (HugePages counts).")

# The series node_exporter 1.9 serves (when the kernel has the line).
FIELDS = frozenset(
    (
        "Active_bytes",
        "Active_anon_bytes",
        "Active_file_bytes",
        "AnonHugePages_bytes",
        "AnonPages_bytes",
        "Bounce_bytes",
        "Buffers_bytes",
        "Cached_bytes",
        "CmaFree_bytes",
        "CmaTotal_bytes",
        "CommitLimit_bytes",
        "Committed_AS_bytes",
        "DirectMap1G_bytes",
        "DirectMap2M_bytes",
        "DirectMap4k_bytes",
        "Dirty_bytes",
        "HardwareCorrupted_bytes",
        "Hugepagesize_bytes",
        "Inactive_bytes",
        "Inactive_anon_bytes",
        "Inactive_file_bytes",
        "KernelStack_bytes",
        "Mapped_bytes",
        "MemAvailable_bytes",
        "MemFree_bytes",
        "MemTotal_bytes",
        "Mlocked_bytes",
        "NFS_Unstable_bytes",
        "PageTables_bytes",
        "Percpu_bytes",
        "SReclaimable_bytes",
        "SUnreclaim_bytes",
        "Shmem_bytes",
        "ShmemHugePages_bytes",
        "ShmemPmdMapped_bytes",
        "Slab_bytes",
        "SwapCached_bytes",
        "SwapFree_bytes",
        "SwapTotal_bytes",
        "Unevictable_bytes",
        "VmallocChunk_bytes",
        "VmallocTotal_bytes",
        "VmallocUsed_bytes",
        "Writeback_bytes",
        "WritebackTmp_bytes",
        "HugePages_Free",
        "HugePages_Rsvd",
        "HugePages_Surp",
        "HugePages_Total",
    )
)

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
            if key not in FIELDS:
                continue
            # node_exporter's rule; no Linux field ends in "_total" today.
            typ = COUNTER if key.endswith("_total") else GAUGE
            fam = MetricFamily(f"node_memory_{key}", typ, f"Memory information field {key}.")
            fam.add((), value)
            yield fam
