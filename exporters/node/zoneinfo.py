"""zoneinfo (off by default): memory zone statistics per NUMA node and zone, from /proc/zoneinfo.

Read as node_exporter reads it: the file is cut into blocks at each "Node N, zone NAME" line; the last
value of a known field in a block is that zone's (the per-node stats printed in a node's first zone
count for that zone); a field the kernel does not print has no series; an unparsable number reads 0."""

from __future__ import annotations

import re

from ..core.metrics import MetricFamily, counter, gauge
from .registry import HostCollector, node_collectors, read_text

# /proc/zoneinfo field, metric type, node_zoneinfo_<name>, help: in node_exporter's order
_ROWS = (
    ("nr_free_pages", gauge, "nr_free_pages", "Total number of free pages in the zone"),
    ("min", gauge, "min_pages", "Zone watermark pages_min"),
    ("low", gauge, "low_pages", "Zone watermark pages_low"),
    ("high", gauge, "high_pages", "Zone watermark pages_high"),
    ("scanned", gauge, "scanned_pages", "Pages scanned since last reclaim"),
    ("spanned", gauge, "spanned_pages", "Total pages spanned by the zone, including holes"),
    ("present", gauge, "present_pages", "Physical pages existing within the zone"),
    ("managed", gauge, "managed_pages", "Present pages managed by the buddy system"),
    ("nr_active_anon", gauge, "nr_active_anon_pages", "Number of anonymous pages recently more used"),
    ("nr_inactive_anon", gauge, "nr_inactive_anon_pages", "Number of anonymous pages recently less used"),
    ("nr_isolated_anon", gauge, "nr_isolated_anon_pages", "Temporary isolated pages from anon lru"),
    ("nr_anon_pages", gauge, "nr_anon_pages", "Number of anonymous pages currently used by the system"),
    (
        "nr_anon_transparent_hugepages",
        gauge,
        "nr_anon_transparent_hugepages",
        "Number of anonymous transparent huge pages currently used by the system",
    ),
    ("nr_active_file", gauge, "nr_active_file_pages", "Number of active pages with file-backing"),
    ("nr_inactive_file", gauge, "nr_inactive_file_pages", "Number of inactive pages with file-backing"),
    ("nr_isolated_file", gauge, "nr_isolated_file_pages", "Temporary isolated pages from file lru"),
    ("nr_file_pages", gauge, "nr_file_pages", "Number of file pages"),
    ("nr_slab_reclaimable", gauge, "nr_slab_reclaimable_pages", "Number of reclaimable slab pages"),
    ("nr_slab_unreclaimable", gauge, "nr_slab_unreclaimable_pages", "Number of unreclaimable slab pages"),
    ("nr_mlock_stack", gauge, "nr_mlock_stack_pages", "mlock()ed pages found and moved off LRU"),
    ("nr_kernel_stack", gauge, "nr_kernel_stacks", "Number of kernel stacks"),
    ("nr_mapped", gauge, "nr_mapped_pages", "Number of mapped pages"),
    ("nr_dirty", gauge, "nr_dirty_pages", "Number of dirty pages"),
    ("nr_writeback", gauge, "nr_writeback_pages", "Number of writeback pages"),
    ("nr_unevictable", gauge, "nr_unevictable_pages", "Number of unevictable pages"),
    ("nr_shmem", gauge, "nr_shmem_pages", "Number of shmem pages (included tmpfs/GEM pages)"),
    ("nr_dirtied", counter, "nr_dirtied_total", "Page dirtyings since bootup"),
    ("nr_written", counter, "nr_written_total", "Page writings since bootup"),
    ("numa_hit", counter, "numa_hit_total", "Allocated in intended node"),
    ("numa_miss", counter, "numa_miss_total", "Allocated in non intended node"),
    ("numa_foreign", counter, "numa_foreign_total", "Was intended here, hit elsewhere"),
    ("numa_interleave", counter, "numa_interleave_total", "Interleaver preferred this zone"),
    ("numa_local", counter, "numa_local_total", "Allocation from local node"),
    ("numa_other", counter, "numa_other_total", "Allocation from other node"),
)
FIELDS = tuple((key, make(f"node_zoneinfo_{name}", help_, "node", "zone")) for key, make, name, help_ in _ROWS)
PROTECTION = gauge("node_zoneinfo_protection_<N>", "Protection array <N>. field", "node", "zone")  # reference only
_NODE_ZONE = re.compile(r"(\d+), zone\s+(\w+)")
_BY_KEY = dict(FIELDS)


def _go_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64) as node_exporter's reader uses it: 0 when it fails."""
    try:
        if len(text.lstrip("+-")) > 1 and text.lstrip("+-")[0] == "0" and text.lstrip("+-")[1].isdigit():
            return int(text, 8)  # Go's base 0 reads a leading 0 as octal
        return int(text, 0)
    except ValueError:
        return 0


def parse_zoneinfo(text: str) -> list[tuple[str, str, dict[str, int], list[int]]]:
    """[(node, zone, {field: value}, protection)] per block."""
    out = []
    for block in ("\n" + text).split("\nNode"):
        node = zone = ""
        values: dict[str, int] = {}
        protection: list[int] = []
        for line in block.split("\n"):
            found = _NODE_ZONE.search(line)
            if found:
                node, zone = found.group(1), found.group(2)
                continue
            parts = line.split()
            if len(parts) < 2 or line.strip().startswith("per-node stats"):
                continue
            if parts[0] in _BY_KEY:
                values[parts[0]] = _go_int(parts[1])
            elif parts[0] == "protection:":
                inner = line.split(":")[1].replace("(", "", 1).replace(")", "", 1).strip()
                try:
                    protection = [int(v) for v in inner.split(", ")]
                except ValueError:
                    pass  # an unreadable array is left out, as node_exporter's reader leaves it
        if node or values:
            out.append((node, zone, values, protection))
    return out


@node_collectors.register
class ZoneinfoCollector(HostCollector):
    name = "zoneinfo"
    default_enabled = False
    description = "Memory zone statistics per NUMA node and zone (/proc/zoneinfo)."
    metrics = (*(d for _, d in FIELDS), PROTECTION)

    def read(self):
        families = {key: d.family() for key, d in FIELDS}
        protection: dict[int, MetricFamily] = {}
        for node, zone, values, prot in parse_zoneinfo(read_text(self.proc("zoneinfo"))):
            for key, value in values.items():
                families[key].add((node, zone), value)
            for i, value in enumerate(prot):
                fam = protection.get(i)
                if fam is None:
                    fam = protection[i] = MetricFamily(
                        f"node_zoneinfo_protection_{i}", "gauge", f"Protection array {i}. field", ("node", "zone")
                    )
                fam.add((node, zone), value)
        return [*families.values(), *protection.values()]
