"""buddyinfo (off by default): free memory blocks by NUMA node, zone and order, from /proc/buddyinfo."""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

BLOCKS = gauge("node_buddyinfo_blocks", "Count of free blocks according to size.", "node", "zone", "size")


def parse_buddyinfo(text: str) -> list[tuple[str, str, list[float]]]:
    """[(node, zone, [free blocks of order 0, 1, ...])]: "Node 0, zone   Normal  1 2 3 ..." lines."""
    out = []
    width = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            raise ValueError(f"/proc/buddyinfo: invalid line {line[:80]!r}")
        sizes = parts[4:]
        if width is None:
            width = len(sizes)
        elif width != len(sizes):
            raise ValueError(f"/proc/buddyinfo: {len(sizes)} orders where the first line has {width}")
        try:
            values = [float(v) for v in sizes]
        except ValueError:
            raise ValueError(f"/proc/buddyinfo: non-numeric count in {line[:80]!r}") from None
        out.append((parts[1].removesuffix(","), parts[3].removesuffix(","), values))
    return out


@node_collectors.register
class BuddyinfoCollector(HostCollector):
    name = "buddyinfo"
    default_enabled = False
    description = "Free memory blocks by node, zone and order (/proc/buddyinfo)."
    metrics = (BLOCKS,)

    def read(self):
        fam = BLOCKS.family()
        for node, zone, sizes in parse_buddyinfo(read_text(self.proc("buddyinfo"))):
            for size, value in enumerate(sizes):
                fam.add((node, zone, str(size)), value)
        yield fam
