"""arp: neighbour (ARP) table entries per device, from /proc/net/arp.

Every row counts, incomplete ones too, as node_exporter 1.5.0 counts them.
A device without entries has no series.
"""

from __future__ import annotations

from ..core.collector import Flag
from ..core.metrics import gauge
from .registry import DeviceFilter, HostCollector, node_collectors, read_text

ENTRIES = gauge("node_arp_entries", "ARP entries by device", "device")

# IP address, HW type, Flags, HW address, Mask, Device
DATA_COLUMNS = 6
HEADER_COLUMNS = 9  # "IP address       HW type     Flags       HW address            Mask     Device"


def parse_arp(text: str) -> dict[str, int]:
    """Return ``{device: number of entries}`` from /proc/net/arp text.

    The header is skipped; a row that is neither header nor a 6-column entry
    raises ValueError."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        columns = line.split()
        if not columns or len(columns) == HEADER_COLUMNS and columns[0] == "IP":
            continue
        if len(columns) != DATA_COLUMNS:
            raise ValueError(f"arp: {len(columns)} columns, {DATA_COLUMNS} expected: {line[:80]!r}")
        device = columns[5]
        counts[device] = counts.get(device, 0) + 1
    return counts


@node_collectors.register
class ARPCollector(HostCollector):
    name = "arp"
    description = "ARP table entries per device (/proc/net/arp)."
    metrics = (ENTRIES,)
    flags = (
        Flag(
            "--collector.arp.device-include",
            "collector_arp_device_include",
            "Regexp of arp devices to include (mutually exclusive to device-exclude).",
        ),
        Flag(
            "--collector.arp.device-exclude",
            "collector_arp_device_exclude",
            "Regexp of arp devices to exclude (mutually exclusive to device-include).",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.filter = DeviceFilter(
            "collector.arp.device",
            self.settings.get("collector_arp_device_include"),
            self.settings.get("collector_arp_device_exclude"),
            None,
        )

    def read(self):
        fam = ENTRIES.family()
        for device, count in sorted(parse_arp(read_text(self.proc("net", "arp"))).items()):
            if not self.filter.ignored(device):
                fam.add((device,), count)
        yield fam
