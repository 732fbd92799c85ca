"""xfs: per-filesystem XFS statistics from <sysfs>/fs/xfs/<device>/stats/stats, as node_exporter 1.9.

Each line of the stats file is a label and its numbers (kernel's
xfs_stats_format). The lines node_exporter exports, and every line procfs
knows, must have their number of values; all values must be numbers. A
filesystem whose file is not so is left out (the others are served, success 0).
"""

from __future__ import annotations

import glob
import os

from ..core.collector import PartialFailure
from ..core.metrics import counter
from .registry import HostCollector, node_collectors, read_text
from .sysfs_values import go_uint

# label -> the value counts procfs accepts for it
LINE_LENGTHS = {
    "extent_alloc": (4,),
    "abt": (4,),
    "blk_map": (7,),
    "bmbt": (4,),
    "dir": (4,),
    "trans": (3,),
    "ig": (7,),
    "log": (5,),
    "push_ail": (10,),
    "xstrat": (2,),
    "rw": (2,),
    "attr": (4,),
    "icluster": (3,),
    "vnodes": (7, 8),
    "buf": (9,),
    "xpc": (3,),
    "abtb2": (15,),
    "abtc2": (15,),
    "bmbt2": (15,),
    "ibt2": (15,),
    "qm": (8, 9),
    "debug": (1,),
}


def _c(name: str, help: str):
    return counter(f"node_xfs_{name}", help, "device")


# (metric, stats line, index of the value)
METRICS = (
    (
        _c("extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem."),
        "extent_alloc",
        0,
    ),
    (_c("extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem."), "extent_alloc", 1),
    (_c("extent_allocation_extents_freed_total", "Number of extents freed for a filesystem."), "extent_alloc", 2),
    (_c("extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem."), "extent_alloc", 3),
    (_c("allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem."), "abt", 0),
    (_c("allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem."), "abt", 1),
    (
        _c("allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem."),
        "abt",
        2,
    ),
    (
        _c("allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem."),
        "abt",
        3,
    ),
    (_c("block_mapping_reads_total", "Number of block map for read operations for a filesystem."), "blk_map", 0),
    (_c("block_mapping_writes_total", "Number of block map for write operations for a filesystem."), "blk_map", 1),
    (_c("block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem."), "blk_map", 2),
    (
        _c("block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem."),
        "blk_map",
        3,
    ),
    (
        _c("block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem."),
        "blk_map",
        4,
    ),
    (_c("block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem."), "blk_map", 5),
    (_c("block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem."), "blk_map", 6),
    (_c("block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem."), "bmbt", 0),
    (_c("block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem."), "bmbt", 1),
    (
        _c("block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem."),
        "bmbt",
        2,
    ),
    (
        _c("block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem."),
        "bmbt",
        3,
    ),
    (
        _c(
            "directory_operation_lookup_total",
            "Number of file name directory lookups which miss the operating systems directory name lookup cache.",
        ),
        "dir",
        0,
    ),
    (
        _c("directory_operation_create_total", "Number of times a new directory entry was created for a filesystem."),
        "dir",
        1,
    ),
    (
        _c(
            "directory_operation_remove_total",
            "Number of times an existing directory entry was created for a filesystem.",
        ),
        "dir",
        2,
    ),
    (
        _c(
            "directory_operation_getdents_total",
            "Number of times the directory getdents operation was performed for a filesystem.",
        ),
        "dir",
        3,
    ),
    (
        _c("inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache."),
        "ig",
        0,
    ),
    (
        _c(
            "inode_operation_found_total",
            "Number of times the OS looked for and found an XFS inode in the inode cache.",
        ),
        "ig",
        1,
    ),
    (
        _c(
            "inode_operation_recycled_total",
            "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.",
        ),
        "ig",
        2,
    ),
    (
        _c(
            "inode_operation_missed_total",
            "Number of times the OS looked for an XFS inode in the cache, but did not find it.",
        ),
        "ig",
        3,
    ),
    (
        _c(
            "inode_operation_duplicates_total",
            "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been "
            "added by another process.",
        ),
        "ig",
        4,
    ),
    (
        _c(
            "inode_operation_reclaims_total",
            "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.",
        ),
        "ig",
        5,
    ),
    (
        _c(
            "inode_operation_attribute_changes_total",
            "Number of times the OS explicitly changed the attributes of an XFS inode.",
        ),
        "ig",
        6,
    ),
    # procfs reads the rw line as (write, read), and node_exporter exports it so.
    (_c("read_calls_total", "Number of read(2) system calls made to files in a filesystem."), "rw", 1),
    (_c("write_calls_total", "Number of write(2) system calls made to files in a filesystem."), "rw", 0),
    (_c("vnode_active_total", "Number of vnodes not on free lists for a filesystem."), "vnodes", 0),
    (_c("vnode_allocate_total", "Number of times vn_alloc called for a filesystem."), "vnodes", 1),
    (_c("vnode_get_total", "Number of times vn_get called for a filesystem."), "vnodes", 2),
    (_c("vnode_hold_total", "Number of times vn_hold called for a filesystem."), "vnodes", 3),
    (_c("vnode_release_total", "Number of times vn_rele called for a filesystem."), "vnodes", 4),
    (_c("vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem."), "vnodes", 5),
    (_c("vnode_remove_total", "Number of times vn_remove called for a filesystem."), "vnodes", 6),
)


def parse_xfs_stats(text: str) -> dict[str, list[int]]:
    """``{label: values}`` of an XFS stats file; ValueError on a value that is not a number or a
    known line with the wrong number of values."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        label = fields[0]
        limit = 2**64 - 1 if label == "xpc" else 2**32 - 1
        values = [go_uint(v) for v in fields[1:]]
        if any(v is None or v > limit for v in values):
            raise ValueError(f"{label}: values are not all numbers: {line[:80]!r}")
        if label in LINE_LENGTHS and len(values) not in LINE_LENGTHS[label]:
            raise ValueError(f"{label}: {len(values)} values, expected {LINE_LENGTHS[label]}")
        out[label] = values
    return out


@node_collectors.register
class XFSCollector(HostCollector):
    name = "xfs"
    description = "XFS per-filesystem statistics: allocation, block mapping, inode cache, vnodes (<sysfs>/fs/xfs)."
    metrics = tuple(m for m, _, _ in METRICS)

    def read(self):
        fams = [(m.family(), line, i) for m, line, i in METRICS]
        errors = []
        for path in sorted(glob.glob(os.path.join(glob.escape(self.sys("fs", "xfs")), "*", "stats", "stats"))):
            device = os.path.basename(os.path.dirname(os.path.dirname(path)))
            try:
                stats = parse_xfs_stats(read_text(path))
            except (OSError, ValueError) as exc:
                errors.append(f"xfs {device}: {exc}")
                continue
            for fam, line, i in fams:
                values = stats.get(line)
                fam.add((device,), values[i] if values else 0)
        if errors:
            raise PartialFailure("; ".join(errors), [f for f, _, _ in fams])
        yield from (f for f, _, _ in fams)
