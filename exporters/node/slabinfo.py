"""slabinfo (off by default): kernel slab caches, from /proc/slabinfo (readable by root only)."""

from __future__ import annotations

from ..core.collector import Flag
from ..core.metrics import gauge
from .registry import HostCollector, compile_filter, node_collectors, read_text

# (metric, column of a slabinfo 2.1 line)
COLUMNS = (
    (
        gauge(
            "node_slabinfo_active_objects", "The number of objects that are currently active (i.e., in use).", "slab"
        ),
        1,
    ),
    (
        gauge(
            "node_slabinfo_objects",
            "The total number of allocated objects (i.e., objects that are both in use and not in use).",
            "slab",
        ),
        2,
    ),
    (gauge("node_slabinfo_object_size_bytes", "The size of objects in this slab, in bytes.", "slab"), 3),
    (gauge("node_slabinfo_objects_per_slab", "The number of objects stored in each slab.", "slab"), 4),
    (gauge("node_slabinfo_pages_per_slab", "The number of pages allocated for each slab.", "slab"), 5),
)


def parse_slabinfo(text: str) -> list[list[str]]:
    """The 16 fields of each cache line of a version 2.1 /proc/slabinfo."""
    out = []
    for line in text.splitlines():
        if "slabinfo -" in line or "# name" in line:
            continue
        fields = line.split()
        if len(fields) != 16:
            raise ValueError(f"/proc/slabinfo: unable to parse {line[:80]!r}")
        if not all(fields[i].lstrip("-").isdigit() for i in (1, 2, 3, 4, 5)):
            raise ValueError(f"/proc/slabinfo: non-numeric field in {line[:80]!r}")
        out.append(fields)
    return out


@node_collectors.register
class SlabinfoCollector(HostCollector):
    name = "slabinfo"
    default_enabled = False
    description = "Kernel slab caches (/proc/slabinfo)."
    metrics = tuple(d for d, _ in COLUMNS)
    flags = (
        Flag(
            "--collector.slabinfo.slabs-include",
            "collector_slabinfo_slabs_include",
            "Regexp of slabs to include in slabinfo collector.",
            default=".*",
            metavar="REGEX",
        ),
        Flag(
            "--collector.slabinfo.slabs-exclude",
            "collector_slabinfo_slabs_exclude",
            "Regexp of slabs to exclude in slabinfo collector.",
            default="",
            metavar="REGEX",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.include = compile_filter(
            "collector.slabinfo.slabs-include", settings.get("collector_slabinfo_slabs_include")
        )
        self.exclude = compile_filter(
            "collector.slabinfo.slabs-exclude", settings.get("collector_slabinfo_slabs_exclude")
        )

    def read(self):
        families = [d.family() for d, _ in COLUMNS]
        for fields in parse_slabinfo(read_text(self.proc("slabinfo"))):
            name = fields[0]
            if (self.exclude is not None and self.exclude.search(name)) or (
                self.include is not None and not self.include.search(name)
            ):
                continue
            for fam, (_, column) in zip(families, COLUMNS):
                fam.add((name,), int(fields[column]))
        return families
