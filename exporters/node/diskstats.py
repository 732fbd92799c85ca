"""diskstats: block device I/O counters from /proc/diskstats, plus udev identity.

A /proc/diskstats line is ``major minor name`` and then 11 (kernels before
4.18), 15 (4.18+, discards) or 17 (5.5+, flushes) numbers; we emit the
counters the line has. Sectors are always 512 bytes in this file, times are in
milliseconds. ``node_disk_info`` carries the device's udev properties from
``--path.udev.data`` (empty strings when udev has no record, e.g. in a VM
without udev).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ..core.collector import Flag
from ..core.metrics import counter, gauge
from .registry import DeviceFilter, HostCollector, node_collectors, read_text

SECTOR_BYTES = 512

READS_COMPLETED = counter("node_disk_reads_completed_total", "The total number of reads completed successfully.", "device")
READS_MERGED = counter("node_disk_reads_merged_total", "The total number of reads merged.", "device")
READ_BYTES = counter("node_disk_read_bytes_total", "The total number of bytes read successfully.", "device")
READ_TIME = counter("node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.", "device")
WRITES_COMPLETED = counter(
    "node_disk_writes_completed_total", "The total number of writes completed successfully.", "device"
)
WRITES_MERGED = counter("node_disk_writes_merged_total", "The number of writes merged.", "device")
WRITTEN_BYTES = counter("node_disk_written_bytes_total", "The total number of bytes written successfully.", "device")
WRITE_TIME = counter(
    "node_disk_write_time_seconds_total", "This is the total number of seconds spent by all writes.", "device"
)
IO_NOW = gauge("node_disk_io_now", "The number of I/Os currently in progress.", "device")
IO_TIME = counter("node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", "device")
IO_TIME_WEIGHTED = counter(
    "node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.", "device"
)
DISCARDS_COMPLETED = counter(
    "node_disk_discards_completed_total", "The total number of discards completed successfully.", "device"
)
DISCARDS_MERGED = counter("node_disk_discards_merged_total", "The total number of discards merged.", "device")
DISCARDED_SECTORS = counter(
    "node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.", "device"
)
DISCARD_TIME = counter(
    "node_disk_discard_time_seconds_total", "This is the total number of seconds spent by all discards.", "device"
)
FLUSH_REQUESTS = counter(
    "node_disk_flush_requests_total", "The total number of flush requests completed successfully", "device"
)
FLUSH_TIME = counter(
    "node_disk_flush_requests_time_seconds_total",
    "This is the total number of seconds spent by all flush requests.",
    "device",
)
DISK_INFO = gauge(
    "node_disk_info",
    "Info of /sys/block/<block_device>.",
    "device",
    "major",
    "minor",
    "model",
    "path",
    "revision",
    "serial",
    "wwn",
)

# The numbers after the device name, in file order, with the (multiplier,
# divisor) that turn each into the metric's unit: sectors -> bytes, ms -> s.
STAT_COLUMNS = (
    (READS_COMPLETED, 1, 1),
    (READS_MERGED, 1, 1),
    (READ_BYTES, SECTOR_BYTES, 1),
    (READ_TIME, 1, 1000),
    (WRITES_COMPLETED, 1, 1),
    (WRITES_MERGED, 1, 1),
    (WRITTEN_BYTES, SECTOR_BYTES, 1),
    (WRITE_TIME, 1, 1000),
    (IO_NOW, 1, 1),
    (IO_TIME, 1, 1000),
    (IO_TIME_WEIGHTED, 1, 1000),
    (DISCARDS_COMPLETED, 1, 1),
    (DISCARDS_MERGED, 1, 1),
    (DISCARDED_SECTORS, 1, 1),
    (DISCARD_TIME, 1, 1000),
    (FLUSH_REQUESTS, 1, 1),
    (FLUSH_TIME, 1, 1000),
)
MIN_STATS = 11  # kernels since 2.6.25 print at least these

DEFAULT_DEVICE_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"

# node_disk_info label -> udev property (the E: lines of /run/udev/data/b<major>:<minor>).
UDEV_LABELS = (
    ("model", "ID_MODEL"),
    ("path", "ID_PATH"),
    ("revision", "ID_REVISION"),
    ("serial", "ID_SERIAL_SHORT"),
    ("wwn", "ID_WWN"),
)


class DiskLine(NamedTuple):
    major: str
    minor: str
    device: str
    stats: tuple[int, ...]


def parse_diskstats(text: str) -> list[DiskLine]:
    """Parse /proc/diskstats into one row per device with its raw numbers.

    Lines with fewer than 11 numbers (pre-2.6.25 partition lines) are skipped;
    numbers beyond the 17 we know are ignored."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 + MIN_STATS:
            continue
        try:
            stats = tuple(int(v) for v in parts[3 : 3 + len(STAT_COLUMNS)])
        except ValueError:
            continue
        out.append(DiskLine(parts[0], parts[1], parts[2], stats))
    return out


def parse_udev_data(text: str) -> dict[str, str]:
    """The ``E:KEY=value`` properties of a udev database file."""
    props = {}
    for line in text.splitlines():
        if line.startswith("E:"):
            key, sep, value = line[2:].partition("=")
            if sep:
                props[key] = value
    return props


@node_collectors.register
class DiskstatsCollector(HostCollector):
    name = "diskstats"
    description = "Block device I/O statistics (/proc/diskstats) and udev device info."
    metrics = tuple(d for d, _, _ in STAT_COLUMNS) + (DISK_INFO,)
    flags = (
        Flag(
            "--collector.diskstats.device-include",
            "collector_diskstats_device_include",
            "Regexp of diskstats devices to include (mutually exclusive to device-exclude).",
        ),
        Flag(
            "--collector.diskstats.device-exclude",
            "collector_diskstats_device_exclude",
            f"Regexp of diskstats devices to exclude (mutually exclusive to device-include). "
            f"Default: {DEFAULT_DEVICE_EXCLUDE}",
            aliases=("--collector.diskstats.ignored-devices",),
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.filter = DeviceFilter(
            "collector.diskstats.device",
            self.settings.get("collector_diskstats_device_include"),
            self.settings.get("collector_diskstats_device_exclude"),
            DEFAULT_DEVICE_EXCLUDE,
        )
        self.udev_data = self.settings.get("path_udev_data", "/run/udev/data") or "/run/udev/data"

    def udev_properties(self, major: str, minor: str) -> dict[str, str]:
        try:
            return parse_udev_data(read_text(os.path.join(self.udev_data, f"b{major}:{minor}")))
        except OSError:
            return {}

    def read(self):
        families = [d.family() for d, _, _ in STAT_COLUMNS]
        info = DISK_INFO.family()
        for disk in parse_diskstats(read_text(self.proc("diskstats"))):
            if self.filter.ignored(disk.device):
                continue
            labels = (disk.device,)
            for fam, (_, mul, div), raw in zip(families, STAT_COLUMNS, disk.stats):
                # ms -> s as Go computes it, float64(ms) * (1.0 / 1000.0): 9653880 ms is 9653.880000000001
                fam.add(labels, raw * mul if div == 1 else raw * mul * (1.0 / div))
            props = self.udev_properties(disk.major, disk.minor)
            info.add(
                (disk.device, disk.major, disk.minor) + tuple(props.get(key, "") for _, key in UDEV_LABELS),
                1,
            )
        yield from families
        yield info
