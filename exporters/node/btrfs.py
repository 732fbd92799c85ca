"""btrfs: Btrfs filesystems from <sysfs>/fs/btrfs/<uuid>, as node_exporter 1.9 reports them.

Per filesystem: info (label), global reserve, commit statistics, and per block
group type (data, metadata, system) the reserved bytes and, per RAID profile
directory, used/allocated bytes and the allocation ratio (devices / data
devices). As in procfs, a missing attribute reads as 0 (or ""), a non-numeric
one as 0; a filesystem whose files cannot be read, or whose commit_stats is
malformed, is left out (the others are served, success 0).

Per device, as node_exporter 1.9 does, the btrfs ioctls on the filesystem's
mount point (PID 1's mount table, under ``--path.rootfs``) give its size,
unused bytes and error counters, labelled with the device's btrfs uuid. A
filesystem that is not mounted where we can open it (or whose ioctls fail)
gets only ``device_size_bytes`` from devices/<dev>/size (512-byte sectors),
without that label.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import logging
import math
import os
import struct
import uuid as uuidlib

from ..core.collector import PartialFailure
from ..core.metrics import counter, gauge
from .filesystem import parse_mountinfo
from .registry import HostCollector, node_collectors, read_text
from .sysfs_values import go_uint, sys_read

log = logging.getLogger("exporters.node.btrfs")

INFO = gauge("node_btrfs_info", "Filesystem information", "label", "uuid")
GLOBAL_RSV = gauge("node_btrfs_global_rsv_size_bytes", "Size of global reserve.", "uuid")
COMMITS = counter("node_btrfs_commits_total", "The total number of commits that have occurred.", "uuid")
LAST_COMMIT = gauge("node_btrfs_last_commit_seconds", "Duration of the most recent commit, in seconds.", "uuid")
MAX_COMMIT = gauge("node_btrfs_max_commit_seconds", "Duration of the slowest commit, in seconds.", "uuid")
COMMIT_SECONDS = counter("node_btrfs_commit_seconds_total", "Sum of the duration of all commits, in seconds.", "uuid")
RESERVED = gauge("node_btrfs_reserved_bytes", "Amount of space reserved for a data type", "block_group_type", "uuid")
USED = gauge("node_btrfs_used_bytes", "Amount of used space by a layout/data type", "block_group_type", "mode", "uuid")
SIZE = gauge(
    "node_btrfs_size_bytes", "Amount of space allocated for a layout/data type", "block_group_type", "mode", "uuid"
)
RATIO = gauge(
    "node_btrfs_allocation_ratio", "Data allocation ratio for a layout/data type", "block_group_type", "mode", "uuid"
)
DEVICE_SIZE = gauge(
    "node_btrfs_device_size_bytes", "Size of a device that is part of the filesystem.", "device", "uuid"
)
# With the ioctls: the same family with the device's btrfs uuid, its unused bytes and error counters.
DEVICE_SIZE_IOCTL = gauge(
    "node_btrfs_device_size_bytes",
    "Size of a device that is part of the filesystem.",
    "btrfs_dev_uuid",
    "device",
    "uuid",
)
DEVICE_UNUSED = gauge(
    "node_btrfs_device_unused_bytes",
    "Unused bytes unused on a device that is part of the filesystem.",
    "btrfs_dev_uuid",
    "device",
    "uuid",
)
DEVICE_ERRORS = counter(
    "node_btrfs_device_errors_total", "Errors reported for the device", "btrfs_dev_uuid", "device", "type", "uuid"
)
ERROR_TYPES = ("write", "read", "flush", "corruption", "generation")  # the kernel's btrfs_dev_stat_values order

# <linux/btrfs.h>
_IOC_READ, _IOC_WRITE = 2, 1
_BTRFS_IOCTL_MAGIC = 0x94


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (_BTRFS_IOCTL_MAGIC << 8) | nr


_FS_INFO_SIZE, _DEV_INFO_SIZE, _DEV_STATS_SIZE = 1024, 4096, 8 * (3 + 5 + 121)
BTRFS_IOC_FS_INFO = _ioc(_IOC_READ, 31, _FS_INFO_SIZE)
BTRFS_IOC_DEV_INFO = _ioc(_IOC_READ | _IOC_WRITE, 30, _DEV_INFO_SIZE)
BTRFS_IOC_GET_DEV_STATS = _ioc(_IOC_READ | _IOC_WRITE, 52, _DEV_STATS_SIZE)
_DEV_PATH_OFFSET = _DEV_INFO_SIZE - 1024


def ioctl_device_stats(mountpoint: str) -> tuple[str, list[tuple[str, str, int, int, tuple[int, ...]]]]:
    """(fsid as 32 hex digits, [(device name, device uuid, total bytes, used bytes, 5 error counters)]) of the
    btrfs filesystem mounted at ``mountpoint``, from BTRFS_IOC_FS_INFO, _DEV_INFO and _GET_DEV_STATS."""
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        info = bytearray(_FS_INFO_SIZE)  # a mutable buffer: the kernel writes the answer into it
        fcntl.ioctl(fd, BTRFS_IOC_FS_INFO, info, True)
        max_id, num_devices = struct.unpack_from("=QQ", info)
        fsid = bytes(info[16:32]).hex()
        devices = []
        for devid in range(max_id + 1):
            dev = bytearray(_DEV_INFO_SIZE)
            struct.pack_into("=Q", dev, 0, devid)
            try:
                fcntl.ioctl(fd, BTRFS_IOC_DEV_INFO, dev, True)
            except OSError as exc:
                if exc.errno == errno.ENODEV:  # a removed device's id
                    continue
                raise
            dev_uuid = str(uuidlib.UUID(bytes=bytes(dev[8:24])))
            used, total = struct.unpack_from("=QQ", dev, 24)
            path = bytes(dev[_DEV_PATH_OFFSET:]).split(b"\0", 1)[0].decode("utf-8", errors="replace")
            stats = bytearray(_DEV_STATS_SIZE)
            struct.pack_into("=QQQ", stats, 0, devid, len(ERROR_TYPES), 0)
            fcntl.ioctl(fd, BTRFS_IOC_GET_DEV_STATS, stats, True)
            errors = struct.unpack_from(f"={len(ERROR_TYPES)}Q", stats, 24)
            devices.append((os.path.basename(path), dev_uuid, total, used, errors))
            if len(devices) == num_devices:
                break
        return fsid, devices
    finally:
        os.close(fd)


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
    metrics = (
        INFO,
        GLOBAL_RSV,
        COMMITS,
        LAST_COMMIT,
        MAX_COMMIT,
        COMMIT_SECONDS,
        RESERVED,
        USED,
        SIZE,
        RATIO,
        DEVICE_SIZE_IOCTL,
        DEVICE_UNUSED,
        DEVICE_ERRORS,
    )

    def ioctl_stats(self) -> dict[str, list[tuple]]:
        """{fsid hex: devices} of the btrfs filesystems mounted in PID 1's mount table; a mount point
        that cannot be opened or queried is skipped (logged at debug level), as node_exporter does."""
        out: dict[str, list[tuple]] = {}
        try:
            try:
                text = read_text(self.proc("1", "mountinfo"))
            except FileNotFoundError:
                text = read_text(self.proc("self", "mountinfo"))
        except OSError as exc:
            log.debug("btrfs: cannot read the mount table: %s", exc)
            return out
        done = set()
        for mount in parse_mountinfo(text):
            if mount.fstype != "btrfs" or mount.device in done:
                continue
            path = os.path.join(self.rootfs, mount.mountpoint.lstrip("/"))
            try:
                fsid, devices = ioctl_device_stats(path)
            except OSError as exc:
                log.debug("btrfs: ioctls on %s failed: %s", path, exc)
                continue
            if fsid in out:
                continue
            done.add(mount.device)
            out[fsid] = devices
        return out

    def filesystem(self, path: str, ioctl_devices: dict[str, list[tuple]]) -> list[tuple]:
        """(metric, labels, value) rows of one filesystem."""
        r = _Reader(path)
        devices = {
            name: SECTOR_BYTES * r.value(os.path.join("devices", name, "size"))
            for name in sorted(os.listdir(os.path.join(path, "devices")))
        }
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
        by_ioctl = ioctl_devices.get(uuid.replace("-", ""))
        if by_ioctl is None:
            for device, size in devices.items():
                rows.append((DEVICE_SIZE, (device, uuid), size))
            return rows
        for device, dev_uuid, total, used, errors in by_ioctl:
            rows.append((DEVICE_SIZE_IOCTL, (dev_uuid, device, uuid), total))
            rows.append((DEVICE_UNUSED, (dev_uuid, device, uuid), total - used))
            rows += [(DEVICE_ERRORS, (dev_uuid, device, kind, uuid), n) for kind, n in zip(ERROR_TYPES, errors)]
        return rows

    def read(self):
        fams = {d.name: d.family() for d in self.metrics}
        paths = sorted(glob.glob(os.path.join(glob.escape(self.sys("fs", "btrfs")), "*-*")))
        ioctl_devices = self.ioctl_stats() if paths else {}
        errors = []
        for path in paths:
            try:
                rows = self.filesystem(path, ioctl_devices)
            except (OSError, ValueError) as exc:
                errors.append(f"btrfs {os.path.basename(path)}: {exc}")
                continue
            for metric, labels, value in rows:
                # one node_btrfs_device_size_bytes family, its samples with or without btrfs_dev_uuid
                if metric is DEVICE_SIZE:
                    fams[metric.name].add_labeled(zip(metric.labels, labels), float(value))
                else:
                    fams[metric.name].add(labels, float(value))  # as Go: float64
        if errors:
            raise PartialFailure("; ".join(errors), fams.values())
        yield from fams.values()
