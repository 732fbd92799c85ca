"""cpu_vulnerabilities (off by default): the CPU vulnerabilities the kernel reports, and their mitigation,
from /sys/devices/system/cpu/vulnerabilities/*. The value is 1; the state is the ``state`` label."""

from __future__ import annotations

import os

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

INFO = gauge(
    "node_cpu_vulnerabilities_info",
    "Details of each CPU vulnerability reported by sysfs. The value of the series is an int encoded state "
    "of the vulnerability. The same state is stored as a string in the label",
    "codename",
    "state",
    "mitigation",
)
STATES = ("not affected", "vulnerable", "mitigation", "unknown")


def parse_vulnerability(text: str) -> tuple[str, str]:
    """(state, mitigation) of one file: "Mitigation: PTI" -> ("mitigation", "PTI"); an unknown wording is
    state "unknown" with the whole text as mitigation, as node_exporter reads it."""
    text = text.strip()
    lower = text.lower()
    if lower.startswith("not affected"):
        return "not affected", ""
    for state in STATES[1:]:
        if lower.startswith(state):
            return state, " ".join(text.split()[1:])
    return "unknown", text


@node_collectors.register
class CPUVulnerabilitiesCollector(HostCollector):
    name = "cpu_vulnerabilities"
    default_enabled = False
    description = "CPU vulnerabilities and their mitigation (/sys/devices/system/cpu/vulnerabilities)."
    metrics = (INFO,)

    def read(self):
        directory = self.sys("devices", "system", "cpu", "vulnerabilities")
        fam = INFO.family()
        for name in sorted(os.listdir(directory)):
            state, mitigation = parse_vulnerability(read_text(os.path.join(directory, name)))
            fam.add((name, state, mitigation), 1)
        yield fam
