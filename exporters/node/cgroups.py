"""cgroups (off by default): cgroups per controller and whether it is enabled, from /proc/cgroups (cgroup v1
controllers; on a v2-only host the counts are what the kernel prints there)."""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

CGROUPS = gauge("node_cgroups_cgroups", "Current cgroup number of the subsystem.", "subsys_name")
ENABLED = gauge("node_cgroups_enabled", "Current cgroup number of the subsystem.", "subsys_name")


def parse_cgroups(text: str) -> list[tuple[str, int, int]]:
    """[(controller, number of cgroups, enabled)] of /proc/cgroups."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split()
        if len(fields) < 4 or not all(f.lstrip("-").isdigit() for f in fields[1:4]):
            raise ValueError(f"/proc/cgroups: invalid line {line[:80]!r}")
        out.append((fields[0], int(fields[2]), int(fields[3])))
    return out


@node_collectors.register
class CgroupsCollector(HostCollector):
    name = "cgroups"
    default_enabled = False
    description = "cgroups per controller (/proc/cgroups)."
    metrics = (CGROUPS, ENABLED)

    def read(self):
        cgroups, enabled = CGROUPS.family(), ENABLED.family()
        for name, count, on in parse_cgroups(read_text(self.proc("cgroups"))):
            cgroups.add((name,), count)
            enabled.add((name,), on)
        return [cgroups, enabled]
