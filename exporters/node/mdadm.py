"""mdadm: software RAID (md) arrays from /proc/mdstat, as node_exporter 1.9 reports them.

The node-mixin alerts NodeRAIDDegraded and NodeRAIDDiskFailure are built on
``node_md_disks_required`` / ``node_md_disks{state="active"|"failed"}``. An array
is a line ``mdN : <state> <personality> <disk>[n](F|S) ...`` followed by its
status line (``<blocks> blocks ... [total/active] [UU_]``), an optional bitmap
line and a sync line while it recovers, resyncs or checks. An array whose lines
cannot be parsed is left out (the others are served, success 0); no /proc/mdstat
(no md driver) is "no data".
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..core.collector import NoData, PartialFailure
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

BLOCKS = gauge("node_md_blocks", "Total number of blocks on device.", "device")
BLOCKS_SYNCED = gauge("node_md_blocks_synced", "Number of blocks synced on device.", "device")
DISKS = gauge("node_md_disks", "Number of active/failed/spare disks of device.", "device", "state")
DISKS_REQUIRED = gauge("node_md_disks_required", "Total number of disks of device.", "device")
STATE = gauge("node_md_state", "Indicates the state of md-device.", "device", "state")

# node_md_state's label -> the array state that sets it to 1.
STATE_LABELS = (
    ("active", "active"),
    ("inactive", "inactive"),
    ("recovering", "recovering"),
    ("resync", "resyncing"),
    ("check", "checking"),
)

_STATUS = re.compile(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]")
_SYNCED = re.compile(r"\((\d+)/(\d+)\)")


class MDArray(NamedTuple):
    name: str
    state: str
    active: int
    total: int
    failed: int
    spare: int
    blocks: int
    synced: int


def _status(device_line: str, status_line: str) -> tuple[int, int, int]:
    """(active, total, blocks) from an array's first two lines."""
    fields = status_line.split()
    if not fields or not fields[0].isdigit():
        raise ValueError(f"unexpected status line {status_line.strip()[:80]!r}")
    blocks = int(fields[0])
    if "raid0" in device_line or "linear" in device_line:
        total = device_line.count("[")  # only member disks carry [n] here
        return total, total, blocks
    if "inactive" in device_line:
        return 0, 0, blocks
    m = _STATUS.search(status_line)
    if m is None:
        raise ValueError(f"no [total/active] [U_] in status line {status_line.strip()[:80]!r}")
    return int(m.group(3)), int(m.group(2)), blocks


def parse_mdstat(text: str) -> tuple[list[MDArray], list[str]]:
    """The arrays of /proc/mdstat, and one error per array that could not be parsed."""
    arrays, errors = [], []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip() or line[0] == " " or line.startswith(("Personalities", "unused")):
            continue
        fields = line.split()
        name = fields[0]
        try:
            if len(fields) < 3:
                raise ValueError(f"unexpected array line {line[:80]!r}")
            if len(lines) <= i + 3:
                raise ValueError("too few lines")
            active, total, blocks = _status(line, lines[i + 1])
            sync_line = lines[i + 3] if "bitmap" in lines[i + 2] else lines[i + 2]
            state, synced = fields[2], blocks
            if any(word in sync_line for word in ("recovery", "resync", "check")):
                state = "recovering" if "recovery" in sync_line else "checking" if "check" in sync_line else "resyncing"
                if "PENDING" in sync_line or "DELAYED" in sync_line:
                    synced = 0
                else:
                    m = _SYNCED.search(sync_line)
                    if m is None:
                        raise ValueError(f"unexpected sync line {sync_line.strip()[:80]!r}")
                    synced = int(m.group(1))
        except ValueError as exc:
            errors.append(f"md array {name}: {exc}")
            continue
        arrays.append(MDArray(name, state, active, total, line.count("(F)"), line.count("(S)"), blocks, synced))
    return arrays, errors


@node_collectors.register
class MdadmCollector(HostCollector):
    name = "mdadm"
    description = "Software RAID (md) arrays: state, disks, sync progress (/proc/mdstat)."
    metrics = (BLOCKS, BLOCKS_SYNCED, DISKS, DISKS_REQUIRED, STATE)

    def read(self):
        try:
            text = read_text(self.proc("mdstat"))
        except FileNotFoundError as exc:
            raise NoData(f"{self.proc('mdstat')} does not exist (no md driver)") from exc
        arrays, errors = parse_mdstat(text)
        fams = {d.name: d.family() for d in self.metrics}
        for a in arrays:
            fams[DISKS_REQUIRED.name].add((a.name,), a.total)
            for state, n in (("active", a.active), ("failed", a.failed), ("spare", a.spare)):
                fams[DISKS.name].add((a.name, state), n)
            for label, state in STATE_LABELS:
                fams[STATE.name].add((a.name, label), 1 if a.state == state else 0)
            fams[BLOCKS.name].add((a.name,), a.blocks)
            fams[BLOCKS_SYNCED.name].add((a.name,), a.synced)
        if errors:
            raise PartialFailure("; ".join(errors), fams.values())
        yield from fams.values()
