"""btrfs: Btrfs filesystems from <sysfs>/fs/btrfs/<uuid>, as node_exporter 1.9 reports them.

Per filesystem: info (label), global reserve, commit statistics, and per block
group type (data, metadata, system) the reserved bytes and, per RAID profile
directory, used/allocated bytes and the allocation ratio (devices / data
devices). Device sizes come from devices/<dev>/size (512-byte sectors). As in
procfs, a missing attribute reads as 0 (or ""), a non-numeric one as 0; a
filesystem whose files cannot be read, or whose commit_stats is malformed, is
left out (the others are served, success 0).
"""

from __future__ import annotations

import glob
import math
import os

from ..core.collector import PartialFailure
from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors
from .sysfs_values import go_uint, sys_read

INFO = gauge("node_btrfs_info", "Filesystem information", "label", "uuid")
GLOBAL_RSV = gauge("node_btrfs_global_rsv_size_bytes", "Size of global reserve.", "uuid")
COMMITS = counter("node_btrfs_commits_total", "The total number of commits that have occurred.", "uuid")
LAST_COMMIT = gauge("node_btrfs_last_commit_seconds", "Duration of the most recent commit, in seconds.", "uuid")
MAX_COMMIT = gauge("node_btrfs_max_commit_seconds", "Duration of the slowest commit, in seconds.", "uuid")
COMMIT_SECONDS = counter("node_btrfs_commit_seconds_total", "Sum of the duration of all commits, in seconds.", "uuid")
RESERVED = gauge("node_btrfs_reserved_bytes", "Amount of space reserved for a data type", "block_group_type", "uuid")
USED = gauge("node_btrfs_used_bytes", "Amount of used space by a layout/data type", "block_group_type", "mode", "uuid")
SIZE = gauge("node_btrfs_size_bytes", "Amount of space allocated for a layout/data type", "block_group_type", "mode",
             "uuid")
RATIO = gauge("node_btrfs_allocation_ratio", "Data allocation ratio for a layout/data type", "block_group_type", "mode",
              "uuid")
DEVICE_SIZE = gauge("node_btrfs_device_size_bytes", "Size of a device that is part of the filesystem.", "device",
                    "uuid")

BLOCK_GROUP_TYPES = ("data", "metadata", "system")
SECTOR_BYTES = 512


def allocation_ratio(profile: str, devices: int) -> float:
    """Raw bytes per data byte of a RAID profile; 0 for a profile procfs does not know."""
    if profile in ("single", "raid0"):
        return 1
    if profile in ("dup", "raid1", "raid10"):
        return 2
    parity = {"raid5": 1, "raid6": 2}.get(profile)
    if parity is None:
        return 0
    data = devices - parity
    if data == 0:
        return math.inf if devices else math.nan
    return devices / data


class _Reader:
    """procfs' btrfs reader: a missing file is "" (0), a non-numeric one 0, any other error raises."""

    def __init__(self, path: str) -> None:
        self.path = path

    def text(self, name: str) -> str:
        try:
            return sys_read(os.path.join(self.path, name))
        except FileNotFoundError:
            return ""

    def value(self, name: str) -> int:
        return go_uint(self.text(name)) or 0


def parse_commit_stats(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"invalid commit_stats line {line[:60]!r}")
        value = go_uint(parts[1])
        if value is None:
            raise ValueError(f"commit_stats: {parts[1][:30]!r} is not a number")
        out[parts[0]] = value
    return out


@node_collectors.register
class BtrfsCollector(HostCollector):
    name = "btrfs"
    description = "Btrfs filesystems: allocation per block group type and profile, commits, devices (<sysfs>/fs/btrfs)."
    metrics = (INFO, GLOBAL_RSV, COMMITS, LAST_COMMIT, MAX_COMMIT, COMMIT_SECONDS, RESERVED, USED, SIZE, RATIO,
               DEVICE_SIZE)

    def filesystem(self, path: str) -> list[tuple]:
        """(metric, labels, value) rows of one filesystem."""
        r = _Reader(path)
        devices = {name: SECTOR_BYTES * r.value(os.path.join("devices", name, "size"))
                   for name in sorted(os.listdir(os.path.join(path, "devices")))}
        label = r.text("label")
        uuid = r.text("metadata_uuid") or os.path.basename(path)
        try:
            with open(os.path.join(path, "commit_stats"), encoding="utf-8", errors="replace") as f:
                commits = parse_commit_stats(f.read())
        except FileNotFoundError:
            commits = {}
        rows = [
            (INFO, (label, uuid), 1),
            (GLOBAL_RSV, (uuid,), r.value("allocation/global_rsv_size")),
            (COMMITS, (uuid,), commits.get("commits", 0)),
            (LAST_COMMIT, (uuid,), commits.get("last_commit_ms", 0) / 1000),
            (MAX_COMMIT, (uuid,), commits.get("max_commit_ms", 0) / 1000),
            (COMMIT_SECONDS, (uuid,), commits.get("total_commit_ms", 0) / 1000),
        ]
        for group in BLOCK_GROUP_TYPES:
            base = os.path.join("allocation", group)
            rows.append((RESERVED, (group, uuid), r.value(os.path.join(base, "bytes_reserved"))))
            with os.scandir(os.path.join(path, base)) as entries:
                profiles = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
            for profile in profiles:
                labels = (group, profile, uuid)
                rows.append((USED, labels, r.value(os.path.join(base, profile, "used_bytes"))))
                rows.append((SIZE, labels, r.value(os.path.join(base, profile, "total_bytes"))))
                rows.append((RATIO, labels, allocation_ratio(profile, len(devices))))
        for device, size in devices.items():
            rows.append((DEVICE_SIZE, (device, uuid), size))
        return rows

    def read(self):
        fams = {d.name: d.family() for d in self.metrics}
        errors = []
        for path in sorted(glob.glob(os.path.join(glob.escape(self.sys("fs", "btrfs")), "*-*"))):
            try:
                rows = self.filesystem(path)
            except (OSError, ValueError) as exc:
                errors.append(f"btrfs {os.path.basename(path)}: {exc}")
                continue
            for metric, labels, value in rows:
                fams[metric.name].add(labels, float(value))  # as Go: float64
        if errors:
            raise PartialFailure("; ".join(errors), fams.values())
        yield from fams.values()
