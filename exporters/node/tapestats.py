"""tapestats: SCSI tape drive statistics from <sysfs>/class/scsi_tape/st<N>/stats, as node_exporter 1.9.

Only the ``st<N>`` devices count (``nst0``, ``st0a``... are other nodes of the
same drive). A stats file that is missing reads as 0; times are nanoseconds.
A drive whose stats cannot be read or parsed is left out (the others are
served, success 0); no class/scsi_tape is "no data".
"""

from __future__ import annotations

import os
import re

from ..core.collector import Flag, NoData, PartialFailure
from ..core.metrics import counter, gauge
from .registry import HostCollector, compile_filter, node_collectors
from .sysfs_util import go_uint0
from .sysfs_values import sys_read

_TAPE = re.compile(r"st[0-9]+")
DEFAULT_IGNORED = "^$"

# stats file -> (metric, multiplier)
STATS = (
    ("in_flight", gauge("node_tape_io_now", "The number of I/Os currently outstanding to this device.", "device"), 1),
    (
        "io_ns",
        counter(
            "node_tape_io_time_seconds_total",
            "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape "
            "movement commands such as seeking between file or set marks and implicit tape movement such as when rewind "
            "on close tape devices are used.",
            "device",
        ),
        0.000000001,
    ),
    (
        "other_cnt",
        counter(
            "node_tape_io_others_total",
            "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete "
            "these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-"
            "write_time_seconds_total",
            "device",
        ),
        1,
    ),
    (
        "read_byte_cnt",
        counter("node_tape_read_bytes_total", "The number of bytes read from the tape drive.", "device"),
        1,
    ),
    (
        "read_cnt",
        counter("node_tape_reads_completed_total", "The number of read requests issued to the tape drive.", "device"),
        1,
    ),
    (
        "read_ns",
        counter(
            "node_tape_read_time_seconds_total",
            "The amount of time spent waiting for read requests to complete.",
            "device",
        ),
        0.000000001,
    ),
    (
        "resid_cnt",
        counter(
            "node_tape_residual_total",
            "The number of times during a read or write we found the residual amount to be non-zero. This should mean "
            "that a program is issuing a read larger thean the block size on tape. For write not all data made it to "
            "tape.",
            "device",
        ),
        1,
    ),
    (
        "write_byte_cnt",
        counter("node_tape_written_bytes_total", "The number of bytes written to the tape drive.", "device"),
        1,
    ),
    (
        "write_cnt",
        counter("node_tape_writes_completed_total", "The number of write requests issued to the tape drive.", "device"),
        1,
    ),
    (
        "write_ns",
        counter(
            "node_tape_write_time_seconds_total",
            "The amount of time spent waiting for write requests to complete.",
            "device",
        ),
        0.000000001,
    ),
)
_FILES = {f for f, _, _ in STATS}


@node_collectors.register
class TapestatsCollector(HostCollector):
    name = "tapestats"
    description = "SCSI tape drive I/O statistics (<sysfs>/class/scsi_tape)."
    metrics = tuple(m for _, m, _ in STATS)
    flags = (
        Flag(
            "--collector.tapestats.ignored-devices",
            "collector_tapestats_ignored_devices",
            "Regexp of devices to ignore for tapestats.",
            default=DEFAULT_IGNORED,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        pattern = self.settings.get("collector_tapestats_ignored_devices", DEFAULT_IGNORED)
        # Go's empty regexp matches every name, so "" ignores every device.
        self.ignored = compile_filter("collector.tapestats.ignored-devices", pattern) or re.compile("")

    def tape(self, name: str) -> dict[str, int]:
        stats_dir = self.sys("class", "scsi_tape", name, "stats")
        values = {}
        for entry in sorted(os.listdir(stats_dir)):
            text = sys_read(os.path.join(stats_dir, entry))
            if entry in _FILES:
                value = go_uint0(text)
                if value is None:
                    raise ValueError(f"stats/{entry}: {text[:40]!r} is not a number")
                values[entry] = value
        return values

    def read(self):
        base = self.sys("class", "scsi_tape")
        try:
            names = sorted(n for n in os.listdir(base) if _TAPE.fullmatch(n))
        except FileNotFoundError as exc:
            raise NoData(f"{base} does not exist (no SCSI tape drives)") from exc
        fams = [(f, m.family(), mul) for f, m, mul in STATS]
        errors = []
        for name in names:
            if self.ignored.search(name):
                continue
            try:
                values = self.tape(name)
            except (OSError, ValueError) as exc:
                errors.append(f"tape {name}: {exc}")
                continue
            for f, fam, mul in fams:
                value = values.get(f, 0)
                fam.add((name,), float(value) * mul)  # as Go: float64(value) * 1e-9
        if errors:
            raise PartialFailure("; ".join(errors), [fam for _, fam, _ in fams])
        yield from (fam for _, fam, _ in fams)
