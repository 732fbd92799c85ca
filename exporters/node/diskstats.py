"""diskstats: block device I/O counters from /proc/diskstats, plus udev identity.

A /proc/diskstats line is ``major minor name`` and then 11 (kernels before
4.18), 15 (4.18+, discards) or 17 (5.5+, flushes) numbers; we emit the
counters the line has. Sectors are always 512 bytes in this file, times are in
milliseconds. ``node_disk_info`` carries the device's udev properties from
``--path.udev.data`` (empty strings when udev has no record, e.g. in a VM
without udev) and ``rotational`` from <sysfs>/block/<dev>/queue. As in
node_exporter 1.9, udev also gives ``node_disk_filesystem_info`` (a device with
``ID_FS_TYPE``), ``node_disk_device_mapper_info`` (``DM_NAME``) and the
``node_disk_ata_*`` gauges (``ID_ATA`` disks).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ..core.collector import Flag
from ..core.metrics import counter, gauge
from .registry import DeviceFilter, HostCollector, node_collectors, read_text

SECTOR_BYTES = 512

READS_COMPLETED = counter(
    "node_disk_reads_completed_total", "The total number of reads completed successfully.", "device"
)
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
    "rotational",
    "serial",
    "wwn",
)
FILESYSTEM_INFO = gauge(
    "node_disk_filesystem_info", "Info about disk filesystem.", "device", "type", "usage", "uuid", "version"
)
DEVICE_MAPPER_INFO = gauge(
    "node_disk_device_mapper_info",
    "Info about disk device mapper.",
    "device",
    "lv_layer",
    "lv_name",
    "name",
    "uuid",
    "vg_name",
)
ATA_WRITE_CACHE = gauge("node_disk_ata_write_cache", "ATA disk has a write cache.", "device")
ATA_WRITE_CACHE_ENABLED = gauge("node_disk_ata_write_cache_enabled", "ATA disk has its write cache enabled.", "device")
ATA_ROTATION_RATE = gauge("node_disk_ata_rotation_rate_rpm", "ATA disk rotation rate in RPMs (0 for SSDs).", "device")
# (family, udev property) of the ATA gauges, emitted for disks with ID_ATA when the property is a number.
ATA_GAUGES = (
    (ATA_WRITE_CACHE, "ID_ATA_WRITE_CACHE"),
    (ATA_WRITE_CACHE_ENABLED, "ID_ATA_WRITE_CACHE_ENABLED"),
    (ATA_ROTATION_RATE, "ID_ATA_ROTATION_RATE_RPM"),
)
# node_exporter reads all of these queue attributes and reports rotational 0 unless every one is there.
QUEUE_FILES = frozenset(
    (
        "add_random",
        "dax",
        "discard_granularity",
        "discard_max_hw_bytes",
        "discard_max_bytes",
        "hw_sector_size",
        "io_poll",
        "io_timeout",
        "iostats",
        "logical_block_size",
        "max_hw_sectors_kb",
        "max_integrity_segments",
        "max_sectors_kb",
        "max_segments",
        "max_segment_size",
        "minimum_io_size",
        "nomerges",
        "nr_requests",
        "optimal_io_size",
        "physical_block_size",
        "read_ahead_kb",
        "rotational",
        "rq_affinity",
        "write_same_max_bytes",
        "nr_zones",
        "chunk_sectors",
        "fua",
        "max_discard_segments",
        "write_zeroes_max_bytes",
        "io_poll_delay",
        "wbt_lat_usec",
        "write_cache",
        "zoned",
    )
)

# The numbers after the device name, in file order, with the (multiplier,
# divisor) that turn each into the metric's unit: sectors -> bytes, ms -> s
# (ms are multiplied by 0.001, as Go does, so the floats are the same).
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


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


@node_collectors.register
class DiskstatsCollector(HostCollector):
    name = "diskstats"
    description = "Block device I/O statistics (/proc/diskstats) and udev device info."
    metrics = (
        tuple(d for d, _, _ in STAT_COLUMNS)
        + (DISK_INFO, FILESYSTEM_INFO, DEVICE_MAPPER_INFO)
        + tuple(d for d, _ in ATA_GAUGES)
    )
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

    def rotational(self, device: str) -> str:
        """queue/rotational in base 2, as node_exporter 1.9 formats it; "0" when the queue
        attributes cannot all be read (node_exporter then has none of them)."""
        queue = self.sys("block", device, "queue")
        try:
            if not QUEUE_FILES.issubset(os.listdir(queue)):
                return "0"
            value = int(read_text(os.path.join(queue, "rotational")).strip())
        except (OSError, ValueError):
            return "0"
        return format(value, "b") if value >= 0 else "0"

    def read(self):
        families = [d.family() for d, _, _ in STAT_COLUMNS]
        info = DISK_INFO.family()
        fs_info = FILESYSTEM_INFO.family()
        dm_info = DEVICE_MAPPER_INFO.family()
        ata = [(d.family(), key) for d, key in ATA_GAUGES]
        for disk in parse_diskstats(read_text(self.proc("diskstats"))):
            if self.filter.ignored(disk.device):
                continue
            labels = (disk.device,)
            for fam, (_, mul, div), raw in zip(families, STAT_COLUMNS, disk.stats):
                fam.add(labels, float(raw) * mul if div == 1 else float(raw) * 0.001)  # as Go: float64
            props = self.udev_properties(disk.major, disk.minor)
            get = props.get
            info.add(
                (
                    disk.device,
                    disk.major,
                    disk.minor,
                    get("ID_MODEL", ""),
                    get("ID_PATH", ""),
                    get("ID_REVISION", ""),
                    self.rotational(disk.device),
                    get("SCSI_IDENT_SERIAL") or get("ID_SERIAL_SHORT", ""),
                    get("ID_WWN", ""),
                ),
                1,
            )
            if get("ID_FS_TYPE"):
                fs_info.add(
                    (
                        disk.device,
                        props["ID_FS_TYPE"],
                        get("ID_FS_USAGE", ""),
                        get("ID_FS_UUID", ""),
                        get("ID_FS_VERSION", ""),
                    ),
                    1,
                )
            if get("DM_NAME"):
                dm_info.add(
                    (
                        disk.device,
                        get("DM_LV_LAYER", ""),
                        get("DM_LV_NAME", ""),
                        props["DM_NAME"],
                        get("DM_UUID", ""),
                        get("DM_VG_NAME", ""),
                    ),
                    1,
                )
            if get("ID_ATA"):
                for fam, key in ata:
                    value = _float(get(key))
                    if value is not None:
                        fam.add(labels, value)
        yield from families
        yield info
        yield fs_info
        yield dm_info
        for fam, _ in ata:
            yield fam
